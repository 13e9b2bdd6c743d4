package watch

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/journal"
)

// TestSIGKILLAtEachStep kills the watch process at each step of handling a
// push (holding the event, copying, recorded but not yet deleted): the
// journal always reads, and a rerun converges: the mirror holds the
// registry's digest, nothing is left started, the message is gone.
func TestSIGKILLAtEachStep(t *testing.T) {
	for _, step := range []struct {
		name, killAfter string
		settle          string
	}{
		{"holding the event", "event", "30s"},
		{"copying", "mirroring", "0s"},
		{"copied, its message not yet deleted", "mirrored", "0s"},
	} {
		t.Run(step.name, func(t *testing.T) {
			w := newWorld(t)
			slow := w.slowMirror(t)
			args := []string{"currents", "watch", "-f", stackAt, "--queue", w.queue, "--mirror-to", slow + "/currents/", "--log-format", "json", "--interval", "1h"}
			// Bring the mirror up to date first, so the step is the push's.
			if code, out := runOnce(t, append(args, "--once")); code != 0 {
				t.Fatalf("first --once: exit %d\n%s", code, out)
			}
			cmd := exec.Command(pluginBin, append(args, "--settle", step.settle)...)
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stderr)
			d := w.push("api")
			killed := false
			for lines.Scan() {
				var m map[string]any
				if json.Unmarshal(lines.Bytes(), &m) == nil && m["msg"] == step.killAfter {
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
					break
				}
			}
			cmd.Wait()
			if !killed {
				t.Fatalf("the watch never logged %q", step.killAfter)
			}
			st, err := journal.Read(w.state, "currents")
			if err != nil {
				t.Fatalf("the journal does not read after a SIGKILL: %v", err)
			}
			if u := st.Unfinished(); len(u) > 1 || (len(u) == 1 && (u[0].Service != "api" || u[0].New != d.String())) {
				t.Fatalf("unfinished after the kill: %+v", u)
			}
			// The held message comes back once its visibility timeout
			// passes; the rerun finds it.
			// A receive the dead process sent just before dying may still be
			// answered (and take the message, as with SQS): let a request
			// still in flight reach the stand-in, and every receive it is
			// answering see its client gone, before the reveal.
			time.Sleep(300 * time.Millisecond)
			for deadline := time.Now().Add(10 * time.Second); w.aws.Receiving(w.queue) > 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("a receive of the killed watch is still answered after 10 s")
				}
			}
			w.aws.RevealInFlight(w.queue)
			code, rerun := runOnce(t, append(args, "--once"))
			if code != 0 {
				t.Fatalf("rerun: exit %d\n%s", code, rerun)
			}
			if got := w.mirroredAt(slow, "api"); got != d.String() {
				t.Errorf("after the rerun the mirror holds %s, want %s", got, d)
			}
			st = w.journal()
			if u := st.Unfinished(); len(u) != 0 {
				t.Errorf("still started after the rerun: %+v", u)
			}
			if st.Services["api"].Mirrored != d.String() {
				t.Errorf("journal api after the rerun: %+v", st.Services["api"])
			}
			if v, f := w.aws.QueueDepth(w.queue); v+f != 0 {
				t.Errorf("the queue still holds %d+%d messages\n%s", v, f, rerun)
			}
		})
	}
}

// runOnce runs the built plugin as docker runs it, returning its exit code
// and stderr.
func runOnce(t testing.TB, args []string) (int, string) {
	t.Helper()
	cmd := exec.Command(pluginBin, args...)
	var out strings.Builder
	cmd.Stderr = &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// slowMirror is the world's mirror behind 200 ms of latency per request, so
// a copy takes long enough to be killed in the middle.
func (w *world) slowMirror(t testing.TB) string {
	target := "http://" + w.mirror
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		req.ContentLength = r.ContentLength
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			rw.WriteHeader(http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			rw.Header()[k] = v
		}
		if loc := res.Header.Get("Location"); loc != "" {
			rw.Header().Set("Location", strings.Replace(loc, w.mirror, r.Host, 1))
		}
		rw.WriteHeader(res.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := res.Body.Read(buf)
			rw.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
