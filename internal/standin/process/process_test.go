package process_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/process"
)

// TestProcess drives the process as the e2e scripts do: through its env file,
// the SDK's default chain and the control API.
func TestProcess(t *testing.T) {
	dir := t.TempDir()
	envPath := filepath.Join(dir, "standin.env")
	cfg := process.Config{
		Addr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0",
		Account: "513558712013", Region: "us-east-1",
		UserARN:    "arn:aws:iam::111122223333:user/ops",
		ExternalID: "ext-1", MaxSession: time.Hour, TokenLifetime: time.Hour,
		Seed: "currents/on-prem:staging", EnvFile: envPath,
		WebIdentityFile: filepath.Join(dir, "web-identity"),
		Queue:           "ecr-push",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// The process's log, in a file as a service manager would keep it.
	log, err := os.Create(filepath.Join(dir, "standin.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() }) // after the process stopped (cleanups run last first)
	go func() { done <- process.Run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(envPath); !os.IsNotExist(err) {
			t.Errorf("env file left behind: %v", err)
		}
	})

	env := waitEnv(t, envPath, done)
	for k, v := range env {
		t.Setenv(k, v)
	}
	if st, err := os.Stat(envPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("env file mode: %v %v", st.Mode(), err)
	}
	if logged, err := os.ReadFile(log.Name()); err != nil || strings.Contains(string(logged), env["AWS_SECRET_ACCESS_KEY"]) {
		t.Fatalf("secret key logged (or the log unreadable: %v)", err)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))

	bg := context.Background()
	base, err := config.LoadDefaultConfig(bg)
	if err != nil {
		t.Fatal(err)
	}
	prov := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), env["STANDIN_ROLE_ARN"], func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(env["STANDIN_EXTERNAL_ID"])
	})
	role := base.Copy()
	role.Credentials = aws.NewCredentialsCache(prov)
	out, err := ecr.NewFromConfig(role).GetAuthorizationToken(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(*out.AuthorizationData[0].AuthorizationToken)
	user, pass, _ := strings.Cut(string(raw), ":")
	ref, _ := name.ParseReference(env["STANDIN_REGISTRY"] + "/currents/on-prem/writer:staging")
	if _, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
		t.Fatalf("seeded image through the front: %v", err)
	}

	// The queue in the user's own account got the seed's six pushes, across
	// accounts, from the vendor's rule; the SDK finds it through the env file.
	checkQueue(t, sqs.NewFromConfig(base), env)

	var counts standin.Counts
	getJSON(t, env["STANDIN_URL"]+"/_standin/counts", &counts)
	if counts.AssumeRole != 1 || counts.GetAuthorizationToken != 1 {
		t.Errorf("counts %+v", counts)
	}
	var rs standin.RegistryStats
	getJSON(t, env["STANDIN_URL"]+"/_standin/registry", &rs)
	if rs.ManifestGets == 0 || rs.Expired != 0 {
		t.Errorf("registry stats %+v", rs)
	}
	checkResetAndRefusal(t, base, env)
	checkWebIdentity(t, base, env)
}

// checkResetAndRefusal: the control API resets the counters and refuses the
// role, as the e2e scripts use it.
func checkResetAndRefusal(t *testing.T, base aws.Config, env map[string]string) {
	t.Helper()
	bg := context.Background()
	resp, err := http.Post(env["STANDIN_URL"]+"/_standin/control", "application/json",
		strings.NewReader(`{"reset":true,"token_lifetime":"3s","refuse_role":"`+env["STANDIN_ROLE_ARN"]+`"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("control: %v %v", resp, err)
	}
	resp.Body.Close()
	_, err = sts.NewFromConfig(base).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(env["STANDIN_ROLE_ARN"]), RoleSessionName: aws.String("x1"), ExternalId: aws.String("ext-1")})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("refused role: %v", err)
	}
	var rs standin.RegistryStats
	getJSON(t, env["STANDIN_URL"]+"/_standin/registry", &rs)
	if rs.Requests != 0 {
		t.Errorf("registry stats not reset: %+v", rs)
	}
}

// checkWebIdentity: the token the process wrote is accepted by the role.
func checkWebIdentity(t *testing.T, base aws.Config, env map[string]string) {
	t.Helper()
	bg := context.Background()
	tok, err := os.ReadFile(env["STANDIN_WEB_IDENTITY_TOKEN_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(env["STANDIN_URL"]+"/_standin/control", "application/json", strings.NewReader(`{"allow_role":"`+env["STANDIN_ROLE_ARN"]+`"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("control: %v %v", resp, err)
	}
	resp.Body.Close()
	anon := base.Copy()
	anon.Credentials = nil
	if _, err := sts.NewFromConfig(anon).AssumeRoleWithWebIdentity(bg, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(env["STANDIN_ROLE_ARN"]), RoleSessionName: aws.String("ci"), WebIdentityToken: aws.String(string(tok)),
	}); err != nil {
		t.Errorf("web identity: %v", err)
	}
}

// checkQueue receives every message the env file's queue holds: the six
// pushes of the seed.
func checkQueue(t *testing.T, q *sqs.Client, env map[string]string) {
	t.Helper()
	if !strings.HasSuffix(env["STANDIN_QUEUE_ARN"], ":111122223333:ecr-push") {
		t.Errorf("queue %s: want the user's ecr-push queue", env["STANDIN_QUEUE_ARN"])
	}
	// Received with a visibility timeout of 1 s: an answer lost to a broken
	// connection (the SDK retries it) hides its events for a second, not for
	// the queue's 30 s, and they are counted by ID when they come back.
	ids := map[string]bool{}
	for try := 0; try < 20 && len(ids) < 6; try++ {
		got, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(env["STANDIN_QUEUE_URL"]),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got.Messages {
			var ev standin.ECREvent
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil || ev.DetailType != "ECR Image Action" || ev.Detail.ActionType != "PUSH" {
				t.Fatalf("not an ECR push event (%v): %s", err, aws.ToString(m.Body))
			}
			ids[aws.ToString(m.MessageId)] = true
		}
	}
	if len(ids) != 6 {
		t.Errorf("queue %s got %d events, want the seed's 6", env["STANDIN_QUEUE_ARN"], len(ids))
	}
}

func waitEnv(t *testing.T, path string, done chan error) map[string]string {
	t.Helper()
	for i := 0; i < 500; i++ {
		select {
		case err := <-done:
			t.Fatalf("process exited: %v", err)
		default:
		}
		if b, err := os.ReadFile(path); err == nil {
			env := map[string]string{}
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
					env[k] = v
				}
			}
			return env
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("env file never written")
	return nil
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
