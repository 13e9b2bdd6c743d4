package refresh_test

import (
	"fmt"
	"io"
	"path/filepath"
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
		standintest.WithServer(standin.WithClock(clock.Now), standin.WithTokenLifetime(20*time.Minute)))
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
	if a := s.Attempts(); a.AssumeRoleWithWebIdentity != n.AssumeRoleWithWebIdentity {
		t.Errorf("%d AssumeRoleWithWebIdentity attempts for %d sessions", a.AssumeRoleWithWebIdentity, n.AssumeRoleWithWebIdentity)
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
