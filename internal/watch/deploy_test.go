package watch

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/journal"
)

// fakeEngine plays the Docker engine and compose for the deploy logic's
// engine-free tests (the e2e tier runs the real ones): images by ID with the
// digest they were pulled by, local tags, one container per service, and
// digests whose containers never become healthy.
type fakeEngine struct {
	w *world

	mu          sync.Mutex
	tags        map[string]string // ref → image ID
	digests     map[string]string // image ID → digest
	containers  map[string]Container
	unhealthy   map[string]bool // digests
	ups         [][]string      // the services of each `up`
	recreated   map[string]int
	onTag       func(ref string) // called before a tag, without the lock
	down        bool             // the engine does not answer
	upFails     error            // compose up fails before recreating anything
	onContainer func(svc string) // called before a container is read, without the lock
	tagFails    map[string]bool  // refs that cannot be tagged
}

func newFakeEngine(w *world) *fakeEngine {
	f := &fakeEngine{w: w, tags: map[string]string{}, digests: map[string]string{}, containers: map[string]Container{},
		unhealthy: map[string]bool{}, recreated: map[string]int{}}
	for svc, d := range w.digests {
		id := "img-" + d.String()
		f.digests[id] = d.String()
		f.tags[f.ref(svc)] = id
		f.containers[svc] = f.container(svc, id)
	}
	return f
}

func (f *fakeEngine) repo(svc string) string { return f.w.reg.Host() + "/currents/on-prem/" + svc }
func (f *fakeEngine) ref(svc string) string  { return f.repo(svc) + ":staging" }

func (f *fakeEngine) container(svc, id string) Container {
	c := Container{ID: "ctr-" + svc + "-" + id, ImageID: id, RepoDigests: []string{f.repo(svc) + "@" + f.digests[id]}, Running: true, Health: "healthy"}
	if f.unhealthy[f.digests[id]] {
		c.Health = "unhealthy"
	}
	return c
}

func (f *fakeEngine) Container(_ context.Context, project, svc string) (Container, bool, error) {
	if f.onContainer != nil {
		f.onContainer(svc)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return Container{}, false, errors.New("Cannot connect to the Docker daemon")
	}
	if project != "currents" {
		return Container{}, false, errors.New("wrong project " + project)
	}
	c, ok := f.containers[svc]
	return c, ok, nil
}

func (f *fakeEngine) Tag(_ context.Context, id, ref string) error {
	if f.onTag != nil {
		f.onTag(ref)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down || f.tagFails[ref] {
		return errors.New("Cannot connect to the Docker daemon")
	}
	if _, ok := f.digests[id]; !ok {
		if src, isRef := f.tags[id]; isRef {
			id = src // tagging by a name, as the engine allows
		} else {
			return errors.New("no such image " + id)
		}
	}
	f.tags[ref] = id
	return nil
}

func (f *fakeEngine) Untag(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tags, ref)
	return nil
}

// Compose: pull moves the services' tags to what the registry says; up
// recreates the services whose tag names another image, and fails (as
// --wait does) when one is unhealthy.
func (f *fakeEngine) Compose(_ context.Context, sub string, args ...string) error {
	var svcs []string
	for _, a := range args {
		if _, isService := f.w.digests[a]; isService {
			svcs = append(svcs, a)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("Cannot connect to the Docker daemon")
	}
	switch sub {
	case "pull":
		for _, s := range svcs {
			digest := f.w.registryDigest(s)
			id := "img-" + digest
			f.digests[id] = digest
			f.tags[f.ref(s)] = id
		}
	case "up":
		f.ups = append(f.ups, svcs)
		if f.upFails != nil {
			return f.upFails
		}
		var bad []string
		for _, s := range svcs {
			id := f.tags[f.ref(s)]
			if f.containers[s].ImageID != id {
				f.containers[s] = f.container(s, id)
				f.recreated[s]++
			}
			if !f.containers[s].Healthy() {
				bad = append(bad, s)
			}
		}
		if len(bad) > 0 {
			return errors.New("container " + strings.Join(bad, ",") + " is unhealthy")
		}
	}
	return nil
}

func (w *world) deployOptions(f *fakeEngine) Options {
	o := w.options()
	o.MirrorTo, o.Deploy, o.Engine, o.Settle, o.HealthTimeout = "", true, f, 0, 2*time.Second
	o.RuntimeDir = filepath.Join(w.home, "run")
	return o
}

// TestDeployRecreatesOnlyTheChangedService and rolls back an unhealthy one:
// the orchestration (pull proof, compose's up of exactly the changed
// services, the verdict, the rollback by tagging the previous image back)
// over a fake engine.
func TestDeployRecreatesOnlyTheChangedServiceAndRollsBack(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	w.start(w.deployOptions(f))
	w.eventually(10*time.Second, "the first poll", func() bool { return w.logs.count("change") == 6 })

	good := w.push("api").String()
	w.eventually(10*time.Second, "api deployed", func() bool { return w.logs.count("deployed") == 1 })
	f.mu.Lock()
	if len(f.ups) != 1 || strings.Join(f.ups[0], ",") != "api" || f.recreated["api"] != 1 || len(f.recreated) != 1 {
		t.Errorf("compose up %v, recreated %v; want api alone", f.ups, f.recreated)
	}
	f.mu.Unlock()
	if rec := w.journal().Services["api"]; rec.Deployed != good || rec.Previous != w.digests["api"].String() {
		t.Errorf("journal api %+v", rec)
	}

	bad := w.push("api").String()
	f.mu.Lock()
	f.unhealthy[bad] = true
	f.mu.Unlock()
	w.eventually(10*time.Second, "api rolled back", func() bool { return w.logs.count("rolled back") == 1 })
	c, _, _ := f.Container(context.Background(), "currents", "api")
	if c.DigestIn(f.repo("api")) != good || !c.Healthy() {
		t.Errorf("after the rollback api runs %+v, want %s", c, good)
	}
	st := w.journal()
	if rec := st.Services["api"]; rec.Deployed != good || len(rec.Failed) != 1 || rec.Failed[0] != bad {
		t.Errorf("journal api %+v", rec)
	}
	f.mu.Lock()
	if _, held := f.tags[f.repo("api")+":currents-previous-api"]; held {
		t.Error("the tag holding the previous image was left behind")
	}
	f.mu.Unlock()
	// Not tried again: another event for api finds the failed digest and does nothing.
	f.mu.Lock()
	ups := len(f.ups)
	f.mu.Unlock()
	handled := w.logs.count("event handled")
	sendBody(t, w, strings.Replace(lastEventBody(t, w), `"id":"`, `"id":"again-`, 1))
	w.eventually(10*time.Second, "the new event handled", func() bool { return w.logs.count("event handled") > handled })
	f.mu.Lock()
	if len(f.ups) != ups {
		t.Errorf("the failed digest was deployed again: %v", f.ups[ups:])
	}
	f.mu.Unlock()
}

// TestDeployWaitsForTheWindow: outside the window a change is only
// recorded; --once says so with its own outcome.
func TestDeployWaitsForTheWindow(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	o := w.deployOptions(f)
	o.Once, o.Queue = true, ""
	closed, err := ParseWindow(time.Now().Add(12*time.Hour).Format("Mon") + " 00:00-00:01")
	if err != nil {
		t.Fatal(err)
	}
	o.Windows = []Window{closed}
	w.push("director")
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if out.Deferred != 1 || out.Deployed != 0 || len(f.ups) != 0 {
		t.Errorf("outcome %+v, ups %v", out, f.ups)
	}
	o.Windows = nil
	if out, err = Run(context.Background(), o); err != nil || out.Deployed != 1 {
		t.Errorf("without the window: %+v %v", out, err)
	}
}

// TestRestartJudgesADeployLeftUnjudged: a watch killed after compose
// recreated the service but before it judged it; the next start waits for
// health and, unhealthy, puts the held previous image back.
func TestRestartJudgesADeployLeftUnjudged(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	old := w.digests["api"].String()
	bad := w.push("api").String()
	// What a killed deploy leaves: the held previous image, the new container, the entry started.
	f.unhealthy[bad] = true
	_ = f.Tag(context.Background(), "img-"+old, f.repo("api")+":currents-previous-api")
	_ = f.Compose(context.Background(), "pull", "api")
	_ = f.Compose(context.Background(), "up", "api")
	j, err := journal.Open(w.state, "currents", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Begin(journal.Entry{Service: "api", Action: journal.ActionDeploy, Old: old, New: bad}); err != nil {
		t.Fatal(err)
	}
	j.Close()

	o := w.deployOptions(f)
	o.Once, o.Queue = true, ""
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := f.Container(context.Background(), "currents", "api")
	if c.DigestIn(f.repo("api")) != old || out.RolledBack != 1 {
		t.Errorf("api runs %s (outcome %+v), want the previous %s back", c.DigestIn(f.repo("api")), out, old)
	}
	if st := w.journal(); len(st.Unfinished()) != 0 || !st.Services["api"].HasFailed(bad) {
		t.Errorf("journal %+v", st)
	}
}

// TestStoppedServiceIsNotStarted: `docker compose stop director` leaves its
// container, stopped. The watch starts nothing the operator did not leave
// running (as for a service without a container): a new image is recorded,
// not deployed, since compose's up would start the service with it. Once the
// operator starts it again, the next look deploys the new image.
func TestStoppedServiceIsNotStarted(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	o := w.deployOptions(f)
	o.Once, o.Queue = true, ""
	stopped := f.containers["director"]
	stopped.Running, stopped.Stopped = false, true
	f.containers["director"] = stopped
	pushed := w.push("director").String()
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if out.Deployed != 0 || len(f.ups) != 0 || f.containers["director"].Running {
		t.Fatalf("a stopped service was deployed (started): outcome %+v, compose up %v, container %+v", out, f.ups, f.containers["director"])
	}
	if w.logs.count("service stopped: watch leaves it alone") != 1 {
		t.Errorf("the log does not say the stopped service is left alone:\n%s", w.logs)
	}
	if rec := w.journal().Services["director"]; rec.Registry != pushed || rec.Deployed == pushed {
		t.Errorf("journal director %+v: want the new digest recorded, not deployed", rec)
	}

	started := f.containers["director"]
	started.Running, started.Stopped = true, false
	f.containers["director"] = started
	if out, err = Run(context.Background(), o); err != nil || out.Deployed != 1 {
		t.Errorf("started again: %+v %v, want the new image deployed", out, err)
	}
}
