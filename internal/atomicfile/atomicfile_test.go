package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteFileReplacesWithModeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "new" || st.Mode().Perm() != 0o600 {
		t.Fatalf("content %q mode %v", b, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestWriteFileFailureLeavesTargetAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	os.WriteFile(p, []byte("old"), 0o644)
	// A directory where the file should go makes the final rename fail after the temp file was written.
	target := filepath.Join(dir, "sub")
	os.MkdirAll(filepath.Join(target, "x"), 0o700)
	if err := WriteFile(target, []byte("new"), 0o600); err == nil {
		t.Fatal("renaming over a non-empty directory should fail")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatal("unrelated file changed")
	}
}

func TestWriteFileInMissingDirectoryFails(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("want an error")
	}
}

func TestTargetFollowsLinksEvenDangling(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	mid := filepath.Join(dir, "mid.json")
	link := filepath.Join(dir, "sub", "config.json")
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../mid.json", link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, mid); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{link, real}, {mid, real}, {real, real}, {filepath.Join(dir, "none"), filepath.Join(dir, "none")}} {
		if got, err := Target(c[0]); err != nil || got != c[1] {
			t.Errorf("Target(%s) = %s, %v; want %s", c[0], got, err, c[1])
		}
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	if _, err := Target(loop); err == nil {
		t.Error("a link loop is no target")
	}
	// WriteFile replaces a link unless told to follow it.
	if err := WriteFile(link, []byte("x"), 0o600, FollowLinks()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(real); err != nil || string(b) != "x" {
		t.Fatalf("through the links: %q %v", b, err)
	}
	if err := WriteFile(link, []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); !fi.Mode().IsRegular() {
		t.Error("WriteFile without FollowLinks wrote through a link")
	}
}

func TestLockExcludesAndWaits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new-dir", "settings.yaml")
	unlock, err := Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u, err := Lock(p)
		if err != nil {
			t.Error(err)
		} else {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second holder got the lock while the first held it")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the second holder never got the lock")
	}
	if fi, err := os.Stat(p + LockSuffix); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", fi, err)
	}
	old := LockWait
	LockWait = 50 * time.Millisecond
	defer func() { LockWait = old }()
	unlock, err = Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := Lock(p); err == nil || !strings.Contains(err.Error(), "fuser "+p+LockSuffix) {
		t.Errorf("a lock held too long: %v", err)
	}
}
