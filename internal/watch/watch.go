// Package watch keeps an unattended host's compose stack current: it learns
// of new images from ECR push events in an SQS queue (EventBridge's "ECR
// Image Action") and by polling each image's digest, and acts on them with
// the project's own code paths: mirror's copy (--mirror-to), check's proof
// that an image is pullable, then compose's own `up -d --no-deps --wait` for
// exactly the changed services (--deploy), rolling a service back to its
// previous image when it does not become healthy.
//
// The registry's digest is the truth: an event only prompts a resolve. Every
// action is written to the project's journal before and after it runs, so a
// restart (or a SIGKILL) carries on from there. Transient failures (AWS, a
// registry, the engine) are retried with backoff and never end the watch.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/check"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/journal"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/queue"
	"github.com/currentsdev/currents/internal/stack"
)

// Defaults of the flags.
const (
	DefaultInterval      = 15 * time.Minute // polling, without a queue
	DefaultQueueInterval = 6 * time.Hour    // the safety net, with a queue
	DefaultSettle        = time.Minute
	DefaultHealthTimeout = 2 * time.Minute
	// Jitter spreads a fleet's polls: each interval is ±10 % of the flag.
	Jitter = 0.10
)

// Options say what to watch and what to do.
type Options struct {
	Project stack.Options
	Config  *config.Config         // currents.yaml; nil: none could be read
	Docker  *configfile.ConfigFile // docker's config: credentials as docker finds them
	// Queue is the SQS queue URL; "" polls only.
	Queue string
	// Interval between polls; 0 is DefaultInterval, or DefaultQueueInterval
	// with a queue.
	Interval time.Duration
	// MirrorTo is REGISTRY/PREFIX/ to copy each changed image to.
	MirrorTo string
	// Deploy recreates changed services (Engine is required then).
	Deploy        bool
	Engine        Engine
	Platform      check.Engine // the engine's platform, for the pull proof
	Settle        time.Duration
	HealthTimeout time.Duration
	// Windows restrict deploys (not mirroring) to maintenance windows.
	Windows []Window
	// Once looks once, acts at once (no settling) and returns.
	Once     bool
	StateDir string
	// RuntimeDir holds the project's deploy lock (dirs.Runtime; --deploy
	// needs it), which watches with other state directories meet at.
	RuntimeDir string
	Log        *slog.Logger
	// Now is the clock of journal entries and windows (time.Now).
	Now func() time.Time

	wait time.Duration // the long poll (tests shorten it); 0: queue.MaxWait
	// windowCheck is how often a deploy waiting for its window looks at the
	// wall clock again (tests shorten it); 0: a minute.
	windowCheck time.Duration
	// maxSettle bounds settling (tests shorten it); 0: SettleFactor × Settle.
	maxSettle time.Duration
}

// Outcome is what a run did (for --once's exit status).
type Outcome struct {
	Changes    int // services whose registry digest moved
	Mirrored   int
	Deployed   int
	RolledBack int
	Failed     int // actions that failed; they are retried
	Deferred   int // deploys waiting for the maintenance window
}

// svc is one service that pulls an image.
type svc struct {
	name string
	ref  name.Reference
	// account and region own the registry (a real ECR host, or an alias
	// currents.yaml maps), for matching events; "" when it is no ECR.
	account, region string
	repo            string // registry/path, as RepoDigests name it
}

type watcher struct {
	o       Options
	project string // the compose project's name
	log     *slog.Logger
	svcs    []svc
	byName  map[string]svc
	images  []stack.Image
	plan    *mirror.Plan
	// mirrorTarget is each service's copy target in plan: a digest mirrored
	// elsewhere (--mirror-to changed) is not mirrored.
	mirrorTarget map[string]string
	journal      *journal.Journal
	deployLock   *deployLock // --deploy
	queue        *queue.Client
	res          *resolver

	held       map[string]*held // messages waiting for the journal to record their change, by MessageId
	unresolved map[string]bool  // services whose last resolve failed (retried with backoff)
	// unannounced are changes a poll found before their event (with a queue).
	unannounced map[string]unannounced
	running     map[string]bool // services with a container (--deploy)
	engineRead  bool            // running and the deployed digests are known
	// lastChange and firstChange are the latest and the first change not yet
	// acted on: settling waits for the one, and is bounded by the other.
	lastChange, firstChange time.Time
	// A failing step waits: resolves and actions each back off on their own.
	resolveRetry, actRetry     time.Time
	resolveBackoff, actBackoff backoff
	deferred                   map[string]string // service → digest already said to wait for the window
	out                        Outcome
}

// StartError is a watch that could not start: the operator must fix
// something (the error says what).
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Run watches until ctx is done (nil: a clean stop), or once with
// Options.Once. It fails only when it cannot start: a project that cannot
// be loaded (*stack.LoadError), a journal held by another watch, a queue
// that does not exist or may not be read.
func Run(ctx context.Context, o Options) (Outcome, error) {
	w, err := start(ctx, o)
	if err != nil {
		return Outcome{}, err
	}
	defer w.journal.Close()
	if o.Once {
		return w.once(ctx), nil
	}
	w.loop(ctx)
	return w.out, nil
}

func withDefaults(o Options) Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
		if o.Queue != "" {
			o.Interval = DefaultQueueInterval
		}
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.Settle < 0 {
		o.Settle = 0
	}
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func start(ctx context.Context, o Options) (*watcher, error) {
	o = withDefaults(o)
	if o.Deploy && (o.Engine == nil || o.RuntimeDir == "") {
		return nil, &StartError{errors.New("--deploy needs the Docker engine and the runtime directory")}
	}
	st, err := stack.Load(ctx, o.Project)
	if err != nil {
		return nil, err
	}
	images, err := st.Images()
	if err != nil {
		return nil, &StartError{fix.New(err, "run `docker currents check` and fix what it reports")}
	}
	w := &watcher{o: o, project: st.Name, log: o.Log, images: images, byName: map[string]svc{}, held: map[string]*held{}, running: map[string]bool{}, unresolved: map[string]bool{}, unannounced: map[string]unannounced{},
		deferred: map[string]string{}}
	for _, im := range images {
		s := svc{name: im.Name, ref: im.Ref, repo: im.Ref.Context().Name()}
		if t, ok := o.Config.Lookup(im.Ref.Context().RegistryStr()); ok && !t.Registry.Public {
			s.account, s.region = t.Registry.Account, t.Registry.Region
		}
		w.svcs = append(w.svcs, s)
		w.byName[s.name] = s
	}
	if o.MirrorTo != "" {
		to, err := mirror.ParsePrefixFlag("--mirror-to", o.MirrorTo)
		if err != nil {
			return nil, &StartError{err}
		}
		if w.plan, err = mirror.NewPlan(images, to, ""); err != nil {
			return nil, &StartError{err}
		}
		w.mirrorTarget = targets(w.plan)
		if w.plan.InMirror() {
			return nil, &StartError{fix.New(fmt.Errorf("--mirror-to %s: the stack already reads its images from there", to),
				"run the mirroring watch on a project that resolves to the vendor's registry, and point the deploying hosts at the mirror")}
		}
	}
	if w.journal, err = journal.Open(o.StateDir, st.Name, st.WorkingDir, journal.WithClock(o.Now)); err != nil {
		return nil, &StartError{err}
	}
	if o.Deploy {
		if w.deployLock, err = newDeployLock(o.RuntimeDir, st.Name, w.journal.Path()); err != nil {
			w.journal.Close()
			return nil, &StartError{err}
		}
	}
	w.res = newResolver(mirror.StallGuard(o.Config), func() *keychain.Keychain { return keychain.New(o.Docker) }, 8)
	if err := w.startQueue(ctx); err != nil {
		w.journal.Close()
		return nil, &StartError{err}
	}
	w.log.Info("watching", w.startAttrs(st)...)
	w.recover(ctx)
	return w, nil
}

// targets are the plan's copy targets by service.
func targets(p *mirror.Plan) map[string]string {
	out := map[string]string{}
	for _, c := range p.Copies {
		for _, n := range strings.Split(c.Name, ",") {
			out[n] = c.Target.String()
		}
	}
	return out
}

func (w *watcher) startAttrs(st *stack.Stack) []any {
	names := make([]string, len(w.svcs))
	for i, s := range w.svcs {
		names[i] = s.name
	}
	attrs := []any{"project", st.Name, "services", strings.Join(names, ","), "interval", w.o.Interval.String(), "journal", w.journal.Path()}
	if w.queue != nil {
		attrs = append(attrs, "queue", w.o.Queue, "queue_credentials", w.queue.Credentials())
	}
	if w.plan != nil {
		attrs = append(attrs, "mirror_to", string(w.plan.To))
	}
	if w.o.Deploy {
		attrs = append(attrs, "deploy", true, "health_timeout", w.o.HealthTimeout.String())
	}
	for _, win := range w.o.Windows {
		attrs = append(attrs, "window", win.String())
	}
	return attrs
}

// jittered is d ±10 %, so a fleet started together does not poll together.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 - Jitter + 2*Jitter*rand.Float64()))
}

// backoff doubles from 5 s to 10 min between retries of a failing step.
type backoff struct{ n int }

func (b *backoff) next() time.Duration {
	d := 5 * time.Second << min(b.n, 7)
	b.n++
	return min(d, 10*time.Minute)
}

func (b *backoff) reset() { b.n = 0 }
