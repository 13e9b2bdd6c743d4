package awsapi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/secret"
)

// countLoads counts the SDK configuration loads for the rest of the test.
func countLoads(t *testing.T) *int {
	t.Helper()
	n := new(int)
	t.Cleanup(func() { loadDefaultConfig = awsconfig.LoadDefaultConfig })
	loadDefaultConfig = func(ctx context.Context, opts ...func(*awsconfig.LoadOptions) error) (cfg aws.Config, err error) {
		*n++
		return awsconfig.LoadDefaultConfig(ctx, opts...)
	}
	return n
}

// refreshOnce is what the AWS binary's get does on a cold cache: the
// source credentials, the role, the registry token.
func refreshOnce(t *testing.T, c *Client, tg config.Target) {
	t.Helper()
	ctx := context.Background()
	s, err := c.Credentials(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.AuthorizationToken(ctx, tg, s)
	if err != nil || tok.Password.IsZero() {
		t.Fatalf("token: %+v %v", tok, err)
	}
}

func TestConfigReuseLoadsOncePerProfile(t *testing.T) {
	aws, tg, role := setup(t)
	n := countLoads(t)

	// Without the option (watch's refreshes, which live for weeks) every
	// call loads the files again, and so sees them edited.
	refreshOnce(t, New(WithTimeout(5*time.Second)), tg)
	if *n != 3 {
		t.Errorf("without reuse: %d loads for a refresh, want 3 (one per call)", *n)
	}

	// The AWS binary's get: the default chain's configuration serves the
	// role and the token calls too.
	*n = 0
	c := New(WithTimeout(5*time.Second), WithConfigReuse())
	refreshOnce(t, c, tg)
	if *n != 1 {
		t.Errorf("with reuse, default profile: %d loads, want 1", *n)
	}
	// Reused, the configuration still signs with the credentials of each
	// call, not those of the first.
	bogus := credential.Session{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: secret.New("not-the-secret-key-at-all"), SessionToken: secret.New("not-a-session")}
	if _, err := c.AuthorizationToken(context.Background(), tg, bogus); err == nil {
		t.Error("a reused configuration answered with other credentials than the call's")
	}
	if *n != 1 {
		t.Errorf("with reuse: %d loads after a third call, want 1", *n)
	}

	// An entry whose source is a profile: the profile's configuration for
	// the source, the default one for the role and the token, as without
	// reuse, each loaded once.
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, fmt.Appendf(nil, "[src]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	cfg, err := config.Parse("/etc/currents.yaml", fmt.Appendf(nil,
		"registries:\n  - host: 127.0.0.1:5000\n    account: %q\n    region: us-east-1\n    role_arn: %s\n    external_id: ext-1\n    profile: src\n", aws.Account(), role))
	if err != nil {
		t.Fatal(err)
	}
	withProfile, _ := cfg.Lookup("127.0.0.1:5000")
	*n = 0
	refreshOnce(t, New(WithTimeout(5*time.Second), WithConfigReuse()), withProfile)
	if *n != 2 {
		t.Errorf("with reuse, source profile: %d loads, want 2", *n)
	}
	if c := aws.Counts(); c.AssumeRole != 3 || c.GetAuthorizationToken != 3 {
		t.Errorf("stand-in counts %+v, want 3 AssumeRole and 3 GetAuthorizationToken", c)
	}
}
