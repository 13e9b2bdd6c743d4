package standin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/golang-jwt/jwt/v5"

	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/cirole"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

const ciRole = "arn:aws:iam::513558712013:role/currents-ci"

// askGitHub is what a job step does: GET the request URL plus the audience,
// with the request token as bearer.
func askGitHub(t *testing.T, reqURL, bearer, audience string) (int, string) {
	t.Helper()
	u := reqURL
	if audience != "" {
		u += "&audience=" + url.QueryEscape(audience)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v struct{ Value string }
	_ = json.Unmarshal(body, &v)
	return resp.StatusCode, v.Value
}

func assumeWeb(s *standin.Server, token string) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()), RetryMaxAttempts: 1})
	return c.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(ciRole), RoleSessionName: aws.String("ci-run"), WebIdentityToken: aws.String(token)})
}

// TestGitHubTrustPolicyAdmitsOnlyItsWorkflow proves, with the real SDK, that
// the trust policy `policy ci-trust` writes admits the repository and branch
// it names and refuses every other one: the stand-in's STS evaluates that very
// document against a JWT it signed as GitHub's issuer.
func TestGitHubTrustPolicyAdmitsOnlyItsWorkflow(t *testing.T) {
	clock := standintest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	w := standintest.New(t, standintest.WithoutUser(), standintest.WithServer(standin.WithClock(clock.Now)))
	s := w.AWS
	cirole.Add(t, s, settings.WebIdentityGitHub, ciRole, standin.RoleSpec{})

	mint := func(j standin.GitHubJob, aud string) string {
		u, tok := s.GitHubJob(j)
		code, jwtStr := askGitHub(t, u, tok, aud)
		if code != http.StatusOK || jwtStr == "" {
			t.Fatalf("token request for %+v: %d", j, code)
		}
		return jwtStr
	}
	good := standin.GitHubJob{Repository: "currentsdev/stack", Ref: "refs/heads/main"}
	tok := mint(good, "sts.amazonaws.com")

	// The claims a trust policy reads, and the RS256 header.
	var claims jwt.MapClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &claims)
	if err != nil || parsed.Method.Alg() != "RS256" {
		t.Fatalf("not an RS256 JWT: %v %v", err, parsed)
	}
	for _, k := range []string{"iss", "aud", "sub", "exp", "iat", "nbf"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing: %v", k, claims)
		}
	}
	if claims["iss"] != standin.GitHubIssuer || claims["aud"] != "sts.amazonaws.com" || claims["sub"] != "repo:currentsdev/stack:ref:refs/heads/main" {
		t.Errorf("claims: %v", claims)
	}

	out, err := assumeWeb(s, tok)
	if err != nil {
		t.Fatalf("the intended workflow is refused: %v", err)
	}
	if aws.ToString(out.SubjectFromWebIdentityToken) != good.Subject() || !strings.HasSuffix(aws.ToString(out.Provider), "oidc-provider/token.actions.githubusercontent.com") {
		t.Errorf("answer: sub %q provider %q", aws.ToString(out.SubjectFromWebIdentityToken), aws.ToString(out.Provider))
	}

	for name, c := range map[string]struct {
		token string
		code  string
	}{
		"another repository":     {mint(standin.GitHubJob{Repository: "currentsdev/other", Ref: "refs/heads/main"}, "sts.amazonaws.com"), "AccessDenied"},
		"another branch":         {mint(standin.GitHubJob{Repository: "currentsdev/stack", Ref: "refs/heads/feature"}, "sts.amazonaws.com"), "AccessDenied"},
		"owner in other case":    {mint(standin.GitHubJob{Repository: "CurrentsDev/stack", Ref: "refs/heads/main"}, "sts.amazonaws.com"), "AccessDenied"},
		"an environment job":     {mint(standin.GitHubJob{Repository: "currentsdev/stack", Environment: "prod"}, "sts.amazonaws.com"), "AccessDenied"},
		"another audience":       {mint(good, "https://github.com/currentsdev"), "InvalidIdentityToken"},
		"a tampered signature":   {tok[:len(tok)-4] + "AAAA", "InvalidIdentityToken"},
		"not a JWT":              {"not-a-jwt-at-all", "InvalidIdentityToken"},
		"an unregistered issuer": {s.SignIDToken("https://issuer.example", "sts.amazonaws.com", good.Subject(), nil), "InvalidIdentityToken"},
		"a CircleCI token":       {s.CircleCIToken(standin.CircleCIJob{Org: org, Project: project, User: user}), "InvalidIdentityToken"},
	} {
		_, err := assumeWeb(s, c.token)
		if apiCode(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}

	clock.Advance(standin.DefaultIDTokenLifetime + time.Second)
	if _, err := assumeWeb(s, tok); apiCode(err) != "ExpiredTokenException" || !strings.Contains(err.Error(), "Token expired") {
		t.Errorf("expired JWT: %v", err)
	}
}

func TestGitHubTokenEndpoint(t *testing.T) {
	s := standintest.New(t, standintest.WithoutUser()).AWS
	u, tok := s.GitHubJob(standin.GitHubJob{Repository: "o/r", Ref: "refs/heads/main"})
	if !strings.Contains(u, "?") {
		t.Errorf("request URL %q has no query: the helper appends &audience=", u)
	}
	if code, _ := askGitHub(t, u, "", "sts.amazonaws.com"); code != http.StatusUnauthorized {
		t.Errorf("no bearer: %d", code)
	}
	if code, _ := askGitHub(t, u, tok+"x", "sts.amazonaws.com"); code != http.StatusUnauthorized {
		t.Errorf("wrong bearer: %d", code)
	}
	before := s.Counts().IDToken
	code, v := askGitHub(t, u, tok, "")
	var claims jwt.MapClaims
	jwt.NewParser().ParseUnverified(v, &claims)
	if code != http.StatusOK || claims["aud"] != "https://github.com/o" {
		t.Errorf("default audience: %d %v", code, claims["aud"])
	}
	if s.Counts().IDToken != before+1 {
		t.Errorf("ID tokens counted: %d", s.Counts().IDToken-before)
	}
}

const (
	org     = cirole.CircleCIOrg
	project = cirole.CircleCIProject
	user    = "11111111-2222-4333-8444-555555555555"
)

func TestCircleCITrustPolicy(t *testing.T) {
	s := standintest.New(t, standintest.WithoutUser()).AWS
	cirole.Add(t, s, settings.WebIdentityCircleCI, ciRole, standin.RoleSpec{})
	if _, err := assumeWeb(s, s.CircleCIToken(standin.CircleCIJob{Org: org, Project: project, User: user})); err != nil {
		t.Fatalf("the project's job is refused: %v", err)
	}
	other := standin.CircleCIJob{Org: org, Project: "99999999-4a5b-4c6d-8e7f-9a0b1c2d3e4f", User: user}
	if _, err := assumeWeb(s, s.CircleCIToken(other)); apiCode(err) != "AccessDenied" {
		t.Errorf("another project: %v", err)
	}
	var env = map[string]string{}
	for _, kv := range s.CircleCIEnv(standin.CircleCIJob{Org: org, Project: project, User: user}) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["CIRCLE_OIDC_TOKEN_V2"] == "" || env["CIRCLECI"] != "true" {
		t.Errorf("env: %v", env)
	}
}

func TestTrustPolicyShapes(t *testing.T) {
	s := standintest.New(t, standintest.WithoutUser()).AWS
	s.AddOIDCProvider(s.Account(), standin.GitHubIssuer, "sts.amazonaws.com")
	u, bearer := s.GitHubJob(standin.GitHubJob{Repository: "o/r", Ref: "refs/tags/v1.2"})
	_, tok := askGitHub(t, u, bearer, "sts.amazonaws.com")
	fed := `"Principal":{"Federated":"arn:aws:iam::513558712013:oidc-provider/token.actions.githubusercontent.com"}`
	for name, c := range map[string]struct {
		doc   string
		admit bool
	}{
		"single statement, list values":   {`{"Version":"2012-10-17","Statement":{"Effect":"Allow",` + fed + `,"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":["repo:o/x:*","repo:o/r:ref:refs/tags/v?.*"]}}}}`, true},
		"deny wins":                       {`{"Statement":[{"Effect":"Allow",` + fed + `,"Action":"sts:*"},{"Effect":"Deny",` + fed + `,"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:o/r:ref:refs/tags/*"}}}]}`, false},
		"unknown operator grants nothing": {`{"Statement":[{"Effect":"Allow",` + fed + `,"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"Bogus":{"token.actions.githubusercontent.com:sub":"*"}}}]}`, false},
		"another provider":                {`{"Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::513558712013:oidc-provider/elsewhere"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, false},
		"wrong action":                    {`{"Statement":[{"Effect":"Allow",` + fed + `,"Action":"sts:AssumeRole"}]}`, false},
		"claim of another issuer":         {`{"Statement":[{"Effect":"Allow",` + fed + `,"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc.circleci.com/org/x:sub":"repo:o/r:ref:refs/tags/v1.2"}}}]}`, false},
		"not-like excludes":               {`{"Statement":[{"Effect":"Allow",` + fed + `,"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringNotLike":{"token.actions.githubusercontent.com:sub":"repo:o/r:*"}}}]}`, false},
	} {
		if err := standin.ValidateTrustPolicy([]byte(c.doc)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.AddRole(ciRole, standin.RoleSpec{TrustPolicy: []byte(c.doc)})
		_, err := assumeWeb(s, tok)
		if (err == nil) != c.admit {
			t.Errorf("%s: err = %v, want admitted=%v", name, err, c.admit)
		}
	}
	if err := standin.ValidateTrustPolicy([]byte(`{"Statement":"x"}`)); err == nil {
		t.Error("a statement that is a string is accepted")
	}
}
