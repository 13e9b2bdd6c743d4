package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBuildTwiceRelinksNothing: a second Build of unchanged sources keeps
// the binary (go build only marks it up to date: a relink would replace the
// file), other flags get a directory of their own, and the binary runs.
func TestBuildTwiceRelinksNothing(t *testing.T) {
	dir, err := Build(nil, "../../credhelper/testdata/trivial")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "trivial")
	before, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(nil, "../../credhelper/testdata/trivial")
	if err != nil || again != dir {
		t.Fatalf("second build: %q %v, want %q", again, err, dir)
	}
	after, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || after.Size() != before.Size() {
		t.Error("the unchanged binary was linked again")
	}
	if other, err := Build([]string{"-tags=osusergo"}, "../../credhelper/testdata/trivial"); err != nil || other == dir {
		t.Errorf("other flags share the directory: %q %v", other, err)
	}
	if err := exec.Command(bin).Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Errorf("the binary does not run: %v", err)
		}
	}
}

// TestProduct: the helpers share the directory PATH gets, the plugin lives
// apart (docker finds it through cli-plugins only) with its full binary
// beside its front, and each runs.
func TestProduct(t *testing.T) {
	b, err := Product()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(b.Plugin) == b.Helpers {
		t.Errorf("the plugin shares the helpers' directory %s", b.Helpers)
	}
	if filepath.Dir(b.PluginFull()) != filepath.Dir(b.Plugin) {
		t.Errorf("the full plugin %s is not beside its front %s", b.PluginFull(), b.Plugin)
	}
	for _, bin := range []string{b.Lean(), b.AWS(), b.Plugin, b.PluginFull()} {
		if st, err := os.Stat(bin); err != nil || st.Mode().Perm()&0o100 == 0 {
			t.Errorf("%s: not an executable (%v)", bin, err)
			continue
		}
		if err := exec.Command(bin, "--version").Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Errorf("%s does not run: %v", bin, err)
			}
		}
	}
}

// TestCounter: each run through the counter is one start, with its pid, and
// the program itself runs with the arguments given.
func TestCounter(t *testing.T) {
	c := NewCounter(t, "/bin/sh")
	if n := c.Starts(); n != 0 {
		t.Fatalf("%d starts before any run", n)
	}
	for range 2 {
		if out, err := exec.Command(c.Path, "-c", "echo ran").Output(); err != nil || string(out) != "ran\n" {
			t.Fatalf("through the counter: %q %v", out, err)
		}
	}
	if n := c.Starts(); n != 2 {
		t.Errorf("%d starts, want 2", n)
	}
	if a, b := c.WaitStarted(1), c.WaitStarted(2); a <= 0 || b <= 0 || a == b {
		t.Errorf("pids %d and %d", a, b)
	}
}
