package doctor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/idtoken"
	"github.com/currentsdev/currents/internal/secret"
)

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
	if e := r.target.Entry; e != nil && (e.WebIdentityTokenFile != "" || e.WebIdentity != "") {
		return r.checkIDToken()
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
	r.add(CheckSource, Pass, fmt.Sprintf("%s %s (%s from %s)", id.ARN, secret.KeyID(src.AccessKeyID), kind, from), "")
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

// codeFixes are fixes for what AWS says about the source credentials themselves.
var codeFixes = map[string]string{
	"ExpiredToken":                "the source credentials are a session that has expired: renew them (aws sso login, a fresh AWS_SESSION_TOKEN, or check the instance role), or use a profile with long-term keys (--profile)",
	"ExpiredTokenException":       "the source credentials are a session that has expired: renew them (aws sso login, a fresh AWS_SESSION_TOKEN, or check the instance role)",
	"InvalidClientTokenId":        "AWS does not know this access key: it was deleted or mistyped; put a valid key in the profile or environment",
	"SignatureDoesNotMatch":       "the secret access key does not match the key ID, or this machine's clock is more than 5 minutes off: check both",
	"AccessDenied":                "the source principal lacks permission for this call: ask its administrator",
	"UnrecognizedClientException": "AWS does not know this access key: it was deleted or mistyped",
}

// stamp formats an expiry with how far away it is. One AWS gave that is
// already past by this machine's clock says so, never a negative distance.
func stamp(t, now time.Time) string {
	if !t.After(now) {
		return t.UTC().Format(time.RFC3339) + " (already past by this machine's clock: see clock-skew)"
	}
	return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), t.Sub(now).Round(time.Minute))
}

// checkIDToken is the source step of a web identity entry: the CI detected,
// and the OIDC token it gives, shown by its claims (never itself), so they
// can be compared with the trust policy before AWS is asked.
func (r *run) checkIDToken() bool {
	e := r.target.Entry
	if e.WebIdentity == config.WebIdentityKubernetes {
		r.add(CheckSource, Skip, "web_identity: kubernetes: the kubelet sends the pod's service-account token with each request; doctor has none to check", "")
		return false
	}
	ci := "detected CI: none"
	if k := idtoken.Detect(r.d.getenv); k != "" {
		ci = "detected CI: " + idtoken.Name(k)
	}
	src, err := r.d.aws.TokenSource(r.target)
	var tok secret.Value
	if err == nil {
		ctx, cancel := r.timeout()
		tok, err = src.Token(ctx)
		cancel()
	}
	if err != nil {
		detail, hint := fix.Split(err)
		r.add(CheckSource, Fail, ci+"; "+detail, hint)
		return false
	}
	from := "the " + idtoken.Name(src.Kind()) + " job"
	if e.WebIdentityTokenFile != "" {
		from = e.WebIdentityTokenFile
	}
	claims, err := idtoken.Parse(tok)
	if err != nil {
		// AWS judges it; doctor can only say it shows no claims.
		r.add(CheckSource, Pass, fmt.Sprintf("%s; token read from %s (not a JWT, so no claims to show)", ci, from), "")
		return true
	}
	if claims.Expired(r.d.now()) {
		r.add(CheckSource, Fail, fmt.Sprintf("%s; the OIDC token from %s expired at %s (%s)", ci, from, stamp(claims.Expires, r.d.now()), claims),
			"get a fresh token: re-run the job (CircleCI's live an hour), or renew the file")
		return false
	}
	r.add(CheckSource, Pass, fmt.Sprintf("%s; OIDC token from %s: %s; the role's trust policy compares %s and %s with these",
		ci, from, claims, claims.ConditionKey("sub"), claims.ConditionKey("aud")), "")
	return true
}
