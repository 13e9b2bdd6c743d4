package standin

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The CI identity providers the stand-in plays: it is their token issuer
// (signing RS256 JWTs as GitHub Actions and CircleCI do) and, in its STS,
// the IAM OIDC provider that verifies them.
//
// golang-jwt/jwt/v5 signs and verifies: a small, dependency-free, widely
// used library whose parser validates exp, nbf, iat, iss and aud against an
// injectable clock, which is what AssumeRoleWithWebIdentity checks.

// GitHubIssuer is the iss of GitHub Actions' ID tokens. Trust policies name
// it by its host: token.actions.githubusercontent.com:sub.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// CircleCIIssuer is the iss of a CircleCI organization's ID tokens.
func CircleCIIssuer(org string) string {
	return "https://oidc.circleci.com/org/" + strings.ToLower(org)
}

// DefaultIDTokenLifetime is how long the ID tokens the stand-in signs live:
// GitHub's are valid for minutes, CircleCI's for an hour; tests that care set
// their own with SetIDTokenLifetime.
const DefaultIDTokenLifetime = 10 * time.Minute

// idTokenPath serves GitHub's token request: the runner's
// ACTIONS_ID_TOKEN_REQUEST_URL points here.
const idTokenPath = "/_github/idtoken"

// GitHubJob is a workflow run of a repository, as its ID token describes it.
type GitHubJob struct {
	Repository  string // OWNER/REPO
	Ref         string // refs/heads/main; ignored in the subject when Environment is set
	Environment string
}

// Subject is the job's sub claim, as GitHub writes it.
func (j GitHubJob) Subject() string {
	if j.Environment != "" {
		return "repo:" + j.Repository + ":environment:" + j.Environment
	}
	return "repo:" + j.Repository + ":ref:" + j.Ref
}

// CircleCIJob is a job of a CircleCI project run with a context.
type CircleCIJob struct {
	Org, Project, User string // UUIDs
}

// Subject is the job's sub claim, as CircleCI writes it.
func (j CircleCIJob) Subject() string {
	return "org/" + strings.ToLower(j.Org) + "/project/" + strings.ToLower(j.Project) + "/user/" + strings.ToLower(j.User)
}

type oidcState struct {
	keys      map[string]*rsa.PrivateKey // by issuer URL
	jobs      map[string]GitHubJob       // by request token
	providers map[string][]string        // provider ARN -> client IDs
	lifetime  time.Duration
}

// issuerKey returns (making on first use) the key issuer signs with. Callers hold s.mu.
func (s *Server) issuerKeyLocked(issuer string) *rsa.PrivateKey {
	if k, ok := s.oidc.keys[issuer]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	s.oidc.keys[issuer] = k
	return k
}

// SetIDTokenLifetime changes the lifetime of ID tokens signed from now on.
func (s *Server) SetIDTokenLifetime(d time.Duration) {
	s.mu.Lock()
	s.oidc.lifetime = d
	s.mu.Unlock()
}

// AddOIDCProvider registers issuer as an IAM OIDC identity provider of
// account, accepting tokens whose aud is one of clientIDs (create-open-id-
// connect-provider --url ISSUER --client-id-list ...). It returns the
// provider's ARN, the Federated principal a trust policy names.
func (s *Server) AddOIDCProvider(account, issuer string, clientIDs ...string) string {
	arn := providerARN("aws", account, issuer)
	s.mu.Lock()
	s.oidc.providers[arn] = append([]string(nil), clientIDs...)
	s.mu.Unlock()
	return arn
}

func providerARN(part, account, issuer string) string {
	return fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", part, account, strings.TrimPrefix(issuer, "https://"))
}

// GitHubJob starts a job as the runner sees it and returns the two variables
// a job with `permissions: id-token: write` has: the URL to ask for an ID
// token (with a query already, as GitHub's has) and the bearer token to ask
// with.
func (s *Server) GitHubJob(j GitHubJob) (requestURL, requestToken string) {
	requestToken = "ghs_" + randomSecret()
	s.mu.Lock()
	s.oidc.jobs[requestToken] = j
	s.issued = append(s.issued, requestToken)
	s.mu.Unlock()
	return s.URL() + idTokenPath + "?api-version=2.0", requestToken
}

// GitHubEnv is the environment of a GitHub Actions job step with id-token: write.
func (s *Server) GitHubEnv(j GitHubJob) []string {
	u, tok := s.GitHubJob(j)
	return []string{"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=" + j.Repository, "GITHUB_REF=" + j.Ref,
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + u, "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + tok}
}

// CircleCIToken signs the ID token of a CircleCI job with audience org, as
// CIRCLE_OIDC_TOKEN_V2 holds it.
func (s *Server) CircleCIToken(j CircleCIJob) string {
	org := strings.ToLower(j.Org)
	return s.SignIDToken(CircleCIIssuer(org), org, j.Subject(), map[string]any{
		"oidc.circleci.com/project-id": strings.ToLower(j.Project),
	})
}

// CircleCIEnv is the environment of a CircleCI job that uses a context.
func (s *Server) CircleCIEnv(j CircleCIJob) []string {
	tok := s.CircleCIToken(j)
	return []string{"CIRCLECI=true", "CI=true", "CIRCLE_OIDC_TOKEN=" + tok, "CIRCLE_OIDC_TOKEN_V2=" + tok}
}

// SignIDToken signs an RS256 ID token of issuer for audience and subject,
// valid from now for the ID-token lifetime, with iss, aud, sub, exp, iat,
// nbf and jti plus extra claims. It is recorded among the issued secrets and
// counted as an IDToken.
func (s *Server) SignIDToken(issuer, audience, subject string, extra map[string]any) string {
	now := s.Now()
	s.mu.Lock()
	key := s.issuerKeyLocked(issuer)
	life := s.oidc.lifetime
	s.mu.Unlock()
	claims := jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": subject, "jti": randomID(20),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life).Unix(),
	}
	for k, v := range extra {
		claims[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid(issuer)
	signed, err := tok.SignedString(key)
	if err != nil {
		panic(err) // an RSA key of our own making always signs
	}
	s.recordSecrets(signed)
	s.count(&call{action: "IDToken"})
	return signed
}

func kid(issuer string) string { return fmt.Sprintf("%x", []byte(issuer))[:16] }

// serveGitHubToken answers GitHub's ID-token request: GET with the job's
// bearer token, the audience in the query, {"value": JWT} back.
func (s *Server) serveGitHubToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	s.attempt(&call{action: "IDToken"})
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var job GitHubJob
	found := false
	s.mu.Lock()
	for tok, j := range s.oidc.jobs {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(bearer)) == 1 {
			job, found = j, true
		}
	}
	s.mu.Unlock()
	switch {
	case r.Method != http.MethodGet:
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "use GET"})
		return
	case !ok || !found:
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "Bad credentials"})
		return
	case s.takeThrottle("IDToken"):
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "rate limited"})
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		// GitHub's default audience is the repository owner's URL.
		owner, _, _ := strings.Cut(job.Repository, "/")
		aud = "https://github.com/" + owner
	}
	owner, _, _ := strings.Cut(job.Repository, "/")
	tok := s.SignIDToken(GitHubIssuer, aud, job.Subject(), map[string]any{
		"repository": job.Repository, "repository_owner": owner, "ref": job.Ref, "environment": job.Environment,
		"event_name": "push", "runner_environment": "github-hosted",
	})
	_ = json.NewEncoder(w).Encode(map[string]string{"value": tok})
}

// verifyIDToken checks a web identity token as STS does: a registered
// provider for its issuer in the role's account, its signature, its
// validity window by the server's clock, and an audience the provider
// lists. It returns the verified claims or the error STS answers with.
func (s *Server) verifyIDToken(token, roleARN string, now time.Time) (jwt.MapClaims, string, *apiError) {
	invalid := func(msg string) *apiError { return &apiError{http.StatusBadRequest, "InvalidIdentityToken", msg} }
	var unverified jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &unverified); err != nil {
		return nil, "", invalid("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
	}
	iss, _ := unverified["iss"].(string)
	arn := providerARN(partitionOf(roleARN), accountOf(roleARN, s.set.account), iss)
	s.mu.Lock()
	clientIDs, registered := s.oidc.providers[arn]
	key := s.oidc.keys[iss]
	s.mu.Unlock()
	if !registered || key == nil {
		return nil, "", invalid("No OpenIDConnect provider found in your account for " + iss)
	}
	var claims jwt.MapClaims
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithIssuer(iss)).
		ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil })
	switch {
	case err == nil:
	case strings.Contains(err.Error(), jwt.ErrTokenExpired.Error()):
		exp, _ := unverified.GetExpirationTime()
		return nil, "", &apiError{http.StatusBadRequest, "ExpiredTokenException", fmt.Sprintf(
			"Token expired: current date/time %d must be before the expiration date/time %d", now.Unix(), exp.Unix())}
	default:
		return nil, "", invalid("The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.")
	}
	auds, _ := claims.GetAudience()
	for _, a := range auds {
		for _, c := range clientIDs {
			if a == c {
				return claims, arn, nil
			}
		}
	}
	return nil, "", invalid("Incorrect token audience")
}

// IDTokenRequest is the body of POST /_standin/idtoken: sign an ID token
// of Issuer (a Kubernetes cluster's service-account issuer, say) as
// SignIDToken does. The answer is {"value": JWT}, as GitHub's endpoint's.
type IDTokenRequest struct {
	Issuer   string         `json:"issuer"`
	Audience string         `json:"audience"`
	Subject  string         `json:"subject"`
	Claims   map[string]any `json:"claims,omitempty"`
}

func (s *Server) serveSignIDToken(w http.ResponseWriter, r *http.Request) {
	var req IDTokenRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || !strings.HasPrefix(req.Issuer, "https://") || req.Audience == "" || req.Subject == "" {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "want {issuer: https://..., audience, subject, claims}"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"value": s.SignIDToken(req.Issuer, req.Audience, req.Subject, req.Claims)})
}
