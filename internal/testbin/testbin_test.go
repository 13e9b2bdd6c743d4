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
