// Package awsapi is the AWS side of the credential helper: source credentials,
// AssumeRole (and AssumeRoleWithWebIdentity), ECR and ECR Public authorization
// tokens, and the caller identity. Each step is its own method so `doctor` can
// run and report them one at a time; Credentials and AuthorizationToken
// together implement helper.AWS.
//
// Only the AWS binary links this package: the SDK's package initialisation
// alone costs more than a whole warm `get`.
package awsapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/currentsdev/currents/internal/clock"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/idtoken"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/secret"
)

// DefaultSessionDuration is the role session length when the entry sets none:
// AWS's own AssumeRole default, and the most role chaining allows.
const DefaultSessionDuration = time.Hour

// maxAttempts lets the standard retryer (exponential backoff with jitter) ride
// out throttling; the overall timeout still bounds the total wait.
const maxAttempts = 5

// Client calls AWS for one helper run.
type Client struct {
	timeout  time.Duration
	clock    clock.Clock
	log      *slog.Logger
	hostname func() (string, error)
	getenv   func(string) string
	idToken  idtoken.Source // the kubelet's service-account token, when it sent one
	attempts int            // per call; maxAttempts outside tests
	reuse    bool           // WithConfigReuse

	mu      sync.Mutex
	skew    time.Duration // AWS's clock minus ours, from the last response's Date header
	skewErr time.Duration // how far off that measurement may be
	loaded  map[loadKey]aws.Config
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout bounds every HTTP request (default config.DefaultTimeout).
// Callers also put a deadline on the context.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithClock sets the clock that stamps when credentials were issued.
func WithClock(k clock.Clock) Option { return func(c *Client) { c.clock = k } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithConfigReuse makes the client load the SDK configuration (the shared
// config and credentials files, AWS_CA_BUNDLE, the environment) once per
// region and profile, and reuse it for every later call, only the
// credentials differing: for a process that lives for one refresh, the AWS
// binary's, where every load is on the path a whole burst of gets waits on.
// A long-lived process (watch) must not set it: it would never see those
// files change.
func WithConfigReuse() Option { return func(c *Client) { c.reuse = true } }

// WithGetenv replaces os.Getenv where the client reads a CI job's variables.
func WithGetenv(f func(string) string) Option { return func(c *Client) { c.getenv = f } }

// WithServiceAccountToken gives the client the service-account token of a
// kubelet request, for entries with web_identity: kubernetes.
func WithServiceAccountToken(tok secret.Value) Option {
	return func(c *Client) { c.idToken = idtoken.Static{Value: tok, For: config.WebIdentityKubernetes} }
}

// skewTolerance is the clock difference below which expiry times are taken as
// AWS sends them: the Date header has one-second resolution, and latency adds
// to that, so a smaller measured skew is noise rather than a wrong clock.
const skewTolerance = 5 * time.Second

// skewWarning is the clock difference worth telling the operator about: AWS
// refuses signatures more than 15 minutes off, and the SDK then corrects and
// retries every call, but other tools on the host will not.
const skewWarning = time.Minute

// clockSkew is a deserialize-step middleware, innermost, so it brackets the
// HTTP round trip: it records how far AWS's clock (the Date header, truncated
// to the second, so +0.5s) is from ours at the round trip's midpoint, and how
// uncertain that is (half the round trip, plus the truncation).
func (c *Client) clockSkew(st *middleware.Stack) error {
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("CurrentsClockSkew",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			sent := c.clock.Now()
			out, md, err := next.HandleDeserialize(ctx, in)
			if r, ok := out.RawResponse.(*smithyhttp.Response); ok && r != nil && r.Response != nil {
				if date, perr := http.ParseTime(r.Header.Get("Date")); perr == nil {
					rtt := c.clock.Now().Sub(sent)
					c.mu.Lock()
					c.skew = date.Add(500 * time.Millisecond).Sub(sent.Add(rtt / 2))
					c.skewErr = rtt/2 + 500*time.Millisecond
					c.mu.Unlock()
				}
			}
			return out, md, err
		}), middleware.After)
}

// Skew is how far AWS's clock ran ahead of this machine's (negative: behind)
// at the last response, or 0 before any.
func (c *Client) Skew() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skew
}

// local converts an expiry AWS stamped with its own clock to this machine's
// clock. Every cache decision (refresh, serve on failure) compares with the
// local clock, so with a clock hours off a token would otherwise be refreshed
// too late, or served after AWS has expired it. A skew within the
// measurement's own uncertainty (a slow answer on a loaded host) is left alone.
func (c *Client) local(t time.Time, what string) time.Time {
	c.mu.Lock()
	skew, uncertain := c.skew, c.skewErr
	c.mu.Unlock()
	if skew.Abs() < skewTolerance+uncertain {
		return t
	}
	dir := "behind"
	if skew < 0 {
		dir = "ahead of"
	}
	level := slog.LevelDebug
	if skew.Abs() >= skewWarning {
		level = slog.LevelWarn
	}
	c.log.Log(context.Background(), level, "this machine's clock is off: expiry converted to the local clock; fix the clock (NTP, timedatectl)",
		"clock", fmt.Sprintf("%s %s AWS's", config.FormatDuration(skew.Abs()), dir), "credential", what,
		"expires_aws", t.UTC().Format(time.RFC3339), "expires_local", t.Add(-skew).UTC().Format(time.RFC3339))
	return t.Add(-skew)
}

// noRetryUnreachable stops the retryer on a refused connection or a failed
// name lookup: within one pull neither comes right on the fifth try, and
// the retries' backoff cost 10-27 s before the error (throttling and
// timeouts are still retried).
func noRetryUnreachable(err error) aws.Ternary {
	if unreachable(err) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

func unreachable(err error) bool {
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns)
}

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{timeout: config.DefaultTimeout, clock: clock.System{}, log: logging.Discard(), hostname: os.Hostname, getenv: os.Getenv, attempts: maxAttempts}
	for _, o := range opts {
		o(c)
	}
	return c
}

// loadDefaultConfig is the SDK's loader; tests count its calls.
var loadDefaultConfig = awsconfig.LoadDefaultConfig

// loadKey names one load: its region, its profile, and whether the SDK's
// credential chain was resolved (chain) or credentials are given per call.
type loadKey struct {
	region, profile string
	chain           bool
}

// load builds the SDK configuration for t's region. profile selects the shared
// config profile of the source credentials ("" for the default chain).
func (c *Client) load(ctx context.Context, region, profile string, extra ...func(*awsconfig.LoadOptions) error) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(c.timeout)),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.attempts
				o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(noRetryUnreachable)}, o.Retryables...)
			})
		}),
	}
	opts = append(opts, awsconfig.WithAPIOptions([]func(*middleware.Stack) error{c.clockSkew}), awsconfig.WithLogger(sdkLogger(c.log)))
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	cfg, err := loadDefaultConfig(ctx, append(opts, extra...)...)
	cfg.ServiceOptions = append(cfg.ServiceOptions, keepAnswers)
	return cfg, err
}

// loadChain is load for the SDK's own credential chain (or profile's).
func (c *Client) loadChain(ctx context.Context, region, profile string) (aws.Config, error) {
	if !c.reuse {
		return c.load(ctx, region, profile)
	}
	key := loadKey{region, profile, true}
	if cfg, ok := c.reused(key); ok {
		return cfg, nil
	}
	cfg, err := c.load(ctx, region, profile)
	if err == nil {
		c.keep(key, cfg)
	}
	return cfg, err
}

// loadWith is load of the default profile with creds in place of the
// credential chain. Reused, it is the configuration LoadDefaultConfig would
// build with WithCredentialsProvider(creds): the chain resolves nothing but
// Credentials, and the SDK wraps a given provider in a CredentialsCache with
// no options, as here. So the chain's load of the default profile serves
// too.
func (c *Client) loadWith(ctx context.Context, region string, creds aws.CredentialsProvider) (aws.Config, error) {
	if !c.reuse {
		return c.load(ctx, region, "", awsconfig.WithCredentialsProvider(creds))
	}
	for _, key := range []loadKey{{region, "", false}, {region, "", true}} {
		if cfg, ok := c.reused(key); ok {
			cfg.Credentials = aws.NewCredentialsCache(creds)
			return cfg, nil
		}
	}
	cfg, err := c.load(ctx, region, "", awsconfig.WithCredentialsProvider(creds))
	if err == nil {
		c.keep(loadKey{region, "", false}, cfg)
	}
	return cfg, err
}

func (c *Client) reused(key loadKey) (aws.Config, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg, ok := c.loaded[key]
	return cfg, ok
}

func (c *Client) keep(key loadKey, cfg aws.Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded == nil {
		c.loaded = map[loadKey]aws.Config{}
	}
	// Clipped, so that a caller appending to a copy's slices never writes
	// into another copy's.
	cfg.APIOptions = slices.Clip(cfg.APIOptions)
	cfg.ServiceOptions = slices.Clip(cfg.ServiceOptions)
	c.loaded[key] = cfg
}

func region(t config.Target) string {
	if t.Registry.Public {
		return ecrhost.PublicRegion
	}
	return t.Registry.Region
}

func profileOf(t config.Target) string {
	if t.Entry == nil {
		return ""
	}
	return t.Entry.Profile
}

// Credentials implements helper.AWS: the source credentials, then the entry's
// role if it has one.
func (c *Client) Credentials(ctx context.Context, t config.Target) (credential.Session, error) {
	if t.Entry != nil && (t.Entry.WebIdentityTokenFile != "" || t.Entry.WebIdentity != "") {
		return c.AssumeRole(ctx, t, credential.Session{})
	}
	src, err := c.SourceCredentials(ctx, t)
	if err != nil || t.RoleARN() == "" {
		return src, err
	}
	return c.AssumeRole(ctx, t, src)
}

// SourceCredentials resolves the credentials the entry starts from: its profile,
// or the SDK default chain (environment, shared files, AWS_ROLE_ARN with
// AWS_WEB_IDENTITY_TOKEN_FILE, SSO, container and instance roles). A zero
// Expires marks long-term keys.
func (c *Client) SourceCredentials(ctx context.Context, t config.Target) (credential.Session, error) {
	cfg, err := c.loadChain(ctx, region(t), profileOf(t))
	if err != nil {
		return credential.Session{}, c.fail(t, stepSource, err)
	}
	if cfg.Credentials == nil {
		return credential.Session{}, c.fail(t, stepSource, errors.New("no credential source configured"))
	}
	now := c.clock.Now()
	ac, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return credential.Session{}, c.fail(t, stepSource, err)
	}
	c.log.Debug("source credentials resolved", "source", ac.Source, "expires", ac.CanExpire)
	return c.session(ac, now, "source credentials"), nil
}

// session converts SDK credentials; an expiry in the past (or none) leaves
// Expires zero, which callers treat as long-term or reject.
func (c *Client) session(ac aws.Credentials, issued time.Time, what string) credential.Session {
	s := credential.Session{
		AccessKeyID:     ac.AccessKeyID,
		SecretAccessKey: secret.New(ac.SecretAccessKey),
		SessionToken:    secret.New(ac.SessionToken),
	}
	if !ac.CanExpire {
		return s
	}
	if exp := c.local(ac.Expires, what); exp.After(issued) {
		s.Issued, s.Expires = issued, exp
	}
	return s
}

func static(s credential.Session) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey.Reveal(), s.SessionToken.Reveal())
}

// SessionName is the role session name used when the entry sets none:
// currents-<hostname>, reduced to the characters STS accepts. It shows in the
// vendor's CloudTrail, so it names the machine.
func (c *Client) SessionName(t config.Target) string {
	if t.Entry != nil && t.Entry.SessionName != "" {
		return t.Entry.SessionName
	}
	h, _ := c.hostname()
	var b strings.Builder
	b.WriteString("currents-")
	for _, r := range h {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@-_", r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// AssumeRole assumes the entry's role with src (ignored for web identity,
// which needs no source credentials).
func (c *Client) AssumeRole(ctx context.Context, t config.Target, src credential.Session) (credential.Session, error) {
	e := t.Entry
	if e == nil || e.RoleARN == "" {
		return credential.Session{}, fmt.Errorf("%s: no role_arn configured (%s)", t.Registry.Host, t.Where())
	}
	duration := e.Duration
	if duration == 0 {
		duration = DefaultSessionDuration
	}
	if e.WebIdentityTokenFile != "" || e.WebIdentity != "" {
		return c.assumeWithWebIdentity(ctx, t, duration)
	}
	cfg, err := c.loadWith(ctx, region(t), static(src))
	if err != nil {
		return credential.Session{}, c.fail(t, stepAssume, err)
	}
	client := sts.NewFromConfig(cfg)
	now := c.clock.Now()
	step := stepAssume
	p := stscreds.NewAssumeRoleProvider(client, e.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = c.SessionName(t)
		o.Duration = duration
		if e.ExternalID != "" {
			o.ExternalID = aws.String(e.ExternalID)
		}
	})
	ac, err := p.Retrieve(ctx)
	if err != nil {
		return credential.Session{}, c.fail(t, step, err)
	}
	s := c.session(ac, now, "role session")
	if s.Expires.IsZero() {
		return credential.Session{}, c.fail(t, step, fmt.Errorf("STS returned a session that expires at %s, which is not in the future even by AWS's clock",
			ac.Expires.UTC().Format(time.RFC3339)))
	}
	c.log.Debug("role assumed", "role", e.RoleARN, "expires", s.Expires)
	return s, nil
}

// AuthorizationToken implements helper.AWS: ECR's GetAuthorizationToken, or
// ECR Public's for public.ecr.aws. One token serves every registry creds can
// reach in the region.
func (c *Client) AuthorizationToken(ctx context.Context, t config.Target, creds credential.Session) (credential.Token, error) {
	cfg, err := c.loadWith(ctx, region(t), static(creds))
	if err != nil {
		return credential.Token{}, c.fail(t, stepToken, err)
	}
	now := c.clock.Now()
	var encoded string
	var expires *time.Time
	if t.Registry.Public {
		out, err := ecrpublic.NewFromConfig(cfg).GetAuthorizationToken(ctx, &ecrpublic.GetAuthorizationTokenInput{})
		if err != nil {
			return credential.Token{}, c.fail(t, stepToken, err)
		}
		if out.AuthorizationData != nil {
			encoded, expires = aws.ToString(out.AuthorizationData.AuthorizationToken), out.AuthorizationData.ExpiresAt
		}
	} else {
		out, err := ecrClient(cfg, t).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
		if err != nil {
			return credential.Token{}, c.fail(t, stepToken, err)
		}
		if len(out.AuthorizationData) > 0 {
			encoded, expires = aws.ToString(out.AuthorizationData[0].AuthorizationToken), out.AuthorizationData[0].ExpiresAt
		}
	}
	user, pass, err := decodeToken(encoded)
	if err != nil {
		return credential.Token{}, c.fail(t, stepToken, err)
	}
	if expires == nil {
		return credential.Token{}, c.fail(t, stepToken, errors.New("the token came without an expiry"))
	}
	exp := c.local(*expires, "ECR token")
	if !exp.After(now) {
		return credential.Token{}, c.fail(t, stepToken, fmt.Errorf("the token expires at %s, which is not in the future even by AWS's clock",
			expires.UTC().Format(time.RFC3339)))
	}
	c.log.Debug("authorization token fetched", "host", t.Registry.Host, "expires", exp)
	return credential.Token{Username: user, Password: secret.New(pass), Issued: now, Expires: exp}, nil
}

// ecrClient is the private ECR API client serving t's registry.
func ecrClient(cfg aws.Config, t config.Target) *ecr.Client {
	return ecr.NewFromConfig(cfg, func(o *ecr.Options) {
		// A FIPS or dual-stack registry host implies its API has the same kind of endpoint.
		if t.Registry.FIPS {
			o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
		}
		if t.Registry.DualStack {
			o.EndpointOptions.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
		}
	})
}

// EnsureRepository makes sure repository name exists in t's registry, creating
// it when DescribeRepositories says it does not (mirroring into a customer's
// ECR). created reports whether it was made now.
func (c *Client) EnsureRepository(ctx context.Context, t config.Target, creds credential.Session, name string) (created bool, err error) {
	cfg, err := c.loadWith(ctx, region(t), static(creds))
	if err != nil {
		return false, c.fail(t, stepRepository, err)
	}
	client := ecrClient(cfg, t)
	var registryID *string
	if t.Registry.Account != "" {
		registryID = aws.String(t.Registry.Account)
	}
	_, err = client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RegistryId: registryID, RepositoryNames: []string{name}})
	var notFound *ecrtypes.RepositoryNotFoundException
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &notFound):
		return false, c.failOn(t, stepRepository, err, "ecr:DescribeRepositories", c.repositoryARN(t, name))
	}
	_, err = client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RegistryId: registryID, RepositoryName: aws.String(name)})
	var exists *ecrtypes.RepositoryAlreadyExistsException
	switch {
	case err == nil:
		c.log.Debug("repository created", "host", t.Registry.Host, "repository", name)
		return true, nil
	case errors.As(err, &exists): // created meanwhile by a parallel mirror
		return false, nil
	default:
		return false, c.failOn(t, stepCreate, err, "ecr:CreateRepository", c.repositoryARN(t, name))
	}
}

func (c *Client) repositoryARN(t config.Target, name string) string {
	part := t.Registry.Partition
	if part == "" {
		part = "aws"
	}
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", part, t.Registry.Region, t.Registry.Account, name)
}

func decodeToken(encoded string) (user, pass string, err error) {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return "", "", errors.New("the authorization token is not base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || pass == "" {
		return "", "", errors.New("the authorization token is not user:password")
	}
	return user, pass, nil
}

// Identity is who AWS says the credentials belong to.
type Identity struct {
	Account string
	ARN     string
	UserID  string
}

// CallerIdentity asks STS who creds belong to (doctor shows it, so the vendor
// knows which principal to trust).
func (c *Client) CallerIdentity(ctx context.Context, t config.Target, creds credential.Session) (Identity, error) {
	cfg, err := c.loadWith(ctx, region(t), static(creds))
	if err != nil {
		return Identity{}, c.fail(t, stepCaller, err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, c.fail(t, stepCaller, err)
	}
	return Identity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn), UserID: aws.ToString(out.UserId)}, nil
}
