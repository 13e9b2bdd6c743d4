// Package standintest is the one test set-up for code that talks to the stand-in: it starts the
// STS/ECR stand-in and, when asked, an ECR-style registry in front of it, adds a user and a role,
// keeps the developer's machine out of the test (Isolate), points the AWS SDK at the stand-in
// (Export), and offers a settable Clock. Everything it starts is closed by t.Cleanup.
//
//	w := standintest.New(t, standintest.WithRegistry(), standintest.WithExternalID("ext-1"))
//	home := standintest.Isolate(t)
//	standintest.Export(t, w.AWS, w.User)
package standintest

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/standin"
)

// DefaultUserARN is the caller New adds unless WithUser names another.
const DefaultUserARN = "arn:aws:iam::111122223333:user/customer-host"

// DefaultRole is the role name New adds in the stand-in's account unless WithRole names another.
const DefaultRole = "customer-pull"

// World is what New started: the stand-in, the registry (nil without WithRegistry), the user and the role's ARN
// (zero with WithoutUser).
type World struct {
	AWS      *standin.Server
	Registry *standin.Registry
	User     standin.User
	Role     string
}

type setup struct {
	server     []standin.Option
	registry   bool
	regOpts    []standin.Option
	user       string
	role       string
	externalID string
	noTrust    bool
	noUser     bool
	export     bool
}

// Option changes what New sets up.
type Option func(*setup)

// WithServer passes options (clock, skew, account, token lifetime…) to the stand-in.
func WithServer(opts ...standin.Option) Option {
	return func(s *setup) { s.server = append(s.server, opts...) }
}

// WithRegistry also starts an ECR-style registry in front of the stand-in, with these options.
func WithRegistry(opts ...standin.Option) Option {
	return func(s *setup) { s.registry, s.regOpts = true, append(s.regOpts, opts...) }
}

// WithUser names the IAM user New adds (default DefaultUserARN).
func WithUser(arn string) Option { return func(s *setup) { s.user = arn } }

// WithRole names the role New adds: a bare name is a role in the stand-in's account, a full ARN is kept as it is.
func WithRole(nameOrARN string) Option { return func(s *setup) { s.role = nameOrARN } }

// WithExternalID makes the role require this external ID (default: none required).
func WithExternalID(id string) Option { return func(s *setup) { s.externalID = id } }

// WithoutTrust adds the role with an empty trust list (the stand-in then trusts every caller it knows)
// instead of a list naming only the user.
func WithoutTrust() Option { return func(s *setup) { s.noTrust = true } }

// WithoutUser adds neither the user nor the role: the stand-in only serves the registry's tokens.
func WithoutUser() Option { return func(s *setup) { s.noUser = true } }

// WithExport calls Export for the user once everything is started.
func WithExport() Option { return func(s *setup) { s.export = true } }

// New starts the stand-in (and registry, with WithRegistry), adds the user and the role, and
// closes them when the test ends.
func New(t testing.TB, opts ...Option) *World {
	t.Helper()
	s := setup{user: DefaultUserARN, role: DefaultRole}
	for _, o := range opts {
		o(&s)
	}
	aws, err := standin.Start(s.server...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(aws.Close)
	w := &World{AWS: aws}
	if s.registry {
		if w.Registry, err = standin.StartRegistry(aws, s.regOpts...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Registry.Close)
	}
	if s.noUser {
		return w
	}
	w.User = aws.AddUser(s.user)
	w.Role = s.role
	if !strings.HasPrefix(w.Role, "arn:") {
		w.Role = "arn:aws:iam::" + aws.Account() + ":role/" + w.Role
	}
	spec := standin.RoleSpec{ExternalID: s.externalID}
	if !s.noTrust {
		spec.Trust = []string{w.User.ARN}
	}
	aws.AddRole(w.Role, spec)
	if s.export {
		Export(t, aws, w.User)
	}
	return w
}

// machinePrefixes are the variables of the developer's machine that Isolate drops.
var machinePrefixes = []string{"AWS_", "CURRENTS_", "DOCKER_"}

// Isolate drops every AWS_*, CURRENTS_* and DOCKER_* variable of the developer's machine (restored
// when the test ends) and points HOME, DOCKER_CONFIG (HOME/.docker), CURRENTS_CACHE_DIR
// (HOME/cache), AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE (files in HOME that do not exist
// until a test writes them) at a fresh
// temporary directory, with AWS_EC2_METADATA_DISABLED=true. It returns that HOME. Call it before
// setting the test's own variables.
func Isolate(t testing.TB) string {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range machinePrefixes {
			if strings.HasPrefix(k, p) {
				t.Setenv(k, "")
				os.Unsetenv(k)
				break
			}
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
	t.Setenv("CURRENTS_CACHE_DIR", filepath.Join(home, "cache"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "no-aws-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return home
}

// credentialOverrides are the variables that would win over the static keys Export sets.
var credentialOverrides = []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"}

// Export points the AWS SDK of this process at the stand-in as user: the stand-in's Env (endpoints,
// keys, region, no instance metadata), with the variables that would override those keys cleared and
// the shared config and credentials files pointed at absent files (unless Isolate already did).
func Export(t testing.TB, aws *standin.Server, user standin.User) {
	t.Helper()
	for _, k := range credentialOverrides {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	if !strings.HasSuffix(os.Getenv("AWS_CONFIG_FILE"), "no-aws-config") {
		none := t.TempDir()
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(none, "no-aws-config"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(none, "no-aws-credentials"))
	}
	SetEnv(t, aws.Env(user))
}

// SetEnv sets each KEY=value for the rest of the test.
func SetEnv(t testing.TB, env []string) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Clock is a settable clock: share its Now between the stand-in (standin.WithClock) and the code
// under test so that simulated time moves both sides as real time would.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads start until it is moved.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
