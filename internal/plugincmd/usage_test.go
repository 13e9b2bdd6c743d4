package plugincmd

import (
	"strings"
	"testing"
)

// A --jobs of 0 or less bounds nothing: it was taken silently (check kept
// its 256, mirror ran one transfer at a time). It is a usage error (125)
// naming the flag and what it takes, before any registry is asked; --jobs 1
// is fine.
func TestJobsBelowOneIsAUsageError(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.registerHelper()
	to := w.reg.Host() + "/mirror/"
	for _, args := range [][]string{
		{"check", "--jobs", "0"},
		{"check", "--jobs", "-1"},
		{"check", "-q", "--jobs=-256"},
		{"mirror", "--to", to, "--jobs", "0"},
		{"mirror", "--to", to, "--jobs", "-8"},
	} {
		w.reg.Reset()
		r := w.docker(append([]string{"currents"}, args...)...)
		if r.code != 125 || !strings.Contains(r.stderr, `for "--jobs" flag`) || !strings.Contains(r.stderr, "1 or more") {
			t.Errorf("%v: exit %d, want 125 naming --jobs and its range\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if st := w.reg.Requests(); st.Requests != 0 {
			t.Errorf("%v asked the registry before refusing the flag: %+v", args, st)
		}
	}
	if r := w.docker("currents", "check", "-q", "--jobs", "1"); r.code != 0 {
		t.Errorf("check --jobs 1: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.docker("currents", "mirror", "--to", to, "--format", "yaml"); r.code != 125 || !strings.Contains(r.stderr, `for "--format" flag`) {
		t.Errorf("mirror --format yaml: exit %d, want 125\n%s", r.code, r.stderr)
	}
}

// A flag value the command cannot use is a usage error (125), as docker's own
// flag errors are, with a message naming the flag and what it takes, before
// any registry is asked: mirror's --to, --tag and --platform exited 1, the
// status of "some image failed", and so did policy's flag errors.
func TestBadFlagValuesAreUsageErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.registerHelper()
	to := w.reg.Host() + "/mirror/"
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"mirror"}, "--to is required"},
		{[]string{"mirror", "--to", "https://" + to}, "--to"},
		{[]string{"mirror", "--to", "mirror/"}, "--to"},
		{[]string{"mirror", "--to", w.reg.Host() + "/Mirror/"}, "--to"},
		{[]string{"mirror", "--to", to, "--tag", "-nightly"}, "--tag"},
		{[]string{"mirror", "--to", to, "--platform", "linux"}, "--platform"},
		{[]string{"mirror", "--to", to, "--platform", "linux/amd64,"}, `--platform "linux/amd64,": "" is not a platform`},
		{[]string{"policy", "pull", "--to", "mirror/"}, "--to"},
		{[]string{"policy", "push", "--to", "https://" + to}, "--to"},
		{[]string{"policy", "repository"}, "--principal"},
		{[]string{"policy", "repository", "--principal", "111122223333", "--cluster-region", "moon-1"}, "--cluster-region"},
		{[]string{"policy", "repository", "--principal", "not-an-arn"}, "--principal"},
		{[]string{"policy", "ci-trust"}, "--github-repo"},
		{[]string{"policy", "ci-trust", "--github-repo", "o/r", "--only", "both"}, "--only"},
		{[]string{"policy", "ci-trust", "--github-repo", "not a repo"}, "--github-repo"},
		{[]string{"policy", "ci-trust", "--github-repo", "o/r", "--github-ref", "main"}, "--github-ref"},
		{[]string{"policy", "ci-trust", "--circleci-org", "acme"}, "--circleci-org"},
		{[]string{"policy", "ci-trust", "--circleci-project", "0b5f"}, "--circleci-org"},
		{[]string{"policy", "ci-trust", "--circleci-org", "4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f", "--circleci-project", "0b5f"}, "--circleci-project: CircleCI project ID"},
		{[]string{"policy", "watch"}, "--queue-arn is required"},
		{[]string{"policy", "watch", "--queue-arn", "my-queue"}, "--queue-arn"},
		{[]string{"policy", "events", "--only", "rule"}, "--only"},
		{[]string{"policy", "events", "--queue-arn", "my-queue"}, "--queue-arn"},
		{[]string{"policy", "events"}, "--queue-arn"},
		{[]string{"policy", "events", "--only", "pattern", "--rule-name", "on push"}, "--rule-name"},
	} {
		w.reg.Reset()
		r := w.docker(append([]string{"currents"}, c.args...)...)
		if r.code != 125 || !strings.Contains(r.stderr, c.says) {
			t.Errorf("%v: exit %d, want 125 naming %s\n%s%s", c.args, r.code, c.says, r.stdout, r.stderr)
		}
		if st := w.reg.Requests(); st.Requests != 0 {
			t.Errorf("%v asked the registry before refusing the flag: %+v", c.args, st)
		}
	}
}
