package awsapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
)

// TestExpiredSourceSessionAtTheTokenStepNamesTheSource: a registry served
// with the source credentials themselves (no role_arn) whose session has
// expired (AWS_SESSION_TOKEN from an SSO login or an assumed role) fails at
// GetAuthorizationToken. The fix said "erase, or remove the cache
// directory, and retry", which changes nothing: nothing cached is involved,
// and a cached role session AWS rejects is replaced before the error gets
// here. It names the source credentials, as at the assume-role step.
func TestExpiredSourceSessionAtTheTokenStepNamesTheSource(t *testing.T) {
	aws, tg, _ := setup(t)
	ctx := context.Background()
	c := New(WithTimeout(5 * time.Second))
	s, err := c.Credentials(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretAccessKey.Reveal())
	t.Setenv("AWS_SESSION_TOKEN", s.SessionToken.Reveal())
	aws.SetSkew(2 * time.Hour) // AWS's time moves past the session's end

	host := aws.Account() + ".dkr.ecr.us-east-1.amazonaws.com"
	direct, _ := (&config.Config{}).Lookup(host)
	direct.File = "/etc/currents.yaml"
	c = New(WithTimeout(5 * time.Second))
	src, err := c.Credentials(ctx, direct)
	if err != nil {
		t.Fatalf("the environment's session: %v", err)
	}
	_, err = c.AuthorizationToken(ctx, direct, src)
	var e *Error
	if !errors.As(err, &e) || !e.CredentialsRejected() {
		t.Fatalf("expired source session: %v", err)
	}
	if strings.Contains(e.Hint, "erase") || !strings.Contains(e.Hint, "source credentials") {
		t.Errorf("the fix for an expired source session: %q", e.Hint)
	}
}
