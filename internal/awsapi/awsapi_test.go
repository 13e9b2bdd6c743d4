package awsapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

const userARN = "arn:aws:iam::111122223333:user/customer"

func setup(t *testing.T) (*standin.Server, config.Target, string) {
	t.Helper()
	w := standintest.New(t, standintest.WithUser(userARN), standintest.WithRole("pull"), standintest.WithExternalID("ext-1"),
		standintest.WithExport())
	aws, role := w.AWS, w.Role
	cfg, err := config.Parse("/etc/currents.yaml", []byte(fmt.Sprintf(
		"registries:\n  - host: 127.0.0.1:5000\n    account: %q\n    region: us-east-1\n    role_arn: %s\n    external_id: ext-1\n", aws.Account(), role)))
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := cfg.Lookup("127.0.0.1:5000")
	return aws, tg, role
}

func TestStepsAgainstStandIn(t *testing.T) {
	aws, tg, role := setup(t)
	c := New(WithTimeout(5 * time.Second))
	ctx := context.Background()
	src, err := c.SourceCredentials(ctx, tg)
	if err != nil || !src.Expires.IsZero() || src.AccessKeyID == "" {
		t.Fatalf("source: %+v %v", src, err)
	}
	s, err := c.AssumeRole(ctx, tg, src)
	if err != nil || s.SessionToken.IsZero() || !s.Expires.After(time.Now().Add(50*time.Minute)) {
		t.Fatalf("assume: %+v %v", s, err)
	}
	id, err := c.CallerIdentity(ctx, tg, s)
	if err != nil || id.Account != aws.Account() || !strings.Contains(id.ARN, "assumed-role/pull/") {
		t.Errorf("caller: %+v %v", id, err)
	}
	tok, err := c.AuthorizationToken(ctx, tg, s)
	if err != nil || tok.Username != "AWS" || tok.Password.IsZero() || tok.Expires.Sub(tok.Issued) < 11*time.Hour {
		t.Fatalf("token: %+v %v", tok, err)
	}
	// The stand-in shares our clock: the Date headers must have been read, and agree.
	c.mu.Lock()
	skew, uncertain := c.skew, c.skewErr
	c.mu.Unlock()
	if uncertain <= 0 || skew.Abs() > uncertain+time.Second {
		t.Errorf("clock skew from the Date headers: %s ± %s; want measured and near zero", skew, uncertain)
	}
	if n := aws.Counts(); n.AssumeRole != 1 || n.GetAuthorizationToken != 1 || n.GetCallerIdentity != 1 {
		t.Errorf("counts %+v", n)
	}
	_ = role
}

func TestEnsureRepository(t *testing.T) {
	aws, tg, role := setup(t)
	c := New()
	ctx := context.Background()
	s, err := c.Credentials(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		created, err := c.EnsureRepository(ctx, tg, s, "currents/on-prem/api")
		if err != nil || created != want {
			t.Fatalf("call %d: created %v, %v", i, created, err)
		}
	}
	aws.Deny(role, "ecr:CreateRepository")
	_, err = c.EnsureRepository(ctx, tg, s, "currents/on-prem/writer")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("denied create: %v", err)
	}
	action, arn, ok := e.MissingPermission()
	if !ok || action != "ecr:CreateRepository" || arn != "arn:aws:ecr:us-east-1:"+aws.Account()+":repository/currents/on-prem/writer" {
		t.Errorf("MissingPermission = %q %q %v", action, arn, ok)
	}
	if !strings.Contains(err.Error(), "ecr:CreateRepository") || !strings.Contains(err.Error(), role) {
		t.Errorf("message: %v", err)
	}
}

func TestErrorsAreActionable(t *testing.T) {
	aws, tg, role := setup(t)
	c := New()
	ctx := context.Background()
	aws.RefuseRole(role, true)
	_, err := c.Credentials(ctx, tg)
	var e *Error
	if !errors.As(err, &e) || e.Code != "AccessDenied" || e.CredentialsRejected() || !e.Permanent() {
		t.Fatalf("refused (want permanent, credentials not rejected): %#v", err)
	}
	if a, r, ok := e.MissingPermission(); !ok || a != "sts:AssumeRole" || r != role {
		t.Errorf("MissingPermission = %q %q", a, r)
	}
	for _, w := range []string{"127.0.0.1:5000", "assuming role " + role, "AWS said AccessDenied", "ask the vendor to trust", "/etc/currents.yaml"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("lacks %q: %v", w, err)
		}
	}
}

// TestSourceErrorsAreActionable: bad or missing source credentials are
// named as the source's, with the source's fix.
func TestSourceErrorsAreActionable(t *testing.T) {
	_, tg, role := setup(t)
	c := New()
	ctx := context.Background()
	var e *Error
	// Bad source keys: STS says the key is invalid; the fix is about the source.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-wrong-secret")
	_, err := c.Credentials(ctx, tg)
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "source credentials are invalid") {
		t.Fatalf("bad source: %v", err)
	}
	// A fresh session may mend rejected credentials: not for an operator yet.
	if !e.CredentialsRejected() || !Rejected(e.Code) || e.Permanent() {
		t.Errorf("bad source %s: rejected %v, permanent %v", e.Code, e.CredentialsRejected(), e.Permanent())
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Error("the secret key is in the error")
	}
	// No credentials at all on a default-chain target.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	_, err = c.Credentials(ctx, tg)
	if err == nil || !strings.Contains(err.Error(), "resolving source credentials (to assume "+role+") failed") || !strings.Contains(err.Error(), "add profile: to entry 1") {
		t.Errorf("no source credentials for a role: %v", err)
	}
	r, _ := (&config.Config{}).Lookup("513558712013.dkr.ecr.us-east-1.amazonaws.com")
	r.File = "/etc/currents.yaml"
	_, err = c.Credentials(ctx, r)
	if err == nil || !strings.Contains(err.Error(), "add an entry for 513558712013.dkr.ecr.us-east-1.amazonaws.com") {
		t.Errorf("no credentials: %v", err)
	}
}

func TestSessionName(t *testing.T) {
	c := New()
	c.hostname = func() (string, error) { return "web 01.example.com/ä", nil }
	if got := c.SessionName(config.Target{}); got != "currents-web-01.example.com" {
		t.Errorf("SessionName = %q", got)
	}
	c.hostname = func() (string, error) { return strings.Repeat("h", 100), nil }
	if got := c.SessionName(config.Target{}); len(got) != 64 {
		t.Errorf("SessionName length %d", len(got))
	}
	if got := c.SessionName(config.Target{Entry: &config.Entry{SessionName: "mine"}}); got != "mine" {
		t.Errorf("configured session name ignored: %q", got)
	}
}

// TestExpiriesFollowAWSClock: with this machine's clock hours off, AWS's
// expiry times are converted to the local clock, so the cache refreshes in
// time and never serves a token AWS has expired; a far-ahead clock still works.
func TestExpiriesFollowAWSClock(t *testing.T) {
	aws, tg, _ := setup(t)
	ctx := context.Background()
	for _, skew := range []time.Duration{0, 2 * time.Hour, -13 * time.Hour} {
		aws.SetSkew(skew) // AWS's clock runs skew ahead of ours
		var logs bytes.Buffer
		c := New(WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		s, err := c.Credentials(ctx, tg)
		if err != nil {
			t.Fatalf("skew %s: credentials: %v", skew, err)
		}
		tok, err := c.AuthorizationToken(ctx, tg, s)
		if err != nil {
			t.Fatalf("skew %s: token: %v", skew, err)
		}
		now := time.Now()
		near := func(got time.Time, want time.Duration) bool {
			d := got.Sub(now) - want
			return d.Abs() < 10*time.Second
		}
		if !near(s.Expires, time.Hour) || !near(tok.Expires, 12*time.Hour) {
			t.Errorf("skew %s: session expires in %s, token in %s (local clock); want 1h and 12h",
				skew, s.Expires.Sub(now).Round(time.Second), tok.Expires.Sub(now).Round(time.Second))
		}
		if got := c.Skew(); (got - skew).Abs() > 2*time.Second {
			t.Errorf("measured skew %s, want %s", got, skew)
		}
		warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "fix the clock")
		if warned != (skew != 0) {
			t.Errorf("skew %s: warned %v:\n%s", skew, warned, logs.String())
		}
	}
}
