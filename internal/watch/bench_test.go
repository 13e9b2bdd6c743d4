package watch

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/standin/seed"
)

// BenchmarkQueuePushToMirror: a vendor push until the mirror holds the new
// digest, over the queue with --settle 0. Reported beside the copy itself
// (the watch's "mirroring" to "mirrored" lines): the rest is what the event,
// the resolve and the bookkeeping cost.
func BenchmarkQueuePushToMirror(b *testing.B) {
	w := newBenchWorld(b)
	o := w.options()
	o.Settle = 0
	w.start(o)
	w.synced()
	var total, copying time.Duration
	for b.Loop() {
		n := len(w.logs.exact("mirrored"))
		d := w.push("writer")
		t0 := time.Now()
		for w.mirrored("writer") != d.String() {
			time.Sleep(2 * time.Millisecond)
		}
		total += time.Since(t0)
		for len(w.logs.exact("mirrored")) <= n {
			time.Sleep(time.Millisecond)
		}
		copying += copyTime(w, n)
	}
	n := float64(b.N)
	b.ReportMetric(float64(total.Milliseconds())/n, "ms-push-to-mirror/op")
	b.ReportMetric(float64((total-copying).Milliseconds())/n, "ms-beyond-copy/op")
}

// copyTime is the time between the last "mirroring" line and the mirrored
// line after the first n.
func copyTime(w *world, n int) time.Duration {
	done := w.logs.exact("mirrored")[n]
	starts := w.logs.exact("mirroring")
	start := starts[len(starts)-1]
	t1, _ := time.Parse(time.RFC3339Nano, done["time"].(string))
	t0, _ := time.Parse(time.RFC3339Nano, start["time"].(string))
	return t1.Sub(t0)
}

// BenchmarkPoll60Images: one poll of a 60-image stack costs one HEAD per
// image over reused connections (dials counted).
func BenchmarkPoll60Images(b *testing.B) {
	w := newBenchWorld(b)
	var refs []name.Reference
	for i := range 60 {
		ref := fmt.Sprintf("bench/svc-%02d:staging", i)
		if _, err := seed.Push(context.Background(), w.reg, ref); err != nil {
			b.Fatal(err)
		}
		r, _ := name.ParseReference(w.reg.Host() + "/" + ref)
		refs = append(refs, r)
	}
	cf, err := dockerconfig.Load(filepath.Join(w.home, ".docker"))
	if err != nil {
		b.Fatal(err)
	}
	base := mirror.StallGuard(nil).(*http.Transport)
	var dials atomic.Int64
	dial := base.DialContext
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	res := newResolver(base, func() *keychain.Keychain { return keychain.New(cf) }, 8)
	res.resolve(context.Background(), refs) // the transport's one ping, and the helper's cold refresh
	w.reg.Reset()
	dials.Store(0)
	for b.Loop() {
		for ref, r := range res.resolve(context.Background(), refs) {
			if r.err != nil || r.digest == "" {
				b.Fatalf("%s: %v", ref, r.err)
			}
		}
	}
	st := w.reg.Requests()
	b.ReportMetric(float64(st.Requests)/float64(b.N), "requests/poll")
	b.ReportMetric(float64(st.ManifestGets)/float64(b.N), "manifest-heads/poll")
	b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/poll")
}

// BenchmarkIdleQueueWatch runs the built plugin idle on a queue
// (WATCH_IDLE, default 65s) and reports what it cost: SQS, STS, ECR and
// registry requests per hour, and its resident memory at the end.
func BenchmarkIdleQueueWatch(b *testing.B) {
	idle := 65 * time.Second
	if v := os.Getenv("WATCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("WATCH_IDLE=%q: %v", v, err)
		}
		idle = d
	}
	for b.Loop() {
		w := newBenchWorld(b)
		args := []string{"currents", "watch", "-f", stackAt, "--queue", w.queue, "--mirror-to", w.mirror + "/currents/", "--log-format", "json"}
		if code, out := runOnce(b, append(args, "--once")); code != 0 {
			b.Fatalf("--once: %d\n%s", code, out)
		}
		cmd := exec.Command(pluginBin, args...)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(3 * time.Second) // start-up: the first poll and the queue's check
		before, reg := w.aws.Counts(), w.reg.Requests()
		time.Sleep(idle)
		after, reg2 := w.aws.Counts(), w.reg.Requests()
		rss := vmRSS(b, cmd.Process.Pid)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		perHour := func(n int64) float64 { return float64(n) * float64(time.Hour) / float64(idle) }
		b.ReportMetric(perHour(after.ReceiveMessage-before.ReceiveMessage), "receives/hour")
		other := (after.AssumeRole - before.AssumeRole) + (after.GetAuthorizationToken - before.GetAuthorizationToken) +
			(after.DeleteMessage - before.DeleteMessage) + (after.GetQueueAttributes - before.GetQueueAttributes)
		b.ReportMetric(perHour(other), "other-aws/hour")
		b.ReportMetric(perHour(reg2.Requests-reg.Requests), "registry/hour")
		b.ReportMetric(float64(rss)/1024, "rss-MiB")
	}
}

func vmRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
