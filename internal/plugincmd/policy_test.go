package plugincmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config"

	"github.com/currentsdev/currents/internal/iampolicy"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// runRoot runs `docker currents ARGS` in-process with captured streams.
func runRoot(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	// docker/cli remembers its config directory for the process; each test
	// has its own DOCKER_CONFIG.
	config.SetDir(os.Getenv("DOCKER_CONFIG"))
	var out, errb bytes.Buffer
	cli, err := command.NewDockerCli(command.WithOutputStream(&out), command.WithErrorStream(&errb))
	if err != nil {
		t.Fatal(err)
	}
	root := NewRootCommand(cli)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errb.String(), err
}

// isolate keeps the user's docker config and currents.yaml out of a test,
// and the machine's home (standintest.Isolate): the token cache mirror keeps
// manifests in was the real ~/.cache/currents, shared by every run and every
// package testing at once, so a test's registry requests depended on what
// an earlier one had left there.
func isolate(t *testing.T) {
	standintest.Isolate(t)
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("CURRENTS_CONFIG", filepath.Join(dir, "currents.yaml"))
	for _, k := range []string{"COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_ENV_FILES", "DC_CURRENTS_IMAGE_REPOSITORY", "DC_CURRENTS_IMAGE_TAG"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

var stackDir = filepath.Join("..", "..", "testdata", "stack")

func TestPolicyPullOfTheSeedStackMatchesGolden(t *testing.T) {
	isolate(t)
	out, _, err := runRoot(t, "policy", "pull", "--project-directory", stackDir, "-f", filepath.Join(stackDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "iampolicy", "pull.json"))
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("policy pull of testdata/stack:\n%s\nwant testdata/iampolicy/pull.json:\n%s", out, want)
	}
}

func TestPolicyRepositoryWarnsAboutClusterRegion(t *testing.T) {
	isolate(t)
	f := filepath.Join(stackDir, "compose.yaml")
	out, errOut, err := runRoot(t, "policy", "repository", "-f", f, "--principal", "arn:aws:iam::111111111111:role/puller", "--cluster-region", "eu-west-2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"AWS": "arn:aws:iam::111111111111:role/puller"`) {
		t.Errorf("stdout: %s", out)
	}
	if strings.Count(errOut, "warning: repository") != 6 || !strings.Contains(errOut, "us-east-1 but the cluster is in eu-west-2") || strings.Contains(errOut, "add --cluster-region") {
		t.Errorf("stderr: %s", errOut)
	}
	// Same region: no warning.
	_, errOut, err = runRoot(t, "policy", "repository", "-f", f, "--principal", "111111111111", "--cluster-region", "us-east-1")
	if err != nil || strings.Contains(errOut, "warning") {
		t.Errorf("same region: %v %s", err, errOut)
	}
	// The repositories' own account needs no repository policy; without
	// --cluster-region the region rule is still stated.
	_, errOut, err = runRoot(t, "policy", "repository", "-f", f, "--principal", "513558712013")
	if err != nil || !strings.Contains(errOut, "a repository policy is only needed across accounts") || !strings.Contains(errOut, "within one region (here us-east-1); add --cluster-region") {
		t.Errorf("same account: %v %s", err, errOut)
	}
	_, _, err = runRoot(t, "policy", "repository", "-f", f, "--principal", "arn:aws:sts::111111111111:assumed-role/puller/s")
	if err == nil || !strings.Contains(err.Error(), "arn:aws:iam::111111111111:role/puller") {
		t.Errorf("session principal: %v", err)
	}
}

// TestPolicyPushForAnECRMirror: the role that runs `mirror --to` gets pull
// and push on exactly the mirror's repositories, and creation only on request.
func TestPolicyPushForAnECRMirror(t *testing.T) {
	isolate(t)
	f := filepath.Join(stackDir, "compose.yaml")
	to := "222222222222.dkr.ecr.eu-west-2.amazonaws.com/mirror/currents/"
	out, _, err := runRoot(t, "policy", "push", "-f", f, "--to", to)
	if err != nil {
		t.Fatal(err)
	}
	var doc iampolicy.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	res, _ := doc.Statement[1].Resource.([]any)
	if len(res) != 6 || res[0] != "arn:aws:ecr:eu-west-2:222222222222:repository/mirror/currents/api" ||
		!strings.Contains(out, "ecr:PutImage") || strings.Contains(out, "ecr:CreateRepository") {
		t.Errorf("policy push:\n%s", out)
	}
	out, _, err = runRoot(t, "policy", "push", "-f", f, "--to", to, "--create-repositories")
	if err != nil || !strings.Contains(out, "ecr:CreateRepository") || !strings.Contains(out, "ecr:DescribeRepositories") {
		t.Errorf("--create-repositories: %v\n%s", err, out)
	}
}

func TestPolicyCITrustUnderAMirrorPrefix(t *testing.T) {
	isolate(t)
	f := filepath.Join(stackDir, "compose.yaml")
	out, errOut, err := runRoot(t, "policy", "ci-trust", "-f", f, "--github-repo", "acme/ops",
		"--to", "222222222222.dkr.ecr.eu-west-2.amazonaws.com/mirror/currents/", "--create-repositories")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Create the CI role in account 222222222222",
		"aws iam create-open-id-connect-provider --url https://token.actions.githubusercontent.com --client-id-list sts.amazonaws.com",
		"--assume-role-policy-document file://trust.json   # the first document",
		"--policy-document file://push.json   # the second document",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// --only prints exactly one document, which parses as one JSON value.
	only, _, err := runRoot(t, "policy", "ci-trust", "-f", f, "--circleci-org", "4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f",
		"--circleci-project", "9d2e7f4a-5c7e-4e0b-8f4d-1c9e2a3f6b8c", "--only", "trust", "--to", "222222222222.dkr.ecr.eu-west-2.amazonaws.com/m/")
	var doc map[string]any
	if err != nil || json.Unmarshal([]byte(only), &doc) != nil || !strings.Contains(only, "/project/9d2e7f4a-5c7e-4e0b-8f4d-1c9e2a3f6b8c/user/*") {
		t.Errorf("--only trust: %v\n%s", err, only)
	}
	for _, want := range []string{
		"arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com",
		`"repo:acme/ops:*"`,
		"arn:aws:ecr:eu-west-2:222222222222:repository/mirror/currents/change-streams",
		"ecr:CreateRepository",
		"ecr:PutImage",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "513558712013") {
		t.Error("the vendor's account leaked into a policy for the mirror")
	}
	for args, want := range map[string]string{
		"--circleci-org x":                    "must be a UUID",
		"":                                    "exactly one of",
		"--github-repo a/b --only both":       "--only",
		"--github-repo a/b --to docker.io/x":  "none of the stack's images is in an ECR registry",
		"--github-repo a/b --github-ref main": "full ref",
		"--github-repo a/b --to 2222.dkr.ecr.eu-west-2.amazonaws.com/m/":                   "AWS account ID \"2222\" must be exactly 12 digits",
		"--github-repo a/b --to 222222222222.dkr.ecr.eu-wst.amazonaws.com/m/":              "\"eu-wst\" is not an AWS region",
		"--github-repo a/b --to 222222222222.dkr.ecr.eu-west-2.amazon.com/m/":              "not an ECR registry host",
		"--circleci-org 4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f --github-ref refs/heads/main": "narrow --github-repo",
	} {
		a := append([]string{"policy", "ci-trust", "-f", f}, strings.Fields(args)...)
		if _, _, err := runRoot(t, a...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", args, err, want)
		}
	}
}
