package check

import (
	"context"
	"fmt"
	"io"
	"time"

	dockerconfig "github.com/docker/cli/cli/config"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/stack"
)

// Engine answers the platform of the Docker engine the stack runs on; ok is
// false when no engine answered (then the platform is this machine's).
type Engine func(ctx context.Context) (platform v1.Platform, ok bool)

type options struct {
	selection stack.Selection
	config    *config.Config
	keychain  *keychain.Keychain
	engine    Engine
	jobs      int
	now       func() time.Time
}

// Option configures Run.
type Option func(*options)

// WithSelection restricts the check to the services `docker compose up
// [--no-deps] SERVICE...` would start.
func WithSelection(sel stack.Selection) Option { return func(o *options) { o.selection = sel } }

// WithConfig is currents.yaml: which hosts the helper serves, where, and the
// timeout of the whole probe. nil (a file that could not be read, already
// reported) knows real ECR hosts only, with the default timeout.
func WithConfig(c *config.Config) Option { return func(o *options) { o.config = c } }

// WithKeychain finds credentials as the docker CLI does (the plugin's:
// --config and DOCKER_CONFIG honoured). Default: docker's default config.
func WithKeychain(k *keychain.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithEngine asks the Docker engine for its platform while the project loads.
func WithEngine(e Engine) Option { return func(o *options) { o.engine = e } }

// WithJobs bounds the images resolved at once (probe.DefaultJobs).
func WithJobs(n int) Option { return func(o *options) { o.jobs = n } }

// WithClock judges static token expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Run loads the compose project as compose does, diagnoses every image
// reference and proves each pullable, as docker would pull it, without
// pulling. A project that cannot be loaded returns its report (for --format
// json) and the *stack.LoadError, which carries the fix.
//
// The registries are asked as soon as the images are known: the stack comes
// from compose-go before the files are validated (stack.Loading), and the
// registries answer while they are and the engine is asked for its
// platform; an invalid project discards what they said.
func Run(ctx context.Context, project stack.Options, opts ...Option) (*Report, error) {
	o := options{jobs: probe.DefaultJobs, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	go stack.PrepareValidation()
	type engineAnswer struct {
		platform v1.Platform
		ok       bool
	}
	engine := make(chan engineAnswer, 1)
	go func() {
		var a engineAnswer
		if o.engine != nil {
			a.platform, a.ok = o.engine(ctx)
		}
		engine <- a
	}()
	if o.keychain == nil {
		o.keychain = keychain.New(dockerconfig.LoadDefaultConfigFile(io.Discard))
	}
	timeout := config.DefaultTimeout
	if o.config != nil {
		timeout = o.config.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Single-platform images' platforms, kept between checks.
	platforms, savePlatforms := probe.OpenPlatforms()
	// Which registries speak HTTP/1.1 only, likewise.
	protocols, saveProtocols := probe.OpenProtocols()
	// Which manifest each index listed for the platform, likewise.
	guesses, saveGuesses := probe.OpenGuesses()
	p := probe.New(o.keychain, probe.WithJobs(o.jobs), probe.WithECR(o.isECR), probe.WithConfigured(o.configured),
		probe.WithClock(o.now), probe.WithPlatformCache(platforms), probe.WithProtocols(protocols), probe.WithGuesses(guesses))
	loading := stack.Start(ctx, project, o.selection)
	go func() {
		if early, err := loading.Preview(); err == nil {
			imgs := Images(early)
			if early.DefaultPlatform != "" {
				// Only the platform an index's manifest is guessed for:
				// the check itself gets DOCKER_DEFAULT_PLATFORM below.
				for i := range imgs {
					if imgs[i].Platform == "" {
						imgs[i].Platform = early.DefaultPlatform
					}
				}
			}
			p.Prefetch(ctx, imgs)
		}
	}()

	st, err := loading.Wait()
	if err != nil {
		return LoadFailed(project.ProjectName, err), err
	}

	// The platform docker pulls for a service without platform: is
	// DOCKER_DEFAULT_PLATFORM when compose sets it, else the engine's (which,
	// with --context or DOCKER_HOST, need not be this machine's).
	ans := <-engine
	from := PlatformFromEngine
	switch {
	case st.DefaultPlatform != "":
		from = "DOCKER_DEFAULT_PLATFORM"
		p.Configure(probe.WithDefaultPlatform(st.DefaultPlatform, from))
	case ans.ok:
		p.Configure(probe.WithHostPlatform(ans.platform))
	default:
		from = PlatformFromHost
	}
	rep := New(st, p.Check(ctx, Images(st)))
	rep.Platform, rep.PlatformFrom = p.Platform(), from
	savePlatforms()
	saveProtocols()
	saveGuesses()
	return rep, nil
}

// isECR: real ECR hosts and the aliases currents.yaml maps to one.
func (o *options) isECR(host string) bool {
	_, ok := o.config.Lookup(host)
	return ok
}

// configured is where currents.yaml configures host ("file:line"), "" when
// it does not.
func (o *options) configured(host string) string {
	if t, ok := o.config.Lookup(host); ok && t.Entry != nil {
		return fmt.Sprintf("%s:%d", t.File, t.Entry.Line)
	}
	return ""
}
