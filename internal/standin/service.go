package standin

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// protocol is how a service frames its answers.
type protocol int

const (
	awsQuery protocol = iota // STS
	awsJSON                  // ECR, ECR Public
	sqsJSON                  // SQS: awsJson1_0 with awsQuery-compatible error codes
)

// apiError is an AWS error as the protocol carries it.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

// call is one request being answered.
type call struct {
	w      http.ResponseWriter
	proto  protocol
	reqID  string
	action string
	ctx    context.Context // the request's, for long polls
	// invocation is the SDK's amz-sdk-invocation-id: the same on every
	// attempt of one call, so a retry is not counted as a second call.
	invocation string
}

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

func (c *call) fail(e *apiError) {
	switch c.proto {
	case awsQuery:
		type errBody struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		type errorResponse struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			Xmlns     string   `xml:"xmlns,attr"`
			Error     errBody  `xml:"Error"`
			RequestID string   `xml:"RequestId"`
		}
		typ := "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
		c.writeXML(e.status, errorResponse{Xmlns: stsNamespace, Error: errBody{typ, e.code, e.msg}, RequestID: c.reqID})
	case awsJSON:
		c.w.Header().Set("X-Amzn-Errortype", e.code)
		c.writeJSON(e.status, map[string]string{"__type": e.code, "message": e.msg})
	case sqsJSON:
		c.failSQS(e)
	}
}

func (c *call) writeXML(status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(c.w, err.Error(), http.StatusInternalServerError)
		return
	}
	c.write(status, "text/xml", append([]byte(xml.Header), b...))
}

// answerJSON counts the call as answered and writes its result.
func (s *Server) answerJSON(c *call, v any) {
	s.count(c)
	c.writeJSON(http.StatusOK, v)
}

func (c *call) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(c.w, err.Error(), http.StatusInternalServerError)
		return
	}
	ct := "application/x-amz-json-1.1"
	if c.proto == sqsJSON {
		ct = "application/x-amz-json-1.0"
	}
	c.write(status, ct, b)
}

// write sends a whole answer with its Content-Length, as AWS does. Without it
// net/http chunks any answer over 2 KB, such as an ECR token (about 4 KB here),
// a framing real STS and ECR do not use.
func (c *call) write(status int, contentType string, body []byte) {
	c.w.Header().Set("Content-Type", contentType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// authErrorFor names an authentication failure as each protocol does: STS
// answers 403 with short codes, the JSON services 400 with ...Exception.
func authErrorFor(p protocol, a *authError) *apiError {
	type pair struct{ query, json string }
	names := map[authFailure]pair{
		authMissing:      {"MissingAuthenticationToken", "MissingAuthenticationTokenException"},
		authIncomplete:   {"IncompleteSignature", "IncompleteSignatureException"},
		authUnknownKey:   {"InvalidClientTokenId", "UnrecognizedClientException"},
		authExpired:      {"ExpiredToken", "ExpiredTokenException"},
		authBadSignature: {"SignatureDoesNotMatch", "InvalidSignatureException"},
	}
	msg := a.msg
	if a.kind == authMissing {
		msg = map[protocol]string{awsQuery: "Request is missing Authentication Token", awsJSON: "Missing Authentication Token"}[p]
	}
	status := http.StatusForbidden
	if a.kind == authIncomplete {
		status = http.StatusBadRequest
	}
	switch p {
	case awsQuery:
		return &apiError{status: status, code: names[a.kind].query, msg: msg}
	case sqsJSON:
		// SQS keeps the query protocol's codes and statuses in its JSON
		// answers (x-amzn-query-error), with the coral shape in __type.
		return sqsError(status, names[a.kind].json, msg)
	}
	return &apiError{status: http.StatusBadRequest, code: names[a.kind].json, msg: msg}
}

func throttled(p protocol) *apiError {
	switch p {
	case awsQuery:
		return &apiError{status: http.StatusBadRequest, code: "Throttling", msg: "Rate exceeded"}
	case sqsJSON:
		return sqsError(http.StatusForbidden, "RequestThrottled", "Rate exceeded")
	}
	return &apiError{http.StatusBadRequest, "ThrottlingException", "Rate exceeded"}
}

// ServeHTTP answers STS (awsquery: form-encoded Action) and ECR / ECR Public
// (awsJson1_1: X-Amz-Target), plus the /_standin/ control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.Now()
	if latency := s.latency.get(); latency > 0 {
		time.Sleep(latency)
	}
	reqID := newRequestID()
	// AWS stamps every answer with its clock; SDKs and doctor read it for skew.
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	w.Header().Set("X-Amzn-Requestid", reqID)

	if strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.serveControl(w, r)
		return
	}
	if r.URL.Path == idTokenPath {
		s.serveGitHubToken(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveJSON(&call{w: w, proto: awsJSON, reqID: reqID, invocation: r.Header.Get(invocationHeader)}, r, body, target, now)
		return
	}
	s.serveQuery(&call{w: w, proto: awsQuery, reqID: reqID, invocation: r.Header.Get(invocationHeader)}, r, body, now)
}

func (s *Server) serveQuery(c *call, r *http.Request, body []byte, now time.Time) {
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		bodyForm, err := url.ParseQuery(string(body))
		if err != nil {
			c.fail(&apiError{http.StatusBadRequest, "MalformedQueryString", "The query string is malformed"})
			return
		}
		for k, v := range bodyForm {
			form[k] = v
		}
	}
	c.action = form.Get("Action")
	handlers := map[string]func(*call, principal, url.Values, time.Time){
		"AssumeRole":                s.assumeRole,
		"AssumeRoleWithWebIdentity": nil, // unsigned: handled below
		"GetCallerIdentity":         s.getCallerIdentity,
	}
	h, known := handlers[c.action]
	if !known || form.Get("Version") != "2011-06-15" {
		c.fail(&apiError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", c.action, form.Get("Version"))})
		return
	}
	if c.action == "AssumeRoleWithWebIdentity" {
		// The SDK sends this one unsigned: the web identity token is the proof.
		s.attempt(c)
		if s.takeThrottle(c.action) {
			c.fail(throttled(c.proto))
			return
		}
		s.assumeRoleWithWebIdentity(c, form, now)
		return
	}
	s.serveSigned(c, r, body, "sts", now, func(p principal) { h(c, p, form, now) })
}

const (
	ecrTargetPrefix       = "AmazonEC2ContainerRegistry_V20150921."
	ecrPublicTargetPrefix = "SpencerFrontendService."
)

func (s *Server) serveJSON(c *call, r *http.Request, body []byte, target string, now time.Time) {
	var service, op string
	switch {
	case strings.HasPrefix(target, ecrTargetPrefix):
		service, op = "ecr", strings.TrimPrefix(target, ecrTargetPrefix)
		c.action = op
	case strings.HasPrefix(target, ecrPublicTargetPrefix):
		service, op = "ecr-public", strings.TrimPrefix(target, ecrPublicTargetPrefix)
		c.action = "Public" + op
	case strings.HasPrefix(target, sqsTargetPrefix):
		c.proto, c.action = sqsJSON, strings.TrimPrefix(target, sqsTargetPrefix)
		s.serveSigned(c, r, body, "sqs", now, func(p principal) { s.serveSQS(c, p, r, body, now) })
		return
	default:
		c.fail(&apiError{http.StatusBadRequest, "UnknownOperationException", ""})
		return
	}
	type handler func(*call, principal, string, []byte, time.Time)
	var h handler
	switch c.action {
	case "GetAuthorizationToken":
		h = s.getAuthorizationToken
	case "CreateRepository":
		h = s.createRepository
	case "DescribeRepositories":
		h = s.describeRepositories
	case "PublicGetAuthorizationToken":
		h = s.getPublicAuthorizationToken
	default:
		c.fail(&apiError{http.StatusBadRequest, "UnknownOperationException", ""})
		return
	}
	s.serveSigned(c, r, body, service, now, func(p principal) {
		if len(body) == 0 {
			body = []byte("{}")
		}
		h(c, p, regionOf(r, s.set.region), body, now)
	})
}

// serveSigned counts the attempt, authenticates it for service, applies a
// pending throttle, then runs serve.
func (s *Server) serveSigned(c *call, r *http.Request, body []byte, service string, now time.Time, serve func(principal)) {
	s.attempt(c)
	p, aerr := s.authenticate(r, body, service, now)
	if aerr != nil {
		c.fail(authErrorFor(c.proto, aerr))
		return
	}
	if s.takeThrottle(c.action) {
		c.fail(throttled(c.proto))
		return
	}
	serve(p)
}

// denied reports whether IAM refuses action to p (by its own ARN or its role).
func (s *Server) denied(p principal, action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.denials[p.arn][action] || (p.roleARN != "" && s.denials[p.roleARN][action])
}

func accessDeniedJSON(p principal, action, resource string) *apiError {
	return &apiError{http.StatusBadRequest, "AccessDeniedException", fmt.Sprintf(
		"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		p.arn, action, resource, action)}
}

func newRequestID() string {
	b := randomBytes(16)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
