package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/tokencache"
)

// fakeAWS issues sessions and tokens on the fake clock and, like AWS, refuses
// an expired or revoked session.
type fakeAWS struct {
	clock       *standintest.Clock
	sessionLife time.Duration
	tokenLife   time.Duration
	down        bool
	stsDown     bool // only Credentials fails
	revoked     map[string]bool
	creds, toks int
	tries       int                  // Credentials calls, failed ones included
	issued      map[string]time.Time // password -> expiry
	mu          sync.Mutex
}

type rejected struct{}

func (rejected) Error() string {
	return "ExpiredTokenException: the security token included in the request is expired"
}
func (rejected) CredentialsRejected() bool { return true }

func newFakeAWS(c *standintest.Clock) *fakeAWS {
	return &fakeAWS{clock: c, sessionLife: time.Hour, tokenLife: 12 * time.Hour, revoked: map[string]bool{}, issued: map[string]time.Time{}}
}

func (f *fakeAWS) Credentials(ctx context.Context, t config.Target) (credential.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.down || f.stsDown {
		return credential.Session{}, errors.New("AWS is down: STS")
	}
	f.creds++
	now := f.clock.Now()
	return credential.Session{AccessKeyID: fmt.Sprintf("ASIA%d", f.creds), SecretAccessKey: secret.New("sk"),
		Issued: now, Expires: now.Add(f.sessionLife)}, nil
}

func (f *fakeAWS) AuthorizationToken(ctx context.Context, t config.Target, c credential.Session) (credential.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	if f.down {
		return credential.Token{}, errors.New("AWS is down")
	}
	if !c.Expires.After(now) || f.revoked[c.AccessKeyID] {
		return credential.Token{}, rejected{}
	}
	f.toks++
	pw := fmt.Sprintf("pw-%d", f.toks)
	f.issued[pw] = now.Add(f.tokenLife)
	return credential.Token{Username: "AWS", Password: secret.New(pw), Issued: now, Expires: now.Add(f.tokenLife)}, nil
}

func (f *fakeAWS) counts() (int, int) { f.mu.Lock(); defer f.mu.Unlock(); return f.creds, f.toks }

const host = "513558712013.dkr.ecr.us-east-1.amazonaws.com"

func setup(t *testing.T) (*Helper, *fakeAWS, *standintest.Clock) {
	t.Helper()
	clock := standintest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cache, err := tokencache.Open(tokencache.WithDir(filepath.Join(t.TempDir(), "c")), tokencache.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("currents.yaml", []byte("registries:\n  - host: "+host+"\n    role_arn: arn:aws:iam::111122223333:role/pull\n"))
	if err != nil {
		t.Fatal(err)
	}
	aws := newFakeAWS(clock)
	f := &refresh.Fetcher{Cache: cache, AWS: aws, Timeout: time.Second}
	return New(cfg, cache, f, WithGetenv(func(string) string { return "" }), WithErrorOutput(io.Discard)), aws, clock
}

// TestThirtyDays drives a get every 5 minutes for 30 simulated days with one
// 5-hour AWS outage, and checks what was served against what AWS issued.
func TestThirtyDays(t *testing.T) {
	h, aws, clock := setup(t)
	start := clock.Now()
	// Tokens are replaced every 9h, so the outage starts exactly when the
	// 28th refresh is due and outlasts the token's safe remainder (2h45m).
	outageFrom := start.Add(27 * 9 * time.Hour)
	outageTo := outageFrom.Add(5 * time.Hour)
	var served, failed, failedOutside int
	var lastPw string
	var servedInOutage int
	for clock.Now().Before(start.Add(30 * 24 * time.Hour)) {
		now := clock.Now()
		aws.mu.Lock()
		aws.down = !now.Before(outageFrom) && now.Before(outageTo)
		down := aws.down
		aws.mu.Unlock()
		user, pw, err := h.Get("https://" + host)
		if err != nil {
			failed++
			if !down {
				failedOutside++
				t.Errorf("%s: get failed while AWS was up: %v", now, err)
			}
		} else {
			served++
			exp, ok := aws.issued[pw]
			if !ok || user != "AWS" {
				t.Fatalf("%s: served a token AWS never issued", now)
			}
			if !exp.After(now) {
				t.Fatalf("%s: served a token that expired at %s", now, exp)
			}
			if exp.Sub(now) <= 15*time.Minute {
				t.Errorf("%s: served a token with only %s left", now, exp.Sub(now))
			}
			if down {
				servedInOutage++
			}
			lastPw = pw
		}
		clock.Advance(5 * time.Minute)
	}
	creds, toks := aws.counts()
	t.Logf("30 days: %d gets served, %d failed (all in the outage), %d in the outage served from cache; %d sessions, %d tokens (last %s)",
		served, failed, servedInOutage, creds, toks, lastPw)
	// A 12h token is replaced 9h after issue: 30 days need about 80 tokens.
	// Each refresh finds the 1h session stale, so sessions match tokens.
	if toks < 79 || toks > 82 || creds != toks {
		t.Errorf("refreshes: %d tokens, %d sessions; want ~80 of each", toks, creds)
	}
	// 2h45m of the outage is bridged (33 gets), the remaining 2h15m fail (27).
	if servedInOutage != 33 || failed != 27 {
		t.Errorf("outage: %d served from cache, %d failed; want 33 and 27", servedInOutage, failed)
	}
}

// TestOutageTimeline pins the fall-back rule on a 12h token: refresh from 3h
// before expiry; while AWS fails, serve until 15m before expiry, then error.
func TestOutageTimeline(t *testing.T) {
	h, aws, clock := setup(t)
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err)
	}
	issued := clock.Now()
	aws.down = true
	for _, tc := range []struct {
		at     time.Duration
		wantOK bool
	}{
		{8 * time.Hour, true},                  // fresh: no AWS call at all
		{9 * time.Hour, true},                  // due, refresh fails, cached token safe
		{11*time.Hour + 44*time.Minute, true},  // 16m left
		{11*time.Hour + 45*time.Minute, false}, // 15m left: no longer safe
		{12 * time.Hour, false},                // expired
		{13 * time.Hour, false},
	} {
		clock.Set(issued.Add(tc.at))
		_, _, err := h.Get(host)
		if (err == nil) != tc.wantOK {
			t.Errorf("+%s: err = %v, want ok=%v", tc.at, err, tc.wantOK)
		}
		if err != nil && !strings.Contains(err.Error(), "AWS is down") {
			t.Errorf("+%s: error hides the cause: %v", tc.at, err)
		}
	}
	aws.down = false
	// The failure just seen answers for a moment (a burst of pulls makes one
	// AWS attempt), then AWS is asked again.
	_, toks := aws.counts()
	if _, _, err := h.Get(host); err == nil || !strings.Contains(err.Error(), "AWS is down") {
		t.Errorf("right after a failure: err = %v, want the same failure", err)
	}
	if _, after := aws.counts(); after != toks {
		t.Error("a get right after a failure asked AWS again")
	}
	clock.Advance(tokencache.FailureHold)
	if _, pw, err := h.Get(host); err != nil || aws.issued[pw].Before(clock.Now()) {
		t.Errorf("after recovery: %v", err)
	}
}

// TestSessionPolicyOverThirtyDays: 12h sessions, 1h tokens, one 5h STS-only
// outage starting when the session is due. Tokens keep coming from the cached
// session while it is safely valid, then gets fail, then recover.
func TestSessionPolicyOverThirtyDays(t *testing.T) {
	h, aws, clock := setup(t)
	aws.sessionLife, aws.tokenLife = 12*time.Hour, time.Hour
	start := clock.Now()
	outageFrom := start.Add(15 * 9 * time.Hour) // when the 16th session is due
	outageTo := outageFrom.Add(5 * time.Hour)
	failed := 0
	for clock.Now().Before(start.Add(30 * 24 * time.Hour)) {
		now := clock.Now()
		aws.mu.Lock()
		aws.stsDown = !now.Before(outageFrom) && now.Before(outageTo)
		aws.mu.Unlock()
		_, pw, err := h.Get(host)
		switch {
		case err != nil:
			failed++
			if now.Before(outageFrom) || !now.Before(outageTo) {
				t.Fatalf("%s: get failed outside the outage: %v", now, err)
			}
		case !aws.issued[pw].After(now):
			t.Fatalf("%s: served an expired token", now)
		}
		clock.Advance(5 * time.Minute)
	}
	creds, toks := aws.counts()
	t.Logf("30 days, 12h sessions, 1h tokens: %d sessions, %d tokens, %d gets failed in the STS outage", creds, toks, failed)
	// Sessions are replaced every 9h (80 in 30 days); tokens every 45m.
	if creds < 79 || creds > 82 || toks < 955 || toks > 965 {
		t.Errorf("refreshes: %d sessions, %d tokens", creds, toks)
	}
	// The session (due at +0, expiring at +3h) keeps minting tokens until
	// 15m before it expires (+2h45m); the last token, issued at +2h15m, is
	// served until 5m before its expiry (+3h10m); the remaining 1h50m fail.
	if failed != 22 {
		t.Errorf("%d gets failed in the outage, want 22", failed)
	}
}

func TestSessionReusedWithinItsLifetime(t *testing.T) {
	h, aws, _ := setup(t)
	aws.sessionLife = 12 * time.Hour
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err)
	}
	if err := h.Delete(host); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err)
	}
	if c, tk := aws.counts(); c != 1 || tk != 2 {
		t.Errorf("after erase: %d sessions, %d tokens; want 1 and 2 (the session is cached)", c, tk)
	}
}

func TestRevokedSessionIsReplaced(t *testing.T) {
	h, aws, _ := setup(t)
	aws.sessionLife = 12 * time.Hour
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err)
	}
	aws.revoked["ASIA1"] = true
	h.Delete(host)
	if _, _, err := h.Get(host); err != nil {
		t.Fatalf("a revoked cached session should be replaced: %v", err)
	}
	if c, _ := aws.counts(); c != 2 {
		t.Errorf("%d sessions, want 2", c)
	}
}

// tokenDown fails only ECR, as when the role lacks ecr:GetAuthorizationToken.
type tokenDown struct{ *fakeAWS }

func (tokenDown) AuthorizationToken(context.Context, config.Target, credential.Session) (credential.Token, error) {
	return credential.Token{}, errors.New("AccessDeniedException")
}

func TestSessionKeptWhenECRFails(t *testing.T) {
	h, aws, clock := setup(t)
	f := h.refresher.(*refresh.Fetcher)
	f.AWS = tokenDown{aws}
	for range 3 {
		if _, _, err := h.Get(host); err == nil {
			t.Fatal("ECR down, get succeeded")
		}
		clock.Advance(tokencache.FailureHold) // each get really retries
	}
	if c, _ := aws.counts(); c != 1 {
		t.Errorf("%d AssumeRole calls for 3 failing gets; want the session cached after the first", c)
	}
}

func TestProtocolEdges(t *testing.T) {
	h, aws, _ := setup(t)
	for _, u := range []string{"https://index.docker.io/v1/", "ghcr.io", "", "https://user:pw@x"} {
		if _, _, err := h.Get(u); !credentials.IsErrCredentialsNotFound(err) {
			t.Errorf("Get(%q) = %v, want not found", u, err)
		}
	}
	if err := h.Add(&credentials.Credentials{ServerURL: host, Username: "AWS", Secret: "x"}); err != nil {
		t.Errorf("store: %v", err)
	}
	if l, err := h.List(); err != nil || len(l) != 1 || l[host] != "AWS" {
		t.Errorf("list = %v, %v", l, err)
	}
	if err := h.Delete("ghcr.io"); !credentials.IsErrCredentialsNotFound(err) {
		t.Errorf("erase unknown = %v", err)
	}
	if c, tk := aws.counts(); c+tk != 0 {
		t.Error("protocol edges called AWS")
	}
}

type failing struct{ err error }

func (f failing) Refresh(context.Context, refresh.Request) (credential.Token, error) {
	return credential.Token{}, f.err
}

// The lean side serves a safe cached token when the AWS binary cannot run.
func TestLeanFallsBackOnlyWhileSafe(t *testing.T) {
	h, _, clock := setup(t)
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err)
	}
	lean := New(h.cfg, h.cache, failing{errors.New("cannot run the AWS helper")}, WithGetenv(h.getenv), WithErrorOutput(io.Discard))
	clock.Advance(10 * time.Hour)
	if _, _, err := lean.Get(host); err != nil {
		t.Errorf("10h into a 12h token: %v", err)
	}
	clock.Advance(2 * time.Hour)
	if _, _, err := lean.Get(host); err == nil || !strings.Contains(err.Error(), "cannot run") {
		t.Errorf("expired token: err = %v", err)
	}
}
