package bench

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kubeletRequest is what the kubelet writes on the plugin's stdin.
func (w *helperWorld) kubelet(path string, extra map[string]string, image string) *exec.Cmd {
	cmd := w.get(path, extra)
	cmd.Args = []string{path, "kubelet"}
	cmd.Stdin = strings.NewReader(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"` + image + `"}`)
	return cmd
}

func (w *helperWorld) mustKubelet(b *testing.B, cmd *exec.Cmd) sample {
	s, out, err := measure(cmd)
	if err != nil {
		b.Fatal(err)
	}
	var r struct {
		Auth map[string]struct{ Password string }
	}
	if json.Unmarshal(out, &r) != nil || r.Auth[w.host].Password == "" {
		b.Fatalf("kubelet answered %q", out)
	}
	return s
}

// BenchmarkWarmKubelet: a warm `kubelet` request of the lean helper against a
// warm `get` of the same binary and cache, and the trivial-binary floor,
// interleaved. Issue 15 asks for a kubelet request no dearer than a get,
// within 1.5× the floor, and no AWS call.
func BenchmarkWarmKubelet(b *testing.B) {
	w := newHelperWorld(b)
	lean := programs.builds[0].lean()
	extra := map[string]string{"CURRENTS_CACHE_DIR": filepath.Join(w.home, "cache-kubelet")}
	image := w.host + "/currents/on-prem/api:staging"
	w.mustKubelet(b, w.kubelet(lean, extra, image)) // fills the cache
	w.aws.Reset()
	trivial := contender{"trivial", func(tb testing.TB) sample { return w.mustGet(b, w.get(programs.trivial, nil)) }}
	get := contender{"get", func(tb testing.TB) sample { return w.mustGet(b, w.get(lean, extra)) }}
	kubelet := contender{"kubelet", func(tb testing.TB) sample { return w.mustKubelet(b, w.kubelet(lean, extra, image)) }}
	compare(b, 40, trivial, get, kubelet)
	if c := w.aws.Counts(); c.AssumeRole != 0 || c.GetAuthorizationToken != 0 {
		b.Errorf("warm kubelet requests called AWS: %+v", c)
	}
}

// BenchmarkColdKubeletBurst: 64 kubelet requests at once on a cold cache, as
// a node starting a pod of many images; counted per burst: AssumeRole and
// GetAuthorizationToken (issue 15: one of each).
func BenchmarkColdKubeletBurst(b *testing.B) {
	w := newHelperWorld(b)
	w.aws.SetLatency(stsLatency)
	lean := programs.builds[0].lean()
	burstRun := contender{"kubelet", func(tb testing.TB) sample {
		extra := map[string]string{"CURRENTS_CACHE_DIR": tb.TempDir()}
		w.aws.Reset()
		s, err := together(burst, func(i int) *exec.Cmd {
			return w.kubelet(lean, extra, fmt.Sprintf("%s/currents/svc-%d:1", w.host, i))
		})
		if err != nil {
			b.Fatal(err)
		}
		c := w.aws.Counts()
		s.counts = map[string]float64{"AssumeRole": float64(c.AssumeRole), "GetAuthorizationToken": float64(c.GetAuthorizationToken)}
		if c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
			b.Errorf("%d cold kubelet requests: %d AssumeRole, %d GetAuthorizationToken; want 1 and 1", burst, c.AssumeRole, c.GetAuthorizationToken)
		}
		return s
	}}
	compare(b, 1, burstRun)
}
