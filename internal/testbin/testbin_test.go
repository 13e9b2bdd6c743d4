package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/product"
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

// TestBuildTagsAreThePackages: tests link with the tags `make build` and the
// packages (scripts/dist.sh) use, all three without cgo (testbin.Build sets
// CGO_ENABLED=0 itself; the two scripts must say it), and with them the plugin leaves out
// golang.org/x/net/trace, which grpc (linked by docker/cli's telemetry)
// brings in unless built with grpcnotrace: 0.4 MB of binary that nothing
// here serves, and 0.8 MB resident in every plugin process.
func TestBuildTagsAreThePackages(t *testing.T) {
	tags := strings.TrimPrefix(BuildFlags[0], "-tags=")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for file, re := range map[string]*regexp.Regexp{
		"Makefile":        regexp.MustCompile(`(?m)^GOBUILD := CGO_ENABLED=0 \$\(GO\) build .*-tags (\S+)`),
		"scripts/dist.sh": regexp.MustCompile(`CGO_ENABLED=0 .*\$GO build .*-tags (\S+)`),
	} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no build tags found", file)
			continue
		}
		if got := string(m[1]); got != tags {
			t.Errorf("%s builds with -tags %s, the tests with %s", file, got, tags)
		}
	}
	out, err := exec.Command("go", "list", "-deps", BuildFlags[0], filepath.Join(root, "composeplugin", product.PluginFullCommand)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(strings.Fields(string(out)), "golang.org/x/net/trace") {
		t.Errorf("the plugin links golang.org/x/net/trace: build it with -tags %s,grpcnotrace", tags)
	}
}
