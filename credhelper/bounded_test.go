package credhelper_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bounded runs the lean binary with stdin (an open pipe nobody writes to when nil, as `(sleep 40) | …`
// gives it), killing it after 30 s: a command still running then hangs.
func (w *world) bounded(t *testing.T, stdin *string, extra map[string]string, args ...string) (out string, code int, hung bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.lean, args...)
	cmd.Env = w.environ(extra)
	var all bytes.Buffer
	cmd.Stdout, cmd.Stderr = &all, &all
	if stdin != nil {
		cmd.Stdin = strings.NewReader(*stdin)
	} else {
		r, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer wr.Close() // the writer stays open until the command is gone
		defer r.Close()
		cmd.Stdin = r
	}
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return all.String(), -1, true
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return all.String(), ee.ExitCode(), false
	}
	if err != nil {
		t.Fatal(err)
	}
	return all.String(), 0, false
}

// Harden, defect 6: nothing bounded a FIFO where a settings file should be, or a stdin that never ends:
// CURRENTS_CONFIG naming a FIFO hung get, kubelet, status, refresh, config and doctor; config.json as a FIFO
// hung configure and doctor; `(sleep 40) | docker-credential-currents get` (and kubelet) waited forever. Each
// now fails at once naming the file, or gives up on stdin after the configured timeout.
func TestFIFOsAndEndlessStdinAreBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	host := w.reg.Host()
	fifo := filepath.Join(t.TempDir(), "currents.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	kubeletReq := kubeletRequest(host + "/currents/on-prem/api:1")
	line := host + "\n"
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{line, []string{"get"}}, {kubeletReq, []string{"kubelet"}}, {"", []string{"status"}}, {"", []string{"refresh"}},
		{"", []string{"config"}}, {"", []string{"doctor"}},
	} {
		out, code, hung := w.bounded(t, &c.stdin, map[string]string{"CURRENTS_CONFIG": fifo}, c.args...)
		if hung || code == 0 || !strings.Contains(out, fifo+" is a named pipe, not a regular file") {
			t.Errorf("%s with currents.yaml a FIFO: hung %v, exit %d\n%s", c.args[0], hung, code, out)
		}
	}
	docker := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(docker, "config.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"configure", "--registry", host, "--account", w.reg.Account(), "--region", w.reg.Region(), "--role-arn", w.role},
		{"doctor", "--registry", host}} {
		empty := ""
		out, code, hung := w.bounded(t, &empty, map[string]string{"DOCKER_CONFIG": docker}, args...)
		if hung || code == 0 || !strings.Contains(out, "config.json is a named pipe, not a regular file") {
			t.Errorf("%s with config.json a FIFO: hung %v, exit %d\n%s", args[0], hung, code, out)
		}
	}
	w.mustGet(host, nil) // warm: the lean binary answers
	for _, args := range []string{"get", "kubelet", "erase", "store"} {
		start := time.Now()
		out, code, hung := w.bounded(t, nil, map[string]string{"CURRENTS_TIMEOUT": "1s"}, args)
		if hung || code != 1 || !strings.Contains(out, "stdin did not end within 1s") {
			t.Errorf("%s with a stdin that never ends: hung %v (after %s), exit %d\n%s", args, hung, time.Since(start).Round(time.Second), code, out)
		}
	}
}

// Harden, misc: with no currents.yaml at all, refresh and status said only "no registry in …", not that the
// file does not exist nor how to configure one. Both now say so (exit 0: nothing failed; a timer stays green).
func TestNothingConfiguredIsSaid(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	missing := filepath.Join(t.TempDir(), "currents.yaml")
	for _, args := range [][]string{{"refresh"}, {"status"}} {
		out, code := w.run(bin.lean, "", map[string]string{"CURRENTS_CONFIG": missing}, args...)
		want := "nothing is configured (" + missing + " does not exist): run `docker-credential-currents configure --registry HOST --role-arn ARN`"
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("%s without currents.yaml: exit %d\n%s", args[0], code, out)
		}
	}
}

// TestTheLeanBinaryInTheAWSBinarysPlaceIsSaid: with CURRENTS_AWS_HELPER
// naming the lean binary (or docker-credential-currents-aws a copy of it, or
// a link to it), every command the lean binary hands to its AWS half started
// itself again, without end: config, doctor and the like exec'd themselves in
// a loop that burned a CPU until killed, and the first get after an edit of
// currents.yaml held the compile lock it had passed to itself and waited for
// it, so it and every get after it hung. Each now ends at once, naming the
// binary and the fix; a get that needs a refresh says it rather than waiting
// out its timeout.
func TestTheLeanBinaryInTheAWSBinarysPlaceIsSaid(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	extra := map[string]string{"CURRENTS_AWS_HELPER": bin.lean}
	host := w.reg.Host() + "\n"
	request := kubeletRequest(w.reg.Host() + "/a/b:1")
	check := func(what string, stdin *string, args ...string) {
		t.Helper()
		out, code, hung := w.bounded(t, stdin, extra, args...)
		if hung || code != 1 || !strings.Contains(out, "docker-credential-currents-aws") || !strings.Contains(out, "is docker-credential-currents itself") {
			t.Errorf("%s: hung %v, exit %d:\n%s", what, hung, code, out)
		}
	}
	// A cold get with currents.yaml compiled: the refresh's AWS process.
	check("cold get", &host, "get")
	check("cold kubelet request", &request, "kubelet")
	check("config", nil, "config")
	// An edited currents.yaml: the lean binary becomes its AWS half to compile it.
	old, _ := os.ReadFile(w.config)
	w.writeConfigOnly(string(old) + "# edited\n")
	check("get after an edit", &host, "get")
}
