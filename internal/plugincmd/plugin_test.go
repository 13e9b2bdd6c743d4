package plugincmd

// These tests drive the built plugin through the real docker CLI, as a user
// meets it: docker discovers docker-currents in a temporary DOCKER_CONFIG's
// cli-plugins, passes its global options, and runs our credential helper
// (docker-credential-currents on PATH) through its own credHelpers lookup.
// No Docker engine is involved: the CLI runs plugins without one.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/currentsdev/currents/internal/check"
	"github.com/currentsdev/currents/internal/compose"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/testbin"
)

var (
	docker    string // the real docker CLI
	pluginBin string // built docker-currents
	binDir    string // built docker-credential-currents(+-aws)
	stackAt   string // testdata/stack, absolute
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if docker, err = exec.LookPath("docker"); err != nil {
		fmt.Fprintln(os.Stderr, "plugincmd: the docker CLI is not on PATH; the plugin tests need it (apt-get install docker.io, or the docker CLI binary)")
		return 1
	}
	// Built once per checkout and kept (testbin): a rerun with unchanged
	// sources links nothing.
	b, err := testbin.Product()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir, pluginBin = b.Helpers, b.Plugin
	if stackAt, err = filepath.Abs("../../testdata/stack"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

const roleARN = "arn:aws:iam::111122223333:role/currents-ecr-pull"

// world is one user's machine: a stand-in AWS and ECR registry holding the
// stack, a docker config directory with the plugin installed, currents.yaml
// aliasing the registry's loopback address to the vendor's account, and an
// environment that reaches nothing but loopback.
type world struct {
	t       testing.TB
	aws     *standin.Server
	reg     *standin.Registry
	digests map[string]v1.Hash
	home    string
	config  string // DOCKER_CONFIG
	env     []string
	// secrets must never appear in anything the plugin prints.
	secrets []string
	// stdin, when set, is the commands' standard input (a pipe).
	stdin string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	sw := standintest.New(t, standintest.WithRegistry(), standintest.WithUser("arn:aws:iam::111122223333:user/deploy"),
		standintest.WithRole(roleARN), standintest.WithoutTrust())
	aws, reg, user := sw.AWS, sw.Registry, sw.User
	digests, err := seed.Stack(context.Background(), reg, "currents/on-prem", "staging")
	if err != nil {
		t.Fatal(err)
	}

	w := &world{t: t, aws: aws, reg: reg, digests: digests, home: t.TempDir(), secrets: []string{user.SecretAccessKey}}
	w.config = w.installPlugin(filepath.Join(w.home, ".docker"))
	yaml := fmt.Sprintf("registries:\n  - host: %q\n    account: \"513558712013\"\n    region: us-east-1\n    role_arn: %s\n", reg.Host(), roleARN)
	w.write(filepath.Join(w.config, "currents.yaml"), yaml)

	w.env = append([]string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + w.home,
		"DOCKER_CONFIG=" + w.config,
		"DOCKER_HOST=unix://" + filepath.Join(w.home, "no-engine.sock"),
		"CURRENTS_CACHE_DIR=" + filepath.Join(w.home, "cache"),
		"AWS_CONFIG_FILE=" + filepath.Join(w.home, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(w.home, "no-aws-credentials"),
		"DC_CURRENTS_REGISTRY=" + reg.Host(),
	}, aws.Env(user)...)
	reg.Reset()
	aws.Reset()
	return w
}

// installPlugin makes dir a docker config directory with the plugin in its
// cli-plugins, as `make install` would for a user.
func (w *world) installPlugin(dir string) string {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Symlink(pluginBin, filepath.Join(dir, "cli-plugins", "docker-currents")); err != nil {
		w.t.Fatal(err)
	}
	return dir
}

func (w *world) write(path, content string) {
	w.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// registerHelper writes config.json as `docker-credential-currents
// configure` leaves it.
func (w *world) registerHelper() {
	w.write(filepath.Join(w.config, "config.json"), fmt.Sprintf(`{"credHelpers": {%q: "currents"}}`, w.reg.Host()))
}

// configVariant writes config.json from testdata/stack/variants/docker-config,
// with the registry's address for the REGISTRY placeholder.
func (w *world) configVariant(name string) {
	w.t.Helper()
	b := mustRead(w.t, filepath.Join(stackAt, "variants", "docker-config", name+".json"))
	w.write(filepath.Join(w.config, "config.json"), strings.ReplaceAll(b, "REGISTRY", w.reg.Host()))
}

// staticLogin writes config.json as `docker login` with an ECR token leaves it.
func (w *world) staticLogin(lifetime time.Duration) {
	user, pass, _ := w.aws.MintToken("arn:aws:sts::111122223333:assumed-role/currents-ecr-pull/ops", lifetime)
	auth := base64Std(user + ":" + pass)
	w.secrets = append(w.secrets, pass, auth)
	w.write(filepath.Join(w.config, "config.json"), fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, w.reg.Host(), auth))
}

type result struct {
	code           int
	stdout, stderr string
}

// docker runs the docker CLI in testdata/stack with the world's environment.
func (w *world) docker(args ...string) result {
	w.t.Helper()
	cmd := exec.Command(docker, args...)
	cmd.Dir = stackAt
	cmd.Env = w.env
	if w.stdin != "" {
		cmd.Stdin = strings.NewReader(w.stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			w.t.Fatalf("docker %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	for _, s := range w.secrets {
		if strings.Contains(out.String()+errb.String(), s) {
			w.t.Errorf("docker %v printed a secret", args)
		}
	}
	return result{code, out.String(), errb.String()}
}

func (w *world) checkJSON(args ...string) (result, check.Report) {
	w.t.Helper()
	r := w.docker(append([]string{"currents", "check", "--format", "json"}, args...)...)
	var rep check.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		w.t.Fatalf("JSON output does not parse: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return r, rep
}

func row(t *testing.T, rep check.Report, service string) check.Row {
	t.Helper()
	for _, r := range rep.Services {
		if r.Service == service {
			return r
		}
	}
	t.Fatalf("no row for %s in %+v", service, rep.Services)
	return check.Row{}
}

func TestPluginDiscoveryAndMetadata(t *testing.T) {
	t.Parallel() // a world of its own: its commands get its environment, not the process's
	w := newWorld(t)
	r := w.docker("currents", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "check") || !strings.Contains(r.stdout, "up") {
		t.Errorf("docker currents --help: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.docker("info", "--format", "{{json .ClientInfo.Plugins}}")
	var plugins []struct{ Name, Vendor, Path, Err string }
	if err := json.Unmarshal([]byte(r.stdout), &plugins); err != nil {
		t.Fatalf("docker info: %v\n%s%s", err, r.stdout, r.stderr)
	}
	found := false
	for _, p := range plugins {
		if p.Name == "currents" {
			found = p.Vendor == "Currents" && p.Err == "" && strings.HasPrefix(p.Path, w.config)
		}
	}
	if !found {
		t.Errorf("docker info does not list a working currents plugin from %s: %+v", w.config, plugins)
	}
	frontAnswersAsTheFullPlugin(t, w, plugins)
}

// frontAnswersAsTheFullPlugin: the full plugin sits beside its front, docker
// takes it for no plugin at all (an "invalid plugin" entry would show its
// path), and the front's metadata is the full plugin's, byte for byte.
func frontAnswersAsTheFullPlugin(t *testing.T, w *world, plugins []struct{ Name, Vendor, Path, Err string }) {
	t.Helper()
	if _, err := os.Stat(dirs.PluginFull(pluginBin)); err != nil {
		t.Fatalf("the full plugin is not beside its front: %v", err)
	}
	for _, p := range plugins {
		if strings.Contains(p.Path, product.PluginFullCommand) || (strings.HasPrefix(p.Path, w.config) && p.Err != "") {
			t.Errorf("docker info lists %+v", p)
		}
	}
	// docker asks the front; its answer is the full plugin's (docker/cli's
	// plugin package's), byte for byte.
	out, err := exec.Command(pluginBin, "docker-cli-plugin-metadata").Output()
	var meta map[string]any
	if err != nil || json.Unmarshal(out, &meta) != nil || meta["SchemaVersion"] != "0.1.0" || meta["Vendor"] != "Currents" {
		t.Errorf("metadata: %v %s", err, out)
	}
	full, err := exec.Command(dirs.PluginFull(pluginBin), "docker-cli-plugin-metadata").Output()
	if err != nil || string(full) != string(out) {
		t.Errorf("the front's metadata is not the full plugin's (%v):\nfront: %s\nfull:  %s", err, out, full)
	}
}

func TestGoodStackThroughTheCredentialHelper(t *testing.T) {
	t.Parallel() // a world of its own: its commands get its environment, not the process's
	w := newWorld(t)
	w.registerHelper()
	r, rep := w.checkJSON()
	if r.code != 0 || !rep.Pullable {
		t.Fatalf("exit %d, pullable %v\n%s\n%s", r.code, rep.Pullable, r.stdout, r.stderr)
	}
	goodRows(t, w, rep)
	// The helper ran once for the whole stack: one role assumption, one
	// token; the registry, an ECR alias, saw no ping (Basic credentials go
	// with the first request), each manifest once, the five
	// single-platform images' config blobs and a HEAD of the manifest api's
	// index lists for this machine's platform.
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		t.Errorf("AWS calls %+v, want one AssumeRole and one GetAuthorizationToken", c)
	}
	wantRequests(t, w.reg, "first check", 5)
	// A second check remembers the configs' platforms, never whether api's
	// platform manifest is still there: manifests and that HEAD only.
	w.reg.Reset()
	if r, rep := w.checkJSON(); r.code != 0 || !rep.Pullable {
		t.Fatalf("second check: exit %d\n%s", r.code, r.stderr)
	}
	wantRequests(t, w.reg, "second check", 0)
	// With no engine to ask (DOCKER_HOST is a dead socket), the platform is
	// this machine's, and the report says so.
	if rep.SchemaVersion != 1 || rep.PlatformFrom != "host" || rep.Platform != "linux/"+runtime.GOARCH {
		t.Errorf("platform %q from %q, schema %d", rep.Platform, rep.PlatformFrom, rep.SchemaVersion)
	}

	goodTable(t, w)

	// Usage errors are docker's 125, not a verdict on the stack.
	if r := w.docker("currents", "check", "--format", "yaml"); r.code != 125 {
		t.Errorf("--format yaml: exit %d", r.code)
	}

	// Naming a service checks it and what it depends on.
	_, rep = w.checkJSON("api")
	if len(rep.Services) != 2 || rep.Services[0].Service != "api" || rep.Services[1].Service != "writer" {
		t.Errorf("check api: %+v", rep.Services)
	}
}

// wantRequests: the check of the good stack asked its registry, an ECR
// alias, no ping: the 6 manifests, configs config blobs and a HEAD of api's
// platform manifest.
func wantRequests(t *testing.T, reg *standin.Registry, what string, configs int64) {
	t.Helper()
	if st := reg.Requests(); st.Requests != 6+configs+1 || st.BlobGets != configs || st.Unauthorized != 0 || st.Heads != 1 {
		t.Errorf("%s: registry requests %+v, want 6 manifests, %d configs and 1 HEAD", what, st, configs)
	}
}

// goodRows: every service of the good stack is ok, with its digest, the
// helper as its credentials and where each variable came from.
func goodRows(t *testing.T, w *world, rep check.Report) {
	t.Helper()
	if len(rep.Services) != 6 {
		t.Fatalf("services: %+v", rep.Services)
	}
	for svc, d := range w.digests {
		row := row(t, rep, svc)
		if row.Status != "ok" || row.Digest != d.String() || row.Credentials == nil || row.Credentials.Kind != "credHelpers" || row.Credentials.Helper != "currents" {
			t.Errorf("%s: %+v", svc, row)
		}
		if len(row.Variables) != 2 || row.Variables[0].Origin.String() != ".env:6 (using DC_CURRENTS_REGISTRY from the environment)" ||
			row.Variables[1].Origin.String() != ".env:7" {
			t.Errorf("%s: variables %+v", svc, row.Variables)
		}
	}
}

// goodTable: the table says what the JSON says, without colour (not a
// terminal); --no-trunc shows full references and digests, as docker's
// does; -q says nothing.
func goodTable(t *testing.T, w *world) {
	t.Helper()
	r := w.docker("currents", "check")
	t.Logf("docker currents check\n%s%s", r.stdout, r.stderr)
	if r.code != 0 || !strings.Contains(r.stdout, "every image is pullable") || strings.Contains(r.stdout, "\x1b[") ||
		!strings.Contains(r.stdout, `credHelpers["`+w.reg.Host()+`"] = "currents"`) || !strings.Contains(r.stdout, `DC_CURRENTS_IMAGE_TAG="staging" from .env:7`) {
		t.Errorf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.docker("currents", "check", "--no-trunc")
	var apiRow []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "api" {
			apiRow = f
		}
	}
	if r.code != 0 || len(apiRow) < 4 || apiRow[1] != w.reg.Host()+"/currents/on-prem/api:staging" || apiRow[3] != w.digests["api"].String() {
		t.Errorf("--no-trunc: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.docker("currents", "check", "-q")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("-q: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestConfigFlagAndDockerConfigAreHonoured(t *testing.T) {
	t.Parallel() // a world of its own: its commands get its environment, not the process's
	w := newWorld(t)
	// The default config has no credentials; another one, named with
	// --config, holds the plugin and the helper registration.
	other := w.installPlugin(filepath.Join(w.home, "other-docker"))
	w.write(filepath.Join(other, "config.json"), fmt.Sprintf(`{"credHelpers": {%q: "currents"}}`, w.reg.Host()))
	w.write(filepath.Join(other, "currents.yaml"), mustRead(t, filepath.Join(w.config, "currents.yaml")))

	_, rep := w.checkJSON()
	if rep.Pullable {
		t.Fatal("the default config has no credentials, yet the stack is pullable")
	}
	r := w.docker("--config", other, "currents", "check", "--format", "json")
	var rep2 check.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep2); err != nil || r.code != 0 {
		t.Fatalf("--config: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if c := row(t, rep2, "api").Credentials; c.ConfigFile != filepath.Join(other, "config.json") {
		t.Errorf("--config: credentials read from %q", c.ConfigFile)
	}

	// DOCKER_CONFIG alone selects it too.
	for i, kv := range w.env {
		if strings.HasPrefix(kv, "DOCKER_CONFIG=") {
			w.env[i] = "DOCKER_CONFIG=" + other
		}
	}
	if r := w.docker("currents", "check", "-q"); r.code != 0 {
		t.Errorf("DOCKER_CONFIG: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Each broken variant gets its own diagnosis and exit status.
// variant is a broken stack or docker config and what check says of it.
type variant struct {
	name   string
	setup  func(*world)
	args   []string
	code   int
	status map[string]string // service → status
	says   []string          // in the table output
}

func TestBrokenVariants(t *testing.T) {
	t.Parallel() // a world of its own: its commands get its environment, not the process's
	cases := []variant{
		{
			name: "missing slash", setup: (*world).registerHelper, args: []string{"--env-file", "variants/missing-slash.env"}, code: 1,
			status: map[string]string{"api": "not-found", "writer": "not-found"},
			says:   []string{"has no trailing slash", "/currents/on-prem/ at variants/missing-slash.env:3"},
		},
		{
			name: "unset variable", setup: (*world).registerHelper, args: []string{"--env-file", "variants/unset-variable.env"}, code: 1,
			status: map[string]string{"api": "invalid", "webhooks": "invalid"},
			says:   []string{"variable DC_CURRENTS_IMAGE_TAG used in the image at compose.yaml:6 is not set"},
		},
		{
			name: "missing tag", setup: (*world).registerHelper, args: []string{"--env-file", "variants/missing-tag.env"}, code: 1,
			status: map[string]string{"api": "not-found", "scheduler": "not-found"},
			says:   []string{"tag never-mirrored is not in"},
		},
		{
			name: "wrong platform", setup: (*world).registerHelper, args: []string{"-f", "compose.yaml", "-f", "variants/wrong-platform.yaml"}, code: 1,
			status: map[string]string{"api": "no-platform", "director": "ok"},
			says:   []string{"has no image for linux/s390x (its index has: linux/amd64, linux/arm64)"},
		},
		{
			name: "single-platform image for another platform", setup: (*world).registerHelper, args: []string{"-f", "compose.yaml", "-f", "variants/single-platform.yaml"}, code: 1,
			status: map[string]string{"writer": "no-platform", "api": "ok", "director": "ok"},
			says:   []string{"/currents/on-prem/writer:staging is a single-platform image for linux/amd64, not linux/arm64", "or set the service's platform: to one it has"},
		},
		{
			name: "DOCKER_DEFAULT_PLATFORM", code: 1,
			setup: func(w *world) {
				w.registerHelper()
				w.env = append(w.env, "DOCKER_DEFAULT_PLATFORM=linux/arm64")
			},
			status: map[string]string{"api": "ok", "writer": "no-platform", "director": "no-platform"},
			says:   []string{"or unset DOCKER_DEFAULT_PLATFORM", "platform: linux/arm64 (from DOCKER_DEFAULT_PLATFORM)"},
		},
		{
			name: "stale static token", setup: func(w *world) { w.staticLogin(-2 * time.Hour) }, code: 1,
			status: map[string]string{"api": "expired", "writer": "expired"},
			says:   []string{"the static ECR token for 127.0.0.1:", `from auths["127.0.0.1:`, "expired at", `add {"credHelpers": {"127.0.0.1:`, "docker logout 127.0.0.1:"},
		},
		{
			name: "stale static token from testdata", setup: func(w *world) { w.configVariant("stale-static-token") }, code: 1,
			status: map[string]string{"api": "expired", "writer": "expired"},
			says:   []string{"expired at 2023-11-14T22:13:20Z (ECR tokens last 12 hours)", "docker logout 127.0.0.1:"},
		},
		{
			name: "no helper registered", setup: func(w *world) { w.configVariant("no-helper") }, code: 1,
			status: map[string]string{"api": "unauthorized"},
			says: []string{"no credential helper is registered for it in", `add {"credHelpers": {"127.0.0.1:`,
				"(currents.yaml already configures 127.0.0.1:"},
		},
		{
			name: "build-only and profiles", setup: (*world).registerHelper, args: []string{"-f", "compose.yaml", "-f", "variants/extras.yaml"}, code: 0,
			status: map[string]string{"migrate": "build-only", "debug": "skipped", "api": "ok"},
		},
		{
			name: "project cannot be loaded", args: []string{"-f", "does-not-exist.yaml"}, code: 2,
			says: []string{"cannot load the compose project", "fix: check the path given with -f"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t)
		})
	}
}

// check runs the table, JSON and quiet forms of check on the variant.
func (c variant) check(t *testing.T) {
	w := newWorld(t)
	if c.setup != nil {
		c.setup(w)
	}
	r := w.docker(append([]string{"currents", "check"}, c.args...)...)
	t.Logf("docker currents check %s\n%s%s", strings.Join(c.args, " "), r.stdout, r.stderr)
	if r.code != c.code {
		t.Errorf("exit %d, want %d\n%s%s", r.code, c.code, r.stdout, r.stderr)
	}
	for _, s := range c.says {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output lacks %q:\n%s%s", s, r.stdout, r.stderr)
		}
	}
	r, rep := w.checkJSON(c.args...)
	if c.code == 2 {
		if r.code != 2 || rep.Pullable || rep.SchemaVersion != 1 || !strings.Contains(rep.Error, "does-not-exist.yaml") || rep.Fix == "" ||
			rep.ComposeFiles == nil || rep.Services == nil {
			t.Errorf("json: exit %d, %+v", r.code, rep)
		}
		return
	}
	if r.code != c.code || rep.Pullable != (c.code == 0) {
		t.Errorf("json: exit %d, pullable %v", r.code, rep.Pullable)
	}
	for svc, st := range c.status {
		if got := row(t, rep, svc); got.Status != st {
			t.Errorf("%s: status %q, want %q (%s)", svc, got.Status, st, got.Message)
		}
	}
	q := w.docker(append([]string{"currents", "check", "-q"}, c.args...)...)
	if q.code != c.code || q.stdout != "" || (c.code != 0) != (q.stderr != "") {
		t.Errorf("-q: exit %d stdout %q stderr %q", q.code, q.stdout, q.stderr)
	}
}

// up hands over to the real `docker compose` only after a passing check.
// A stand-in compose plugin records what it was given and exits 7, which
// must come back untouched.
// `docker currents up -f -` reads the compose file from a pipe for the
// check, and compose, exec'd after it, reads the same bytes: it found the
// pipe drained ("empty compose file").
func TestUpWithTheComposeFileOnStdin(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	record := filepath.Join(w.home, "compose-stdin")
	fake := fmt.Sprintf(`#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"test","Version":"0"}'; exit 0
fi
cat > %s
exit 7
`, record)
	w.write(filepath.Join(w.config, "cli-plugins", "docker-compose"), fake)
	if err := os.Chmod(filepath.Join(w.config, "cli-plugins", "docker-compose"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.registerHelper()
	w.stdin = mustRead(t, filepath.Join(stackAt, "compose.yaml"))
	r := w.docker("currents", "up", "-f", "-", "-p", "demo", "-d")
	if r.code != 7 || !strings.Contains(r.stdout+r.stderr, "every image is pullable") {
		t.Fatalf("exit %d, want compose's 7 after a passing check\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := mustRead(t, record); got != w.stdin {
		t.Errorf("compose read %d bytes from standard input, want the %d of the compose file", len(got), len(w.stdin))
	}
}

func TestUpExecsComposeOnlyWhenTheCheckPasses(t *testing.T) {
	t.Parallel() // a world of its own: its commands get its environment, not the process's
	w := newWorld(t)
	record := filepath.Join(w.home, "compose-args")
	fake := fmt.Sprintf(`#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"test","Version":"0"}'; exit 0
fi
printf '%%s\n' "$@" > %s
echo "CURRENTS_CHECKED=$CURRENTS_CHECKED" >> %s
exit 7
`, record, record)
	w.write(filepath.Join(w.config, "cli-plugins", "docker-compose"), fake)
	if err := os.Chmod(filepath.Join(w.config, "cli-plugins", "docker-compose"), 0o755); err != nil {
		t.Fatal(err)
	}

	// Failing check: compose never runs.
	r := w.docker("currents", "up", "-d")
	if r.code != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("failing check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(record); err == nil {
		t.Fatal("compose ran although the check failed")
	}
	// up --pull never pulls nothing (images already on the engine, an
	// offline host): nothing to prove, compose runs.
	if r := w.docker("currents", "up", "--pull", "never", "-d"); r.code != 7 {
		t.Errorf("up --pull never: exit %d, want compose's 7\n%s%s", r.code, r.stdout, r.stderr)
	}
	_ = os.Remove(record)

	w.registerHelper()
	r = w.docker("currents", "up", "-f", "compose.yaml", "-d", "--wait", "-p", "demo", "api")
	if r.code != 7 {
		t.Errorf("exit %d, want compose's 7\n%s%s", r.code, r.stdout, r.stderr)
	}
	got := strings.Fields(mustRead(t, record))
	want := []string{"compose", "--file", "compose.yaml", "--project-name", "demo", "up", "-d", "--wait", "api", "CURRENTS_CHECKED=1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("compose got %q, want %q", got, want)
	}

	// The check covers what up starts: the named services and their
	// dependencies (api depends on writer, whose image is amd64-only while
	// the overlay wants arm64), or the named ones alone with --no-deps.
	// Flag values ("writer=2", "5") are not services.
	overlay := []string{"currents", "up", "-f", "compose.yaml", "-f", "variants/single-platform.yaml", "-d"}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"api"}, 1},
		{[]string{"--no-deps", "api"}, 7},
		{[]string{"--scale", "writer=2", "-t", "5", "director"}, 7},
		{[]string{"--attach", "writer", "director"}, 7},
		{nil, 1},
	} {
		_ = os.Remove(record)
		r := w.docker(append(append([]string{}, overlay...), c.args...)...)
		if r.code != c.code {
			t.Errorf("up %q: exit %d, want %d\n%s%s", c.args, r.code, c.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(record); (err == nil) != (c.code == 7) {
			t.Errorf("up %q: compose ran = %v", c.args, err == nil)
		}
	}
}

// TestUpWithoutComposeSaysHowToInstallIt: with no compose plugin where
// docker looks, up says so and how to install it, instead of passing the
// check and leaving docker to fail on "-d" (unknown shorthand flag, 125).
func TestUpWithoutComposeSaysHowToInstallIt(t *testing.T) {
	t.Parallel() // a world of its own: its commands get its environment, not the process's
	w := newWorld(t)
	w.registerHelper()
	r := w.docker("currents", "up", "-d")
	if strings.Contains(r.stderr, "unknown shorthand flag") {
		t.Fatalf("docker was handed up's flags without a compose plugin (exit %d):\n%s", r.code, r.stderr)
	}
	if system := compose.Candidates(w.config, nil); len(system) > 0 {
		// This machine has a system-wide compose, which docker finds, so
		// up must find it too (compose itself then fails on the missing
		// engine); the missing case is covered by compose's own test.
		if strings.Contains(r.stderr, "not installed") {
			t.Errorf("up missed the system compose %s:\n%s", system[0], r.stderr)
		}
		return
	}
	for _, want := range []string{"docker compose is not installed", filepath.Join(w.config, "cli-plugins"), "docker-compose-plugin"} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, want 1 and %q in:\n%s", r.code, want, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "every image is pullable") {
		t.Error("up checked the stack before finding out compose is missing")
	}
}

func base64Std(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// BenchmarkDockerCurrentsCheck is the whole user-visible command on the
// six-service stack with the credential helper's cache warm: docker CLI,
// plugin start, compose load, helper run, registry round trips (loopback, no
// added latency).
func BenchmarkDockerCurrentsCheck(b *testing.B) {
	w := newWorld(b)
	w.registerHelper()
	if r := w.docker("currents", "check", "-q"); r.code != 0 {
		b.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := w.docker("currents", "check", "-q"); r.code != 0 {
			b.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
}

// Colour appears on a terminal only, and never with NO_COLOR. util-linux's
// script(1) gives the plugin a pseudo-terminal.
func TestColourOnATerminalOnly(t *testing.T) {
	t.Parallel() // a world of its own: its commands get its environment, not the process's
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) from util-linux is needed to run under a pseudo-terminal")
	}
	w := newWorld(t)
	w.registerHelper()
	onTTY := func(extraEnv ...string) string {
		cmd := exec.Command(scriptBin, "-qefc", docker+" currents check", "/dev/null")
		cmd.Dir = stackAt
		cmd.Env = append(append([]string{}, w.env...), extraEnv...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("script: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := onTTY(); !strings.Contains(out, "\x1b[32mok\x1b[0m") {
		t.Errorf("no colour on a terminal:\n%q", out)
	}
	if out := onTTY("NO_COLOR=1"); strings.Contains(out, "\x1b[") || !strings.Contains(out, "every image is pullable") {
		t.Errorf("colour despite NO_COLOR:\n%q", out)
	}
}

// fakeEngine answers the Docker API's /_ping and /version on a unix socket
// as an engine of the given architecture would; it returns the socket.
func fakeEngine(t *testing.T, arch string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "engine") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.47")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			_, _ = io.WriteString(w, "OK")
		case strings.HasSuffix(r.URL.Path, "/version"):
			_ = json.NewEncoder(w).Encode(map[string]string{"Os": "linux", "Arch": arch, "Version": "28.2.2", "ApiVersion": "1.47"})
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sock
}

// The platform docker pulls is the engine's, and docker's --context (or
// DOCKER_CONTEXT) chooses the engine: an arm64 engine makes the five
// amd64-only images unpullable, whatever this machine is.
func TestContextEngineDecidesThePlatform(t *testing.T) {
	t.Parallel() // a world of its own: its commands get its environment, not the process's
	w := newWorld(t)
	w.registerHelper()
	sock := fakeEngine(t, "arm64")
	if r := w.docker("context", "create", "armbox", "--docker", "host=unix://"+sock); r.code != 0 {
		t.Fatalf("docker context create: %d %s%s", r.code, r.stdout, r.stderr)
	}
	check := func(how string, args ...string) {
		t.Helper()
		r := w.docker(append(args, "currents", "check", "--format", "json")...)
		var rep check.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
			t.Fatalf("%s: exit %d %v\n%s%s", how, r.code, err, r.stdout, r.stderr)
		}
		if rep.Platform != "linux/arm64" || rep.PlatformFrom != "engine" {
			t.Errorf("%s: platform %q from %q", how, rep.Platform, rep.PlatformFrom)
		}
		for _, svc := range rep.Services {
			want := "no-platform"
			if svc.Service == "api" {
				want = "ok"
			}
			if svc.Status != want {
				t.Errorf("%s: %s is %s, want %s (%s)", how, svc.Service, svc.Status, want, svc.Message)
			}
		}
	}
	check("--context", "--context", "armbox")
	// DOCKER_HOST would win over DOCKER_CONTEXT, as in docker.
	env := w.env[:0]
	for _, kv := range w.env {
		if !strings.HasPrefix(kv, "DOCKER_HOST=") {
			env = append(env, kv)
		}
	}
	w.env = append(env, "DOCKER_CONTEXT=armbox")
	check("DOCKER_CONTEXT")
}

// TestCheckWithAnUnusableCacheDirectory: the platforms a check remembers live
// in the token cache's directory; when it cannot be used (here a regular
// file where it should be), the check still proves every image, asking each
// config again, as a cache only spares requests. It panicked before.
func TestCheckWithAnUnusableCacheDirectory(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.staticLogin(time.Hour) // credentials that need no cache of their own
	notADir := filepath.Join(w.home, "cache-is-a-file")
	w.write(notADir, "not a directory\n")
	w.env = append(w.env, "CURRENTS_CACHE_DIR="+notADir)
	for i := range 2 {
		w.reg.Reset()
		r, rep := w.checkJSON()
		if r.code != 0 || !rep.Pullable || strings.Contains(r.stderr, "panic") {
			t.Fatalf("check %d: exit %d, pullable %v\n%s", i, r.code, rep.Pullable, r.stderr)
		}
		if st := w.reg.Requests(); st.Requests != 6+5+1 || st.BlobGets != 5 {
			t.Errorf("check %d: registry requests %+v, want 6 manifests, 5 configs and api's HEAD (nothing remembered)", i, st)
		}
	}
}
