package mirror

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// benchLatency is the delay the registry fronts add to every request, as
// a registry across a WAN would.
const benchLatency = 50 * time.Millisecond

// standinPair is a source and a target ECR-style registry front (each with
// its own in-memory registry) sharing one STS/ECR stand-in, plus a docker
// config directory holding both tokens as `docker login` would.
type standinPair struct {
	aws       *standin.Server
	src, dst  *standin.Registry
	kc        hostKeychain
	dockerCfg string
	images    []Image
}

func newStandinPair(tb testing.TB, dir string, seedOpts ...seed.Option) *standinPair {
	tb.Helper()
	w := standintest.New(tb, standintest.WithRegistry(), standintest.WithoutUser())
	p := &standinPair{aws: w.AWS, src: w.Registry, kc: hostKeychain{}, dockerCfg: dir}
	if _, err := seed.Stack(context.Background(), p.src, "currents/on-prem", "staging", seedOpts...); err != nil {
		tb.Fatal(err)
	}
	p.newTarget(tb)
	return p
}

// newTarget replaces the target with an empty one.
func (p *standinPair) newTarget(tb testing.TB) {
	tb.Helper()
	if p.dst != nil {
		p.dst.Close()
	}
	p.dst = standin.NewRegistry(p.aws)
	tb.Cleanup(p.dst.Close)
	user, pass, _ := p.aws.MintToken(fmt.Sprintf("arn:aws:iam::%s:root", p.aws.Account()), time.Hour)
	auths := map[string]any{}
	for _, h := range []string{p.src.Host(), p.dst.Host()} {
		p.kc[h] = authn.AuthConfig{Username: user, Password: pass}
		auths[h] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	}
	b, _ := json.Marshal(map[string]any{"auths": auths})
	if err := os.WriteFile(filepath.Join(p.dockerCfg, "config.json"), b, 0o600); err != nil {
		tb.Fatal(err)
	}
	p.images = nil
	svcs := append([]string(nil), seed.Services...)
	sort.Strings(svcs)
	for _, s := range svcs {
		src, _ := name.NewTag(p.src.Host() + "/currents/on-prem/" + s + ":staging")
		dst, _ := name.NewTag(p.dst.Host() + "/mirror/currents/" + s + ":staging")
		p.images = append(p.images, Image{Name: s, Source: src, Target: dst})
	}
}

func (p *standinPair) latency(d time.Duration) {
	p.src.SetLatency(d)
	p.dst.SetLatency(d)
}

func (p *standinPair) ours(tb testing.TB) {
	if _, err := Copy(context.Background(), p.images, WithKeychain(p.kc)); err != nil {
		tb.Fatal(err)
	}
}

// crane runs `crane copy` once per image, as a script replacing the seed's
// pull/tag/push loop would.
func (p *standinPair) crane(tb testing.TB, bin string) {
	for _, im := range p.images {
		cmd := exec.Command(bin, "copy", im.Source.String(), im.Target.String())
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+p.dockerCfg)
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("crane copy %s: %v\n%s", im.Name, err, out)
		}
	}
}

func buildCrane(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "crane")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/google/go-containerregistry/cmd/crane").CombinedOutput()
	if err != nil {
		b.Skipf("cannot build crane from the module: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkMirror compares the first mirror of the six-image stack, and a
// rerun with nothing to do, against `crane copy` run once per image, over
// loopback ECR-style fronts adding 50 ms to every request. bytes_moved is
// what the target received.
func BenchmarkMirror(b *testing.B) {
	crane := buildCrane(b)
	size := seed.Size(256<<10, 3)
	for _, tool := range []string{"ours", "crane"} {
		run := func(p *standinPair) {
			if tool == "ours" {
				p.ours(b)
			} else {
				p.crane(b, crane)
			}
		}
		// timed runs the copy b.N times into a fresh target that already
		// holds the first `have` images, timing only the copy.
		timed := func(b *testing.B, have int) {
			p := newStandinPair(b, b.TempDir(), size)
			var moved int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				p.newTarget(b)
				if have > 0 {
					all := p.images
					p.images = all[:have]
					p.ours(b)
					p.images = all
					p.dst.Reset()
				}
				p.latency(benchLatency)
				b.StartTimer()
				run(p)
				b.StopTimer()
				moved += p.dst.Requests().BytesIn
				p.latency(0)
				b.StartTimer()
			}
			b.ReportMetric(float64(moved)/float64(b.N), "bytes_moved/op")
		}
		b.Run("first/"+tool, func(b *testing.B) { timed(b, 0) })
		// Half the stack is already mirrored: only the rest may move.
		b.Run("half/"+tool, func(b *testing.B) { timed(b, len(seed.Services)/2) })
		b.Run("noop/"+tool, func(b *testing.B) {
			p := newStandinPair(b, b.TempDir(), size)
			p.ours(b)
			p.latency(benchLatency)
			p.dst.Reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run(p)
			}
			b.StopTimer()
			st := p.dst.Requests()
			b.ReportMetric(float64(st.BytesIn)/float64(b.N), "bytes_moved/op")
			b.ReportMetric(float64(st.Requests)/float64(b.N), "target_requests/op")
		})
	}
}
