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
