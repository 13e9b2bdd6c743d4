//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	ciRepo     = "currentsdev/stack"
	ciRef      = "refs/heads/main"
	ciOrg      = "4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f"
	ciProject  = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	githubIss  = "https://token.actions.githubusercontent.com"
	ciAccount  = "513558712013"
	ciRoleName = "currents-ci"
)

// ciWorld is a CI runner: the CI's own AWS (a second stand-in fronting the same registry, whose roles trust
// exactly what `docker currents policy ci-trust` writes), a GitHub job's variables, and a runner's empty
// DOCKER_CONFIG and cache, with no AWS keys at all.
type ciWorld struct {
	env     map[string]string // the stand-in's env file
	dir     string
	control string
	opts    []string // the runner's environment
}

func (w *ciWorld) cmd(t *testing.T, name string, args []string, extra ...string) result {
	t.Helper()
	return run(t, name, args, withEnv(append(append([]string{}, w.opts...), extra...)...))
}

// ciTrust runs `docker currents policy ci-trust ... --only trust` for the stack's repositories rehomed into the
// CI's account, and returns the document on its stdout (the aws iam steps go to stderr).
func ciTrust(t *testing.T, dir string, args ...string) string {
	t.Helper()
	c := exec.Command("docker", append([]string{"currents", "policy", "ci-trust", "--only", "trust", "--to",
		ciAccount + ".dkr.ecr.us-east-1.amazonaws.com/currents/"}, args...)...)
	c.Dir = stackDir
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("policy ci-trust %v: %v\n%s", args, err, stderr.String())
	}
	f := filepath.Join(dir, fmt.Sprintf("trust-%d.json", time.Now().UnixNano()))
	if err := os.WriteFile(f, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func newCIWorld(t *testing.T) *ciWorld {
	t.Helper()
	dir := scratchDir(t, "ci")
	ghTrust := ciTrust(t, dir, "--github-repo", ciRepo, "--github-ref", ciRef)
	otherTrust := ciTrust(t, dir, "--github-repo", "currentsdev/other", "--github-ref", ciRef)
	ccTrust := ciTrust(t, dir, "--circleci-org", ciOrg, "--circleci-project", ciProject)
	envFile := filepath.Join(dir, "standin.env")
	role := func(name string) string { return "arn:aws:iam::" + ciAccount + ":role/" + name }
	sp := exec.Command("currents-standin", "-upstream", e.upstream, "-account", ciAccount, "-token-lifetime", "8s",
		"-oidc-provider", githubIss+"=sts.amazonaws.com", "-oidc-provider", "https://oidc.circleci.com/org/"+ciOrg+"="+ciOrg,
		"-trust-policy", role(ciRoleName)+"="+ghTrust, "-trust-policy", role("other-repo")+"="+otherTrust,
		"-trust-policy", role("circleci")+"="+ccTrust, "-github-job", ciRepo+"@"+ciRef, "-env-file", envFile)
	log, _ := os.Create(filepath.Join(dir, "standin.log"))
	sp.Stdout, sp.Stderr = log, log
	if err := sp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Process.Signal(os.Interrupt); sp.Wait(); log.Close() })
	w := &ciWorld{dir: dir, env: map[string]string{}}
	for range 250 {
		if b, err := os.ReadFile(envFile); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
					w.env[k] = strings.Trim(v, "'")
				}
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if w.env["ACTIONS_ID_TOKEN_REQUEST_URL"] == "" {
		t.Fatalf("the CI stand-in wrote no job variables")
	}
	w.control = w.env["STANDIN_URL"] + "/_standin/"
	home := filepath.Join(dir, "home")
	w.opts = []string{"HOME=" + home, "DOCKER_CONFIG=" + filepath.Join(home, ".docker"), "CURRENTS_CACHE_DIR=" + filepath.Join(dir, "cache"),
		"AWS_ENDPOINT_URL_STS=" + w.env["AWS_ENDPOINT_URL_STS"], "AWS_ENDPOINT_URL_ECR=" + w.env["AWS_ENDPOINT_URL_ECR"],
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "DOCKER_BUILDKIT=0",
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=" + ciRepo, "GITHUB_REF=" + ciRef,
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + w.env["ACTIONS_ID_TOKEN_REQUEST_URL"], "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + w.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]}
	return w
}

func (w *ciWorld) registry() string { return w.env["STANDIN_REGISTRY"] }

func (w *ciWorld) configure(t *testing.T, role, kind string) {
	t.Helper()
	mustOK(t, w.cmd(t, "docker-credential-currents", []string{"configure", "--registry", w.registry(), "--account", ciAccount,
		"--region", "us-east-1", "--role-arn", "arn:aws:iam::" + ciAccount + ":role/" + role, "--web-identity", kind}))
}

// build builds a FROM-scratch image with the real engine (the classic builder: this engine has no buildx) and
// returns its reference in the CI's registry.
func (w *ciWorld) build(t *testing.T, tag string, extra ...string) string {
	t.Helper()
	ctx := filepath.Join(w.dir, "ctx-"+tag)
	os.MkdirAll(ctx, 0o755)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY build.txt /\n"), 0o644)
	os.WriteFile(filepath.Join(ctx, "build.txt"), []byte(tag+" "+time.Now().String()+"\n"), 0o644)
	ref := w.registry() + "/currents/on-prem/api:" + tag
	// The classic builder asks the helper for every registry in credHelpers, as a job's build step would.
	mustOK(t, w.cmd(t, "docker", []string{"build", "--quiet", "-t", ref, ctx}, extra...))
	return ref
}

func (w *ciWorld) counts(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get(w.control + "counts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]int{}
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func (w *ciWorld) skew(t *testing.T, d time.Duration) {
	t.Helper()
	resp, err := http.Post(w.control+"control", "application/json", strings.NewReader(`{"skew":"`+d.String()+`"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("skew %s: %v %v", d, err, resp)
	}
	resp.Body.Close()
}

// TestGitHubJobPushesAcrossSessions: a GitHub Actions job whose only set-up is `configure --web-identity
// github-actions` builds and pushes with the docker CLI; between pushes the CI's clock jumps past each 15-minute
// (default 1-hour) role session and the 8-second ECR token, compressing a long job. Every push works, each role
// session costs exactly one JWT request, and the runner's config.json never holds a password.
func TestGitHubJobPushesAcrossSessions(t *testing.T) {
	fresh(t)
	w := newCIWorld(t)
	w.configure(t, ciRoleName, "github-actions")
	const pushes = 4
	for i := range pushes {
		ref := w.build(t, fmt.Sprintf("run-%d", i))
		r := w.cmd(t, "docker", []string{"push", ref})
		noExpiredToken(t, r)
		mustOK(t, r)
		helperQuiet(t, r)
		// An hour and more of the job passes at the CI's AWS: the session and the token are over there. The
		// helper finds out from AWS, after its token's own refresh point (6 s of real time) has passed.
		w.skew(t, time.Duration(i+1)*61*time.Minute)
		time.Sleep(6500 * time.Millisecond)
	}
	c := w.counts(t)
	t.Logf("%d pushes: CI stand-in counts %v", pushes, c)
	if c["AssumeRoleWithWebIdentity"] != pushes || c["IDToken"] != pushes || c["AssumeRole"] != 0 {
		t.Errorf("%d pushes across %d sessions: %d sessions, %d JWT requests, %d AssumeRole; want one JWT per session",
			pushes, pushes, c["AssumeRoleWithWebIdentity"], c["IDToken"], c["AssumeRole"])
	}
	b, _ := os.ReadFile(filepath.Join(w.dir, "home", ".docker", "config.json"))
	var cfg struct {
		Auths       map[string]map[string]string `json:"auths"`
		CredHelpers map[string]string            `json:"credHelpers"`
	}
	json.Unmarshal(b, &cfg)
	if len(cfg.Auths) != 0 || cfg.CredHelpers[w.registry()] != "currents" {
		t.Errorf("the runner's config.json: %s", b)
	}

	// The same job against a role that trusts another repository: the claims and the condition to compare.
	w.configure(t, "other-repo", "github-actions")
	ref := w.build(t, "wrong-repo")
	r := w.cmd(t, "docker", []string{"push", ref}, "CURRENTS_CACHE_DIR="+filepath.Join(w.dir, "cache-wrong"))
	for _, want := range []string{"AccessDenied", "sub=repo:" + ciRepo + ":ref:" + ciRef, "token.actions.githubusercontent.com:sub", "role/other-repo"} {
		if r.code == 0 || !strings.Contains(r.out, want) {
			t.Errorf("a role of another repository: want %q\n%s", want, r)
		}
	}
	// A job without id-token: write has no request URL.
	w.configure(t, ciRoleName, "github-actions")
	r = w.cmd(t, "docker", []string{"push", ref}, "ACTIONS_ID_TOKEN_REQUEST_URL=", "CURRENTS_CACHE_DIR="+filepath.Join(w.dir, "cache-noperm"))
	if r.code == 0 || !strings.Contains(r.out, "permissions: id-token: write") {
		t.Errorf("a job without id-token: write:\n%s", r)
	}
}

// TestCircleCIJobPushes: the same with CircleCI's context token; a token past its hour gets its own message.
func TestCircleCIJobPushes(t *testing.T) {
	fresh(t)
	w := newCIWorld(t)
	body := `{"issuer":"https://oidc.circleci.com/org/` + ciOrg + `","audience":"` + ciOrg + `","subject":"org/` + ciOrg + `/project/` + ciProject + `/user/u"}`
	resp, err := http.Post(w.control+"idtoken", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Value string }
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	circle := []string{"GITHUB_ACTIONS=", "ACTIONS_ID_TOKEN_REQUEST_URL=", "CIRCLECI=true", "CIRCLE_OIDC_TOKEN_V2=" + v.Value}
	mustOK(t, w.cmd(t, "docker-credential-currents", []string{"configure", "--registry", w.registry(), "--account", ciAccount,
		"--region", "us-east-1", "--role-arn", "arn:aws:iam::" + ciAccount + ":role/circleci", "--web-identity", "circleci"}, circle...))
	ref := w.build(t, "circleci", circle...)
	r := w.cmd(t, "docker", []string{"push", ref}, circle...)
	mustOK(t, r)
	helperQuiet(t, r)

	w.skew(t, 2*time.Hour) // the job runs past its token's hour
	r = w.cmd(t, "docker", []string{"push", ref}, append(circle, "CURRENTS_CACHE_DIR="+filepath.Join(w.dir, "cache-expired"))...)
	if r.code == 0 || !strings.Contains(r.out, "ExpiredTokenException") || !strings.Contains(r.out, "re-run the job") {
		t.Errorf("an expired CircleCI token:\n%s", r)
	}
	r = w.cmd(t, "docker", []string{"push", ref}, "CIRCLECI=true", "GITHUB_ACTIONS=", "CURRENTS_CACHE_DIR="+filepath.Join(w.dir, "cache-nocontext"))
	if r.code == 0 || !strings.Contains(r.out, "only in jobs that use a context") {
		t.Errorf("a CircleCI job without a context:\n%s", r)
	}
}
