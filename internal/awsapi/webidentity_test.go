package awsapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/cirole"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// ciWorld is a stand-in whose CI role trusts, through the very documents
// `policy ci-trust` writes, GitHub runs of currentsdev/stack on main and
// CircleCI jobs of one project.
func ciWorld(t *testing.T, kind string, extra string) (*standin.Server, config.Target) {
	t.Helper()
	standintest.Isolate(t)
	s := standintest.New(t, standintest.WithoutUser()).AWS
	standintest.SetEnv(t, []string{"AWS_ENDPOINT_URL_STS=" + s.URL(), "AWS_ENDPOINT_URL_ECR=" + s.URL()})
	role := "arn:aws:iam::" + s.Account() + ":role/currents-ci"
	cirole.Add(t, s, kind, role, standin.RoleSpec{MaxSession: 2 * time.Hour})
	cfg, err := config.Parse("/ci/currents.yaml", []byte(fmt.Sprintf(
		"registries:\n  - host: %s.dkr.ecr.us-east-1.amazonaws.com\n    role_arn: %s\n    web_identity: %s\n%s", s.Account(), role, kind, extra)))
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := cfg.Lookup(cfg.Registries[0].Host)
	return s, tg
}

func TestGitHubWebIdentity(t *testing.T) {
	s, tg := ciWorld(t, config.WebIdentityGitHub, "")
	ctx := context.Background()
	job := cirole.Job(s, config.WebIdentityGitHub)
	c := awsapi.New(awsapi.WithGetenv(job), awsapi.WithTimeout(5*time.Second))
	for i := range 3 {
		sess, err := c.Credentials(ctx, tg)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if _, err := c.AuthorizationToken(ctx, tg, sess); err != nil {
			t.Fatal(err)
		}
	}
	// One fresh JWT per session: a job outlives any one token.
	if n := s.Counts(); n.IDToken != 3 || n.AssumeRoleWithWebIdentity != 3 {
		t.Errorf("counts %+v: want 3 ID tokens for 3 sessions", n)
	}

	for name, c := range map[string]struct {
		env  func(string) string
		want []string
	}{
		"wrong repository": {standintest.Getenv(s.GitHubEnv(standin.GitHubJob{Repository: "currentsdev/other", Ref: "refs/heads/main"})),
			[]string{"AccessDenied", "sub=repo:currentsdev/other:ref:refs/heads/main", "iss=https://token.actions.githubusercontent.com", "aud=sts.amazonaws.com",
				"token.actions.githubusercontent.com:sub", "role/currents-ci", "GitHub Actions token", "policy ci-trust --github-repo"}},
		"owner case": {standintest.Getenv(s.GitHubEnv(standin.GitHubJob{Repository: "CurrentsDev/stack", Ref: "refs/heads/main"})),
			[]string{"AccessDenied", "sub=repo:CurrentsDev/stack", "case matters"}},
		"missing permission": {standintest.Getenv([]string{"GITHUB_ACTIONS=true"}),
			[]string{"may not request an OIDC token", "ACTIONS_ID_TOKEN_REQUEST_URL is not set", "permissions: id-token: write"}},
		"not in GitHub": {standintest.Getenv(nil), []string{"not a GitHub Actions job"}},
		"revoked request token": {func(k string) string {
			if k == "ACTIONS_ID_TOKEN_REQUEST_TOKEN" {
				return "ghs_not-the-job-token"
			}
			return job(k)
		}, []string{"answered HTTP 401", "re-run the job"}},
	} {
		_, err := awsapi.New(awsapi.WithGetenv(c.env), awsapi.WithTimeout(5*time.Second)).Credentials(ctx, tg)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nwant %q", name, err, w)
			}
		}
	}

	// An expired JWT, as when this machine's clock is far behind GitHub's and AWS's.
	s.SetIDTokenLifetime(-time.Minute)
	_, err := awsapi.New(awsapi.WithGetenv(job)).Credentials(ctx, tg)
	if err == nil || !strings.Contains(err.Error(), "ExpiredTokenException") || !strings.Contains(err.Error(), "clock is off") || !strings.Contains(err.Error(), "sub=repo:currentsdev/stack") {
		t.Errorf("expired JWT: %v", err)
	}
	s.SetIDTokenLifetime(standin.DefaultIDTokenLifetime)

	// Another audience: the provider does not list it.
	s2, tg2 := ciWorld(t, config.WebIdentityGitHub, "    web_identity_audience: https://github.com/currentsdev\n")
	job2 := cirole.Job(s2, config.WebIdentityGitHub)
	_, err = awsapi.New(awsapi.WithGetenv(job2)).Credentials(ctx, tg2)
	if err == nil || !strings.Contains(err.Error(), "aud=https://github.com/currentsdev") || !strings.Contains(err.Error(), "does not list the token's audience") {
		t.Errorf("audience: %v", err)
	}
}

func TestCircleCIWebIdentity(t *testing.T) {
	const ciOrg = cirole.CircleCIOrg
	s, tg := ciWorld(t, config.WebIdentityCircleCI, "")
	ctx := context.Background()
	good := s.CircleCIEnv(standin.CircleCIJob{Org: ciOrg, Project: cirole.CircleCIProject, User: "u"})
	if _, err := awsapi.New(awsapi.WithGetenv(standintest.Getenv(good))).Credentials(ctx, tg); err != nil {
		t.Fatalf("the project's job: %v", err)
	}
	// Only V1 set: the fallback.
	v1 := standintest.Getenv([]string{"CIRCLECI=true", strings.Replace(good[2], "CIRCLE_OIDC_TOKEN=", "CIRCLE_OIDC_TOKEN=", 1)})
	if _, err := awsapi.New(awsapi.WithGetenv(v1)).Credentials(ctx, tg); err != nil {
		t.Errorf("CIRCLE_OIDC_TOKEN alone: %v", err)
	}
	other := s.CircleCIEnv(standin.CircleCIJob{Org: ciOrg, Project: "99999999-4a5b-4c6d-8e7f-9a0b1c2d3e4f", User: "u"})
	_, err := awsapi.New(awsapi.WithGetenv(standintest.Getenv(other))).Credentials(ctx, tg)
	if err == nil || !strings.Contains(err.Error(), "oidc.circleci.com/org/"+ciOrg+":sub") || !strings.Contains(err.Error(), "sub=org/"+ciOrg+"/project/99999999") {
		t.Errorf("other project: %v", err)
	}
	_, err = awsapi.New(awsapi.WithGetenv(standintest.Getenv([]string{"CIRCLECI=true"}))).Credentials(ctx, tg)
	if err == nil || !strings.Contains(err.Error(), "only in jobs that use a context") {
		t.Errorf("no context: %v", err)
	}
	// An expired token (the job ran past its hour).
	s.SetIDTokenLifetime(time.Second)
	old := s.CircleCIEnv(standin.CircleCIJob{Org: ciOrg, Project: cirole.CircleCIProject, User: "u"})
	s.SetSkew(2 * time.Hour)
	_, err = awsapi.New(awsapi.WithGetenv(standintest.Getenv(old))).Credentials(ctx, tg)
	if err == nil || !strings.Contains(err.Error(), "ExpiredTokenException") || !strings.Contains(err.Error(), "re-run the job") {
		t.Errorf("expired: %v", err)
	}
}

func TestKubernetesNeedsAKubeletToken(t *testing.T) {
	cfg, _ := config.Parse("/n/currents.yaml", []byte("registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    role_arn: arn:aws:iam::513558712013:role/r\n    web_identity: kubernetes\n"))
	tg, _ := cfg.Lookup(cfg.Registries[0].Host)
	_, err := awsapi.New().Credentials(context.Background(), tg)
	if err == nil || !strings.Contains(err.Error(), "tokenAttributes") {
		t.Errorf("kubernetes without a token: %v", err)
	}
}

// TestAnOIDCTokenFailureIsTheSourceCredentialsStep: a CI job that cannot get
// its OIDC token (no id-token: write, no context, not a CI job at all) failed
// at the source of its credentials, as doctor's source-credentials check
// says; the monitoring metric labelled it step="repository", an ECR lookup
// nothing had attempted.
func TestAnOIDCTokenFailureIsTheSourceCredentialsStep(t *testing.T) {
	_, tg := ciWorld(t, config.WebIdentityGitHub, "")
	for name, env := range map[string][]string{
		"missing permission": {"GITHUB_ACTIONS=true"},
		"not in GitHub":      nil,
	} {
		_, err := awsapi.New(awsapi.WithGetenv(standintest.Getenv(env)), awsapi.WithTimeout(5*time.Second)).Credentials(context.Background(), tg)
		var stage interface{ Stage() string }
		if !errors.As(err, &stage) {
			t.Fatalf("%s: %v: no stage", name, err)
		}
		if got := stage.Stage(); got != "source-credentials" {
			t.Errorf("%s: %v: stage %q, want source-credentials", name, err, got)
		}
	}
}
