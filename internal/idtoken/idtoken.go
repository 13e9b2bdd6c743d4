// Package idtoken holds the OIDC ID token (a JWT) the helper assumes a role
// with when an entry says web_identity: where each kind comes from (GitHub
// Actions' token endpoint, CircleCI's variables, the kubelet's request), the
// claims a trust policy compares, and which CI this is.
//
// A token is a bearer credential: it only ever lives in a secret.Value, and
// every error here names variables, never their values. The package links
// no network code (GitHub's request goes through a Getter the caller gives),
// so the lean binary can read a service-account token's claims to key its
// cache.
package idtoken

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/settings"
)

// The variables a CI job has. Only jobs allowed an ID token have the GitHub
// pair (permissions: id-token: write) and the CircleCI pair (a context).
const (
	EnvGitHubActions = "GITHUB_ACTIONS"
	EnvRequestURL    = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvRequestToken  = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
	EnvCircleCI      = "CIRCLECI"
	EnvCircleV2      = "CIRCLE_OIDC_TOKEN_V2"
	EnvCircleV1      = "CIRCLE_OIDC_TOKEN"
)

// Source hands out an ID token. Each call may return a new one: GitHub's
// endpoint is asked every time, so every new role session gets a fresh token
// however long the job runs.
type Source interface {
	Token(ctx context.Context) (secret.Value, error)
	// Kind is the entry's web_identity value.
	Kind() string
}

// Getter does one HTTP GET of url with bearer as the Authorization bearer
// token and returns the status and body (the AWS binary's HTTP client,
// with its timeout and proxy settings).
type Getter func(ctx context.Context, url string, bearer secret.Value) (status int, body []byte, err error)

// GitHub is the source of web_identity: github-actions.
type GitHub struct {
	Getenv   func(string) string
	Get      Getter
	Audience string
}

// Kind implements Source.
func (GitHub) Kind() string { return settings.WebIdentityGitHub }

// Token asks the runner's token endpoint for a token with the audience:
// GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=... with the request token as
// bearer; the answer is {"value": JWT}.
func (g GitHub) Token(ctx context.Context) (secret.Value, error) {
	reqURL, reqTok := g.Getenv(EnvRequestURL), g.Getenv(EnvRequestToken)
	if reqURL == "" || reqTok == "" {
		if g.Getenv(EnvGitHubActions) != "true" {
			return secret.Value{}, fix.New(fmt.Errorf("web_identity: %s, but this is not a GitHub Actions job (%s is not true)", settings.WebIdentityGitHub, EnvGitHubActions),
				"run it in a GitHub Actions job, or configure this host with another credential source (configure --web-identity circleci, --profile, …)")
		}
		missing := EnvRequestURL
		if reqURL != "" {
			missing = EnvRequestToken
		}
		return secret.Value{}, fix.New(fmt.Errorf("this GitHub Actions job may not request an OIDC token: %s is not set", missing),
			"give the job (or the workflow) `permissions: id-token: write`; GitHub sets "+EnvRequestURL+" and "+EnvRequestToken+" only then")
	}
	sep := "&"
	if !strings.Contains(reqURL, "?") {
		sep = "?"
	}
	status, body, err := g.Get(ctx, reqURL+sep+"audience="+queryEscape(g.Audience), secret.New(reqTok))
	if err != nil {
		return secret.Value{}, fmt.Errorf("asking GitHub for an OIDC token (%s): %w", EnvRequestURL, err)
	}
	if status != 200 {
		hint := "retry the job; if it repeats, check GitHub's status page"
		if status == 401 || status == 403 {
			hint = "the job's request token was refused: it is valid only while the job runs; re-run the job"
		}
		return secret.Value{}, fix.New(fmt.Errorf("GitHub's OIDC token endpoint (%s) answered HTTP %d", EnvRequestURL, status), hint)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return secret.Value{}, fmt.Errorf("GitHub's OIDC token endpoint (%s) answered without a token (want {\"value\": JWT})", EnvRequestURL)
	}
	return secret.New(v.Value), nil
}

// queryEscape is url.QueryEscape for the few characters an audience holds;
// net/url would do, and this package stays free of it only by not needing more.
func queryEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// CircleCI is the source of web_identity: circleci.
type CircleCI struct{ Getenv func(string) string }

// Kind implements Source.
func (CircleCI) Kind() string { return settings.WebIdentityCircleCI }

// Token returns $CIRCLE_OIDC_TOKEN_V2, else $CIRCLE_OIDC_TOKEN. CircleCI
// renews them for each job; a job outliving its token's hour must be rerun.
func (c CircleCI) Token(context.Context) (secret.Value, error) {
	for _, k := range []string{EnvCircleV2, EnvCircleV1} {
		if v := c.Getenv(k); v != "" {
			return secret.New(v), nil
		}
	}
	if c.Getenv(EnvCircleCI) != "true" {
		return secret.Value{}, fix.New(fmt.Errorf("web_identity: %s, but this is not a CircleCI job (%s is not true)", settings.WebIdentityCircleCI, EnvCircleCI),
			"run it in a CircleCI job, or configure this host with another credential source")
	}
	return secret.Value{}, fix.New(fmt.Errorf("this CircleCI job has no OIDC token: neither %s nor %s is set", EnvCircleV2, EnvCircleV1),
		"CircleCI sets them only in jobs that use a context: add `context: NAME` to the job in the workflow")
}

// Static is a token handed over whole: the service-account token of a
// kubelet request.
type Static struct {
	Value secret.Value
	For   string // the entry's web_identity
}

// Kind implements Source.
func (s Static) Kind() string { return s.For }

// Token implements Source.
func (s Static) Token(context.Context) (secret.Value, error) { return s.Value, nil }

// Digest names a token without holding it: what a cache keys the sessions
// AWS made for exactly that token on.
func Digest(tok secret.Value) string {
	sum := sha256.Sum256([]byte(tok.Reveal()))
	return hex.EncodeToString(sum[:16])
}

// Claims are the claims of a token that say whose it is. None is secret: a
// refused AssumeRoleWithWebIdentity shows them beside the role.
type Claims struct {
	Issuer   string
	Audience []string
	Subject  string
	Expires  time.Time
	IssuedAt time.Time
	// ServiceAccount is namespace/name/uid for a Kubernetes service-account
	// token, from its kubernetes.io claim.
	ServiceAccount string
}

// ErrNotJWT is Parse's error for a token that is not a JWT with JSON claims.
var ErrNotJWT = errors.New("not a JWT (three base64url parts, the second JSON claims)")

// Parse reads a token's claims WITHOUT verifying its signature: AWS verifies
// it; the helper only explains refusals and keys its cache. Never grant
// anything on what Parse says.
func Parse(tok secret.Value) (Claims, error) {
	parts := strings.Split(tok.Reveal(), ".")
	if len(parts) != 3 {
		return Claims{}, ErrNotJWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, ErrNotJWT
	}
	var raw struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
		Iat json.Number     `json:"iat"`
		K8s *struct {
			Namespace      string `json:"namespace"`
			ServiceAccount struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Claims{}, ErrNotJWT
	}
	c := Claims{Issuer: raw.Iss, Subject: raw.Sub, Expires: unix(raw.Exp), IssuedAt: unix(raw.Iat)}
	var one string
	if json.Unmarshal(raw.Aud, &one) == nil {
		c.Audience = []string{one}
	} else {
		_ = json.Unmarshal(raw.Aud, &c.Audience)
	}
	if k := raw.K8s; k != nil && k.ServiceAccount.Name != "" {
		c.ServiceAccount = k.Namespace + "/" + k.ServiceAccount.Name + "/" + k.ServiceAccount.UID
	}
	return c, nil
}

func unix(n json.Number) time.Time {
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0).UTC()
}

// String is the claims as a trust policy sees them: iss, aud, sub and exp.
func (c Claims) String() string {
	exp := "none"
	if !c.Expires.IsZero() {
		exp = c.Expires.Format(time.RFC3339)
	}
	return fmt.Sprintf("iss=%s aud=%s sub=%s exp=%s", c.Issuer, strings.Join(c.Audience, ","), c.Subject, exp)
}

// ConditionKey is the trust-policy condition key IAM matches claim against
// for this issuer: token.actions.githubusercontent.com:sub for GitHub.
func (c Claims) ConditionKey(claim string) string {
	return strings.TrimPrefix(c.Issuer, "https://") + ":" + claim
}

// Expired reports whether the token had expired at now.
func (c Claims) Expired(now time.Time) bool { return !c.Expires.IsZero() && !now.Before(c.Expires) }

// The variables that tell one CI job from another: which repository and
// branch it builds, and which run, attempt and job of its workflow it is.
var (
	gitHubJobEnv = []string{"GITHUB_REPOSITORY", "GITHUB_REF", "GITHUB_WORKFLOW_REF", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB"}
	circleJobEnv = []string{"CIRCLE_PROJECT_USERNAME", "CIRCLE_PROJECT_REPONAME", "CIRCLE_BRANCH", "CIRCLE_WORKFLOW_ID", "CIRCLE_WORKFLOW_JOB_ID", "CIRCLE_BUILD_NUM"}
)

// Job names the CI job this process runs in, for an entry whose role it
// assumes with that job's token (kind github-actions or circleci): a digest
// of the variables above and of the secret that only that job holds (GitHub's
// token request token; CircleCI's ID token itself), "" for any other kind.
//
// The token cache keys sessions on it, so that they are shared by every get
// of one job and by nothing else. A persistent runner keeps the cache between
// jobs of different repositories and branches, and a job's steps may set any
// variable, so the names alone would let a later job (a fork's pull request
// that may not ask for a token at all) claim an earlier job's session and its
// 12-hour push token; the job's secret is what it cannot claim: GitHub gives
// every job, every re-run and every matrix leg a request token of its own.
// Only a few variables are read and one hash taken: a warm get stays as fast.
func Job(kind string, getenv func(string) string) string {
	var names, secrets []string
	switch kind {
	case settings.WebIdentityGitHub:
		names, secrets = gitHubJobEnv, []string{EnvRequestToken}
	case settings.WebIdentityCircleCI:
		names, secrets = circleJobEnv, []string{EnvCircleV2, EnvCircleV1}
	default:
		return ""
	}
	h := sha256.New()
	for _, k := range append(names, secrets...) {
		fmt.Fprintf(h, "%s=%s\x00", k, getenv(k))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Detect names the CI this process runs in, or "" outside one: what doctor
// reports, and what configure --web-identity is checked against.
func Detect(getenv func(string) string) string {
	switch {
	case getenv(EnvGitHubActions) == "true":
		return settings.WebIdentityGitHub
	case getenv(EnvCircleCI) == "true":
		return settings.WebIdentityCircleCI
	}
	return ""
}

// Name is how messages name a web_identity kind.
func Name(kind string) string {
	switch kind {
	case settings.WebIdentityGitHub:
		return "GitHub Actions"
	case settings.WebIdentityCircleCI:
		return "CircleCI"
	case settings.WebIdentityKubernetes:
		return "Kubernetes service account"
	}
	return kind
}

// Available reports, without any request, whether the job's variables offer
// a token of kind (doctor's and configure's check); the error carries the fix.
func Available(kind string, getenv func(string) string) error {
	switch kind {
	case settings.WebIdentityGitHub:
		_, err := GitHub{Getenv: getenv, Get: func(context.Context, string, secret.Value) (int, []byte, error) {
			return 0, nil, errAvailable
		}}.Token(context.Background())
		if errors.Is(err, errAvailable) {
			return nil
		}
		return err
	case settings.WebIdentityCircleCI:
		_, err := CircleCI{Getenv: getenv}.Token(context.Background())
		return err
	case settings.WebIdentityKubernetes:
		return nil
	}
	if !slices.Contains(settings.WebIdentities, kind) {
		return fmt.Errorf("unknown web identity %q", kind)
	}
	return nil
}

var errAvailable = errors.New("available")
