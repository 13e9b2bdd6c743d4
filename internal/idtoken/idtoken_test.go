package idtoken

import (
	"context"
	"encoding/base64"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/settings"
)

func jwtOf(payload string) secret.Value {
	enc := base64.RawURLEncoding.EncodeToString
	return secret.New(enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + ".c2ln")
}

func TestParse(t *testing.T) {
	c, err := Parse(jwtOf(`{"iss":"https://token.actions.githubusercontent.com","aud":"sts.amazonaws.com","sub":"repo:o/r:ref:refs/heads/main","exp":1767225600,"iat":1767225000}`))
	if err != nil || c.Subject != "repo:o/r:ref:refs/heads/main" || c.Audience[0] != "sts.amazonaws.com" || !c.Expires.Equal(time.Unix(1767225600, 0)) {
		t.Fatalf("%+v %v", c, err)
	}
	if c.ConditionKey("sub") != "token.actions.githubusercontent.com:sub" {
		t.Errorf("condition key %s", c.ConditionKey("sub"))
	}
	if s := c.String(); !strings.Contains(s, "iss=https://token.actions.githubusercontent.com aud=sts.amazonaws.com sub=repo:o/r:ref:refs/heads/main exp=2026-01-01T00:00:00Z") {
		t.Errorf("String: %s", s)
	}
	k, err := Parse(jwtOf(`{"iss":"https://kubernetes.default.svc","aud":["a","b"],"sub":"system:serviceaccount:ns:sa","kubernetes.io":{"namespace":"ns","serviceaccount":{"name":"sa","uid":"u-1"}}}`))
	if err != nil || k.ServiceAccount != "ns/sa/u-1" || len(k.Audience) != 2 || !k.Expires.IsZero() {
		t.Errorf("kubernetes: %+v %v", k, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c"} {
		if _, err := Parse(secret.New(bad)); err != ErrNotJWT {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(jwtOf(`{"iss":"i","aud":["a"],"sub":"s","exp":1e9}`).Reveal())
	f.Add("x.eyJ9.y")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(secret.New(s))
		if err != nil {
			return
		}
		_ = c.String()
		if strings.Count(s, ".") != 2 {
			t.Fatalf("parsed %q, which has not three parts", s)
		}
	})
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestGitHubRequest(t *testing.T) {
	var gotURL, gotBearer string
	g := GitHub{Audience: "sts.amazonaws.com", Getenv: env(map[string]string{EnvGitHubActions: "true", EnvRequestURL: "https://gh/idtoken?api-version=2.0", EnvRequestToken: "req-tok"}),
		Get: func(_ context.Context, url string, bearer secret.Value) (int, []byte, error) {
			gotURL, gotBearer = url, bearer.Reveal()
			return 200, []byte(`{"value":"a.b.c"}`), nil
		}}
	tok, err := g.Token(context.Background())
	if err != nil || tok.Reveal() != "a.b.c" || gotURL != "https://gh/idtoken?api-version=2.0&audience=sts.amazonaws.com" || gotBearer != "req-tok" {
		t.Fatalf("%v %q %q", err, gotURL, gotBearer)
	}
	g.Audience = "https://github.com/o&x"
	g.Token(context.Background())
	if !strings.HasSuffix(gotURL, "audience=https%3A%2F%2Fgithub.com%2Fo%26x") {
		t.Errorf("audience not escaped: %s", gotURL)
	}
	g.Get = func(context.Context, string, secret.Value) (int, []byte, error) { return 200, []byte(`{}`), nil }
	if _, err := g.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "without a token") {
		t.Errorf("empty answer: %v", err)
	}
	if err := Available(config.WebIdentityGitHub, env(map[string]string{EnvGitHubActions: "true", EnvRequestToken: "x"})); err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("missing permission: %v", err)
	}
	if err := Available(config.WebIdentityGitHub, g.Getenv); err != nil {
		t.Errorf("available: %v", err)
	}
	if Detect(g.Getenv) != config.WebIdentityGitHub || Detect(env(map[string]string{EnvCircleCI: "true"})) != config.WebIdentityCircleCI || Detect(env(nil)) != "" {
		t.Error("Detect")
	}
}

func TestCircleCISource(t *testing.T) {
	tok, err := CircleCI{Getenv: env(map[string]string{EnvCircleV1: "v1", EnvCircleV2: "v2"})}.Token(context.Background())
	if err != nil || tok.Reveal() != "v2" {
		t.Errorf("V2 first: %v %v", tok.Reveal(), err)
	}
	tok, _ = CircleCI{Getenv: env(map[string]string{EnvCircleV1: "v1"})}.Token(context.Background())
	if tok.Reveal() != "v1" {
		t.Error("V1 fallback")
	}
	if _, err := (CircleCI{Getenv: env(map[string]string{EnvCircleCI: "true"})}).Token(context.Background()); err == nil || !strings.Contains(err.Error(), "context") {
		t.Errorf("no context: %v", err)
	}
}

// Harden, defect 3: a CI job's identity, which the cache keys its sessions on: the same for every get of one
// job, different for another repository, branch, run or job, and for one without the job's secret.
func TestJobTellsJobsApart(t *testing.T) {
	job := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "o/r", "GITHUB_REF": "refs/heads/main",
		"GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "push", EnvRequestToken: "ghs_secret"}
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	base := Job(settings.WebIdentityGitHub, get(job))
	if base == "" || base != Job(settings.WebIdentityGitHub, get(job)) {
		t.Fatalf("one job: %q", base)
	}
	for _, k := range []string{"GITHUB_REPOSITORY", "GITHUB_REF", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB", EnvRequestToken} {
		other := maps.Clone(job)
		other[k] += "x"
		if Job(settings.WebIdentityGitHub, get(other)) == base {
			t.Errorf("%s changed, the job is the same", k)
		}
		delete(other, k)
		if Job(settings.WebIdentityGitHub, get(other)) == base {
			t.Errorf("%s unset, the job is the same", k)
		}
	}
	circle := map[string]string{"CIRCLE_WORKFLOW_JOB_ID": "j1", EnvCircleV2: "tok"}
	if a, b := Job(settings.WebIdentityCircleCI, get(circle)), Job(settings.WebIdentityCircleCI, func(k string) string {
		if k == EnvCircleV2 {
			return "tok2"
		}
		return circle[k]
	}); a == "" || a == b {
		t.Errorf("CircleCI jobs with other tokens: %q %q", a, b)
	}
	if Job(settings.WebIdentityKubernetes, get(job)) != "" || Job("", get(job)) != "" {
		t.Error("a job identity for an entry no CI job's token serves")
	}
	if strings.Contains(base, "ghs_secret") {
		t.Error("the job's secret shows")
	}
}
