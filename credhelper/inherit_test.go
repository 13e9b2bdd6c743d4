package credhelper_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/docker/docker-credential-helpers/client"
)

// TestWhatTheAWSBinaryRunsHoldsNoLock: the lock a refresh holds is handed to
// the AWS binary as an open file (the principal's lock when the lean binary
// runs it, the compile lock when it becomes it), and every process the AWS
// binary started inherited that file too. A credential_process that leaves
// an agent running (as password-manager and SSO helpers may) held the
// compile lock after the command had ended, so every command after the next
// edit of currents.yaml waited a minute for it; and it held the principal's
// lock once the get that started the refresh was killed (an interrupted
// pull), so every later refresh of that principal waited out its timeout.
func TestWhatTheAWSBinaryRunsHoldsNoLock(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pids := filepath.Join(w.home, "agents")
	script := filepath.Join(w.home, "credential-process")
	body := fmt.Sprintf("#!/bin/sh\nsleep 60 </dev/null >/dev/null 2>&1 &\necho $! >>%q\nprintf '{\"Version\":1,\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\"}'\n",
		pids, w.user.AccessKeyID, w.user.SecretAccessKey)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	agents := func() []string {
		b, _ := os.ReadFile(pids)
		return strings.Fields(string(b))
	}
	t.Cleanup(func() {
		for _, f := range agents() {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL) // the agents this test's script started
			}
		}
	})
	os.MkdirAll(filepath.Join(w.home, ".aws"), 0o700)
	os.WriteFile(w.env["AWS_CONFIG_FILE"], []byte("[profile agent]\ncredential_process = "+script+"\n"), 0o600)
	west := w.aws.Account() + ".dkr.ecr.eu-west-1.amazonaws.com"
	yaml := fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: %s\n    profile: agent\n"+
		"  - host: %s\n    role_arn: %s\n    external_id: %s\n    profile: agent\n",
		w.reg.Host(), w.reg.Account(), w.reg.Region(), w.role, externalID, west, w.role, externalID)
	w.writeConfig(yaml)
	extra := map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "CURRENTS_TIMEOUT": "5s"}

	// The lean binary runs the AWS binary, handing it the principal's lock;
	// erase takes that lock again.
	w.prove(w.mustGet(w.reg.Host(), extra))
	if err := client.Erase(w.prog(bin.lean, extra), w.reg.Host()); err != nil {
		t.Errorf("erase after the refresh: %v", err)
	}
	// An edited currents.yaml: the lean binary becomes the AWS binary, holding
	// the compile lock, and needs the agent's credentials again for a session.
	for _, f := range w.cacheFiles() {
		os.Remove(f)
	}
	w.writeConfigOnly(yaml + "# edited\n")
	if _, err := w.get(west, extra); err != nil {
		t.Errorf("get after an edit: %v\n%s", err, w.logs())
	}

	if n := len(agents()); n < 2 {
		t.Fatalf("the credential process ran %d times; want 2 or more\n%s", n, w.logs())
	}
	for _, pid := range agents() {
		fds, _ := filepath.Glob("/proc/" + pid + "/fd/*")
		for _, fd := range fds {
			if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, w.cacheDir+"/") {
				t.Errorf("the agent %s the credential process left holds %s", pid, target)
			}
		}
	}
}
