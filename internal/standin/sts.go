package standin

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)

const (
	minSession      = 900 * time.Second
	maxSessionLimit = 12 * time.Hour
	chainedMax      = time.Hour
)

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// answerSTS counts the call and writes its result as STS frames every
// answer: <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>.
func (s *Server) answerSTS(c *call, result any) {
	type response struct {
		XMLName  xml.Name
		Xmlns    string `xml:"xmlns,attr"`
		Result   namedElement
		Metadata responseMetadata `xml:"ResponseMetadata"`
	}
	s.count(c)
	c.writeXML(http.StatusOK, response{
		XMLName:  xml.Name{Local: c.action + "Response"},
		Xmlns:    stsNamespace,
		Result:   namedElement{c.action + "Result", result},
		Metadata: responseMetadata{c.reqID},
	})
}

// namedElement marshals v as an element named at run time.
type namedElement struct {
	name string
	v    any
}

func (n namedElement) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	return e.EncodeElement(n.v, xml.StartElement{Name: xml.Name{Local: n.name}})
}

func validation(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationError", msg}
}

// sessionAsk is what an AssumeRole flavour asks for.
type sessionAsk struct {
	roleARN, name string
	duration      time.Duration
	explicit      bool // DurationSeconds was given, not left to the default hour
}

// validateSession checks what AWS's model validation checks for every
// AssumeRole flavour, with its exact messages.
func validateSession(form url.Values) (sessionAsk, *apiError) {
	ask := sessionAsk{roleARN: form.Get("RoleArn"), name: form.Get("RoleSessionName"), duration: time.Hour}
	if len(ask.roleARN) < 20 {
		return ask, validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20", ask.roleARN))
	}
	switch name := ask.name; {
	case len(name) < 2:
		return ask, validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2", name))
	case len(name) > 64:
		return ask, validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64", name))
	case !sessionNamePattern.MatchString(name):
		return ask, validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", name))
	}
	raw := form.Get("DurationSeconds")
	if raw == "" {
		return ask, nil
	}
	secs, err := strconv.Atoi(raw)
	if err != nil {
		return ask, &apiError{http.StatusBadRequest, "MalformedInput", "Invalid value for DurationSeconds"}
	}
	ask.duration, ask.explicit = time.Duration(secs)*time.Second, true
	if ask.duration < minSession {
		return ask, validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", secs))
	}
	if ask.duration > maxSessionLimit {
		return ask, validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", secs))
	}
	return ask, nil
}

// grantSession mints the session asked of role. AWS refuses a DurationSeconds
// beyond the role's maximum, or beyond the hour for a caller that is itself a
// role session (role chaining), and caps a duration left to the default.
func (s *Server) grantSession(c *call, ask sessionAsk, role *roleState, spec RoleSpec, chained bool, now time.Time) (*session, bool) {
	if ask.explicit && ask.duration > spec.MaxSession {
		c.fail(errOverMaxSession)
		return nil, false
	}
	if chained && ask.duration > chainedMax {
		c.fail(validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."))
		return nil, false
	}
	return s.issueSession(role, ask.name, now, min(ask.duration, spec.MaxSession)), true
}

// errOverMaxSession is AWS's answer to a DurationSeconds beyond the role's
// MaxSessionDuration; a duration left to the default is capped instead.
var errOverMaxSession = validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")

// role returns a registered role, a copy of its spec and whether it is
// refused at the moment; ok is false for an unknown role.
func (s *Server) role(arn string) (r *roleState, spec RoleSpec, refused, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok = s.roles[arn]
	if ok {
		spec, refused = r.spec, r.refused
	}
	return r, spec, refused, ok
}

func (s *Server) assumeRole(c *call, p principal, form url.Values, now time.Time) {
	ask, verr := validateSession(form)
	if verr != nil {
		c.fail(verr)
		return
	}
	denied := &apiError{http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", p.arn, ask.roleARN)}
	role, spec, refused, ok := s.role(ask.roleARN)
	// AWS does not reveal whether a role exists: an unknown role, an
	// untrusted caller and a wrong external ID all read the same.
	if !ok || refused || !trusts(spec.Trust, p) {
		c.fail(denied)
		return
	}
	if spec.ExternalID != "" && subtle.ConstantTimeCompare([]byte(form.Get("ExternalId")), []byte(spec.ExternalID)) != 1 {
		c.fail(denied)
		return
	}
	sess, ok := s.grantSession(c, ask, role, spec, p.chained, now)
	if !ok {
		return
	}
	type result struct {
		Credentials      stsCredentials  `xml:"Credentials"`
		AssumedRoleUser  assumedRoleUser `xml:"AssumedRoleUser"`
		PackedPolicySize *int            `xml:"PackedPolicySize,omitempty"`
	}
	s.answerSTS(c, result{Credentials: sess.credentials(), AssumedRoleUser: sess.user()})
}

func (s *Server) assumeRoleWithWebIdentity(c *call, form url.Values, now time.Time) {
	ask, verr := validateSession(form)
	if verr != nil {
		c.fail(verr)
		return
	}
	token := form.Get("WebIdentityToken")
	if len(token) < 4 {
		c.fail(validation("1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4"))
		return
	}
	role, spec, refused, ok := s.role(ask.roleARN)
	denied := &apiError{http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	subject, provider, audience := "standin:"+ask.name, "standin.local", "sts.amazonaws.com"
	switch {
	case !ok || refused:
		c.fail(denied)
		return
	case spec.WebIdentityToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(spec.WebIdentityToken)) == 1:
		// A fixed token: the role trusts exactly it.
	case role.trust != nil:
		claims, arn, aerr := s.verifyIDToken(token, ask.roleARN, now)
		if aerr != nil {
			c.fail(aerr)
			return
		}
		if !role.trust.allowsWebIdentity(arn, claims) {
			c.fail(denied)
			return
		}
		subject, _ = claims["sub"].(string)
		auds, _ := claims.GetAudience()
		provider, audience = arn, strings.Join(auds, ",")
	default:
		c.fail(denied)
		return
	}
	sess, ok := s.grantSession(c, ask, role, spec, false, now)
	if !ok {
		return
	}
	type result struct {
		Credentials                 stsCredentials  `xml:"Credentials"`
		SubjectFromWebIdentityToken string          `xml:"SubjectFromWebIdentityToken"`
		AssumedRoleUser             assumedRoleUser `xml:"AssumedRoleUser"`
		Provider                    string          `xml:"Provider"`
		Audience                    string          `xml:"Audience"`
	}
	s.answerSTS(c, result{
		Credentials:                 sess.credentials(),
		SubjectFromWebIdentityToken: subject,
		AssumedRoleUser:             sess.user(),
		Provider:                    provider,
		Audience:                    audience,
	})
}

func (s *Server) getCallerIdentity(c *call, p principal, _ url.Values, _ time.Time) {
	type result struct {
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
		Arn     string `xml:"Arn"`
	}
	s.answerSTS(c, result{p.userID, p.account, p.arn})
}

// trusts reports whether a role's trust list admits the caller: by its own
// ARN, by the role it is a session of, or by its account's root.
func trusts(trust []string, p principal) bool {
	if len(trust) == 0 {
		return true
	}
	root := "arn:" + partitionOf(p.arn) + ":iam::" + p.account + ":root"
	return slices.Contains(trust, p.arn) || (p.roleARN != "" && slices.Contains(trust, p.roleARN)) || slices.Contains(trust, root)
}

func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) >= 2 && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

// issueSession mints temporary credentials for a role session.
func (s *Server) issueSession(role *roleState, name string, now time.Time, d time.Duration) *session {
	roleName := role.arn[strings.LastIndex(role.arn, "/")+1:]
	account := accountOf(role.arn, s.set.account)
	if short := s.SessionLifetime(); short > 0 && short < d {
		d = short
	}
	sess := &session{
		accessKeyID: "ASIA" + randomID(16),
		secret:      randomSecret(),
		token:       "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(randomBytes(240)),
		arn:         fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", partitionOf(role.arn), account, roleName, name),
		roleARN:     role.arn,
		userID:      role.roleID + ":" + name,
		account:     account,
		expires:     now.Add(d).Truncate(time.Second),
	}
	s.mu.Lock()
	s.sessions[sess.accessKeyID] = sess
	s.issued = append(s.issued, sess.secret, sess.token)
	s.mu.Unlock()
	return sess
}

// SetSessionLifetime makes role sessions minted from now on expire after d
// when that is shorter than asked (0: as asked, as AWS does). AWS never goes
// below 15 minutes; tests of long runs use seconds.
func (s *Server) SetSessionLifetime(d time.Duration) { s.sessionLifetime.set(d) }

// SessionLifetime is the cap SetSessionLifetime set (0: none).
func (s *Server) SessionLifetime() time.Duration { return s.sessionLifetime.get() }

func (ss *session) user() assumedRoleUser {
	return assumedRoleUser{Arn: ss.arn, AssumedRoleID: ss.userID}
}

func (ss *session) credentials() stsCredentials {
	return stsCredentials{
		AccessKeyID:     ss.accessKeyID,
		SecretAccessKey: ss.secret,
		SessionToken:    ss.token,
		Expiration:      ss.expires.UTC().Format(time.RFC3339),
	}
}
