package watch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/journal"
)

// killedMidRollback is what a watch SIGKILLed in the middle of a rollback
// leaves: api recreated from the bad digest and unhealthy, the previous
// image held, the deploy recorded as rolled back, and (begun) the rollback
// entry; tagged says whether it had put the previous image back under the
// service's tag yet.
func killedMidRollback(t *testing.T, w *world, f *fakeEngine, begun, tagged bool) (old, bad string) {
	t.Helper()
	ctx := context.Background()
	old = w.digests["api"].String()
	bad = w.push("api").String()
	f.unhealthy[bad] = true
	_ = f.Tag(ctx, "img-"+old, f.repo("api")+":currents-previous-api")
	_ = f.Compose(ctx, "pull", "api")
	_ = f.Compose(ctx, "up", "api")
	if tagged {
		_ = f.Tag(ctx, f.repo("api")+":currents-previous-api", f.ref("api"))
	}
	j, err := journal.Open(w.state, "currents", "")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	id, err := j.Begin(journal.Entry{Service: "api", Action: journal.ActionDeploy, Old: old, New: bad})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(id, journal.RolledBack, "not healthy", func(st *journal.State) {
		rec := st.Service("api")
		rec.Registry, rec.Failed = bad, []string{bad}
	}); err != nil {
		t.Fatal(err)
	}
	if begun {
		if _, err := j.Begin(journal.Entry{Service: "api", Action: journal.ActionRollback, Old: bad, New: old}); err != nil {
			t.Fatal(err)
		}
	}
	return old, bad
}

// TestRestartFinishesARollbackLeftUnfinished: a watch killed after it began
// putting the previous image back, before compose recreated the service;
// the next start must finish the rollback, not leave the failed digest
// running.
func TestRestartFinishesARollbackLeftUnfinished(t *testing.T) {
	for _, tagged := range []bool{false, true} {
		w := newWorld(t)
		f := newFakeEngine(w)
		old, bad := killedMidRollback(t, w, f, true, tagged)
		o := w.deployOptions(f)
		o.Once, o.Queue = true, ""
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		c, _, _ := f.Container(context.Background(), "currents", "api")
		if got := c.DigestIn(f.repo("api")); got != old || !c.Healthy() {
			t.Errorf("tagged %v: api runs %s after the restart, want the previous %s back (the failed one is %s)", tagged, got, old, bad)
		}
		st := w.journal()
		if u := st.Unfinished(); len(u) != 0 {
			t.Errorf("tagged %v: still started: %+v", tagged, u)
		}
		if rec := st.Services["api"]; rec.Deployed != old || !rec.HasFailed(bad) {
			t.Errorf("tagged %v: journal api %+v", tagged, rec)
		}
		if _, held := f.tags[f.repo("api")+":currents-previous-api"]; held {
			t.Errorf("tagged %v: the tag holding the previous image was left behind", tagged)
		}
	}
}

// TestRollbackIsJournaledBeforeTheEngineIsTouched: when the rollback first
// touches the engine (the previous image tagged back), the journal on disk
// already holds the rollback as started, so a SIGKILL from there on leaves
// a restart knowing to finish it; before, the deploy was recorded as rolled
// back and the rollback begun only after the tag, and a kill in between left
// the failed digest running with nothing started.
func TestRollbackIsJournaledBeforeTheEngineIsTouched(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	var seen []journal.Entry
	f.onTag = func(ref string) {
		if ref != f.ref("api") {
			return
		}
		st, err := journal.Read(w.state, "currents")
		if err != nil {
			t.Error(err)
			return
		}
		seen = st.Unfinished()
	}
	bad := w.push("api").String()
	f.unhealthy[bad] = true
	o := w.deployOptions(f)
	o.Once, o.Queue = true, ""
	out, err := Run(context.Background(), o)
	if err != nil || out.RolledBack != 1 {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	if len(seen) != 1 || seen[0].Action != journal.ActionRollback || seen[0].Old != bad {
		t.Errorf("started in the journal when the previous image was tagged back: %+v, want the rollback", seen)
	}
}

// TestRestartWithTheEngineDownKeepsWhatWasUnderWay: a host rebooted in the
// middle of a rollback, and the watch starts before dockerd answers. What
// was under way stays under way in the journal until the engine answers,
// then is finished; before, it was abandoned at once (as if the old
// container still ran) and the failed digest kept running.
func TestRestartWithTheEngineDownKeepsWhatWasUnderWay(t *testing.T) {
	for _, begun := range []bool{false, true} {
		w := newWorld(t)
		f := newFakeEngine(w)
		old, bad := killedMidRollback(t, w, f, begun, false)
		if !begun {
			// The deploy itself was under way: reopen its entry.
			j, err := journal.Open(w.state, "currents", "")
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Update(func(st *journal.State) error {
				st.History[len(st.History)-1].Result = journal.Started
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			j.Close()
		}
		o := w.deployOptions(f)
		o.Once, o.Queue = true, ""
		f.down = true
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if u := w.journal().Unfinished(); len(u) != 1 {
			t.Errorf("begun %v: with the engine down, under way: %+v, want what was", begun, u)
		}
		f.down = false
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		c, _, _ := f.Container(context.Background(), "currents", "api")
		if got := c.DigestIn(f.repo("api")); got != old {
			t.Errorf("begun %v: api runs %s once the engine answers, want the previous %s back (failed: %s)", begun, got, old, bad)
		}
		if u := w.journal().Unfinished(); len(u) != 0 {
			t.Errorf("begun %v: still under way: %+v", begun, u)
		}
	}
}

// TestComposeUpFailingBeforeRecreatingIsNoDeploy: compose's up fails before
// it recreates anything (a port taken, a bad volume): the old container runs
// on, healthy. That is a failed deploy, retried, not a deploy of the old
// digest: before, it was recorded as deployed and the journal's registry
// digest was put back to the old one, so every poll found the change again.
func TestComposeUpFailingBeforeRecreatingIsNoDeploy(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	f.upFails = errors.New("Bind for 0.0.0.0:8080 failed: port is already allocated")
	old := w.digests["api"].String()
	nu := w.push("api").String()
	o := w.deployOptions(f)
	o.Once, o.Queue = true, ""
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if out.Deployed != 0 || out.RolledBack != 0 || out.Failed == 0 {
		t.Errorf("outcome %+v, want a failure and no deploy", out)
	}
	st := w.journal()
	rec := st.Services["api"]
	if rec.Registry != nu || rec.Deployed != old || rec.HasFailed(nu) {
		t.Errorf("journal api %+v: want registry %s, deployed %s, nothing failed for good", rec, nu, old)
	}
	last := st.History[len(st.History)-1]
	if last.Action != journal.ActionDeploy || last.Result != journal.Failed {
		t.Errorf("last history entry %+v, want the deploy failed", last)
	}
	if n := w.logs.count("deployed"); n != 0 {
		t.Errorf("%d deployed lines for a deploy that never happened", n)
	}
	// Compose works again: the next run deploys it.
	f.upFails = nil
	if out, err = Run(context.Background(), o); err != nil || out.Deployed != 1 {
		t.Errorf("once compose works: %+v %v", out, err)
	}
}

// TestDeployOfWhatAlreadyRuns: someone ran compose by hand and the service
// already runs the new digest when the watch deploys it; compose's up
// changes nothing, and that is a deploy done, not a failure retried for
// ever.
func TestDeployOfWhatAlreadyRuns(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	nu := w.push("api").String()
	reads := 0
	f.onContainer = func(svc string) {
		if svc != "api" {
			return
		}
		if reads++; reads == 4 {
			// After the watch read the engine (at start, at the poll, and under the deploy lock), as it deploys.
			_ = f.Compose(context.Background(), "pull", "api")
			_ = f.Compose(context.Background(), "up", "api")
		}
	}
	o := w.deployOptions(f)
	o.Once, o.Queue = true, ""
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed != 0 || out.Deployed != 1 {
		t.Errorf("outcome %+v, want api deployed", out)
	}
	if rec := w.journal().Services["api"]; rec.Deployed != nu {
		t.Errorf("journal api %+v", rec)
	}
}

// TestStopDuringARecoveredDeployFinishesIt: the watch restarts after a
// SIGKILL mid-deploy and waits for the recreated service's health; a
// SIGTERM then (systemctl restart again) lets the deploy finish within its
// bound, as a stop during any deploy does. Before, the wait broke off and
// the healthy new digest was rolled back, marked failed for good, with a
// cancelled context that could not even put the old image back.
func TestStopDuringARecoveredDeployFinishesIt(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	ctx := context.Background()
	old := w.digests["api"].String()
	nu := w.push("api").String()
	_ = f.Tag(ctx, "img-"+old, f.repo("api")+":currents-previous-api")
	_ = f.Compose(ctx, "pull", "api")
	_ = f.Compose(ctx, "up", "api")
	j, err := journal.Open(w.state, "currents", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Begin(journal.Entry{Service: "api", Action: journal.ActionDeploy, Old: old, New: nu}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	stopCtx, stop := context.WithCancel(ctx)
	reads := 0
	f.mu.Lock()
	c := f.containers["api"]
	c.Health = "starting"
	f.containers["api"] = c
	f.mu.Unlock()
	f.onContainer = func(svc string) {
		if svc != "api" {
			return
		}
		switch reads++; reads {
		case 2: // the recovery's first look: SIGTERM arrives
			stop()
		case 4: // a little later it is healthy
			f.mu.Lock()
			c := f.containers["api"]
			c.Health = "healthy"
			f.containers["api"] = c
			f.mu.Unlock()
		}
	}
	o := w.deployOptions(f)
	o.HealthTimeout = 10 * time.Second
	if _, err := Run(stopCtx, o); err != nil {
		t.Fatal(err)
	}
	rec := w.journal().Services["api"]
	if rec.Deployed != nu || rec.HasFailed(nu) {
		t.Errorf("journal api %+v: want %s deployed, not failed", rec, nu)
	}
	if got, _, _ := f.Container(ctx, "currents", "api"); got.DigestIn(f.repo("api")) != nu {
		t.Errorf("api runs %s", got.DigestIn(f.repo("api")))
	}
}

// TestServiceStartedAfterTheWatchIsDeployed: the unit was enabled before
// the stack was started (`docker currents up -d` after `systemctl enable
// --now`): a service with no container at the watch's start has one later,
// and its next release is deployed, found by a poll or by its event. Before,
// the watch read the engine only at start and left the service alone until
// restarted.
func TestServiceStartedAfterTheWatchIsDeployed(t *testing.T) {
	for _, byEvent := range []bool{false, true} {
		w := newWorld(t)
		f := newFakeEngine(w)
		f.mu.Lock()
		api := f.containers["api"]
		delete(f.containers, "api")
		f.mu.Unlock()
		o := w.deployOptions(f)
		o.Queue, o.Interval = "", 500*time.Millisecond
		if byEvent {
			o.Queue, o.Interval, o.wait = w.queue, time.Hour, time.Second
		}
		stop := w.start(o)
		w.eventually(10*time.Second, "the first poll", func() bool { return w.logs.count("change") == 6 })
		f.mu.Lock()
		f.containers["api"] = api // docker currents up -d
		f.mu.Unlock()
		d := w.push("api").String()
		w.eventually(15*time.Second, "api's release deployed", func() bool {
			for _, l := range w.logs.exact("deployed") {
				if l["service"] == "api" && l["new"] == d {
					return true
				}
			}
			return false
		})
		if n := w.logs.count("service not running"); n != 1 {
			t.Errorf("by event %v: %d 'service not running' lines, want 1 (said when it is found so)", byEvent, n)
		}
		stop()
	}
}

// TestRollbackThatFailsIsAFailure: the new image is unhealthy and the
// previous one, put back, is unhealthy too (its database went away): the
// service is down, and --once must not exit 0 "every image current".
func TestRollbackThatFailsIsAFailure(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	bad := w.push("api").String()
	f.unhealthy[bad] = true
	f.unhealthy[w.digests["api"].String()] = true
	o := w.deployOptions(f)
	o.Once, o.Queue = true, ""
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed == 0 {
		t.Errorf("outcome %+v: a rollback that did not bring api back is no failure", out)
	}
}

// TestServiceNotDeployedIsAFailure: of two services to deploy, one cannot
// keep its previous image (the engine refuses the tag) and is not deployed:
// --once says so with its exit status, not 0 because the other went well.
func TestServiceNotDeployedIsAFailure(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	w.push("api")
	w.push("director")
	f.tagFails = map[string]bool{f.repo("director") + ":currents-previous-director": true}
	o := w.deployOptions(f)
	o.Once, o.Queue = true, ""
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if out.Deployed != 1 || out.Failed == 0 {
		t.Errorf("outcome %+v: want api deployed and director's deploy a failure", out)
	}
}
