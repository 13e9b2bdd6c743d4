// Package standin is a wire-accurate stand-in for the parts of AWS STS, ECR,
// SQS and EventBridge that the Currents tools call, plus an ECR-style
// registry front that announces every push by tag as ECR does.
//
// The unmodified aws-sdk-go-v2 clients talk to it (point them at URL() with
// AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC or
// BaseEndpoint). It checks what AWS checks: SigV4 signatures against the
// registered secrets, the expiry of session keys, the request clock window,
// role trust, external IDs and session durations. It answers in the exact wire
// formats of the awsquery (STS), awsJson1_1 (ECR) and awsJson1_0 (SQS)
// protocols, including the error shapes, so the SDK's own retry and error
// classification applies.
//
// It also plays the CI identity providers: GitHub Actions' ID-token endpoint
// and CircleCI's tokens (RS256 JWTs), verified by its AssumeRoleWithWebIdentity
// against the registered OIDC providers and the role's trust policy document.
//
// Everything is in memory and concurrency-safe; time comes from an injectable
// clock so tests can simulate weeks.
package standin

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTokenLifetime is how long real ECR authorization tokens live.
const DefaultTokenLifetime = 12 * time.Hour

// Server is the STS + ECR stand-in. Create it with New and Close it when done.
type Server struct {
	srv    *httptest.Server
	set    settings
	secret []byte // HMAC key binding the ECR tokens this server mints

	mu         sync.Mutex
	users      map[string]*User      // by access key ID
	usersByID  map[string]*User      // by ARN
	roles      map[string]*roleState // by role ARN
	sessions   map[string]*session   // by access key ID
	denials    map[string]map[string]bool
	repos      map[string]*repository // by account/region/name
	throttle   map[string]int
	registries []*Registry
	issued     []string // every secret handed out, for leak tests
	counts     map[string]int64
	attempts   map[string]int64
	calls      map[string]int64
	answered   map[string]struct{} // invocation IDs counted, see count
	asked      map[string]struct{} // invocation IDs seen, see attempt
	oidc       oidcState

	// The knobs tests turn while requests run: ECR token lifetime, the cap
	// on role sessions (SetSessionLifetime; 0: as asked), clock skew, latency.
	lifetime, sessionLifetime, skew, latency knob

	queues            map[string]*queue // by ACCOUNT/NAME
	rules             map[string]*rule  // by ARN
	failedInvocations int64
}

// User is a long-term IAM user whose access key signs requests.
type User struct {
	ARN             string
	UserID          string
	Account         string
	AccessKeyID     string
	SecretAccessKey string
}

// RoleSpec describes an IAM role: who may assume it and on what terms.
type RoleSpec struct {
	// ExternalID, when set, must be presented by AssumeRole callers.
	ExternalID string
	// Trust lists the caller ARNs allowed to assume the role, or a service
	// principal (events.amazonaws.com, for an EventBridge execution role).
	// Empty trusts every user and session the stand-in knows.
	Trust []string
	// MaxSession is the role's MaxSessionDuration (default one hour).
	MaxSession time.Duration
	// WebIdentityToken, when set, allows AssumeRoleWithWebIdentity with
	// exactly this token.
	WebIdentityToken string
	// TrustPolicy, when set, is the role's trust policy document (JSON, as
	// `docker currents policy ci-trust --only trust` writes it): an ID token
	// is verified against the registered OIDC providers (AddOIDCProvider)
	// and then admitted only if the document allows it, conditions and all.
	TrustPolicy []byte
	// Deny lists IAM actions ("ecr:CreateRepository") that sessions of this
	// role are refused.
	Deny []string
}

type roleState struct {
	spec    RoleSpec
	trust   *trustPolicy // parsed spec.TrustPolicy; nil when unset or unreadable (which then admits nobody)
	arn     string
	roleID  string
	refused bool
}

type session struct {
	accessKeyID string
	secret      string
	token       string
	arn         string // assumed-role ARN
	roleARN     string
	userID      string
	account     string
	expires     time.Time
}

// Option configures a Server (New) or a Registry (NewRegistry). Each option
// says which it applies to; the other ignores it.
type Option func(*settings)

type settings struct {
	account      string
	region       string
	lifetime     time.Duration
	clock        func() time.Time
	signingClock func() time.Time
	skew         time.Duration
	addr         string
	secret       []byte
	latency      time.Duration
	upstream     string
	requireRepos bool
}

// WithAccount sets the default AWS account (New). Default 513558712013.
func WithAccount(id string) Option { return func(s *settings) { s.account = id } }

// WithRegion sets the default region (New) or the region whose tokens the
// registry accepts (NewRegistry). Default us-east-1, or the server's region.
func WithRegion(r string) Option { return func(s *settings) { s.region = r } }

// WithTokenLifetime sets the lifetime of ECR authorization tokens (New).
func WithTokenLifetime(d time.Duration) Option { return func(s *settings) { s.lifetime = d } }

// WithClock replaces the wall clock (New). The registry front shares it.
func WithClock(now func() time.Time) Option { return func(s *settings) { s.clock = now } }

// WithSigningClock checks SigV4 signing times against now (plus the skew)
// rather than the server's clock (New). A simulation whose WithClock runs
// ahead of the machine's needs it: the SDK signs with the machine's clock,
// as the helper's clock and AWS's, which the simulation moves together,
// would be on a real host. Session and token lifetimes keep the server's
// clock.
func WithSigningClock(now func() time.Time) Option { return func(s *settings) { s.signingClock = now } }

// WithSkew makes the server's clock run d ahead of (or, negative, behind) the
// clock (New). The Date header and the signature window follow it.
func WithSkew(d time.Duration) Option { return func(s *settings) { s.skew = d } }

// WithAddr listens on addr instead of a random loopback port (New, NewRegistry).
func WithAddr(addr string) Option { return func(s *settings) { s.addr = addr } }

// WithSecret fixes the key that signs ECR tokens (New), so another process
// sharing it could verify them. Default: random.
func WithSecret(key []byte) Option { return func(s *settings) { s.secret = key } }

// WithLatency delays every request by d before answering (New, NewRegistry).
func WithLatency(d time.Duration) Option { return func(s *settings) { s.latency = d } }

// WithUpstream makes the registry front a reverse proxy to the registry at
// url (NewRegistry). Default: go-containerregistry's in-memory registry.
func WithUpstream(url string) Option { return func(s *settings) { s.upstream = url } }

// WithRequireRepositories makes the registry front refuse pushes to
// repositories not created with CreateRepository, as ECR does (NewRegistry).
func WithRequireRepositories() Option { return func(s *settings) { s.requireRepos = true } }

// New starts a stand-in on a loopback port. It panics if it cannot listen,
// as httptest does.
func New(opts ...Option) *Server {
	s, err := Start(opts...)
	if err != nil {
		panic(err)
	}
	return s
}

// Start is New returning the listen error instead of panicking.
func Start(opts ...Option) (*Server, error) {
	set := settings{account: "513558712013", region: "us-east-1", lifetime: DefaultTokenLifetime, clock: time.Now, addr: "127.0.0.1:0"}
	for _, o := range opts {
		o(&set)
	}
	secret := set.secret
	if len(secret) == 0 {
		secret = randomBytes(32)
	}
	s := &Server{
		set:       set,
		secret:    secret,
		users:     map[string]*User{},
		usersByID: map[string]*User{},
		roles:     map[string]*roleState{},
		sessions:  map[string]*session{},
		denials:   map[string]map[string]bool{},
		repos:     map[string]*repository{},
		throttle:  map[string]int{},
		counts:    map[string]int64{},
		attempts:  map[string]int64{},
		calls:     map[string]int64{},
		answered:  map[string]struct{}{},
		asked:     map[string]struct{}{},
		oidc: oidcState{keys: map[string]*rsa.PrivateKey{}, jobs: map[string]GitHubJob{},
			providers: map[string][]string{}, lifetime: DefaultIDTokenLifetime},
		queues: map[string]*queue{},
		rules:  map[string]*rule{},
	}
	s.lifetime.set(set.lifetime)
	s.skew.set(set.skew)
	s.latency.set(set.latency)
	srv, err := serve(set.addr, s)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

func serve(addr string, h http.Handler) (*httptest.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("standin: listen on %s: %w", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	return srv, nil
}

// URL is the base URL serving STS, ECR, ECR Public and SQS (dispatched by
// Action and X-Amz-Target, as the SDK sends them).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Account is the default account ID.
func (s *Server) Account() string { return s.set.account }

// Region is the default region.
func (s *Server) Region() string { return s.set.region }

// Now is the server's clock: the injected clock plus the skew.
func (s *Server) Now() time.Time {
	return s.set.clock().Add(s.skew.get())
}

// attach records a registry front so the control API can reach it.
func (s *Server) attach(r *Registry) {
	s.mu.Lock()
	s.registries = append(s.registries, r)
	s.mu.Unlock()
}

func (s *Server) fronts() []*Registry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.registries)
}

// AddUser registers a long-term IAM user (arn:aws:iam::ACCOUNT:user/NAME) and
// returns its fresh access key.
func (s *Server) AddUser(arn string) User {
	u := User{
		ARN:             arn,
		UserID:          "AIDA" + randomID(17),
		Account:         accountOf(arn, s.set.account),
		AccessKeyID:     "AKIA" + randomID(16),
		SecretAccessKey: randomSecret(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := u
	s.issued = append(s.issued, u.SecretAccessKey)
	s.users[u.AccessKeyID] = &cp
	s.usersByID[arn] = &cp
	return u
}

// IssuedSecrets returns every secret the server has handed out so far: user
// and session secret keys, session tokens, ECR passwords and the base64
// authorization tokens that wrap them. Leak tests grep logs and files for them.
func (s *Server) IssuedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

func (s *Server) recordSecrets(secrets ...string) {
	s.mu.Lock()
	s.issued = append(s.issued, secrets...)
	s.mu.Unlock()
}

// AddRole registers (or replaces) a role.
func (s *Server) AddRole(arn string, spec RoleSpec) {
	if spec.MaxSession == 0 {
		spec.MaxSession = time.Hour
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &roleState{spec: spec, arn: arn, roleID: "AROA" + randomID(17)}
	if len(spec.TrustPolicy) > 0 {
		r.trust, _ = parseTrustPolicy(spec.TrustPolicy) // ValidateTrustPolicy says why a document is unreadable
	}
	s.roles[arn] = r
	for _, a := range spec.Deny {
		s.denyLocked(arn, a)
	}
}

// RefuseRole makes AssumeRole and AssumeRoleWithWebIdentity of the role fail
// with AccessDenied (refuse=true) or work again (false), as when the vendor
// edits the role's trust policy.
func (s *Server) RefuseRole(arn string, refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.roles[arn]; ok {
		r.refused = refuse
	}
}

// Deny refuses IAM actions ("ecr:CreateRepository") to a user ARN, or to every
// session of a role ARN.
func (s *Server) Deny(arn string, actions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range actions {
		s.denyLocked(arn, a)
	}
}

func (s *Server) denyLocked(arn, action string) {
	if s.denials[arn] == nil {
		s.denials[arn] = map[string]bool{}
	}
	s.denials[arn][action] = true
}

// SetTokenLifetime changes the lifetime of ECR tokens minted from now on.
func (s *Server) SetTokenLifetime(d time.Duration) { s.lifetime.set(d) }

// TokenLifetime is the lifetime of ECR tokens minted now.
func (s *Server) TokenLifetime() time.Duration { return s.lifetime.get() }

// SetSkew changes how far the server's clock runs ahead of the clock.
func (s *Server) SetSkew(d time.Duration) { s.skew.set(d) }

// SetLatency delays every following request by d.
func (s *Server) SetLatency(d time.Duration) { s.latency.set(d) }

// knob is a duration a test changes while requests read it.
type knob struct{ v atomic.Int64 }

func (k *knob) set(d time.Duration) { k.v.Store(int64(d)) }
func (k *knob) get() time.Duration  { return time.Duration(k.v.Load()) }

// Throttle makes the next n calls of action ("AssumeRole",
// "GetAuthorizationToken", ...) fail with the service's throttling error,
// which the SDK retries with backoff.
func (s *Server) Throttle(action string, n int) {
	s.mu.Lock()
	s.throttle[action] = n
	s.mu.Unlock()
}

// Env returns the environment that points the AWS SDK (and so our binaries)
// at this stand-in with user's long-term key.
func (s *Server) Env(u User) []string {
	return []string{
		"AWS_ENDPOINT_URL_STS=" + s.URL(),
		"AWS_ENDPOINT_URL_ECR=" + s.URL(),
		"AWS_ENDPOINT_URL_ECR_PUBLIC=" + s.URL(),
		"AWS_ENDPOINT_URL_SQS=" + s.URL(),
		"AWS_ACCESS_KEY_ID=" + u.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + u.SecretAccessKey,
		"AWS_REGION=" + s.set.region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// accountOf extracts the account from an ARN, or returns def.
func accountOf(arn, def string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[4] != "" {
		return parts[4]
	}
	return def
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomID(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

func randomSecret() string {
	return strings.NewReplacer("-", "+", "_", "/").Replace(base64.RawURLEncoding.EncodeToString(randomBytes(30)))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}
