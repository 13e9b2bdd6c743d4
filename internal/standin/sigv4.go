package standin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// principal is who signed a request: a long-term user or a role session.
type principal struct {
	arn     string
	userID  string
	account string
	roleARN string // set for role sessions
	chained bool   // a role session (AssumeRole from it is role chaining)
}

// authFailure is why a signed request was refused; each protocol names it
// differently (see errorFor).
type authFailure int

const (
	authOK authFailure = iota
	authMissing
	authIncomplete
	authUnknownKey
	authExpired
	authBadSignature
)

type authError struct {
	kind authFailure
	msg  string
}

const amzDateFormat = "20060102T150405Z"

// signatureWindow is how far X-Amz-Date may stray from the server's clock.
const signatureWindow = 5 * time.Minute

// authenticate checks a SigV4-signed request the way AWS does, in the same
// order: the key must exist, a session key must come with its own session
// token and must not have expired, the signing time must be within five
// minutes of the server's clock, and the signature must match one recomputed
// from the stored secret.
func (s *Server) authenticate(r *http.Request, body []byte, service string, now time.Time) (principal, *authError) {
	a, aerr := parseAuthorization(r.Header.Get("Authorization"))
	if aerr != nil {
		return principal{}, aerr
	}
	p, secret, aerr := s.checkKey(r, a.keyID, now)
	if aerr != nil {
		return principal{}, aerr
	}
	signNow := now
	if s.set.signingClock != nil {
		signNow = s.set.signingClock().Add(s.skew.get())
	}
	signTime, aerr := checkSigningTime(r.Header.Get("X-Amz-Date"), a, service, signNow)
	if aerr != nil {
		return principal{}, aerr
	}
	want, err := resign(r, body, strings.Split(a.signedHeaders, ";"), aws.Credentials{AccessKeyID: a.keyID, SecretAccessKey: secret}, service, a.region, signTime)
	if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		return principal{}, &authError{authBadSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return p, nil
}

// authorization is a SigV4 Authorization header taken apart.
type authorization struct {
	keyID, scopeDate, region, service string
	signedHeaders, signature          string
}

const incompleteAuthorization = "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."

func parseAuthorization(h string) (authorization, *authError) {
	if h == "" {
		return authorization{}, &authError{authMissing, ""}
	}
	const alg = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, alg) {
		return authorization{}, &authError{authIncomplete, incompleteAuthorization}
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(h, alg), ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			fields[k] = v
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || fields["SignedHeaders"] == "" || fields["Signature"] == "" || scope[4] != "aws4_request" {
		return authorization{}, &authError{authIncomplete, incompleteAuthorization}
	}
	return authorization{keyID: scope[0], scopeDate: scope[1], region: scope[2], service: scope[3],
		signedHeaders: fields["SignedHeaders"], signature: fields["Signature"]}, nil
}

// checkKey finds the signing key's principal and secret: the key must exist,
// and a session key must come with its own, unexpired session token.
func (s *Server) checkKey(r *http.Request, keyID string, now time.Time) (principal, string, *authError) {
	invalid := &authError{authUnknownKey, "The security token included in the request is invalid."}
	p, secret, sessToken, expires, ok := s.lookupKey(keyID)
	given := r.Header.Get("X-Amz-Security-Token")
	switch {
	case !ok:
		return principal{}, "", invalid
	case sessToken == "" && given != "":
		return principal{}, "", invalid
	case sessToken != "" && subtle.ConstantTimeCompare([]byte(given), []byte(sessToken)) != 1:
		return principal{}, "", invalid
	case sessToken != "" && !now.Before(expires):
		return principal{}, "", &authError{authExpired, "The security token included in the request is expired"}
	}
	return p, secret, nil
}

// checkSigningTime holds X-Amz-Date to the server's clock (five minutes
// either way) and to the credential scope's date and service.
func checkSigningTime(amzDate string, a authorization, service string, now time.Time) (time.Time, *authError) {
	signTime, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return time.Time{}, &authError{authIncomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	}
	nowStr := now.UTC().Format(amzDateFormat)
	switch {
	case signTime.Before(now.Add(-signatureWindow)):
		return time.Time{}, &authError{authBadSignature, "Signature expired: " + amzDate + " is now earlier than " +
			now.Add(-signatureWindow).UTC().Format(amzDateFormat) + " (" + nowStr + " - 5 min.)"}
	case signTime.After(now.Add(signatureWindow)):
		return time.Time{}, &authError{authBadSignature, "Signature not yet current: " + amzDate + " is still later than " +
			now.Add(signatureWindow).UTC().Format(amzDateFormat) + " (" + nowStr + " + 5 min.)"}
	case a.scopeDate != signTime.Format("20060102"):
		return time.Time{}, &authError{authBadSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + a.scopeDate + "' != '" + signTime.Format("20060102") + "', from '" + amzDate + "'."}
	case a.service != service:
		return time.Time{}, &authError{authBadSignature, "Credential should be scoped to correct service: '" + service + "'. "}
	}
	return signTime, nil
}

// regionOf reads the region from a request's credential scope (already
// authenticated), which is the region the client meant to call.
func regionOf(r *http.Request, def string) string {
	_, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return def
	}
	scope := strings.Split(strings.SplitN(rest, ",", 2)[0], "/")
	if len(scope) == 5 && scope[2] != "" {
		return scope[2]
	}
	return def
}

// lookupKey finds an access key among users and issued sessions.
func (s *Server) lookupKey(keyID string) (p principal, secret, token string, expires time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, found := s.users[keyID]; found {
		return principal{arn: u.ARN, userID: u.UserID, account: u.Account}, u.SecretAccessKey, "", time.Time{}, true
	}
	if ss, found := s.sessions[keyID]; found {
		return principal{arn: ss.arn, userID: ss.userID, account: ss.account, roleARN: ss.roleARN, chained: true}, ss.secret, ss.token, ss.expires, true
	}
	return principal{}, "", "", time.Time{}, false
}

// resign recomputes the request's signature from the secret with the SDK's
// own signer, over exactly the headers the client said it signed. The session
// token header, if signed, is carried over as received.
func resign(r *http.Request, body []byte, signed []string, creds aws.Credentials, service, region string, t time.Time) (string, error) {
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return "", err
	}
	req.Host = r.Host
	for _, name := range signed {
		switch name {
		case "host":
		case "content-length":
			req.ContentLength = int64(len(body))
		default:
			req.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	if !slices.Contains(signed, "content-length") {
		req.ContentLength = 0
	}
	sum := sha256.Sum256(body)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableSessionToken = true })
	if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, t); err != nil {
		return "", err
	}
	_, got, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	return got, nil
}
