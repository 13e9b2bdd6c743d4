package plugincmd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
)

// fakeCompose is a conforming docker-compose plugin that says who it is and
// echoes its argv, and exits 7 for `fail`, so pass-through is visible.
const fakeCompose = `#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"Docker Inc.","Version":"v2.99.0-fake","ShortDescription":"Docker Compose"}'
  exit 0
fi
echo "FAKE-COMPOSE $*"
case " $* " in *" fail "*) exit 7;; esac
exit 0
`

// dockerRun runs the real docker CLI with the test's config directory.
func dockerRun(t *testing.T, cfgDir string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("docker", args...)
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

// TestComposeShimThroughTheRealDockerCLI installs the shim as a user would
// and drives `docker compose` through it.
func TestComposeShimThroughTheRealDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI on PATH")
	}
	isolate(t)
	cfgDir := os.Getenv("DOCKER_CONFIG")
	plugins := filepath.Join(cfgDir, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	// A copy, not a link: install hard-links the binary it runs from.
	b, err := os.ReadFile(pluginBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "docker-currents"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "docker-compose"), []byte(fakeCompose), 0o755); err != nil {
		t.Fatal(err)
	}

	// A registry holding the stack, and config.json with its token as
	// `docker login` writes it, in a layout uninstall must give back.
	aws := standin.New()
	t.Cleanup(aws.Close)
	reg := standin.NewRegistry(aws)
	t.Cleanup(reg.Close)
	if _, err := seed.Stack(context.Background(), reg, "currents/on-prem", "staging"); err != nil {
		t.Fatal(err)
	}
	user, pass, _ := aws.MintToken(fmt.Sprintf("arn:aws:iam::%s:root", aws.Account()), time.Hour)
	auth, _ := json.Marshal(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
	before := fmt.Sprintf("{\n\t\"auths\": {\n\t\t%q: {\n\t\t\t\"auth\": %s\n\t\t}\n\t},\n\t\"psFormat\": \"table {{.ID}}\"\n}\n", reg.Host(), auth)
	cfgPath := filepath.Join(cfgDir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	stackEnv := []string{"DC_CURRENTS_REGISTRY=" + reg.Host()}
	composeFile := filepath.Join(stackDir, "compose.yaml")

	treeBefore := tree(t, cfgDir)
	out, code := dockerRun(t, cfgDir, nil, "currents", "shim", "install", "--check-before-up")
	if code != 0 || !strings.Contains(out, "installed and active") {
		t.Fatalf("install (%d):\n%s", code, out)
	}

	// Everything that is not ours reaches the real compose untouched.
	out, code = dockerRun(t, cfgDir, nil, "compose", "version")
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

	// Ours: `docker compose [project flags] currents …`.
	out, code = dockerRun(t, cfgDir, stackEnv, "compose", "-f", composeFile, "currents", "check")
	if code != 0 || !strings.Contains(out, "change-streams") || strings.Contains(out, "FAKE-COMPOSE") {
		t.Errorf("docker compose currents check (%d):\n%s", code, out)
	}
	// The check before up: pass hands over, failure stops compose.
	out, code = dockerRun(t, cfgDir, stackEnv, "compose", "-f", composeFile, "up", "-d")
	if code != 0 || !strings.Contains(out, "FAKE-COMPOSE compose -f "+composeFile+" up -d") {
		t.Errorf("up after a passing check (%d):\n%s", code, out)
	}
	out, code = dockerRun(t, cfgDir, append(stackEnv, "DC_CURRENTS_IMAGE_TAG=never-pushed"), "compose", "-f", composeFile, "up", "-d")
	if code != 1 || strings.Contains(out, "FAKE-COMPOSE") || !strings.Contains(out, "up stopped") {
		t.Errorf("up after a failing check (%d):\n%s", code, out)
	}
	// The check covers the services up starts: writer's image has no
	// arm64 build, so `up api` (api depends on writer) stops, while
	// `up --no-deps api` and `up director` go ahead.
	overlay := filepath.Join(stackDir, "variants", "single-platform.yaml")
	for args, ok := range map[string]bool{"up -d api": false, "up -d --no-deps api": true, "up -d director": true} {
		argv := append([]string{"compose", "-f", composeFile, "-f", overlay}, strings.Fields(args)...)
		out, code = dockerRun(t, cfgDir, stackEnv, argv...)
		if (code == 0) != ok || strings.Contains(out, "FAKE-COMPOSE") != ok {
			t.Errorf("docker compose %s (%d):\n%s", args, code, out)
		}
	}

	out, code = dockerRun(t, cfgDir, nil, "currents", "shim", "status")
	if code != 0 || !strings.Contains(out, "installed and active") {
		t.Errorf("status (%d):\n%s", code, out)
	}
	out, code = dockerRun(t, cfgDir, nil, "currents", "shim", "uninstall")
	if code != 0 || !strings.Contains(out, "exact bytes") {
		t.Errorf("uninstall (%d):\n%s", code, out)
	}
	if after, _ := os.ReadFile(cfgPath); string(after) != before {
		t.Errorf("config.json after uninstall:\n%s\nwant:\n%s", after, before)
	}
	// Nothing else is left behind either: the shim directory is gone.
	if after := tree(t, cfgDir); after != treeBefore {
		t.Errorf("config directory after uninstall:\n%s\nbefore install:\n%s", after, treeBefore)
	}
	out, _ = dockerRun(t, cfgDir, nil, "compose", "version")
	if strings.TrimSpace(out) != "FAKE-COMPOSE compose version" {
		t.Errorf("after uninstall: %q", out)
	}
	if out, code := dockerRun(t, cfgDir, nil, "currents", "shim", "status"); code != 0 || !strings.Contains(out, "not installed") {
		t.Errorf("status after uninstall (%d):\n%s", code, out)
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
