package watch

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/check"
	"github.com/currentsdev/currents/internal/journal"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/stack"
)

// readEngine learns which services run a container, and the digest it runs:
// the engine, not the journal, is the truth of what is deployed. A service
// with no container, or with a stopped one, is not deployed: compose's up
// would start it, and the watch starts nothing the operator did not leave
// running.
func (w *watcher) readEngine(ctx context.Context) {
	w.engineRead = false
	err := w.journal.Update(func(st *journal.State) error {
		for _, s := range w.svcs {
			c, ok, err := w.o.Engine.Container(ctx, w.project, s.name)
			if err != nil {
				return err
			}
			if ok {
				st.Service(s.name).Deployed = c.DigestIn(s.repo)
			}
			w.setRunning(s.name, ok, ok && c.Stopped)
		}
		return nil
	})
	if err != nil {
		w.log.Warn("reading the engine failed; deploys wait until it answers (retried with backoff)", "error", err.Error())
		return
	}
	w.engineRead = true
	w.recoverEngine(ctx)
}

// setRunning records whether a service is up, saying so when that changes.
func (w *watcher) setRunning(n string, exists, stopped bool) {
	was, known := w.running[n]
	w.running[n] = exists && !stopped
	if w.running[n] || (known && !was) {
		return
	}
	if stopped {
		w.log.Info("service stopped: watch leaves it alone and deploys its new images once it runs (docker compose start)", "service", n)
		return
	}
	w.log.Info("service not running: watch leaves it alone (start the stack with docker currents up -d)", "service", n)
}

// holdRef is the tag that keeps a service's previous image in the engine
// until its successor is healthy (a prune cannot take it meanwhile).
func holdRef(s svc) string { return s.repo + ":currents-previous-" + s.name }

// previous is what a service ran before a deploy.
type previous struct {
	imageID, digest string
}

// deploy proves the new images pullable as check does, then has compose
// pull and recreate exactly these services, and rolls back those that do
// not become healthy.
func (w *watcher) deploy(ctx context.Context, services []string) {
	// Running out of time mid-deploy would leave a service half done: the
	// deploy finishes (or rolls back) after a SIGTERM, within its bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*w.o.HealthTimeout+10*time.Minute)
	defer cancel()
	services = w.pullable(ctx, services)
	if len(services) == 0 {
		return
	}
	st := w.journal.State()
	prev := map[string]previous{}
	ids := map[string]int{}
	for _, n := range services {
		s := w.byName[n]
		c, ok, err := w.o.Engine.Container(ctx, w.project, n)
		if err == nil && ok && c.Stopped {
			w.setRunning(n, true, true) // stopped since the engine was read
			continue
		}
		if err != nil || !ok {
			w.out.Failed++
			w.log.Warn("the service's container cannot be read; not deploying it now", "service", n, "error", errString(err))
			continue
		}
		if err := w.o.Engine.Tag(ctx, c.ImageID, holdRef(s)); err != nil {
			w.out.Failed++
			w.log.Warn("cannot keep the previous image; not deploying without a way back", "service", n, "error", err.Error())
			continue
		}
		prev[n] = previous{imageID: c.ImageID, digest: c.DigestIn(s.repo)}
		id, err := w.journal.Begin(journal.Entry{Service: n, Image: s.ref.String(), Action: journal.ActionDeploy, Old: prev[n].digest, New: st.Services[n].Registry})
		if err != nil {
			w.log.Warn("journal write failed; not deploying until it works", "error", err.Error())
			w.out.Failed++
			return
		}
		ids[n] = id
	}
	services = keysOf(ids)
	if len(services) == 0 {
		return // each said and counted
	}
	w.log.Info("deploying", "services", strings.Join(services, ","))
	if err := w.o.Engine.Compose(ctx, "pull", append([]string{"--quiet"}, services...)...); err != nil {
		w.failDeploy(ids, "pull failed: "+err.Error())
		return
	}
	upErr := w.up(ctx, services)
	var bad []string
	kept := map[string]int{}
	for _, n := range services {
		if w.kept(ctx, n, prev[n], st.Services[n].Registry) {
			kept[n] = ids[n]
			continue
		}
		if ok := w.judge(ctx, n, ids[n], prev[n]); !ok {
			bad = append(bad, n)
		}
	}
	if len(kept) > 0 {
		// Compose failed before it recreated them: the old containers run on.
		w.failDeploy(kept, "compose did not recreate "+strings.Join(keysOf(kept), ",")+": "+errString(upErr))
	}
	if len(bad) > 0 {
		w.log.Warn("not healthy in time; rolling back", "services", strings.Join(bad, ","), "health_timeout", w.o.HealthTimeout.String(), "compose", errString(upErr))
		w.rollback(ctx, bad, ids, prev)
	}
}

// pullable is check's verdict on the services' images (as `docker currents
// check --no-deps SERVICE…` says it); the others wait and are retried.
func (w *watcher) pullable(ctx context.Context, services []string) []string {
	rep, err := check.Run(ctx, w.o.Project, check.WithSelection(stack.Selection{Services: services, NoDeps: true}),
		check.WithConfig(w.o.Config), check.WithKeychain(keychain.New(w.o.Docker)), check.WithEngine(w.o.Platform))
	if err != nil {
		w.out.Failed++
		w.log.Warn("the check before the deploy failed; retrying with backoff", "error", err.Error())
		return nil
	}
	var ok []string
	for _, row := range rep.Services {
		if !contains(services, row.Service) {
			continue
		}
		if row.Pullable {
			ok = append(ok, row.Service)
			continue
		}
		w.out.Failed++
		w.log.Warn("image not pullable; not deploying it, retrying with backoff", "service", row.Service, "image", row.Image,
			"status", row.Status, "error", row.Message, "fix", row.Fix)
	}
	return ok
}

// up is compose's own `up -d --no-deps --wait` of exactly these services,
// from the images just pulled.
func (w *watcher) up(ctx context.Context, services []string) error {
	args := []string{"-d", "--no-deps", "--wait", "--wait-timeout", strconv.Itoa(int(w.o.HealthTimeout.Seconds())), "--pull", "never"}
	return w.o.Engine.Compose(ctx, "up", append(args, services...)...)
}

// kept reports whether the service still runs the container's previous
// image, not the one wanted: compose's up failed before recreating it.
func (w *watcher) kept(ctx context.Context, n string, p previous, want string) bool {
	c, ok, err := w.o.Engine.Container(ctx, w.project, n)
	return err == nil && ok && p.imageID != "" && c.ImageID == p.imageID && c.DigestIn(w.byName[n].repo) != want
}

// judge reads the recreated service: healthy, it is deployed (and the
// previous image let go); not, it is left for the rollback.
func (w *watcher) judge(ctx context.Context, n string, id int, p previous) bool {
	s := w.byName[n]
	c, ok, err := w.o.Engine.Container(ctx, w.project, n)
	if err != nil || !ok || !c.Healthy() {
		return false
	}
	digest := c.DigestIn(s.repo)
	w.out.Deployed++
	err = w.journal.Finish(id, journal.OK, healthWord(c), func(st *journal.State) {
		rec := st.Service(n)
		rec.Previous, rec.Deployed = p.digest, digest
		if digest != "" {
			rec.Registry = digest
		}
	})
	if err != nil {
		w.log.Warn("journal write failed", "error", err.Error())
	}
	w.log.Info("deployed", "service", n, "old", p.digest, "new", digest, "health", healthWord(c))
	if err := w.o.Engine.Untag(ctx, holdRef(s)); err != nil {
		w.log.Warn("could not drop the tag holding the previous image", "tag", holdRef(s), "error", err.Error())
	}
	return true
}

func healthWord(c Container) string {
	if c.Health != "" {
		return c.Health
	}
	return "running (no healthcheck)"
}

// rollback puts the previous image back under the service's image name and
// has compose recreate exactly those services from it; the failed digest is
// recorded and not tried again until a newer one appears. The deploy's
// verdict and the rollback's start are one journal write, made before the
// engine is touched, so a restart finishes a rollback a SIGKILL interrupted.
func (w *watcher) rollback(ctx context.Context, services []string, ids map[string]int, prev map[string]previous) {
	st := w.journal.State()
	rb := map[string]int{}
	for _, n := range services {
		s := w.byName[n]
		failed := st.Services[n].Registry
		if c, ok, err := w.o.Engine.Container(ctx, w.project, n); err == nil && ok && c.DigestIn(s.repo) != "" {
			failed = c.DigestIn(s.repo)
		}
		msg := fmt.Sprintf("not healthy within %s", w.o.HealthTimeout)
		var err error
		rb[n], err = w.journal.FinishAndBegin(ids[n], journal.RolledBack, msg, func(st *journal.State) {
			rec := st.Service(n)
			rec.Registry = failed
			if !rec.HasFailed(failed) {
				rec.Failed = append(rec.Failed, failed)
			}
		}, journal.Entry{Service: n, Image: s.ref.String(), Action: journal.ActionRollback, Old: failed, New: prev[n].digest})
		if err != nil {
			// Putting the service back matters more than its record.
			w.log.Warn("journal write failed", "error", err.Error())
		}
	}
	w.restore(ctx, rb, prev)
}

// restore is the rollback's engine half: the previous image tagged back
// under the service's image name, compose's up of exactly those services,
// and the verdict; rb are the rollback entries by service.
func (w *watcher) restore(ctx context.Context, rb map[string]int, prev map[string]previous) {
	for n, id := range rb {
		if err := w.o.Engine.Tag(ctx, prev[n].imageID, w.byName[n].ref.String()); err != nil {
			w.log.Error("cannot put the previous image back; look at the service now", "service", n, "error", err.Error())
			_ = w.journal.Finish(id, journal.Failed, "cannot put the previous image back: "+err.Error(), nil)
			w.out.Failed++
			delete(rb, n)
		}
	}
	if len(rb) == 0 {
		return
	}
	upErr := w.up(ctx, keysOf(rb))
	for n, id := range rb {
		s := w.byName[n]
		c, ok, err := w.o.Engine.Container(ctx, w.project, n)
		result, msg := journal.OK, ""
		if err != nil || !ok || !c.Healthy() {
			result, msg = journal.Failed, "the previous image is not healthy either: "+errString(upErr)
		}
		_ = w.journal.Finish(id, result, msg, func(st *journal.State) {
			if result == journal.OK {
				st.Service(n).Deployed = prev[n].digest
			}
		})
		_ = w.o.Engine.Untag(ctx, holdRef(s))
		if result == journal.OK {
			w.out.RolledBack++
			st := w.journal.State()
			w.log.Warn("rolled back", "service", n, "failed", st.Service(n).Registry, "running", prev[n].digest)
		} else {
			w.out.Failed++
			w.log.Error("rollback did not bring the service back; look at it now", "service", n, "error", msg)
		}
	}
}

// recoverRollback finishes a rollback a previous run began: unless the
// previous image already runs healthy, it is put back from the tag that
// held it.
func (w *watcher) recoverRollback(ctx context.Context, e journal.Entry) {
	s, known := w.byName[e.Service]
	if !known {
		_ = w.journal.Finish(e.ID, journal.Abandoned, "found started after a restart; the service is no longer in the project", nil)
		return
	}
	if c, ok, err := w.o.Engine.Container(ctx, w.project, e.Service); err == nil && ok && e.New != "" && c.DigestIn(s.repo) == e.New && c.Healthy() {
		_ = w.journal.Finish(e.ID, journal.OK, "found done after a restart", func(st *journal.State) { st.Service(e.Service).Deployed = e.New })
		_ = w.o.Engine.Untag(ctx, holdRef(s))
		w.out.RolledBack++
		return
	}
	w.restore(ctx, map[string]int{e.Service: e.ID}, map[string]previous{e.Service: {imageID: holdRef(s), digest: e.New}})
}

// failDeploy finishes the deploy entries of a deploy that never reached
// compose's up: nothing changed, it is retried.
func (w *watcher) failDeploy(ids map[string]int, msg string) {
	w.out.Failed++
	w.log.Warn("deploy failed before any container changed; retrying with backoff", "error", msg)
	for _, id := range ids {
		_ = w.journal.Finish(id, journal.Failed, msg, nil)
	}
}

// recoverDeploy judges a deploy a previous run began: if the new image runs,
// it gets the health timeout to become healthy, else the held previous image
// comes back.
func (w *watcher) recoverDeploy(ctx context.Context, e journal.Entry) {
	s, known := w.byName[e.Service]
	c, ok, err := w.o.Engine.Container(ctx, w.project, e.Service)
	if !known || err != nil || !ok || c.DigestIn(s.repo) != e.New || e.New == "" {
		// Compose never recreated it: nothing changed, the deploy is redone.
		_ = w.journal.Finish(e.ID, journal.Abandoned, "found started after a restart; the old container still ran", nil)
		return
	}
	deadline := time.Now().Add(w.o.HealthTimeout)
	for !c.Healthy() && time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, time.Second)
		if c, ok, err = w.o.Engine.Container(ctx, w.project, e.Service); err != nil || !ok {
			break
		}
	}
	if ok && c.Healthy() {
		w.judge(ctx, e.Service, e.ID, previous{digest: e.Old})
		return
	}
	// The previous image is held under holdRef: put it back.
	w.rollback(ctx, []string{e.Service}, map[string]int{e.Service: e.ID}, map[string]previous{e.Service: {imageID: holdRef(s), digest: e.Old}})
}

// keysOf are the map's keys, sorted (logs and compose's argv stay stable).
func keysOf(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
