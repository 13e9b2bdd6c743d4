package refresh_test

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/protocol"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/cirole"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/tokencache"
)

// TestSixHourCIJob simulates a 6-hour CI job on an injected clock shared by
// the helper and the stand-in: 15-minute role sessions, 20-minute ECR tokens,
// a push every 2 minutes. Every push must get a token the registry accepts,
// and every session must cost exactly one OIDC token request: the helper asks
// for a fresh JWT whenever, and only when, it needs a new session.
func TestSixHourCIJob(t *testing.T) {
	for _, kind := range []string{config.WebIdentityGitHub, config.WebIdentityCircleCI} {
		t.Run(kind, func(t *testing.T) { sixHours(t, kind) })
	}
}

func sixHours(t *testing.T, kind string) {
	standintest.Isolate(t)
	clock := standintest.NewClock(time.Now().Truncate(time.Second))
	w := standintest.New(t, standintest.WithoutUser(), standintest.WithRegistry(),
		// The SDK signs with the machine's clock, which this simulation does not move.
		standintest.WithServer(standin.WithClock(clock.Now), standin.WithSigningClock(time.Now), standin.WithTokenLifetime(20*time.Minute)))
	s := w.AWS
	standintest.SetEnv(t, []string{"AWS_ENDPOINT_URL_STS=" + s.URL(), "AWS_ENDPOINT_URL_ECR=" + s.URL()})
	role := "arn:aws:iam::" + s.Account() + ":role/currents-ci"
	cirole.Add(t, s, kind, role, standin.RoleSpec{})
	if kind == config.WebIdentityCircleCI {
		// CircleCI's token is set once for the job and lives an hour; a
		// 6-hour job is the job's own business (it must be split), so this
		// one gets a 7-hour token and shows the helper reuses it per session.
		s.SetIDTokenLifetime(7 * time.Hour)
	}
	job := cirole.Job(s, kind)
	host := w.Registry.Host()
	cfg, err := config.Parse("/ci/currents.yaml", []byte(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    web_identity: %s\n    duration: 15m\n",
		host, s.Account(), s.Region(), role, kind)))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := tokencache.Open(tokencache.WithDir(filepath.Join(t.TempDir(), "cache")), tokencache.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	client := awsapi.New(awsapi.WithClock(clock), awsapi.WithGetenv(job), awsapi.WithTimeout(10*time.Second))
	h := protocol.New(cfg, cache, &refresh.Fetcher{Cache: cache, AWS: client, Timeout: 10 * time.Second},
		protocol.WithGetenv(job), protocol.WithErrorOutput(io.Discard))
	s.Reset()

	start := clock.Now()
	pushes, failures := 0, 0
	for clock.Now().Before(start.Add(6 * time.Hour)) {
		user, pw, err := h.Get(host)
		if err == nil {
			// What the registry front checks on every request of a push.
			_, err = s.Verify(user, pw)
		}
		pushes++
		if err != nil {
			failures++
			t.Errorf("%s: push failed: %v", clock.Now().Sub(start), err)
		}
		clock.Advance(2 * time.Minute)
	}
	n := s.Counts()
	t.Logf("%s: %d pushes over 6h, %d failures; %d role sessions, %d OIDC tokens signed, %d ECR tokens (%d attempts)", kind, pushes, failures,
		n.AssumeRoleWithWebIdentity, n.IDToken, n.GetAuthorizationToken, s.Attempts().GetAuthorizationToken)
	if failures != 0 {
		t.Errorf("%d of %d pushes failed", failures, pushes)
	}
	// The 20-minute token is renewed every 15 to 16 minutes, and each time
	// the 15-minute session it was fetched with is past its own renewal
	// point: one session per token, 22 to 24 of each in 6 hours.
	if n.AssumeRoleWithWebIdentity < 22 || n.AssumeRoleWithWebIdentity > 24 || n.AssumeRoleWithWebIdentity != n.GetAuthorizationToken {
		t.Errorf("%d role sessions and %d ECR tokens in 6 hours of 15-minute sessions and 20-minute tokens", n.AssumeRoleWithWebIdentity, n.GetAuthorizationToken)
	}
	if a := s.Attempts(); a.AssumeRoleWithWebIdentity != n.AssumeRoleWithWebIdentity || a.GetAuthorizationToken != n.GetAuthorizationToken {
		t.Errorf("%d AssumeRoleWithWebIdentity attempts for %d sessions, %d GetAuthorizationToken attempts for %d tokens: want no retries",
			a.AssumeRoleWithWebIdentity, n.AssumeRoleWithWebIdentity, a.GetAuthorizationToken, n.GetAuthorizationToken)
	}
	switch kind {
	case config.WebIdentityGitHub:
		if a := s.Attempts(); n.IDToken != n.AssumeRoleWithWebIdentity || a.IDToken != n.IDToken {
			t.Errorf("%d JWT requests (%d attempted) for %d sessions: want exactly one per session", n.IDToken, a.IDToken, n.AssumeRoleWithWebIdentity)
		}
	case config.WebIdentityCircleCI:
		if n.IDToken != 0 {
			t.Errorf("%d CircleCI tokens signed after the job started", n.IDToken)
		}
	}
}

// Harden, defect 3: on a persistent runner the cache outlives the job, and a session was cached without the
// job's identity: a later job of another repository, even a fork's pull request without id-token: write,
// got the earlier job's session and ECR push token through get. Sessions are shared within a job only.
func TestCIJobsDoNotShareCachedSessions(t *testing.T) {
	for _, kind := range []string{config.WebIdentityGitHub, config.WebIdentityCircleCI} {
		t.Run(kind, func(t *testing.T) { jobsApart(t, kind) })
	}
}

func jobsApart(t *testing.T, kind string) {
	standintest.Isolate(t)
	w := standintest.New(t, standintest.WithoutUser(), standintest.WithRegistry())
	s := w.AWS
	standintest.SetEnv(t, []string{"AWS_ENDPOINT_URL_STS=" + s.URL(), "AWS_ENDPOINT_URL_ECR=" + s.URL()})
	role := "arn:aws:iam::" + s.Account() + ":role/currents-ci"
	cirole.Add(t, s, kind, role, standin.RoleSpec{})
	host := w.Registry.Host()
	cfg, err := config.Parse("/ci/currents.yaml", []byte(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    web_identity: %s\n",
		host, s.Account(), s.Region(), role, kind)))
	if err != nil {
		t.Fatal(err)
	}
	runnerCache := filepath.Join(t.TempDir(), "cache") // the runner's ~/.cache, kept between jobs
	helper := func(job func(string) string) *protocol.Helper {
		cache, err := tokencache.Open(tokencache.WithDir(runnerCache))
		if err != nil {
			t.Fatal(err)
		}
		client := awsapi.New(awsapi.WithGetenv(job), awsapi.WithTimeout(10*time.Second))
		return protocol.New(cfg, cache, &refresh.Fetcher{Cache: cache, AWS: client, Timeout: 10 * time.Second},
			protocol.WithGetenv(job), protocol.WithErrorOutput(io.Discard))
	}
	first := helper(cirole.Job(s, kind))
	user, pw, err := first.Get(host)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(user, pw); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if _, pw2, err := first.Get(host); err != nil || pw2 != pw || s.Counts().AssumeRoleWithWebIdentity != 0 {
		t.Fatalf("the same job's second get: %v, %d role sessions; want the cached token", err, s.Counts().AssumeRoleWithWebIdentity)
	}
	// A later job that may not ask for a token (a fork's pull request), even one that claims the first job's
	// repository and branch: none of the first job's credentials.
	noToken := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": cirole.GitHubRepo, "GITHUB_REF": cirole.GitHubRef,
		"CIRCLECI": "true", "CIRCLE_PROJECT_REPONAME": "stack"}
	_, pw3, err := helper(func(k string) string { return noToken[k] }).Get(host)
	if err == nil || pw3 == pw || !strings.Contains(err.Error(), "OIDC token") {
		t.Errorf("a later job without a token: %v (its password is the first job's: %v)", err, pw3 == pw)
	}
	// A later job that may: a session of its own.
	s.Reset()
	_, pw4, err := helper(cirole.Job(s, kind)).Get(host)
	if err != nil || pw4 == pw || s.Counts().AssumeRoleWithWebIdentity != 1 {
		t.Errorf("a later job with a token: %v, %d role sessions, the first job's password: %v; want a session of its own",
			err, s.Counts().AssumeRoleWithWebIdentity, pw4 == pw)
	}
}
