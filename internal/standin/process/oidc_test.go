package process_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/currentsdev/currents/internal/iampolicy"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/process"
)

// TestGitHubJobFlags: the process started as the e2e tier starts it (a trust
// policy file from ci-trust, GitHub's provider, a job) writes the runner's
// variables, and a token asked for with them assumes the role.
func TestGitHubJobFlags(t *testing.T) {
	dir := t.TempDir()
	doc, err := iampolicy.TrustGitHub("aws", "513558712013", iampolicy.GitHub{Repo: "currentsdev/stack", Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(dir, "trust.json")
	os.WriteFile(trust, doc.JSON(), 0o600)
	role := "arn:aws:iam::513558712013:role/currents-ci"
	var cfg process.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	envPath := filepath.Join(dir, "env")
	if err := fs.Parse([]string{"-env-file", envPath, "-oidc-provider", standin.GitHubIssuer + "=sts.amazonaws.com",
		"-trust-policy", role + "=" + trust, "-github-job", "currentsdev/stack@refs/heads/main"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"-oidc-provider", "issuer"}, {"-trust-policy", "nope"}} {
		var c process.Config
		f := flag.NewFlagSet("b", flag.ContinueOnError)
		f.SetOutput(new(strings.Builder))
		c.RegisterFlags(f)
		if f.Parse(bad) == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- process.Run(ctx, cfg, io.Discard) }()
	t.Cleanup(func() { cancel(); <-done })
	env := waitEnv(t, envPath, done)

	u := strings.Trim(env["ACTIONS_ID_TOKEN_REQUEST_URL"], "'") + "&audience=" + url.QueryEscape("sts.amazonaws.com")
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+strings.Trim(env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"], "'"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Value string }
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(env["STANDIN_URL"])})
	out, err := c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(role),
		RoleSessionName: aws.String("e2e"), WebIdentityToken: aws.String(v.Value)})
	if err != nil || aws.ToString(out.SubjectFromWebIdentityToken) != "repo:currentsdev/stack:ref:refs/heads/main" {
		t.Fatalf("the job's token: %v", err)
	}

	// A cluster's service-account token, signed through the control API.
	body := `{"issuer":"https://oidc.example/cluster","audience":"sts.amazonaws.com","subject":"system:serviceaccount:ns:sa"}`
	resp, err = http.Post(env["STANDIN_URL"]+"/_standin/idtoken", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Count(v.Value, ".") != 2 {
		t.Errorf("idtoken: %d %q", resp.StatusCode, v.Value)
	}
}
