//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// env is what run.sh prepared, read from E2E_* variables. The scenarios never start an engine themselves.
type env struct {
	root     string // repository root
	tmp      string // run.sh's private temp dir; removed by run.sh
	alias    string // host:port of the stand-in's ECR-style registry front, mapped in currents.yaml
	upstream string // the distribution registry behind the front (no auth; used only to delete an image)
	standin  string // base URL of the stand-in (STS, ECR and /_standin)
	role     string // the role currents.yaml assumes
	queue    string // the SQS queue (in the user's account) the stand-in's EventBridge fills with every push
}

var e env

func loadEnv() (env, error) {
	var missing []string
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			missing = append(missing, k)
		}
		return v
	}
	v := env{
		root:     get("E2E_ROOT"),
		tmp:      get("E2E_TMP"),
		alias:    get("E2E_ALIAS"),
		upstream: get("E2E_UPSTREAM"),
		standin:  get("E2E_STANDIN_URL"),
		role:     get("E2E_ROLE_ARN"),
		queue:    get("E2E_QUEUE_URL"),
	}
	get("DOCKER_HOST")   // run.sh's private engine, never the host's
	get("DOCKER_CONFIG") // the temporary user's, with our helper and plugins
	if len(missing) > 0 {
		return v, fmt.Errorf("missing %s: run this tier with `make e2e` (e2e/run.sh), which starts the engine", strings.Join(missing, ", "))
	}
	return v, nil
}

// result is one command's outcome. out holds stdout and stderr interleaved, as a user would see them.
type result struct {
	cmd  string
	out  string
	code int
}

// String is the command, its exit code and its output, without the progress bars that would bury the rest.
func (r result) String() string {
	var keep []string
	for _, l := range strings.Split(r.out, "\n") {
		if !strings.Contains(l, "Downloading [") && !strings.Contains(l, "Extracting [") {
			keep = append(keep, l)
		}
	}
	return fmt.Sprintf("$ %s\n(exit %d)\n%s", r.cmd, r.code, strings.Join(keep, "\n"))
}

// cmdOpt adjusts one command: its directory or extra environment.
type cmdOpt func(*exec.Cmd)

func inDir(dir string) cmdOpt { return func(c *exec.Cmd) { c.Dir = dir } }

// withEnv adds KEY=VALUE pairs; later ones win, as in exec.Cmd.
func withEnv(kv ...string) cmdOpt { return func(c *exec.Cmd) { c.Env = append(c.Env, kv...) } }

// withStdin feeds s to the command's standard input (a password for --password-stdin; never argv).
func withStdin(s string) cmdOpt { return func(c *exec.Cmd) { c.Stdin = strings.NewReader(s) } }

// cacheDir points the helper at its own token cache, so a scenario starts cold without touching the others.
func cacheDir(dir string) cmdOpt { return withEnv("CURRENTS_CACHE_DIR=" + dir) }

// run runs a command to completion (bounded, so a hung pull fails the scenario instead of the whole tier) and
// records it, with what it printed, in the scenario's transcript.
func run(t *testing.T, name string, args []string, opts ...cmdOpt) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = os.Environ()
	for _, o := range opts {
		o(c)
	}
	var buf bytes.Buffer
	c.Stdout, c.Stderr = &buf, &buf
	err := c.Run()
	r := result{cmd: name + " " + strings.Join(args, " "), out: buf.String()}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v\n%s", r.cmd, err, r.out)
		}
		r.code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: still running after 4 minutes\n%s", r.cmd, r.out)
	}
	record(t, r)
	return r
}

// transcripts holds, per scenario, every command it ran and what docker printed. A scenario that fails prints its
// whole transcript; one that passes prints nothing, so CI logs show the failures, not thousands of progress lines.
var transcripts sync.Map // *testing.T → *strings.Builder

func record(t *testing.T, r result) {
	t.Helper()
	b, loaded := transcripts.LoadOrStore(t, &strings.Builder{})
	if !loaded {
		t.Cleanup(func() {
			if t.Failed() || testing.Verbose() && os.Getenv("E2E_TRANSCRIPT") == "1" {
				t.Logf("transcript:\n%s", b.(*strings.Builder).String())
			}
			transcripts.Delete(t)
		})
	}
	fmt.Fprintf(b.(*strings.Builder), "%s\n", r)
}

func docker(t *testing.T, args ...string) result { t.Helper(); return run(t, "docker", args) }

// mustOK fails the scenario unless the command exited 0.
func mustOK(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("expected success:\n%s", r)
	}
	return r
}

// noExpiredToken is the failure this product exists to prevent; no command output may ever contain it.
func noExpiredToken(t *testing.T, r result) {
	t.Helper()
	if strings.Contains(strings.ToLower(r.out), "authorization token has expired") {
		t.Errorf("docker saw an expired ECR token:\n%s", r)
	}
}

// helperQuiet asserts that the helpers said nothing while a command worked: docker passes a credential helper's
// stderr straight to the user, so a warning or a stray library log line there (the AWS SDK's "SDK … WARN" once was)
// would show on every pull. Their lines start with the program's name (errors) or carry prog= (logs).
func helperQuiet(t *testing.T, r result) {
	t.Helper()
	for _, l := range strings.Split(r.out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "docker-credential-currents") || strings.Contains(l, "prog=docker-credential-currents") || strings.HasPrefix(l, "SDK ") {
			t.Errorf("the helper printed on a pull that worked: %q\n%s", l, r)
			return
		}
	}
}

// scratchDir is a directory under run.sh's temp dir (so it is removed even if the test binary is killed).
func scratchDir(t *testing.T, name string) string {
	t.Helper()
	d, err := os.MkdirTemp(e.tmp, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ---- the stand-in's control API ------------------------------------------------------------------------------------

// counts returns the stand-in's per-operation call counters.
func counts(t *testing.T) map[string]int { t.Helper(); return standinJSON(t, "counts") }

// attempts returns the stand-in's per-operation counters of calls received, refused ones included.
func attempts(t *testing.T) map[string]int { t.Helper(); return standinJSON(t, "attempts") }

// front returns what the stand-in's ECR-style registry front saw since the last reset (Requests, Authorized,
// Unauthorized, Expired, ManifestGets, BlobGets, ...).
func front(t *testing.T) map[string]int { t.Helper(); return standinJSON(t, "registry") }

// wantFrontServed asserts that the pulls really went through the front with tokens it accepted, and that it never
// had to refuse an expired one.
func wantFrontServed(t *testing.T) {
	t.Helper()
	f := front(t)
	if f["Authorized"] == 0 || f["ManifestGets"] == 0 {
		t.Errorf("the registry front authorized no manifest request: %v", f)
	}
	if f["Expired"] != 0 {
		t.Errorf("the registry front refused %d requests for an expired token: %v", f["Expired"], f)
	}
}

func standinJSON(t *testing.T, what string) map[string]int {
	t.Helper()
	c, err := getStandin(what)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// getStandin reads one of the stand-in's JSON counters (counts, attempts, registry).
func getStandin(what string) (map[string]int, error) {
	resp, err := http.Get(e.standin + "/_standin/" + what)
	if err != nil {
		return nil, fmt.Errorf("stand-in %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("stand-in %s: %s", what, resp.Status)
	}
	var c map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return nil, fmt.Errorf("stand-in %s: %w", what, err)
	}
	return c, nil
}

// control sends one control request (token lifetime, refusing the role, resetting counters) to the stand-in.
func control(t *testing.T, req map[string]any) {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(e.standin+"/_standin/control", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("stand-in control %s: %v", b, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("stand-in control %s: %s", b, resp.Status)
	}
}

// resetCounts zeroes the stand-in's counters.
func resetCounts(t *testing.T) {
	t.Helper()
	control(t, map[string]any{"reset": true})
}

// setTokenLifetime makes the stand-in issue ECR tokens of lifetime d until the scenario ends.
func setTokenLifetime(t *testing.T, d time.Duration) {
	t.Helper()
	control(t, map[string]any{"token_lifetime": d.String()})
	t.Cleanup(func() { control(t, map[string]any{"token_lifetime": defaultTokenLifetime.String()}) })
}

// refuseRole makes the stand-in refuse AssumeRole of the configured role until the scenario ends.
func refuseRole(t *testing.T) {
	t.Helper()
	control(t, map[string]any{"refuse_role": e.role})
	t.Cleanup(func() { control(t, map[string]any{"allow_role": e.role}) })
}

// defaultTokenLifetime is real ECR's, which the stand-in issues unless told otherwise.
const defaultTokenLifetime = 12 * time.Hour

// wantCalls asserts the exact AWS call counts the stand-in saw since the last reset.
func wantCalls(t *testing.T, assumeRole, getToken int) {
	t.Helper()
	c := counts(t)
	if c[opAssumeRole] != assumeRole || c[opGetToken] != getToken {
		t.Errorf("stand-in counted AssumeRole=%d GetAuthorizationToken=%d, want %d and %d (all counts: %v)",
			c[opAssumeRole], c[opGetToken], assumeRole, getToken, c)
	}
}

const (
	opAssumeRole = "AssumeRole"
	opGetToken   = "GetAuthorizationToken"
)

// repoRef is the alias-host reference of a service's image, as the stack's .env resolves it.
func repoRef(service, tag string) string { return e.alias + "/currents/on-prem/" + service + ":" + tag }
