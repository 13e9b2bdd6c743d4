// Package doctor diagnoses a host's set-up for one registry, in the order a `docker pull` depends on it:
// docker must find the helper, config.json must send the registry to it, currents.yaml must describe it,
// AWS must hand out credentials, a role session and a token, the clock must agree with AWS, the registry
// must accept the token, and the cache must be safe to write. Each check says pass or fail and, on failure,
// the exact fix.
package doctor

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/idtoken"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/tokencache"
)

// Status is a check's outcome.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip" // could not run because an earlier check failed, or does not apply
)

// Names of the checks, in the order they run. They are stable: --format json consumers key on them.
const (
	CheckHelper   = "helper-on-path"
	CheckDocker   = "docker-config"
	CheckConfig   = "currents-yaml"
	CheckSource   = "source-credentials"
	CheckAssume   = "assume-role"
	CheckToken    = "ecr-token"
	CheckClock    = "clock-skew"
	CheckRegistry = "registry"
	CheckCache    = "cache-dir"
)

// The binaries docker and doctor look for on PATH.
const (
	helperBinary    = product.HelperCommand
	awsHelperBinary = product.AWSHelperCommand
)

// MaxSkew is how far this machine's clock may differ from AWS's. The helper judges token expiry by the local
// clock, so a clock further off than the refresh margin would serve tokens AWS already considers expired;
// AWS itself refuses signatures more than 5 minutes off.
const MaxSkew = time.Minute

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is the outcome for one registry.
type Report struct {
	Registry string  `json:"registry"`
	Checks   []Check `json:"checks"`
}

// OK reports whether no check failed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

// AWS is the AWS side doctor drives step by step; *ecr.Client implements it.
type AWS interface {
	SourceCredentials(ctx context.Context, t config.Target) (credential.Session, error)
	AssumeRole(ctx context.Context, t config.Target, src credential.Session) (credential.Session, error)
	AuthorizationToken(ctx context.Context, t config.Target, creds credential.Session) (credential.Token, error)
	CallerIdentity(ctx context.Context, t config.Target, creds credential.Session) (awsapi.Identity, error)
	// Skew is AWS's clock minus this machine's, from the Date header of the last AWS response.
	Skew() time.Duration
	// SessionName is the role session name the helper would use for t.
	SessionName(t config.Target) string
	// TokenSource is where a web identity entry gets its OIDC token.
	TokenSource(t config.Target) (idtoken.Source, error)
}

// Doctor runs the checks. Build it with New.
type Doctor struct {
	aws       AWS
	config    func() (*config.Config, error)
	cache     func() (*tokencache.Cache, error)
	lookPath  func(string) (string, error)
	now       func() time.Time
	transport http.RoundTripper
	getenv    func(string) string
}

// Option configures a Doctor.
type Option func(*Doctor)

// WithConfig sets how currents.yaml is loaded (default config.FromEnv).
func WithConfig(f func() (*config.Config, error)) Option { return func(d *Doctor) { d.config = f } }

// WithCache sets how the token cache is opened (default tokencache.Open()).
func WithCache(f func() (*tokencache.Cache, error)) Option { return func(d *Doctor) { d.cache = f } }

// WithLookPath replaces exec.LookPath (tests).
func WithLookPath(f func(string) (string, error)) Option { return func(d *Doctor) { d.lookPath = f } }

// WithTransport sets the HTTP transport of the registry check (default http.DefaultTransport, which honours
// HTTPS_PROXY and NO_PROXY as docker does).
func WithTransport(t http.RoundTripper) Option { return func(d *Doctor) { d.transport = t } }

// New returns a Doctor that drives aws.
func New(aws AWS, opts ...Option) *Doctor {
	d := &Doctor{
		aws:      aws,
		config:   config.FromEnv,
		cache:    func() (*tokencache.Cache, error) { return tokencache.Open() },
		lookPath: exec.LookPath,
		now:      time.Now,
		getenv:   os.Getenv,
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Hosts lists the registries to check when the user names none: every currents.yaml entry, then every host
// config.json sends to this helper, without duplicates.
func (d *Doctor) Hosts() []string {
	var hosts []string
	seen := map[string]bool{}
	add := func(h string) {
		if n, err := ecrhost.Normalize(h); err == nil {
			h = n // config.json may spell a host as docker's URLs do; the report names it as currents.yaml does
		}
		if !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	if cfg, err := d.config(); err == nil {
		for _, h := range cfg.Hosts() {
			add(h)
		}
	}
	if p, err := dirs.DockerConfigFile(""); err == nil {
		if f, err := dockerconfig.Load(p); err == nil {
			for _, h := range f.CredHelperHosts(product.HelperName) {
				add(h)
			}
		}
	}
	return hosts
}

// run carries one registry's state from check to check.
type run struct {
	d      *Doctor
	ctx    context.Context
	host   string
	report *Report

	cfg     *config.Config
	target  config.Target
	source  credential.Session
	caller  string // ARN of the source credentials
	creds   credential.Session
	token   credential.Token
	haveTok bool
	reached bool // some AWS call got an answer, so the client knows AWS's clock
}

func (r *run) add(name string, s Status, detail, fix string) {
	r.report.Checks = append(r.report.Checks, Check{Name: name, Status: s, Detail: detail, Fix: fix})
}

// Run checks host (a registry host or server URL, normalised as docker would).
func (d *Doctor) Run(ctx context.Context, host string) Report {
	rep := &Report{Registry: host}
	r := &run{d: d, ctx: ctx, host: host, report: rep}
	r.checkHelper()
	r.checkDocker()
	ok := r.checkConfig()
	for _, step := range []struct {
		name  string
		check func() bool
	}{{CheckSource, r.checkSource}, {CheckAssume, r.checkAssume}, {CheckToken, r.checkToken}} {
		if ok {
			ok = step.check()
		} else {
			r.add(step.name, Skip, "not run: an earlier check failed", "")
		}
	}
	r.checkClock()
	r.checkRegistry()
	r.checkCache()
	return *rep
}

// Unconfigured is the report when no registry was named and none is found, because currents.yaml cannot be
// read: it fails the currents-yaml check with that file's problem (file, key, fix) and says what config.json
// lacks, rather than hide the first behind "nothing is configured". ok is false when currents.yaml reads
// fine: then nothing is configured at all, which is no diagnosis but a usage error.
func (d *Doctor) Unconfigured(ctx context.Context) (rep Report, ok bool) {
	if _, err := d.config(); err == nil {
		return Report{}, false
	}
	r := &run{d: d, ctx: ctx, report: &rep}
	r.checkHelper()
	r.checkDockerAny()
	r.checkConfig()
	for _, name := range []string{CheckSource, CheckAssume, CheckToken, CheckClock, CheckRegistry} {
		r.add(name, Skip, "not run: no registry to check", "")
	}
	r.checkCache()
	return rep, true
}
