package awsapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/fix"
)

type step string

const (
	stepSource      step = "resolving source credentials"
	stepAssume      step = "assuming role"
	stepWebIdentity step = "assuming role with web identity"
	stepToken       step = "getting an ECR authorization token"
	stepCaller      step = "asking STS who the credentials belong to"
	stepRepository  step = "looking up the repository"
	stepCreate      step = "creating the repository"
)

// Error is a failed AWS step, phrased for the person who has to fix it: which
// registry, which role, what AWS said (code and message), and what to do.
type Error struct {
	Host    string
	RoleARN string
	Step    string
	Code    string // AWS error code, "" when AWS was not reached
	Message string // AWS's message, or the local cause
	Hint    string
	Err     error

	// Source and Claims describe the OIDC token of a web identity step: which
	// CI (or file) gave it, and its non-secret claims (iss, aud, sub, exp).
	Source string
	Claims string

	// Action and Resource name the IAM permission AWS refused, when it refused one.
	Action   string
	Resource string

	rejected bool
}

// MissingPermission names the IAM action and resource AWS refused; ok is
// false when the failure was not a denied permission.
func (e *Error) MissingPermission() (action, resource string, ok bool) {
	return e.Action, e.Resource, e.Action != "" && Denied(e.Code)
}

// Denied reports an AWS error code that refuses a permission (STS and ECR
// say AccessDenied, the JSON protocols AccessDeniedException).
func Denied(code string) bool { return code == "AccessDenied" || code == "AccessDeniedException" }

// Rejected reports an AWS error code that refuses the credentials themselves
// (an expired or revoked session, a bad signature): a fresh session may
// succeed where waiting will not.
func Rejected(code string) bool { return rejectedCodes[code] }

// Permanent reports a failure that waiting will not mend: a refused role or
// permission, a rejected parameter, STS off in the region. An operator has
// to act; a long-running caller should say so rather than retry.
func (e *Error) Permanent() bool {
	return Denied(e.Code) || e.Code == "ValidationError" || e.Code == "RegionDisabledException"
}

func (e *Error) Error() string { return fix.Join(e.Problem(), e.Hint) }

// Problem is the failure without its fix (fix.Fixer).
func (e *Error) Problem() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Host, e.Step)
	switch {
	case e.RoleARN != "" && e.Step == string(stepSource):
		fmt.Fprintf(&b, " (to assume %s)", e.RoleARN)
	case e.RoleARN != "":
		fmt.Fprintf(&b, " %s", e.RoleARN)
	}
	if e.Claims != "" {
		fmt.Fprintf(&b, " with the %s token (%s)", e.Source, e.Claims)
	}
	b.WriteString(" failed: ")
	if e.Code != "" {
		fmt.Fprintf(&b, "AWS said %s: %s", e.Code, e.Message)
	} else {
		b.WriteString(e.Message)
	}
	return b.String()
}

// Fix is what to do about it (fix.Fixer).
func (e *Error) Fix() string { return e.Hint }

func (e *Error) Unwrap() error { return e.Err }

// CredentialsRejected reports that AWS refused the credentials themselves
// (expired or revoked session), so a fresh session may succeed.
func (e *Error) CredentialsRejected() bool { return e.rejected }

var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "TooManyRequestsException": true,
	"RequestLimitExceeded": true, "RequestThrottled": true, "RequestThrottledException": true, "SlowDown": true,
}

var rejectedCodes = map[string]bool{
	"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true, "UnrecognizedClientException": true,
	"InvalidSignatureException": true, "SignatureDoesNotMatch": true, "InvalidToken": true,
}

// failOn is fail for a step whose IAM action and resource are known.
func (c *Client) failOn(t config.Target, s step, err error, action, resource string) error {
	e := c.fail(t, s, err).(*Error)
	if Denied(e.Code) {
		e.Action, e.Resource = action, resource
		e.Hint = fmt.Sprintf("the principal may not call %s on %s; allow it in the IAM policy of %s", action, resource, principalName(t))
	}
	return e
}

func principalName(t config.Target) string {
	if r := t.RoleARN(); r != "" {
		return r
	}
	return "the credentials in use (see `docker-credential-currents doctor`)"
}

func (c *Client) fail(t config.Target, s step, err error) error {
	e := &Error{Host: t.Registry.Host, RoleARN: t.RoleARN(), Step: string(s), Err: err}
	var api smithy.APIError
	switch {
	case errors.As(err, &api):
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
		e.rejected = Rejected(e.Code)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e.Message = fmt.Sprintf("no answer from AWS within %s", c.timeout)
		e.Hint = "check this machine's network and proxy settings (HTTPS_PROXY), or raise timeout in " + t.File + " or CURRENTS_TIMEOUT"
		return e
	case s == stepSource:
		// The chain reports only its last provider's failure (often IMDS),
		// which reads as a non sequitur without this framing.
		e.Message = "found no usable AWS credentials (the last source tried said: " + rootCause(err) + ")"
	case unreachable(err):
		e.Message = rootCause(err)
		e.Hint = "nothing answers at AWS's address (connection refused, or the name does not resolve), and waiting will not change that: " +
			"check this machine's network, DNS and proxy settings (HTTPS_PROXY, NO_PROXY), and any AWS_ENDPOINT_URL variable"
		return e
	default:
		e.Message = rootCause(err)
	}
	e.Hint = hint(t, s, e, err)
	return e
}

// hint is the fix for a failed step that reached AWS (or the credential chain).
func hint(t config.Target, s step, e *Error, err error) string {
	where := t.Where()
	var maxAttempts *retry.MaxAttemptsError
	switch {
	case throttleCodes[e.Code]:
		h := "AWS kept throttling the request"
		if errors.As(err, &maxAttempts) {
			h += fmt.Sprintf(" after %d attempts with backoff", maxAttempts.Attempt)
		}
		return h + "; try again in a minute, and check for other tools calling AWS in a loop"
	case s == stepSource:
		return sourceFix(t, where)
	case s == stepWebIdentity:
		return "check that the role's trust policy accepts the token's issuer, audience and subject (" + where + ")"
	case s == stepAssume && e.rejected:
		return "the source credentials are invalid or expired: " + sourceFix(t, where)
	case s == stepAssume && e.Code == "AccessDenied":
		e.Action, e.Resource = "sts:AssumeRole", e.RoleARN
		return fmt.Sprintf("ask the vendor to trust your principal in the trust policy of %s, and check role_arn and external_id in %s", e.RoleARN, where)
	case s == stepAssume && e.Code == "ValidationError":
		return "check role_arn, session_name and duration in " + where + " (duration may exceed the role's maximum session duration, which is 1h when roles are chained)"
	case s == stepAssume && e.Code == "RegionDisabledException":
		return "activate STS in region " + t.Registry.Region + " in the IAM console of the account that assumes the role"
	case s == stepToken:
		return tokenHint(t, e, where)
	}
	return ""
}

// tokenHint is hint for GetAuthorizationToken.
func tokenHint(t config.Target, e *Error, where string) string {
	switch {
	case e.rejected && t.RoleARN() == "":
		// The source credentials themselves: nothing cached is involved.
		return "the source credentials are invalid or expired: " + sourceFix(t, where)
	case e.rejected:
		// A cached session AWS rejects is replaced before it gets here
		// (refresh.Fetcher), so this one is fresh: erasing changes nothing.
		return "AWS refused the role session it had just issued: check this machine's clock (`docker-credential-currents doctor` compares it with AWS's), then retry"
	case Denied(e.Code):
		e.Action, e.Resource = "ecr:GetAuthorizationToken", "*"
		if e.RoleARN == "" {
			return "the credentials may not call ecr:GetAuthorizationToken; allow it in their IAM policy, or set role_arn for this registry in " + where
		}
		return "the principal may not call ecr:GetAuthorizationToken; ask the vendor to allow it in the role's policy"
	}
	return ""
}

func sourceFix(t config.Target, where string) string {
	if p := profileOf(t); p != "" {
		fix := fmt.Sprintf("check profile %q in ~/.aws/config and ~/.aws/credentials (try `aws sts get-caller-identity --profile %s`); the profile is set in %s", p, p, where)
		if os.Getenv("HOME") == "" && os.Getenv("AWS_CONFIG_FILE") == "" {
			// Services and cron jobs often run without HOME, and the SDK finds ~/.aws only through it.
			fix += "; HOME is not set, so the AWS SDK cannot find ~/.aws: set HOME (or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE) in the service's environment"
		}
		return fix
	}
	if t.Entry == nil {
		return fmt.Sprintf("give the helper AWS credentials: add an entry for %s with profile: (or role_arn:) to %s "+
			"(docker-credential-currents configure does it), or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "+
			"or run where an instance or task role is available", t.Registry.Host, t.File)
	}
	return "give the helper AWS credentials: add profile: to " + where +
		", or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance or task role is available"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rootCause strips the SDK's "operation error ..., https response error ..."
// wrapping down to the innermost message.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// Stage names the failed step as doctor's checks and the monitoring metrics do:
// source-credentials, assume-role, ecr-token, caller-identity or repository.
// A web identity's OIDC token is its source credential (doctor's check too).
func (e *Error) Stage() string {
	switch step(e.Step) {
	case stepSource, stepIDToken:
		return "source-credentials"
	case stepAssume, stepWebIdentity:
		return "assume-role"
	case stepToken:
		return "ecr-token"
	case stepCaller:
		return "caller-identity"
	default:
		return "repository"
	}
}
