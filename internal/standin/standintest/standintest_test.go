package standintest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/currentsdev/currents/internal/standin/standintest"
)

func TestIsolateDropsTheMachinesVariables(t *testing.T) {
	t.Setenv("AWS_PROFILE", "developer")
	t.Setenv("CURRENTS_CONFIG", "/home/dev/currents.yaml")
	t.Setenv("DOCKER_CONTEXT", "remote")
	home := standintest.Isolate(t)
	for _, k := range []string{"AWS_PROFILE", "CURRENTS_CONFIG", "DOCKER_CONTEXT"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s still set to %q", k, v)
		}
	}
	want := map[string]string{"HOME": home, "DOCKER_CONFIG": filepath.Join(home, ".docker"), "CURRENTS_CACHE_DIR": filepath.Join(home, "cache"),
		"AWS_CONFIG_FILE": filepath.Join(home, "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED": "true"}
	for k, v := range want {
		if got := os.Getenv(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestNewAndExportLetTheSDKAssumeTheRole(t *testing.T) {
	standintest.Isolate(t)
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithExternalID("ext-1"), standintest.WithExport())
	if w.Registry == nil || w.Role != "arn:aws:iam::"+w.AWS.Account()+":role/"+standintest.DefaultRole {
		t.Fatalf("registry %v, role %q", w.Registry, w.Role)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := sts.NewFromConfig(cfg)
	ext, name := "ext-1", "session"
	if _, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: &w.Role, RoleSessionName: &name, ExternalId: &ext}); err != nil {
		t.Fatalf("trusted user, right external ID: %v", err)
	}
	wrong := "ext-2"
	if _, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: &w.Role, RoleSessionName: &name, ExternalId: &wrong}); err == nil {
		t.Fatal("wrong external ID accepted")
	}
}

// assumeAs reports whether a second user, not the one New added, may assume w.Role.
func assumeAs(t *testing.T, w *standintest.World) error {
	t.Helper()
	other := w.AWS.AddUser("arn:aws:iam::111122223333:user/someone-else")
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(other.AccessKeyID, other.SecretAccessKey, "")))
	if err != nil {
		t.Fatal(err)
	}
	name := "session"
	_, err = sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: &w.Role, RoleSessionName: &name})
	return err
}

func TestTrustNamesOnlyTheUserUnlessWithoutTrust(t *testing.T) {
	standintest.Isolate(t)
	if err := assumeAs(t, standintest.New(t, standintest.WithExport())); err == nil {
		t.Error("a user outside the trust list assumed the role")
	}
	w := standintest.New(t, standintest.WithoutTrust(), standintest.WithRole("arn:aws:iam::111122223333:role/open"), standintest.WithExport())
	if w.Role != "arn:aws:iam::111122223333:role/open" {
		t.Fatalf("role %q", w.Role)
	}
	if err := assumeAs(t, w); err != nil {
		t.Errorf("empty trust list refused a known user: %v", err)
	}
}

func TestWithoutUserAddsNoCaller(t *testing.T) {
	w := standintest.New(t, standintest.WithoutUser())
	if w.User.ARN != "" || w.Role != "" || w.Registry != nil {
		t.Fatalf("user %q, role %q, registry %v", w.User.ARN, w.Role, w.Registry)
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := standintest.NewClock(start)
	c.Advance(time.Hour)
	if got := c.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("after Advance: %v", got)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("after Set: %v", got)
	}
}
