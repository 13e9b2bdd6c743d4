package watch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTwoStateDirectoriesDeployOneProjectInTurn: two watches of one project
// with different state directories (two units, a unit and a manual run)
// each hold their own journal, and deployed at once: both tagged the
// previous image and ran compose's up, one rolling back what the other put
// up. The deploy lock, keyed by the project in the runtime directory, makes
// the second wait, naming the first; its retry, reading the engine under the
// lock, finds the image deployed and does nothing.
func TestTwoStateDirectoriesDeployOneProjectInTurn(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	first := w.deployOptions(f)
	first.Once, first.Queue = true, ""
	second := first
	second.StateDir = filepath.Join(t.TempDir(), "other-state")
	secondLog := &logBuffer{}
	second.Log = slog.New(slog.NewJSONHandler(secondLog, nil))

	// The first watch's deploy is under way (it has tagged the image to go back to) when the second looks.
	deploying, release := make(chan struct{}), make(chan struct{})
	var tagged atomic.Bool
	f.onTag = func(ref string) {
		if strings.HasSuffix(ref, ":currents-previous-director") && !tagged.Swap(true) {
			close(deploying)
			<-release
		}
	}
	pushed := w.push("director").String()
	type result struct {
		out Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := Run(context.Background(), first)
		done <- result{out, err}
	}()
	<-deploying
	out, err := Run(context.Background(), second)
	close(release)
	r := <-done
	if err != nil || r.err != nil {
		t.Fatal(err, r.err)
	}
	if r.out.Deployed != 1 {
		t.Errorf("the first watch: %+v, want director deployed", r.out)
	}
	f.mu.Lock()
	ups := len(f.ups)
	f.mu.Unlock()
	if out.Deployed != 0 || out.Failed == 0 || ups != 1 {
		t.Fatalf("the second watch deployed during the first's deploy: outcome %+v, %d compose ups\n%s", out, ups, secondLog)
	}
	held := fmt.Sprintf("another watch is deploying this project (pid %d, journal %s", os.Getpid(), filepath.Join(w.state, "watch", "currents.json"))
	if !strings.Contains(secondLog.String(), held) {
		t.Errorf("the second watch does not name the first (%q):\n%s", held, secondLog)
	}

	// Retried once the first is done: the engine runs the new image, nothing is left to do.
	if out, err = Run(context.Background(), second); err != nil || out.Deployed != 0 || out.Failed != 0 {
		t.Errorf("the second watch's retry: %+v %v", out, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ups) != 1 || f.containers["director"].DigestIn(f.repo("director")) != pushed {
		t.Errorf("compose ups %v, director runs %+v; want one deploy of %s", f.ups, f.containers["director"], pushed)
	}
}
