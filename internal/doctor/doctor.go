// Package doctor diagnoses a host's set-up for one registry, in the order a `docker pull` depends on it:
// docker must find the helper, config.json must send the registry to it, currents.yaml must describe it,
// AWS must hand out credentials, a role session and a token, the clock must agree with AWS, the registry
// must accept the token, and the cache must be safe to write. Each check says pass or fail and, on failure,
// the exact fix.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/fix"
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

func (r *run) checkHelper() {
	path, err := r.d.lookPath(helperBinary)
	if err != nil {
		r.add(CheckHelper, Fail, helperBinary+" is not on PATH, so docker cannot run it",
			"run `sudo make install` (puts it in /usr/local/bin), or add the directory holding "+helperBinary+" to PATH")
		return
	}
	real := path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		real = p
	}
	aws := filepath.Join(filepath.Dir(real), awsHelperBinary)
	if env := r.d.getenv(product.EnvAWSHelper); env != "" {
		aws = env
	}
	if st, err := os.Stat(aws); err != nil || st.Mode()&0o111 == 0 || st.IsDir() {
		r.add(CheckHelper, Fail, fmt.Sprintf("%s found at %s, but its AWS half %s is missing or not executable", helperBinary, path, aws),
			"reinstall with `make install` so both binaries sit side by side")
		return
	}
	// Run it as docker would, so a binary for the wrong platform or a broken copy shows here, not at pull time.
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "version").Output()
	if err != nil {
		r.add(CheckHelper, Fail, fmt.Sprintf("%s found at %s, but `%s version` fails: %v", helperBinary, path, helperBinary, err),
			"reinstall with `make install` (a binary for another platform, or a truncated copy, cannot run)")
		return
	}
	detail := fmt.Sprintf("docker runs %s (AWS half %s)", path, aws)
	if v := strings.TrimSpace(string(out)); v != "" {
		detail += ", " + v
	}
	switch dir := filepath.Dir(path); {
	case dir == "/usr/bin" || dir == "/bin":
	case onServicePath(dir):
		detail += "; note: cron jobs run with PATH=/usr/bin:/bin, so a crontab that runs docker needs PATH=" + dir + ":/usr/bin:/bin at its top"
	default:
		detail += "; note: systemd services and cron use a PATH without " + dir + ", install with `sudo make install` for them"
	}
	r.add(CheckHelper, Pass, detail, "")
}

// onServicePath reports whether dir is on the PATH systemd gives services.
func onServicePath(dir string) bool {
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if d == dir {
			return true
		}
	}
	return false
}

func (r *run) checkDocker() {
	path, err := dirs.DockerConfigFile("")
	if err != nil {
		r.add(CheckDocker, Fail, err.Error(), "set DOCKER_CONFIG or HOME")
		return
	}
	f, err := dockerconfig.Load(path)
	if err != nil {
		r.add(CheckDocker, Fail, err.Error(), "fix the JSON at the position shown, or move the file aside and run configure again")
		return
	}
	configure := fmt.Sprintf("run `%s configure --registry %s --role-arn ROLE_ARN`", helperBinary, r.host)
	// Newer docker CLIs take DOCKER_AUTH_CONFIG's entries before config.json's credHelpers.
	if keys, err := dockerconfig.EnvAuthKeys(r.d.getenv(dockerconfig.EnvAuthConfig), r.host); err != nil || len(keys) > 0 {
		detail := fmt.Sprintf("%s has an entry %q for %s, which docker uses instead of %s", dockerconfig.EnvAuthConfig, strings.Join(keys, ", "), r.host, helperBinary)
		if err != nil {
			detail = err.Error() + "; docker ignores it and prints an error"
		}
		r.add(CheckDocker, Fail, detail, "unset "+dockerconfig.EnvAuthConfig+", or remove "+r.host+" from it")
		return
	}
	h, ok := f.CredHelper(r.host)
	switch {
	case !ok && !f.Exists():
		r.add(CheckDocker, Fail, path+" does not exist, so docker does not know to ask "+helperBinary, configure)
	case !ok:
		r.add(CheckDocker, Fail, fmt.Sprintf("%s has no credHelpers entry for %s", path, r.host), configure)
	case h != product.HelperName:
		r.add(CheckDocker, Fail, fmt.Sprintf("%s sends %s to docker-credential-%s, not to %s", path, r.host, h, helperBinary), configure)
	default:
		detail := fmt.Sprintf("%s: credHelpers[%q] = %q", path, r.host, product.HelperName)
		if n := len(f.StaticAuths(r.host)); n > 0 {
			detail += fmt.Sprintf("; note: a stale static auths entry for the host remains (remove with `%s configure ... --remove-stale-auth`)", helperBinary)
		}
		r.add(CheckDocker, Pass, detail, "")
	}
}

func (r *run) checkConfig() bool {
	cfg, err := r.d.config()
	if err != nil {
		r.add(CheckConfig, Fail, err.Error(), "correct the file as the message says (file, line, entry and key are named), then run doctor again")
		return false
	}
	r.cfg = cfg
	t, ok := cfg.Lookup(r.host)
	if !ok {
		r.add(CheckConfig, Fail, fmt.Sprintf("%s is not an ECR hostname and %s has no entry for it", r.host, cfg.Path),
			fmt.Sprintf("run `%s configure --registry %s --account ACCOUNT --region REGION --role-arn ROLE_ARN`", helperBinary, r.host))
		return false
	}
	r.target = t
	if t.Entry == nil {
		r.add(CheckConfig, Pass, fmt.Sprintf("%s has no entry for %s: the AWS SDK default credential chain is used (account %s, region %s)",
			cfg.Path, r.host, t.Registry.Account, t.Registry.Region), "")
		return true
	}
	e := t.Entry
	parts := []string{fmt.Sprintf("account %s, region %s", t.Registry.Account, t.Registry.Region)}
	if e.RoleARN != "" {
		parts = append(parts, "role "+e.RoleARN)
	}
	if e.ExternalID != "" {
		parts = append(parts, "external ID set")
	}
	if e.Profile != "" {
		parts = append(parts, "profile "+e.Profile)
	}
	if e.WebIdentityTokenFile != "" {
		parts = append(parts, "web identity token "+e.WebIdentityTokenFile)
	}
	r.add(CheckConfig, Pass, t.Where()+": "+strings.Join(parts, ", "), "")
	return true
}

func (r *run) timeout() (context.Context, context.CancelFunc) {
	d := config.DefaultTimeout
	if r.cfg != nil {
		d = r.cfg.Timeout
	}
	return context.WithTimeout(r.ctx, d)
}

// awsFail records an AWS step's failure, its fix apart from its message.
func (r *run) awsFail(name string, err error, prefix string) {
	detail, hint := fix.Split(err)
	var e *awsapi.Error
	if errors.As(err, &e) && e.Code != "" {
		r.reached = true
	}
	if hint == "" && e != nil {
		hint = codeFixes[e.Code]
	}
	if hint == "" {
		hint = "see the message; run with CURRENTS_LOG=debug for the AWS SDK's details"
	}
	r.add(name, Fail, prefix+detail, hint)
}

func (r *run) checkSource() bool {
	if r.target.Entry != nil && r.target.Entry.WebIdentityTokenFile != "" {
		r.add(CheckSource, Skip, "web identity needs no source credentials: the token file "+r.target.Entry.WebIdentityTokenFile+" is the credential", "")
		return true
	}
	ctx, cancel := r.timeout()
	defer cancel()
	src, err := r.d.aws.SourceCredentials(ctx, r.target)
	if err != nil {
		r.awsFail(CheckSource, err, "")
		return false
	}
	// Resolving only reads files and variables; asking STS who they belong to proves AWS accepts them (an
	// expired session or a deleted key fails here, at the step that needs fixing).
	id, err := r.d.aws.CallerIdentity(ctx, r.target, src)
	if err != nil {
		r.awsFail(CheckSource, err, "")
		return false
	}
	r.source, r.caller, r.reached = src, id.ARN, true
	kind := "long-term access key"
	if !src.Expires.IsZero() {
		kind = "temporary credentials valid until " + stamp(src.Expires, r.d.now())
	}
	from := "the AWS SDK default chain"
	if r.target.Entry != nil && r.target.Entry.Profile != "" {
		from = "profile " + r.target.Entry.Profile
	}
	r.add(CheckSource, Pass, fmt.Sprintf("%s %s (%s from %s)", id.ARN, maskKey(src.AccessKeyID), kind, from), "")
	return true
}

func (r *run) checkAssume() bool {
	e := r.target.Entry
	if e == nil || e.RoleARN == "" {
		r.creds = r.source
		r.add(CheckAssume, Skip, "no role_arn: the source credentials are used as they are", "")
		return true
	}
	ctx, cancel := r.timeout()
	defer cancel()
	creds, err := r.d.aws.AssumeRole(ctx, r.target, r.source)
	if err != nil {
		prefix := ""
		if r.caller != "" {
			prefix = "caller " + r.caller + ": "
		}
		r.awsFail(CheckAssume, err, prefix)
		return false
	}
	r.creds, r.reached = creds, true
	who := "a role session"
	if id, err := r.d.aws.CallerIdentity(ctx, r.target, creds); err == nil {
		who = id.ARN
	}
	detail := fmt.Sprintf("assumed %s as %s, valid until %s", e.RoleARN, who, stamp(creds.Expires, r.d.now()))
	if r.caller != "" {
		detail += "; caller " + r.caller
	}
	r.add(CheckAssume, Pass, detail, "")
	return true
}

func (r *run) checkToken() bool {
	ctx, cancel := r.timeout()
	defer cancel()
	tok, err := r.d.aws.AuthorizationToken(ctx, r.target, r.creds)
	if err != nil {
		r.awsFail(CheckToken, err, "")
		return false
	}
	r.token, r.haveTok, r.reached = tok, true, true
	r.add(CheckToken, Pass, fmt.Sprintf("ECR token for account %s in %s, valid until %s", r.target.Registry.Account, r.target.Registry.Region,
		stamp(tok.Expires, r.d.now())), "")
	return true
}

func (r *run) checkClock() {
	if !r.reached {
		r.add(CheckClock, Skip, "not run: no AWS response to compare with", "")
		return
	}
	skew := r.d.aws.Skew().Round(time.Second) // AWS's clock minus ours
	behind := "behind"
	if skew < 0 {
		behind = "ahead of"
	}
	abs := skew.Abs()
	switch {
	case abs > MaxSkew:
		r.add(CheckClock, Fail, fmt.Sprintf("this machine's clock is %s %s AWS's (from the Date header of AWS's last answer)", abs, behind),
			"synchronise the clock: `timedatectl set-ntp true` (systemd) or start chrony/ntpd; tokens are judged by this clock")
	case abs == 0:
		r.add(CheckClock, Pass, "clock agrees with AWS's Date header to the second", "")
	default:
		r.add(CheckClock, Pass, fmt.Sprintf("clock %s %s AWS's, within the %s allowed", abs, behind, MaxSkew), "")
	}
}

func (r *run) checkRegistry() {
	if !r.haveTok {
		r.add(CheckRegistry, Skip, "not run: needs the ECR token from the checks above", "")
		return
	}
	// Docker treats only loopback registries as insecure by default; go-containerregistry would also pick
	// plain HTTP for RFC 1918 addresses, so the scheme is decided here.
	var opts []name.Option
	if isLoopback(r.host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(r.host, opts...)
	if err != nil {
		r.add(CheckRegistry, Fail, fmt.Sprintf("%q is not a registry host: %v", r.host, err), "write the host as in image references")
		return
	}
	url := reg.Scheme() + "://" + reg.RegistryStr() + "/v2/"
	base := r.d.transport
	if base == nil {
		base = http.DefaultTransport
	}
	ctx, cancel := r.timeout()
	defer cancel()
	secret := r.token.Password.Reveal()
	// The handshake answers the registry's challenge as docker does: Basic for private ECR, a Bearer token
	// fetched with the ECR credentials for ECR Public.
	auth := authn.FromConfig(authn.AuthConfig{Username: r.token.Username, Password: secret})
	rt, err := transport.NewWithContext(ctx, reg, auth, base, []string{reg.Scope(transport.PullScope)})
	var resp *http.Response
	if err == nil {
		var req *http.Request
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, url, nil); err == nil {
			resp, err = (&http.Client{Transport: rt}).Do(req)
		}
	}
	if err != nil {
		var terr *transport.Error
		var op *net.OpError
		switch {
		case errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden):
			r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s: the registry refused the token: %s", url, scrub(err.Error(), secret)), refusedFix(r.target))
		case errors.As(err, &op) && op.Op == "dial":
			r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s: %s", url, scrub(err.Error(), secret)),
				"nothing answers at "+r.host+": check the host and port, and that the registry (or its VPC endpoint) is up")
		default:
			r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s: %s", url, scrub(err.Error(), secret)),
				"check that the registry is reachable from this host (DNS, firewall, HTTPS_PROXY/NO_PROXY)")
		}
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		r.add(CheckRegistry, Pass, fmt.Sprintf("GET %s with the token: %s", url, resp.Status), "")
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s with the token: %s (the registry refused the token)", url, resp.Status), refusedFix(r.target))
	default:
		r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s with the token: %s", url, resp.Status), "this does not look like an OCI registry: check the host")
	}
}

func refusedFix(t config.Target) string {
	return "the token is for account " + t.Registry.Account + " in " + t.Registry.Region +
		": check that the entry's account and region are the registry's, and that the role may call ecr:GetAuthorizationToken there"
}

// isLoopback reports whether docker would treat host as an insecure (plain HTTP) registry by default.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (r *run) checkCache() {
	c, err := r.d.cache()
	if err != nil {
		r.add(CheckCache, Fail, err.Error(), "set CURRENTS_CACHE_DIR to a directory this user can write (it is created 0700)")
		return
	}
	dir := c.Dir()
	probe, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		r.add(CheckCache, Fail, fmt.Sprintf("cannot write in %s: %v", dir, err), "make "+dir+" writable by this user, or set CURRENTS_CACHE_DIR")
		return
	}
	probe.Close()
	os.Remove(probe.Name())
	st, err := os.Stat(dir)
	if err != nil {
		r.add(CheckCache, Fail, err.Error(), "set CURRENTS_CACHE_DIR to a directory this user can write")
		return
	}
	if st.Mode().Perm() != 0o700 {
		r.add(CheckCache, Fail, fmt.Sprintf("%s has mode %v, not 0700: other users could read cached tokens", dir, st.Mode().Perm()), "chmod 700 "+dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	var wide []string
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o077 != 0 {
			wide = append(wide, e.Name())
		}
	}
	if len(wide) > 0 {
		r.add(CheckCache, Fail, fmt.Sprintf("%s holds files readable by others: %s", dir, strings.Join(wide, ", ")), "chmod 600 "+dir+"/*")
		return
	}
	r.add(CheckCache, Pass, fmt.Sprintf("%s is writable, mode 0700, files 0600", dir), "")
}

// codeFixes are fixes for what AWS says about the source credentials themselves.
var codeFixes = map[string]string{
	"ExpiredToken":                "the source credentials are a session that has expired: renew them (aws sso login, a fresh AWS_SESSION_TOKEN, or check the instance role), or use a profile with long-term keys (--profile)",
	"ExpiredTokenException":       "the source credentials are a session that has expired: renew them (aws sso login, a fresh AWS_SESSION_TOKEN, or check the instance role)",
	"InvalidClientTokenId":        "AWS does not know this access key: it was deleted or mistyped; put a valid key in the profile or environment",
	"SignatureDoesNotMatch":       "the secret access key does not match the key ID, or this machine's clock is more than 5 minutes off: check both",
	"AccessDenied":                "the source principal lacks permission for this call: ask its administrator",
	"UnrecognizedClientException": "AWS does not know this access key: it was deleted or mistyped",
}

// stamp formats an expiry with how far away it is.
func stamp(t, now time.Time) string {
	return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), t.Sub(now).Round(time.Minute))
}

// maskKey shows only the last four characters of an access key ID, as `aws configure list` does.
func maskKey(id string) string {
	if len(id) <= 4 {
		return "****"
	}
	return strings.Repeat("*", len(id)-4) + id[len(id)-4:]
}

// scrub removes a secret from text that may echo a request (a URL with credentials, a proxy error).
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}
