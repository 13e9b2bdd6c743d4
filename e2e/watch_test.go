//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestWatchDeploysAndRollsBack is `docker currents watch --deploy` on the six-service stack, fed by the stand-in's
// queue: a vendor push of a new api image recreates api alone, healthy, and the journal records it; a push of an api
// image whose healthcheck fails is rolled back to the previous digest, and nothing else is touched.
func TestWatchDeploysAndRollsBack(t *testing.T) {
	cache := fresh(t)
	t.Cleanup(func() { composeDown(t) })
	state := withEnv("CURRENTS_STATE_DIR=" + scratchDir(t, "state"))
	mustOK(t, run(t, "docker", []string{"currents", "up", "-d", "--wait"}, inDir(stackDir), cache))

	w := startWatch(t, []cmdOpt{cache, state}, "--deploy", "--queue", e.queue, "--settle", "0", "--health-timeout", "20s", "--interval", "1h")
	w.await(t, "event handled", 60*time.Second) // the setup's pushes: the stack already runs them
	good := deployGoodRelease(t, w, state)
	rollBackBadRelease(t, w, state, good)

	// SIGTERM stops it cleanly; a run after it does not try the failed digest again.
	if code := w.stop(t); code != 0 {
		t.Errorf("watch exited %d on SIGTERM", code)
	}
	r := run(t, "docker", []string{"currents", "watch", "--once", "--deploy", "--log-format", "json"}, inDir(stackDir), cache, state)
	if r.code != 0 || strings.Contains(r.out, `"msg":"deploying"`) {
		t.Errorf("a later run tried the failed digest again:\n%s", r)
	}
	if got := runningDigest(t, "api"); got != good {
		t.Errorf("api runs %s after the later run, want %s", got, good)
	}
}

// deployGoodRelease: a new api release recreates api alone, healthy, and the journal records it.
func deployGoodRelease(t *testing.T, w *watchProc, state cmdOpt) string {
	t.Helper()
	before, previous := containers(t), runningDigest(t, "api")
	t0 := time.Now()
	good := pushAPIRelease(t, "release-2", healthPort)
	deployed := w.await(t, "deployed", 3*time.Minute)
	fmt.Fprintf(os.Stderr, "e2e: push to a healthy api container through the queue: %s\n", time.Since(t0).Round(100*time.Millisecond))
	if deployed["service"] != "api" || deployed["new"] != good {
		t.Fatalf("deployed %v, want api at %s", deployed, good)
	}
	after := containers(t)
	for svc, id := range before {
		if changed := after[svc] != id; changed != (svc == "api") {
			t.Errorf("%s: container %s -> %s; only api may be recreated", svc, id, after[svc])
		}
	}
	if got := runningDigest(t, "api"); got != good {
		t.Errorf("api runs %s, want the release %s", got, good)
	}
	serving(t, "api")
	if rec := status(t, state).Services["api"]; rec.Deployed != good || rec.Previous != previous {
		t.Errorf("journal api: %+v", rec)
	}
	return good
}

// rollBackBadRelease: a release of api whose healthcheck fails goes back to good, the rest untouched.
func rollBackBadRelease(t *testing.T, w *watchProc, state cmdOpt, good string) {
	t.Helper()
	before := containers(t)
	bad := pushAPIRelease(t, "release-3-broken", "8081") // it listens where no healthcheck looks
	w.await(t, "rolled back", 3*time.Minute)
	if got := runningDigest(t, "api"); got != good {
		t.Errorf("after the rollback api runs %s, want the previous %s", got, good)
	}
	serving(t, "api")
	for svc, id := range containers(t) {
		if svc != "api" && id != before[svc] {
			t.Errorf("%s was recreated by api's rollback", svc)
		}
	}
	st := status(t, state)
	if rec := st.Services["api"]; rec.Deployed != good || len(rec.Failed) != 1 || rec.Failed[0] != bad {
		t.Errorf("journal api after the rollback: %+v", rec)
	}
	results := map[string]string{}
	for _, h := range st.History {
		if h.Service == "api" {
			results[h.Action] = h.Result
		}
	}
	if results["deploy"] != "rolled-back" || results["rollback"] != "ok" {
		t.Errorf("history of api: %v", results)
	}
}

// watchProc is a `docker currents watch` running in the background, its JSON log lines collected.
type watchProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []map[string]any
	raw  strings.Builder
	done chan struct{}
}

func startWatch(t *testing.T, opts []cmdOpt, args ...string) *watchProc {
	t.Helper()
	c := exec.Command("docker", append([]string{"currents", "watch", "--log-format", "json"}, args...)...)
	c.Env = os.Environ()
	c.Dir = stackDir
	for _, o := range opts {
		o(c)
	}
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watchProc{cmd: c, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			w.mu.Lock()
			w.raw.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				w.logs = append(w.logs, m)
			}
			w.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		if c.ProcessState == nil {
			w.stop(t)
		}
		if t.Failed() {
			w.mu.Lock()
			t.Logf("watch's log:\n%s", w.raw.String())
			w.mu.Unlock()
		}
	})
	return w
}

// await waits for the next log line with this msg that it has not returned before.
func (w *watchProc) await(t *testing.T, msg string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for i, m := range w.logs {
			if m["msg"] == msg {
				w.logs = w.logs[i+1:]
				w.mu.Unlock()
				return m
			}
		}
		w.mu.Unlock()
		select {
		case <-w.done:
			t.Fatalf("watch exited before logging %q", msg)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("watch did not log %q within %s", msg, within)
	return nil
}

// stop sends SIGTERM and returns the exit code.
func (w *watchProc) stop(t *testing.T) int {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	<-w.done
	err := w.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

// pushAPIRelease pushes a new api index (both platforms) whose healthsvc listens on port, as the vendor's CI
// pushes a release, and returns its digest. The stand-in's front announces it to the queue.
func pushAPIRelease(t *testing.T, release, port string) string {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	for _, arch := range []string{"amd64", "arm64"} {
		bin := binaries[arch]
		if bin == nil {
			b, err := os.ReadFile(filepath.Join(e.tmp, "healthsvc-"+arch))
			if err != nil {
				t.Fatal(err)
			}
			bin = b
		}
		img, err := serviceImage(multiPlatform, arch, bin)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.Config.Env = []string{"SERVICE=" + multiPlatform, "HEALTH_ADDR=:" + port}
		cf.Config.Labels["dev.currents.e2e.release"] = release
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	ref, err := name.NewTag(repoRef(multiPlatform, tag))
	if err != nil {
		t.Fatal(err)
	}
	os.Setenv("CURRENTS_CACHE_DIR", filepath.Join(e.tmp, "cache-push"))
	defer os.Unsetenv("CURRENTS_CACHE_DIR")
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// containers are the stack's container IDs by service.
func containers(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, svc := range services {
		out[svc] = strings.TrimSpace(mustOK(t, run(t, "docker", []string{"compose", "ps", "-q", svc}, inDir(stackDir))).out)
	}
	return out
}

// runningDigest is the digest the service's container was pulled by from the alias host.
func runningDigest(t *testing.T, svc string) string {
	t.Helper()
	id := strings.TrimSpace(mustOK(t, run(t, "docker", []string{"compose", "ps", "-q", svc}, inDir(stackDir))).out)
	img := strings.TrimSpace(mustOK(t, docker(t, "inspect", "--format", "{{.Image}}", id)).out)
	digests := mustOK(t, docker(t, "image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", img)).out
	repo := e.alias + "/currents/on-prem/" + svc + "@"
	for _, d := range strings.Fields(digests) {
		if strings.HasPrefix(d, repo) {
			return strings.TrimPrefix(d, repo)
		}
	}
	t.Fatalf("%s's image %s was not pulled from %s: %q", svc, img, repo, digests)
	return ""
}

// serving: the service answers on its health endpoint, as itself.
func serving(t *testing.T, svc string) {
	t.Helper()
	addr := strings.TrimSpace(mustOK(t, run(t, "docker", []string{"compose", "port", svc, healthPort}, inDir(stackDir))).out)
	if got, err := health(addr); err != nil || got != svc {
		t.Errorf("%s at %s: %q %v", svc, addr, got, err)
	}
}

type journalState struct {
	Services map[string]struct {
		Registry, Deployed, Previous string
		Failed                       []string
	}
	History []struct{ Service, Action, Old, New, Result string }
}

func status(t *testing.T, state cmdOpt) journalState {
	t.Helper()
	r := mustOK(t, run(t, "docker", []string{"currents", "watch", "--status", "--format", "json"}, inDir(stackDir), state))
	var st journalState
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		t.Fatalf("--status --format json: %v\n%s", err, r)
	}
	return st
}
