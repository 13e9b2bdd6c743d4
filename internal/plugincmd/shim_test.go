package plugincmd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/exitcode"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/shim"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/testbin"
)

// fakeCompose is a conforming docker-compose plugin that says who it is and
// echoes its argv, and exits 7 for `fail`, so pass-through is visible.
const fakeCompose = `#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"Docker Inc.","Version":"v2.99.0-fake","ShortDescription":"Docker Compose"}'
  exit 0
fi
echo "FAKE-COMPOSE $*"
if [ -n "$CURRENTS_CHECKED" ]; then echo "FAKE-COMPOSE told: checked"; fi
case " $* " in *" -f - "*) echo "FAKE-COMPOSE stdin: $(wc -c) bytes";; esac
case " $* " in *" fail "*) exit 7;; esac
exit 0
`

// dockerRun runs the real docker CLI with the test's config directory.
func dockerRun(t *testing.T, cfgDir string, env []string, args ...string) (string, int) {
	t.Helper()
	return dockerRunWithStdin(t, cfgDir, env, "", args...)
}

// dockerRunWithStdin is dockerRun with stdin (when not empty) piped in.
func dockerRunWithStdin(t *testing.T, cfgDir string, env []string, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("docker", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfgDir, "DOCKER_HOST=unix:///nonexistent/docker.sock")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docker %v: %v", args, err)
	}
	return string(out), code
}

// shimWorld is a docker config directory holding the plugin and compose
// (the given docker-compose binary), a registry holding the stack, and
// config.json with its token as `docker login` writes it, in a layout
// uninstall must give back. It returns the config directory, the
// environment that points the stack at the registry, and config.json's
// bytes.
func shimWorld(t *testing.T, compose []byte) (cfgDir string, stackEnv []string, before string) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI on PATH")
	}
	isolate(t)
	cfgDir = os.Getenv("DOCKER_CONFIG")
	plugins := filepath.Join(cfgDir, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	// Copies, not links, as make install places them: install hard-links
	// the binary it runs from (the full plugin, which the front execs).
	for _, bin := range []string{pluginBin, dirs.PluginFull(pluginBin)} {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plugins, filepath.Base(bin)), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(plugins, "docker-compose"), compose, 0o755); err != nil {
		t.Fatal(err)
	}

	w := standintest.New(t, standintest.WithRegistry(), standintest.WithoutUser())
	aws, reg := w.AWS, w.Registry
	if _, err := seed.Stack(context.Background(), reg, "currents/on-prem", "staging"); err != nil {
		t.Fatal(err)
	}
	user, pass, _ := aws.MintToken(fmt.Sprintf("arn:aws:iam::%s:root", aws.Account()), time.Hour)
	auth, _ := json.Marshal(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
	before = fmt.Sprintf("{\n\t\"auths\": {\n\t\t%q: {\n\t\t\t\"auth\": %s\n\t\t}\n\t},\n\t\"psFormat\": \"table {{.ID}}\"\n}\n", reg.Host(), auth)
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgDir, []string{"DC_CURRENTS_REGISTRY=" + reg.Host()}, before
}

// TestComposeShimThroughTheRealDockerCLI installs the shim as a user would
// and drives `docker compose` through it, with a stand-in compose that
// echoes its argv so pass-through is exact.
func TestComposeShimThroughTheRealDockerCLI(t *testing.T) {
	cfgDir, stackEnv, before := shimWorld(t, []byte(fakeCompose))
	composeFile := filepath.Join(stackDir, "compose.yaml")

	treeBefore := tree(t, cfgDir)
	out, code := dockerRun(t, cfgDir, nil, "currents", "shim", "install", "--check-before-up")
	if code != 0 || !strings.Contains(out, "installed and active") {
		t.Fatalf("install (%d):\n%s", code, out)
	}
	// The shim is the plugin's front as docker-compose (it answers docker's
	// metadata question with the real compose's: docker info below), with
	// the full plugin beside it.
	for installed, from := range map[string]string{"docker-compose": product.PluginCommand, product.PluginFullCommand: product.PluginFullCommand} {
		a, err1 := os.Stat(filepath.Join(cfgDir, "cli-plugins", from))
		b, err2 := os.Stat(filepath.Join(cfgDir, shim.DirName, installed))
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			t.Errorf("the shim's %s is not the plugin's %s: %v %v", installed, from, err1, err2)
		}
	}
	shimPassesThrough(t, cfgDir)

	// Ours: `docker compose [project flags] currents …`.
	out, code = dockerRun(t, cfgDir, stackEnv, "compose", "-f", composeFile, "currents", "check")
	if code != 0 || !strings.Contains(out, "change-streams") || strings.Contains(out, "FAKE-COMPOSE") {
		t.Errorf("docker compose currents check (%d):\n%s", code, out)
	}
	shimChecksBeforeUp(t, cfgDir, stackEnv)

	out, code = dockerRun(t, cfgDir, nil, "currents", "shim", "status")
	if code != 0 || !strings.Contains(out, "installed and active") {
		t.Errorf("status (%d):\n%s", code, out)
	}
	uninstallGivesEverythingBack(t, cfgDir, before, treeBefore, "FAKE-COMPOSE compose version")
	if out, code := dockerRun(t, cfgDir, nil, "currents", "shim", "status"); code != 0 || !strings.Contains(out, "not installed") {
		t.Errorf("status after uninstall (%d):\n%s", code, out)
	}
}

// shimPassesThrough: everything that is not ours reaches the real compose
// untouched, argv and exit status, and docker info still shows it.
func shimPassesThrough(t *testing.T, cfgDir string) {
	t.Helper()
	out, code := dockerRun(t, cfgDir, nil, "compose", "version")
	if code != 0 || strings.TrimSpace(out) != "FAKE-COMPOSE compose version" {
		t.Errorf("docker compose version (%d): %q", code, out)
	}
	out, code = dockerRun(t, cfgDir, nil, "compose", "--ansi", "never", "fail", "--x")
	if code != 7 || !strings.Contains(out, "FAKE-COMPOSE compose --ansi never fail --x") {
		t.Errorf("exit status or argv not passed through (%d): %q", code, out)
	}
	// docker's --config global flag, not DOCKER_CONFIG, names the config.
	out, code = dockerRun(t, cfgDir, []string{"DOCKER_CONFIG=" + t.TempDir()}, "--config", cfgDir, "compose", "version")
	if code != 0 || strings.TrimSpace(out) != "FAKE-COMPOSE --config "+cfgDir+" compose version" {
		t.Errorf("docker --config DIR compose version (%d): %q", code, out)
	}
	out, _ = dockerRun(t, cfgDir, nil, "info", "--format", "{{json .ClientInfo.Plugins}}")
	if !strings.Contains(out, "v2.99.0-fake") || strings.Contains(out, `"Err"`) {
		t.Errorf("docker info does not show the real compose:\n%s", out)
	}
}

// shimChecksBeforeUp: a passing check hands over, a failing one stops
// compose, and the check covers the services up starts: writer's image has
// no arm64 build, so `up api` (api depends on writer) stops, while `up
// --no-deps api` and `up director` go ahead.
func shimChecksBeforeUp(t *testing.T, cfgDir string, stackEnv []string) {
	t.Helper()
	composeFile := filepath.Join(stackDir, "compose.yaml")
	out, code := dockerRun(t, cfgDir, stackEnv, "compose", "-f", composeFile, "up", "-d")
	// Told so, a compose behind the shim (a second shim) need not check again.
	if code != 0 || !strings.Contains(out, "FAKE-COMPOSE compose -f "+composeFile+" up -d") || !strings.Contains(out, "FAKE-COMPOSE told: checked") {
		t.Errorf("up after a passing check (%d):\n%s", code, out)
	}
	out, code = dockerRun(t, cfgDir, append(stackEnv, "DC_CURRENTS_IMAGE_TAG=never-pushed"), "compose", "-f", composeFile, "up", "-d")
	if code != 1 || strings.Contains(out, "FAKE-COMPOSE") || !strings.Contains(out, "up stopped") {
		t.Errorf("up after a failing check (%d):\n%s", code, out)
	}
	// up --pull never pulls nothing: the same stack goes through.
	out, code = dockerRun(t, cfgDir, append(stackEnv, "DC_CURRENTS_IMAGE_TAG=never-pushed"), "compose", "-f", composeFile, "up", "--pull", "never", "-d")
	if code != 0 || !strings.Contains(out, "FAKE-COMPOSE compose -f "+composeFile+" up --pull never -d") {
		t.Errorf("up --pull never (%d):\n%s", code, out)
	}
	// The compose file on a pipe (-f -): the check reads it, and so does
	// compose after it, every byte.
	content := mustRead(t, composeFile)
	out, code = dockerRunWithStdin(t, cfgDir, stackEnv, content, "compose", "--project-directory", stackDir, "-f", "-", "up", "-d")
	if want := fmt.Sprintf("FAKE-COMPOSE stdin: %d bytes", len(content)); code != 0 || !strings.Contains(out, want) {
		t.Errorf("up -f - after a passing check (%d), want %q:\n%s", code, want, out)
	}
	overlay := filepath.Join(stackDir, "variants", "single-platform.yaml")
	for args, ok := range map[string]bool{"up -d api": false, "up -d --no-deps api": true, "up -d director": true} {
		argv := append([]string{"compose", "-f", composeFile, "-f", overlay}, strings.Fields(args)...)
		out, code = dockerRun(t, cfgDir, stackEnv, argv...)
		if (code == 0) != ok || strings.Contains(out, "FAKE-COMPOSE") != ok {
			t.Errorf("docker compose %s (%d):\n%s", args, code, out)
		}
	}
}

// uninstallGivesEverythingBack: uninstall puts config.json back byte for
// byte, leaves no file behind, and `docker compose version` is the real
// compose's again (its output starts with version).
func uninstallGivesEverythingBack(t *testing.T, cfgDir, before, treeBefore, version string) {
	t.Helper()
	out, code := dockerRun(t, cfgDir, nil, "currents", "shim", "uninstall")
	if code != 0 || !strings.Contains(out, "exact bytes") {
		t.Errorf("uninstall (%d):\n%s", code, out)
	}
	if after := mustRead(t, filepath.Join(cfgDir, "config.json")); after != before {
		t.Errorf("config.json after uninstall:\n%s\nwant:\n%s", after, before)
	}
	if after := tree(t, cfgDir); after != treeBefore {
		t.Errorf("config directory after uninstall:\n%s\nbefore install:\n%s", after, treeBefore)
	}
	if out, code := dockerRun(t, cfgDir, nil, "compose", "version"); code != 0 || !strings.HasPrefix(out, version) {
		t.Errorf("docker compose version after uninstall (%d): %q", code, out)
	}
}

// tree lists the files under dir with their modes, one per line.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %s\n", info.Mode(), rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The same with the real compose v2: docker compose version and docker info
// still answer as compose, compose's own commands pass through, ours and the
// check before up work, and uninstall gives everything back.
func TestComposeShimWithTheRealCompose(t *testing.T) {
	bin := testbin.RealCompose()
	compose, err := os.ReadFile(bin)
	if err != nil {
		t.Skipf("compose v2 is not built at %s (make e2e builds it; or set CURRENTS_COMPOSE_PLUGIN): %v", bin, err)
	}
	cfgDir, stackEnv, before := shimWorld(t, compose)
	treeBefore := tree(t, cfgDir)
	composeFile := filepath.Join(stackDir, "compose.yaml")
	if out, code := dockerRun(t, cfgDir, nil, "currents", "shim", "install", "--check-before-up"); code != 0 {
		t.Fatalf("install (%d):\n%s", code, out)
	}
	shimPath := filepath.Join(cfgDir, "currents-compose-shim", "docker-compose")

	if out, code := dockerRun(t, cfgDir, nil, "compose", "version"); code != 0 || !strings.HasPrefix(out, "Docker Compose version v2.") {
		t.Errorf("docker compose version (%d): %q", code, out)
	}
	out, _ := dockerRun(t, cfgDir, nil, "info", "--format", "{{json .ClientInfo.Plugins}}")
	var plugins []struct{ Name, Version, Path, Err string }
	if err := json.Unmarshal([]byte(out), &plugins); err != nil {
		t.Fatalf("docker info: %v\n%s", err, out)
	}
	found := false
	for _, p := range plugins {
		if p.Name == "compose" {
			found = p.Path == shimPath && strings.HasPrefix(p.Version, "v2.") && p.Err == ""
		}
	}
	if !found {
		t.Errorf("docker info does not show compose v2 through the shim: %+v", plugins)
	}
	out, code := dockerRun(t, cfgDir, stackEnv, "compose", "-f", composeFile, "config", "--services")
	if code != 0 || len(strings.Fields(out)) != 6 {
		t.Errorf("docker compose config --services (%d):\n%s", code, out)
	}
	if out, code := dockerRun(t, cfgDir, stackEnv, "compose", "-f", composeFile, "currents", "check"); code != 0 || !strings.Contains(out, "every image is pullable") {
		t.Errorf("docker compose currents check (%d):\n%s", code, out)
	}
	// Stopped before compose reaches for the (absent) engine.
	overlay := filepath.Join(stackDir, "variants", "single-platform.yaml")
	out, code = dockerRun(t, cfgDir, stackEnv, "compose", "-f", composeFile, "-f", overlay, "up", "-d", "api")
	if code != 1 || !strings.Contains(out, "up stopped") || !strings.Contains(out, "writer\tno-platform") {
		t.Errorf("up with an unpullable dependency (%d):\n%s", code, out)
	}

	uninstallGivesEverythingBack(t, cfgDir, before, treeBefore, "Docker Compose version v2.")
}

// TestComposeShimUpInterruptedBlamesNoImage: Ctrl-C while the shim checks
// before up ends the check with exitcode.Interrupted, which the shim (a
// program of its own, running the check in a child) knows for no verdict:
// up stops with that status, without saying the images are not pullable,
// and compose is not run. A terminal's Ctrl-C signals the whole foreground
// process group (docker, the shim and the check); a kill signals docker alone.
func TestComposeShimUpInterruptedBlamesNoImage(t *testing.T) {
	cfgDir, _, _ := shimWorld(t, []byte(fakeCompose))
	if out, code := dockerRun(t, cfgDir, nil, "currents", "shim", "install", "--check-before-up"); code != 0 {
		t.Fatalf("install (%d):\n%s", code, out)
	}
	for _, group := range []bool{false, true} {
		out, err := upInterrupted(t, cfgDir, group)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitcode.Interrupted || !strings.Contains(out, "interrupted") ||
			strings.Contains(out, "up stopped") || strings.Contains(out, "FAKE-COMPOSE") {
			t.Errorf("up interrupted during the shim's check (whole process group: %v): %v\n%s", group, err, out)
		}
	}
}

// upInterrupted runs `docker compose up` through the shim against a registry
// that never answers, and interrupts it once the check has asked: docker
// alone, or its whole process group as a terminal does. It returns what the
// group wrote.
func upInterrupted(t *testing.T, cfgDir string, group bool) (string, error) {
	t.Helper()
	host, asked := silentRegistry(t)
	composeFile := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(composeFile, []byte("services:\n  a: {image: "+host+"/vendor/app:1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "compose", "-f", composeFile, "up", "-d")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfgDir, "DOCKER_HOST=unix:///nonexistent/docker.sock")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A pipe of our own, not a Writer: Wait returns when docker exits, not
	// when the last child holding the pipe does, as a shell's prompt does.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder // read once the copy is done
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&out, r); close(copied) }()
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-copied
		t.Fatalf("the check never asked the registry:\n%s", out.String())
	}
	pid := cmd.Process.Pid
	if group {
		pid = -pid
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	// A child still running once docker has exited writes after the prompt.
	// docker waits for the shim, the shim for its check: none may be left.
	if syscall.Kill(-cmd.Process.Pid, 0) == nil {
		t.Errorf("a process of up's group outlived docker (whole group interrupted: %v)", group)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-copied
	return out.String(), err
}
