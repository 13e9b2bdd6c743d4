package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/envfile"
	"github.com/currentsdev/currents/internal/stack"
)

// StackResult is what mirroring a stack did.
type StackResult struct {
	Plan    *Plan
	Results []Result
}

// Stack mirrors the images of the compose project (loaded as compose
// loads it) under to: it plans the copies (NewPlan, with WithTag), says on
// WithLog what it skips, and copies them (Copy). With WithConfig, a target
// that currents.yaml (or its host) makes an ECR registry gets its missing
// repositories created with the helper's credentials, and every registry
// wait is bounded by the configured timeout.
//
// A project that cannot be loaded is a *stack.LoadError; a stack that cannot
// be planned returns no result; a failed copy returns the result of every
// image and the first failure.
func Stack(ctx context.Context, project stack.Options, to Prefix, opts ...Option) (*StackResult, error) {
	o := newOptions(opts)
	st, err := stack.Load(ctx, project)
	if err != nil {
		return nil, err
	}
	for _, s := range st.BuiltLocally() {
		o.logf("skipping %s: it is built locally, not pulled", s)
	}
	images, err := st.Images()
	if err != nil {
		return nil, err
	}
	plan, err := NewPlan(images, to, o.tag)
	if plan != nil {
		for _, n := range plan.Notes {
			o.logf("%s", n)
		}
	}
	if err != nil {
		return nil, err
	}
	results, err := CopyPlan(ctx, plan, opts...)
	return &StackResult{Plan: plan, Results: results}, err
}

// CopyPlan copies a plan's images as Stack does: every registry wait bounded
// by the configured timeout (WithConfig), missing ECR repositories created
// with the helper's credentials, progress on WithProgress. The caller's own
// transport and creator, if any, win. watch mirrors what changed with it.
func CopyPlan(ctx context.Context, plan *Plan, opts ...Option) ([]Result, error) {
	o := newOptions(opts)
	copyOpts := []Option{WithTransport(StallGuard(o.config))}
	if create := NewRepositoryCreator(o.config, plan.To, o.log); create != nil {
		copyOpts = append(copyOpts, WithRepositoryCreator(create))
	}
	copyOpts = append(copyOpts, opts...)
	if o.progress != nil {
		copyOpts = append(copyOpts, WithObserver(o.progress(plan.Names())))
	}
	if o.manifests == nil {
		kept, save := OpenManifests()
		copyOpts = append(copyOpts, WithManifests(kept))
		defer save()
	}
	return Copy(ctx, plan.Copies, copyOpts...)
}

// Only is the plan restricted to the copies that serve one of services (a
// copy shared by several services is named "a,b").
func (p *Plan) Only(services ...string) *Plan {
	out := *p
	out.Copies = nil
	for _, c := range p.Copies {
		for _, n := range strings.Split(c.Name, ",") {
			if slices.Contains(services, n) {
				out.Copies = append(out.Copies, c)
				break
			}
		}
	}
	return &out
}

// EnvChange is what WriteEnv did for one assignment.
type EnvChange struct {
	Assignment
	// Edit is the env file edit, for an assignment that lives in one.
	Edit envfile.Edit
	// Err is why the env file could not be changed.
	Err error
}

// WriteEnv points the stack at the mirror: each assignment is rewritten in
// the env file it comes from. One the OS environment sets, or that no env
// file sets, cannot be written there: its change says so (Origin). The
// error joins every file that could not be changed.
func WriteEnv(env []Assignment) ([]EnvChange, error) {
	var changes []EnvChange
	var errs []error
	for _, a := range env {
		c := EnvChange{Assignment: a}
		if a.Origin.Kind == stack.FromEnvFile {
			c.Edit, c.Err = envfile.SetFile(a.Origin.Location.File, a.Name, a.Value)
			if c.Err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", a.Name, c.Err))
			}
		}
		changes = append(changes, c)
	}
	return changes, errors.Join(errs...)
}

// Interpolated are the old values the edit replaced that were built from
// other variables: they are now the mirror's plain prefix, which no longer
// depends on them.
func (c EnvChange) Interpolated() []string {
	var out []string
	for _, old := range c.Edit.Replaced {
		if strings.Contains(old, "$") {
			out = append(out, old)
		}
	}
	return out
}

// StallGuard is go-containerregistry's transport with a bound on how long a
// registry may take to start answering (currents.yaml's timeout, or
// CURRENTS_TIMEOUT; the default without a config), so a dead registry fails
// the copy instead of hanging it. Bodies may stream for as long as they keep
// moving.
func StallGuard(cfg *config.Config) http.RoundTripper {
	timeout := config.DefaultTimeout
	if cfg != nil {
		timeout = cfg.Timeout
	}
	t, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		return remote.DefaultTransport
	}
	t = t.Clone()
	t.ResponseHeaderTimeout = timeout
	return t
}

func (o *options) logf(format string, args ...any) {
	if o.log != nil {
		fmt.Fprintf(o.log, format+"\n", args...)
	}
}

// Stack's own options.

// WithTag mirrors tag t of the stack (see NewPlan).
func WithTag(t string) Option { return func(o *options) { o.tag = t } }

// WithConfig is currents.yaml, read once by the caller; nil when it could
// not be read (no repository is then created).
func WithConfig(c *config.Config) Option { return func(o *options) { o.config = c } }

// WithLog receives what Stack skips and creates, one line each.
func WithLog(w io.Writer) Option { return func(o *options) { o.log = w } }

// WithProgress makes the observer once the copies are named.
func WithProgress(f func(names []string) Observer) Option { return func(o *options) { o.progress = f } }
