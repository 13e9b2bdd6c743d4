package watch

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/journal"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/mirror"
)

// act does what is pending: mirror (at any time), then deploy (inside the
// maintenance window).
func (w *watcher) act(ctx context.Context) {
	m, _ := w.pending(w.journal.State())
	if len(m) > 0 {
		w.mirror(ctx, m)
	}
	if w.o.Deploy && !w.engineRead {
		if w.readEngine(ctx); !w.engineRead {
			w.out.Failed++
			return
		}
	}
	_, d := w.pending(w.journal.State())
	if len(d) == 0 {
		return
	}
	if !w.inWindow(w.o.Now()) {
		w.defer_(d)
		return
	}
	err := w.deployLock.held(func() {
		// Another watch may have deployed while this one waited: the
		// engine, read under the lock, says what is left to do.
		if w.readEngine(ctx); !w.engineRead {
			w.out.Failed++
			return
		}
		if _, d = w.pending(w.journal.State()); len(d) > 0 {
			w.deploy(ctx, d)
		}
	})
	if err != nil {
		w.out.Failed++
		w.log.Warn("not deploying now; retrying with backoff", "services", strings.Join(d, ","), "error", err.Error())
	}
}

// defer_ says once per digest that a deploy waits for the window.
func (w *watcher) defer_(services []string) {
	st := w.journal.State()
	next := w.nextWindow(w.o.Now())
	for _, n := range services {
		digest := st.Services[n].Registry
		if w.deferred[n] == digest {
			continue
		}
		w.deferred[n] = digest
		w.out.Deferred++
		w.log.Info("deploy waits for the maintenance window", "service", n, "new", digest, "window_opens", next.Format(time.RFC3339))
	}
}

// mirror copies the services' images with mirror's own code, each action
// begun and finished in the journal.
func (w *watcher) mirror(ctx context.Context, services []string) {
	plan := w.plan.Only(services...)
	st := w.journal.State()
	ids := map[string]int{}
	for _, c := range plan.Copies {
		for _, n := range strings.Split(c.Name, ",") {
			rec := st.Services[n]
			id, err := w.journal.Begin(journal.Entry{Service: n, Image: c.Target.String(), Action: journal.ActionMirror, Old: rec.Mirrored, New: rec.Registry})
			if err != nil {
				w.log.Warn("journal write failed; not mirroring until it works", "error", err.Error())
				w.out.Failed++
				return
			}
			ids[n] = id
		}
	}
	w.log.Info("mirroring", "services", strings.Join(services, ","), "to", string(plan.To))
	results, _ := mirror.CopyPlan(ctx, plan, mirror.WithConfig(w.o.Config), mirror.WithKeychain(keychain.New(w.o.Docker)),
		mirror.WithLog(logWriter{w.log, "mirror"}))
	for _, r := range results {
		for _, n := range strings.Split(r.Name, ",") {
			w.finishMirror(ctx, ids[n], n, r)
		}
	}
}

func (w *watcher) finishMirror(ctx context.Context, id int, n string, r mirror.Result) {
	if r.Status == mirror.Failed {
		w.out.Failed++
		if ctx.Err() != nil {
			// The watch is stopping: the copy failed for that, not for the
			// registry, and nothing retries it but the next start.
			w.log.Info("mirror cut short by the stop; the next start does it", "service", n, "target", r.Target)
		} else {
			w.log.Warn("mirror failed; retrying with backoff", "service", n, "target", r.Target, "error", r.Error)
		}
		if err := w.journal.Finish(id, journal.Failed, r.Error, nil); err != nil {
			w.log.Warn("journal write failed", "error", err.Error())
		}
		return
	}
	w.out.Mirrored++
	err := w.journal.Finish(id, journal.OK, string(r.Status), func(st *journal.State) {
		rec := st.Service(n)
		// The copy read the tag when it ran: that is the registry's truth now.
		rec.Registry, rec.Mirrored, rec.Mirror = r.SourceDigest, r.SourceDigest, r.Target
	})
	if err != nil {
		w.log.Warn("journal write failed; the copy is redone (it finds everything present)", "error", err.Error())
	}
	w.log.Info("mirrored", "service", n, "target", r.Target, "digest", r.SourceDigest, "status", string(r.Status),
		"copied_bytes", r.CopiedBytes, "skipped_bytes", r.SkippedBytes)
}

// logWriter turns lines written by mirror into log lines.
type logWriter struct {
	log  *slog.Logger
	what string
}

func (l logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if line != "" {
			l.log.Info(l.what, "output", line)
		}
	}
	return len(p), nil
}

// recover finishes what a previous run left started: mirrors are redone
// by the registry's truth; deploys and rollbacks wait for the engine to
// answer (readEngine then finishes them).
func (w *watcher) recover(ctx context.Context) {
	for _, e := range w.journal.State().Unfinished() {
		if w.o.Deploy && (e.Action == journal.ActionDeploy || e.Action == journal.ActionRollback) {
			continue
		}
		w.logUnfinished(e)
		if err := w.journal.Finish(e.ID, journal.Abandoned, "found started after a restart; redone from the registry's digest", nil); err != nil {
			w.log.Warn("journal write failed", "error", err.Error())
		}
	}
	if w.o.Deploy {
		w.readEngine(ctx)
	}
}

// recoverEngine finishes the deploys and rollbacks a previous run left
// started, once the engine answers: a deploy whose new container may not
// have been judged is judged (and rolled back if unhealthy); a rollback is
// finished.
func (w *watcher) recoverEngine(ctx context.Context) {
	if !slices.ContainsFunc(w.journal.State().Unfinished(), engineAction) {
		return
	}
	err := w.deployLock.held(func() { w.finishEngine(ctx) })
	if err != nil {
		// Left under way: the next read of the engine finishes it.
		w.out.Failed++
		w.log.Warn("not finishing what the last watch left under way now; retrying at the next look", "error", err.Error())
	}
}

func engineAction(e journal.Entry) bool {
	return e.Action == journal.ActionDeploy || e.Action == journal.ActionRollback
}

func (w *watcher) finishEngine(ctx context.Context) {
	// As a deploy does: a SIGTERM lets it finish, or roll back, within its bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*w.o.HealthTimeout+10*time.Minute)
	defer cancel()
	for _, e := range w.journal.State().Unfinished() {
		switch e.Action {
		case journal.ActionDeploy:
			w.logUnfinished(e)
			w.recoverDeploy(ctx, e)
		case journal.ActionRollback:
			w.logUnfinished(e)
			w.recoverRollback(ctx, e)
		}
	}
}

func (w *watcher) logUnfinished(e journal.Entry) {
	w.log.Warn("an action was under way when the last watch stopped", "service", e.Service, "action", e.Action, "old", e.Old, "new", e.New,
		"since", e.Time.Format(time.RFC3339))
}

// errString is err's message, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
