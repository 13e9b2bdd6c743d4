package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/testbin"
)

// buildAll gives a temporary BIN holding the five binaries `make build` produces, built once per checkout
// and kept (testbin), with the Makefile's flags. Each caller gets its own copy, free to break.
func buildAll(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds every binary; skipped with -short")
	}
	builtBin, err := testbin.Build(append([]string{"-trimpath"}, testbin.BuildFlags...), "../credhelper/docker-credential-currents",
		"../credhelper/docker-credential-currents-aws", "../composeplugin/docker-currents", "../composeplugin/currents-plugin",
		"../internal/standin/currents-standin")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	entries, _ := os.ReadDir(builtBin)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // testbin's lock
		}
		data, err := os.ReadFile(filepath.Join(builtBin, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, e.Name()), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

var workDir = regexp.MustCompile(`/[^ ]*/currents-demo\.[A-Za-z0-9]+`)

func runDemo(t *testing.T, bin string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "demo.sh")
	cmd.Env = append(os.Environ(), "BIN="+bin, "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	// Whatever happened, the demo must have removed everything it created.
	if dir := workDir.FindString(string(out)); dir != "" {
		if _, serr := os.Stat(dir); serr == nil {
			t.Errorf("the demo left %s behind", dir)
		}
	}
	if pids, _ := exec.Command("pgrep", "-f", bin+"/currents-standin").Output(); len(pids) > 0 {
		t.Errorf("the demo left currents-standin running: %s", pids)
	}
	return string(out), err
}

func TestDemoRuns(t *testing.T) {
	bin := buildAll(t)
	out, err := runDemo(t, bin)
	if err != nil {
		t.Fatalf("make demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"credHelpers sends 127.0.0.1:",
		"already up to date",
		"all checks passed",
		"docker receives Username=AWS",
		"second get (cached token): AssumeRole 0, GetAuthorizationToken 0",
		"every image is pullable",
		"/currents/on-prem/",
		"demo passed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, svc := range []string{"api", "director", "change-streams", "scheduler", "writer", "webhooks"} {
		// The table may print images in full or relative to a common prefix; either way the row says ok.
		if !regexp.MustCompile(`(?m)^` + svc + `\s+(127\.0\.0\.1:\d+/currents/on-prem/)?` + svc + `:staging\s+ok\s`).MatchString(out) {
			t.Errorf("service %s not reported pullable", svc)
		}
	}
	// The external ID travels in a file: no command line the demo runs carries it.
	if !strings.Contains(out, "--external-id-file ") {
		t.Error("the demo does not show configure reading the external ID from a file")
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "$ ") && strings.Contains(line, "demo-external-id") {
			t.Errorf("a command line carries the external ID: %s", line)
		}
	}
	if _, err := exec.LookPath("curl"); err == nil && !strings.Contains(out, "FAIL  assume-role") {
		t.Error("the demo does not show doctor failing on a refused role")
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestDemoFailsLoudlyAndCleansUp(t *testing.T) {
	bin := buildAll(t)
	// An AWS half that always fails breaks `configure` (the lean binary execs it).
	os.WriteFile(filepath.Join(bin, "docker-credential-currents-aws"), []byte("#!/bin/sh\necho broken >&2\nexit 3\n"), 0o755)
	out, err := runDemo(t, bin)
	if err == nil {
		t.Fatalf("the demo passed with a broken helper:\n%s", out)
	}
	if !strings.Contains(out, "demo FAILED during: configure") {
		t.Errorf("the failure does not name the step:\n%s", out)
	}
}

func TestDemoWithoutBuildSaysWhatToDo(t *testing.T) {
	cmd := exec.Command("bash", "demo.sh")
	cmd.Env = append(os.Environ(), "BIN="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "run 'make build'") {
		t.Fatalf("want a failure naming make build, got %v:\n%s", err, out)
	}
}

// The demo's steps say which step of a real set-up each is, and that is the
// README's numbering ("Set up a real host: three steps"): the demo called
// configure step 2 where the README calls it step 1. Every step the README
// numbers is numbered alike in the demo.
func TestDemoStepsAgreeWithTheReadme(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := os.ReadFile("demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // step number → command
	for _, m := range regexp.MustCompile(`(?m)^ {4}docker(?:-credential-currents| currents) (\w+)\b.*# (\d)\. `).FindAllStringSubmatch(string(readme), -1) {
		want[m[2]] = m[1]
	}
	if len(want) != 3 {
		t.Fatalf("the README's set-up has %d numbered steps (%v), want 3", len(want), want)
	}
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*step "(?:docker currents )?(\w+):[^"]*\(step (\d) of a real set-up\)"`).FindAllStringSubmatch(string(demo), -1) {
		if prev, ok := got[m[2]]; ok {
			t.Errorf("the demo calls both %s and %s step %s", prev, m[1], m[2])
		}
		got[m[2]] = m[1]
	}
	for n, cmd := range want {
		if got[n] != cmd {
			t.Errorf("the README's step %s is %s; the demo's is %q", n, cmd, got[n])
		}
	}
	for n, cmd := range got {
		if want[n] != cmd {
			t.Errorf("the demo calls %s step %s; the README's step %s is %q", cmd, n, n, want[n])
		}
	}
}
