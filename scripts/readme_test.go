package scripts_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/testbin"
)

// readmeBlock returns the indented code block that follows heading in README.md, unindented.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	after := testbin.ReadmeSection(t, heading)
	var block []string
	for line := range strings.Lines(after) {
		switch {
		case strings.HasPrefix(line, "    "):
			block = append(block, strings.TrimPrefix(line, "    "))
		case len(block) > 0:
			return strings.Join(block, "")
		case strings.HasPrefix(line, "#"):
			t.Fatalf("no code block under %q", heading)
		}
	}
	t.Fatalf("no code block under %q", heading)
	return ""
}

// TestReadmeRehearsal runs the README's rehearsal block exactly as a developer pastes it into bash from the
// repository's top directory, with two substitutions: R is a temporary directory, and `make install` is given
// the BIN this test built. It must get through configure, doctor and `docker currents check` against the
// stand-in (not the real ECR), and leave nothing behind.
func TestReadmeRehearsal(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("the rehearsal runs `docker currents check`: install the docker CLI (.ci/run does)")
	}
	bin := buildAll(t)
	block := readmeBlock(t, "### Rehearse the three steps without AWS")
	r := filepath.Join(t.TempDir(), "rehearsal")
	script := strings.Replace(block, "R=/tmp/rehearsal;", "R="+r+";", 1)
	script = strings.ReplaceAll(script, "make install PREFIX=", "make install BIN="+bin+" PREFIX=")
	script = strings.ReplaceAll(script, "make uninstall PREFIX=", "make uninstall BIN="+bin+" PREFIX=")
	script = strings.ReplaceAll(script, "bin/currents-standin", bin+"/currents-standin")
	// Harden, misc: the external ID's file was written 0644 (the umask's), readable by every user.
	script = strings.Replace(script, "kill %1;", `stat -c "ext-id mode %a" $R/ext-id; kill %1;`, 1)
	if strings.Count(script, r) != 1 || !strings.Contains(script, bin+"/currents-standin") || !strings.Contains(script, "ext-id mode") {
		t.Fatalf("the README block changed shape; update this test:\n%s", block)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
	cmd.Dir = ".."
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "AWS_") && !strings.HasPrefix(k, "CURRENTS_") && !strings.HasPrefix(k, "DOCKER_") {
			env = append(env, kv)
		}
	}
	// A developer's shell often holds an AWS profile or session of their own (SSO, aws-vault): the block must
	// not send them to the stand-in.
	cmd.Env = append(env, "HOME="+t.TempDir(), "AWS_PROFILE=developers-own", "AWS_SESSION_TOKEN=developers-own-session")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A block that fails leaves its stand-in holding the output pipe: without a bound, the test waited for it
	// until go test's own timeout, and never said why.
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	if err != nil {
		t.Fatalf("the README's rehearsal failed: %v\n%s", err, out)
	}
	for _, want := range []string{"all checks passed", "images under 127.0.0.1:", "every image is pullable", "ext-id mode 600"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rehearsal output lacks %q:\n%s", want, out)
		}
	}
	// The block puts its bin directory on PATH before installing: install's notes are for a real install, and
	// one telling the reader to remove the copy of a `sudo make install` that shadows it would be wrong here.
	if strings.Contains(string(out), "NOTE: "+r+"/bin is not on your PATH") {
		t.Errorf("make install in the rehearsal warns that its bin directory is not on PATH:\n%s", out)
	}
	if _, err := os.Stat(r); err == nil {
		t.Errorf("the rehearsal left %s behind", r)
	}
}
