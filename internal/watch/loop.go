package watch

import (
	"context"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/journal"
	"github.com/currentsdev/currents/internal/queue"
)

// loop is the watch: messages from the queue, polls on the interval, and
// actions once changes have settled, until ctx ends.
func (w *watcher) loop(ctx context.Context) {
	var msgs chan []queue.Message
	if w.queue != nil {
		msgs = make(chan []queue.Message)
		go w.receive(ctx, msgs)
	}
	// The first poll catches up with whatever happened while no watch ran.
	nextPoll := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		if !now.Before(nextPoll) {
			w.poll(ctx, "poll")
			nextPoll = now.Add(jittered(w.o.Interval))
		} else if len(w.unresolved) > 0 && !now.Before(w.resolveRetry) {
			w.resolve(ctx, keys(w.unresolved), "retry")
		}
		w.missingEvents(now)
		if w.due(now) {
			w.actNow(ctx, now)
			if w.anyPending(w.journal.State(), nil) {
				// Not done (a failure, said in the log): wait before trying again.
				w.actRetry = time.Now().Add(w.actBackoff.next())
			} else {
				w.actBackoff.reset()
			}
		}
		// After the act a recorded change made due (with --settle 0, at once):
		// "event handled" then follows what the event prompted.
		w.release(ctx)
		if _, d := w.pending(w.journal.State()); len(d) > 0 && !w.inWindow(w.o.Now()) {
			w.defer_(d) // said once per digest
		}
		timer.Reset(time.Until(w.wake(nextPoll)))
		select {
		case <-ctx.Done():
			w.log.Info("stopping", "held_messages", len(w.held))
			return
		case batch := <-msgs:
			var prompted []string
			for _, m := range batch {
				prompted = append(prompted, w.handle(ctx, m)...)
			}
			if len(prompted) > 0 {
				w.resolve(ctx, prompted, "event")
			}
			// The loop's top acts on it if due, then releases the batch.
		case <-timer.C:
		}
	}
}

// once is --once: every message the queue holds now, one poll, and the
// actions at once.
func (w *watcher) once(ctx context.Context) Outcome {
	if w.queue != nil {
		for ctx.Err() == nil {
			batch, err := w.queue.Receive(ctx)
			if err != nil {
				w.log.Warn("receiving from the queue failed; the poll covers every image anyway", "error", err.Error())
				break
			}
			if len(batch) == 0 {
				break
			}
			for _, m := range batch {
				w.handle(ctx, m)
			}
		}
	}
	w.poll(ctx, "poll")
	// Outside the window too: act records the deploys that wait for it.
	if m, d := w.pending(w.journal.State()); len(m)+len(d) > 0 || (w.o.Deploy && !w.engineRead) {
		w.act(ctx)
	}
	if w.queue != nil {
		w.release(ctx)
	}
	return w.out
}

// poll resolves every image.
func (w *watcher) poll(ctx context.Context, why string) {
	names := make([]string, len(w.svcs))
	for i, s := range w.svcs {
		names[i] = s.name
	}
	w.resolve(ctx, names, why)
}

// resolve asks the registry what the services' tags point at now and
// records what moved; source says what prompted it (event, poll).
func (w *watcher) resolve(ctx context.Context, services []string, source string) {
	if w.o.Deploy && w.engineRead && (source == "poll" || w.anyStopped(services)) {
		// A service started since (the stack brought up after the watch)
		// is deployed from then on: what runs is the engine's word.
		w.readEngine(ctx)
	}
	refs := make([]name.Reference, 0, len(services))
	for _, n := range services {
		refs = append(refs, w.byName[n].ref)
	}
	got := w.res.resolve(ctx, refs)
	now := w.o.Now().UTC()
	failed := 0
	err := w.journal.Update(func(st *journal.State) error {
		for _, n := range services {
			s := w.byName[n]
			r := got[s.ref.String()]
			if r.err != nil {
				failed++
				w.unresolved[n] = true
				if ctx.Err() == nil { // stopping, the error is the stop's: "stopping" says it
					w.log.Warn("resolving the image failed; retrying with backoff", "service", n, "image", s.ref.String(), "error", r.err.Error())
				}
				continue
			}
			delete(w.unresolved, n)
			rec := st.Service(n)
			rec.Image, rec.ResolvedAt = s.ref.String(), now
			if rec.Registry == r.digest {
				continue
			}
			w.change(n, s, rec, r.digest, source)
			rec.Registry = r.digest
		}
		return nil
	})
	if err != nil {
		w.log.Warn("journal write failed; retrying with backoff", "error", err.Error())
		failed++
		for _, n := range services {
			w.unresolved[n] = true // nothing of this resolve was kept: redo it
		}
	} else {
		for _, n := range services {
			if !w.unresolved[n] {
				w.recorded(n)
			}
		}
	}
	if failed > 0 {
		w.out.Failed += failed // --once cannot say every image is current
		w.resolveRetry = time.Now().Add(w.resolveBackoff.next())
	} else if len(w.unresolved) == 0 {
		w.resolveBackoff.reset()
	}
}

// anyStopped reports whether one of services had no container when the
// engine was last read.
func (w *watcher) anyStopped(services []string) bool {
	for _, n := range services {
		if !w.running[n] {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// change records that a service's tag moved: it starts (or restarts) the
// settle time, and with a queue, a move no event announced is worth a word.
func (w *watcher) change(n string, s svc, rec *journal.Service, digest, source string) {
	w.out.Changes++
	w.lastChange = time.Now()
	if w.firstChange.IsZero() {
		w.firstChange = w.lastChange
	}
	w.log.Info("change", "service", n, "image", s.ref.String(), "old", rec.Registry, "new", digest, "source", source)
	if w.queue != nil && source == "poll" && rec.Registry != "" && !w.announced(n) {
		// The event may still be on its way: it has a while before it counts as missing.
		w.unannounced[n] = unannounced{digest: digest, since: time.Now()}
	}
}

// unannounced is a change a poll found before any event announced it.
type unannounced struct {
	digest string
	since  time.Time
}

// eventGrace is how long an event may trail the poll that found its change:
// two long polls, and EventBridge's own delivery.
func (w *watcher) eventGrace() time.Duration { return 2*w.queue.Wait() + 10*time.Second }

// missingEvents warns about changes no event announced within the grace:
// two watches on one queue starve each other of events, and a rule that does
// not match sends none.
func (w *watcher) missingEvents(now time.Time) {
	for n, u := range w.unannounced {
		if now.Sub(u.since) < w.eventGrace() {
			continue
		}
		w.log.Warn("a change arrived without an event: another watch may be reading this queue (each host needs its own queue), or the EventBridge rule does not match (docker currents policy events)",
			"service", n, "new", u.digest, "waited", w.eventGrace().String())
		delete(w.unannounced, n)
	}
}

// pending are the services with something to do: a digest not yet mirrored
// (to this --mirror-to), or not yet deployed (and neither failed before nor
// without a container).
func (w *watcher) pending(st journal.State) (mirror, deploy []string) {
	for _, s := range w.svcs {
		rec, ok := st.Services[s.name]
		if !ok || rec.Registry == "" {
			continue
		}
		if w.plan != nil && (rec.Registry != rec.Mirrored || rec.Mirror != w.mirrorTarget[s.name]) {
			mirror = append(mirror, s.name)
		}
		if w.o.Deploy && w.running[s.name] && rec.Registry != rec.Deployed && !rec.HasFailed(rec.Registry) {
			deploy = append(deploy, s.name)
		}
	}
	return mirror, deploy
}

// anyPending reports whether one of services (all when nil) has something
// to do now; a deploy waiting for the window counts as handled (the journal
// holds it).
func (w *watcher) anyPending(st journal.State, services []string) bool {
	if w.o.Deploy && !w.engineRead {
		return true // what runs is unknown until the engine answers
	}
	m, d := w.pending(st)
	if !w.inWindow(w.o.Now()) {
		d = nil
	}
	for _, n := range append(m, d...) {
		if services == nil || contains(services, n) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// due reports whether to act now: something is pending, changes have
// settled (or waited their longest), and no retry is being waited for.
func (w *watcher) due(now time.Time) bool {
	if now.Before(w.actRetry) || now.Before(w.settled()) {
		return false
	}
	return w.anyPending(w.journal.State(), nil)
}

// settled is when the changes seen are acted on: once none has arrived for
// --settle, but no later than maxSettle after the first of them.
func (w *watcher) settled() time.Time {
	t := w.lastChange.Add(w.o.Settle)
	if !w.firstChange.IsZero() {
		if bound := w.firstChange.Add(w.maxSettle()); bound.Before(t) {
			return bound
		}
	}
	return t
}

// SettleFactor bounds the wait for changes to settle: a change waits at
// most SettleFactor × --settle. --settle is sized to a release's burst of
// pushes; changes that keep arriving after ten of those are no burst but a
// stream (a CI moving a tag every minute), and waiting for a quiet moment
// would never act. Ten bursts' time keeps a long release whole and acts on a
// stream every ten settles, on what the registry says then. Proportional,
// not fixed: an operator who chose a long --settle gets a long bound.
const SettleFactor = 10

// maxSettle is the longest a change waits for later ones.
func (w *watcher) maxSettle() time.Duration {
	if w.o.maxSettle > 0 {
		return w.o.maxSettle
	}
	return SettleFactor * w.o.Settle
}

// actNow acts, saying so when changes that kept arriving were cut short.
func (w *watcher) actNow(ctx context.Context, now time.Time) {
	if now.Before(w.lastChange.Add(w.o.Settle)) {
		w.log.Info("changes keep arriving; acting on what the registry says now", "waited", now.Sub(w.firstChange).Round(time.Second).String(),
			"max_settle", w.maxSettle().String())
	}
	w.firstChange = time.Time{}
	w.act(ctx)
}

// wake is the next moment something may be due.
func (w *watcher) wake(nextPoll time.Time) time.Time {
	t := nextPoll
	earlier := func(c time.Time) {
		if !c.IsZero() && c.Before(t) {
			t = c
		}
	}
	if len(w.unresolved) > 0 {
		earlier(w.resolveRetry)
	}
	for _, u := range w.unannounced {
		earlier(u.since.Add(w.eventGrace()))
	}
	now, wall := time.Now(), w.o.Now()
	m, d := w.pending(w.journal.State())
	if len(m) > 0 || (len(d) > 0 && w.inWindow(wall)) || (w.o.Deploy && !w.engineRead) {
		act := w.settled()
		if w.actRetry.After(act) {
			act = w.actRetry
		}
		earlier(act)
	}
	if len(d) > 0 && !w.inWindow(wall) {
		// The window is wall-clock time, the timer monotonic: a wall clock
		// stepped forward (NTP, a resumed VM) must not sleep past the window.
		earlier(now.Add(w.nextWindow(wall).Sub(wall)))
		earlier(now.Add(w.windowCheck()))
	}
	return t
}

// windowCheck is how often a deploy waiting for its window looks at the
// wall clock again.
func (w *watcher) windowCheck() time.Duration {
	if w.o.windowCheck > 0 {
		return w.o.windowCheck
	}
	return time.Minute
}

// inWindow reports whether deploys may run at t: always without --window.
func (w *watcher) inWindow(t time.Time) bool {
	if len(w.o.Windows) == 0 {
		return true
	}
	for _, win := range w.o.Windows {
		if ok, _ := win.Open(t); ok {
			return true
		}
	}
	return false
}

func (w *watcher) nextWindow(t time.Time) time.Time {
	var next time.Time
	for _, win := range w.o.Windows {
		if n := win.Next(t); next.IsZero() || n.Before(next) {
			next = n
		}
	}
	return next
}
