package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/idtoken"
	"github.com/currentsdev/currents/internal/secret"
)

const stepIDToken step = "getting an OIDC token"

// TokenSource is where t's entry gets its OIDC token: the token file, the
// CI job (GitHub's endpoint, CircleCI's variables) or the kubelet's request.
func (c *Client) TokenSource(t config.Target) (idtoken.Source, error) {
	e := t.Entry
	switch {
	case e == nil:
		return nil, errors.New("no entry: no web identity")
	case e.WebIdentityTokenFile != "":
		return tokenFile(e.WebIdentityTokenFile), nil
	case e.WebIdentity == config.WebIdentityGitHub:
		return idtoken.GitHub{Getenv: c.getenv, Get: c.httpGet, Audience: e.Audience()}, nil
	case e.WebIdentity == config.WebIdentityCircleCI:
		return idtoken.CircleCI{Getenv: c.getenv}, nil
	case e.WebIdentity == config.WebIdentityKubernetes && c.idToken != nil:
		return c.idToken, nil
	case e.WebIdentity == config.WebIdentityKubernetes:
		return nil, fix.New(fmt.Errorf("web_identity: %s needs the pod's service-account token, and only a kubelet request (docker-credential-currents kubelet) carries one", config.WebIdentityKubernetes),
			"set tokenAttributes in the kubelet's CredentialProviderConfig (see the README's Kubernetes section), or give this entry another credential source")
	}
	return nil, fmt.Errorf("web_identity %q is not one this helper knows", e.WebIdentity)
}

type tokenFile string

func (f tokenFile) Kind() string { return "web_identity_token_file" }

func (f tokenFile) Token(context.Context) (secret.Value, error) {
	b, err := stscreds.IdentityTokenFile(f).GetIdentityToken()
	if err != nil {
		return secret.Value{}, fix.New(err, "check that "+string(f)+" exists and is readable by this user, and that whatever writes it is running")
	}
	return secret.New(strings.TrimSpace(string(b))), nil
}

// httpGet is idtoken.Getter over the SDK's HTTP client: the same timeout and
// proxy settings as every AWS call.
func (c *Client) httpGet(ctx context.Context, url string, bearer secret.Value) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		// The URL holds no secret, but its parse error would quote it whole.
		return 0, nil, errors.New("the request URL is not a URL")
	}
	req.Header.Set("Authorization", "Bearer "+bearer.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := awshttp.NewBuildableClient().WithTimeout(c.timeout).Do(req)
	if err != nil {
		if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			return 0, nil, fmt.Errorf("no answer within %s", c.timeout)
		}
		return 0, nil, errors.New(rootCause(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// assumeWithWebIdentity gets a fresh OIDC token from the entry's source and
// calls AssumeRoleWithWebIdentity with it. A new session always gets a new
// token, so a job outlives every session and token expiry. When AWS refuses,
// the error shows the token's claims beside the role.
func (c *Client) assumeWithWebIdentity(ctx context.Context, t config.Target, duration time.Duration) (credential.Session, error) {
	e := t.Entry
	src, err := c.TokenSource(t)
	if err != nil {
		return credential.Session{}, c.tokenError(t, err)
	}
	tok, err := src.Token(ctx)
	if err != nil {
		return credential.Session{}, c.tokenError(t, err)
	}
	claims, perr := idtoken.Parse(tok)
	cfg, err := c.loadWith(ctx, region(t), aws.AnonymousCredentials{})
	if err != nil {
		return credential.Session{}, c.fail(t, stepWebIdentity, err)
	}
	now := c.clock.Now()
	out, err := sts.NewFromConfig(cfg).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(e.RoleARN),
		RoleSessionName:  aws.String(c.SessionName(t)),
		WebIdentityToken: aws.String(tok.Reveal()),
		DurationSeconds:  aws.Int32(int32(duration / time.Second)),
	})
	if err != nil {
		ae := c.fail(t, stepWebIdentity, err).(*Error)
		ae.Source = idtoken.Name(src.Kind())
		if perr == nil {
			ae.Claims = claims.String()
		}
		if ae.Code != "" {
			ae.Hint = webIdentityFix(t, src.Kind(), ae, claims, perr == nil)
		}
		return credential.Session{}, ae
	}
	if out.Credentials == nil {
		return credential.Session{}, c.fail(t, stepWebIdentity, errors.New("STS answered without credentials"))
	}
	ac := aws.Credentials{
		AccessKeyID: aws.ToString(out.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken: aws.ToString(out.Credentials.SessionToken), CanExpire: true, Expires: aws.ToTime(out.Credentials.Expiration),
	}
	s := c.session(ac, now, "role session")
	if s.Expires.IsZero() {
		return credential.Session{}, c.fail(t, stepWebIdentity, fmt.Errorf("STS returned a session that expires at %s, which is not in the future even by AWS's clock",
			ac.Expires.UTC().Format(time.RFC3339)))
	}
	c.log.Debug("role assumed with web identity", "role", e.RoleARN, "source", src.Kind(), "sub", aws.ToString(out.SubjectFromWebIdentityToken), "expires", s.Expires)
	return s, nil
}

// tokenError is a failure to get the token at all (a missing permission, no
// context, the endpoint down): the source's own message and fix.
func (c *Client) tokenError(t config.Target, err error) error {
	problem, hint := fix.Split(err)
	return &Error{Host: t.Registry.Host, RoleARN: t.RoleARN(), Step: string(stepIDToken), Message: problem, Hint: hint, Err: err}
}

// webIdentityFix says what to compare when AWS refuses a token: the trust
// policy condition keys for the token's issuer, and what to run.
func webIdentityFix(t config.Target, kind string, e *Error, c idtoken.Claims, parsed bool) string {
	role := t.RoleARN()
	regen := "`docker currents policy ci-trust` writes a trust policy that admits a job"
	switch kind {
	case config.WebIdentityGitHub:
		regen = "`docker currents policy ci-trust --github-repo OWNER/REPO --github-ref refs/heads/BRANCH --only trust` writes one that admits this workflow"
	case config.WebIdentityCircleCI:
		regen = "`docker currents policy ci-trust --circleci-org ORG_ID --circleci-project PROJECT_ID --only trust` writes one that admits this project"
	case config.WebIdentityKubernetes:
		regen = "its StringLike on " + c.ConditionKey("sub") + " must match system:serviceaccount:NAMESPACE:NAME of the pod's service account (README, Kubernetes)"
	}
	switch {
	case e.Code == "AccessDenied":
		if !parsed {
			return "the trust policy of " + role + " does not admit this token (which is not a readable JWT); " + regen
		}
		return fmt.Sprintf("the trust policy of %s does not admit this token: compare its condition %s with sub=%s (case matters) and %s with aud=%s; %s",
			role, c.ConditionKey("sub"), c.Subject, c.ConditionKey("aud"), strings.Join(c.Audience, ","), regen)
	case e.Code == "ExpiredTokenException" || e.Code == "ExpiredToken":
		switch kind {
		case config.WebIdentityCircleCI:
			return "CircleCI's token lives an hour from the job's start: re-run the job, or split it so no step starts after its first hour"
		case config.WebIdentityGitHub:
			return "GitHub's token was fetched just now, so this machine's clock is off: fix it (NTP)"
		}
		return "the token expired: make sure whatever writes it renews it"
	case e.Code == "InvalidIdentityToken" && strings.Contains(e.Message, "No OpenIDConnect provider"):
		return fmt.Sprintf("register the issuer %s as an IAM OIDC identity provider in the account of %s (aws iam create-open-id-connect-provider --url %s --client-id-list %s)",
			c.Issuer, role, c.Issuer, strings.Join(c.Audience, ","))
	case e.Code == "InvalidIdentityToken" && strings.Contains(e.Message, "audience"):
		return fmt.Sprintf("the IAM OIDC provider for %s does not list the token's audience %s: add it to the provider's client IDs, or set web_identity_audience to one it lists (%s)",
			c.Issuer, strings.Join(c.Audience, ","), t.Where())
	}
	return fmt.Sprintf("compare the token's claims with the trust policy of %s (%s)", role, t.Where())
}
