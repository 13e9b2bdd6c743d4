package dirs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Harden, defect 1: links were followed whoever controlled them, and MkdirAll created directories through
// them. Resolve follows this user's (and root's) links in directories only this user (or root) may change;
// MkdirAll creates nothing through any other.
func TestResolveFollowsOnlyLinksThisUserControls(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	// One's own links, relative or not, through directories, dangling at the end.
	for in, want := range map[string]string{
		filepath.Join(link, "f"):                 real + "/f",
		filepath.Join(link, "..", "link", "f"):   real + "/f",
		filepath.Join(link, "new", "deeper"):     real + "/new/deeper",
		filepath.Join(base, "missing", "x"):      base + "/missing/x",
		filepath.Join(base, "real", ".", "f"):    real + "/f",
		filepath.Join(link, "..", "real", "f"):   real + "/f",
		filepath.Join(base, "link", "..", "x"):   base + "/x",
		filepath.Join(base, "link") + "/":        real,
		filepath.Join(base, "real", "sub", ".."): real,
	} {
		if got, err := Resolve(in); err != nil || got != want {
			t.Errorf("Resolve(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	dangling := filepath.Join(real, "cfg")
	if err := os.Symlink("../target/cfg.json", dangling); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve(dangling); err != nil || got != filepath.Join(base, "target", "cfg.json") {
		t.Errorf("a dangling link: %s, %v", got, err)
	}
	if err := MkdirAll(filepath.Join(link, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(real, "a", "b")); err != nil || !fi.IsDir() {
		t.Fatalf("MkdirAll through one's own link: %v", err)
	}
	loop := filepath.Join(base, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(loop); err == nil {
		t.Error("a link loop resolved")
	}
	linksInOpenDirectories(t, base, real)
	if os.Geteuid() != 0 {
		return // another user's links: only root can make them
	}
	othersLinks(t, base, real)
}

// linksInOpenDirectories: a directory anyone may change (no sticky bit) could have its links swapped at
// any moment; in a sticky one (/tmp) one's own links are still followed.
func linksInOpenDirectories(t *testing.T, base, real string) {
	t.Helper()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(open, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	var le *LinkError
	if _, err := Resolve(filepath.Join(open, "l", "f")); !errors.As(err, &le) || le.Owner != -1 {
		t.Errorf("a link in a world-writable directory: %v", err)
	}
	if err := MkdirAll(filepath.Join(open, "l", "x"), 0o700); !errors.As(err, &le) {
		t.Errorf("MkdirAll through a link in a world-writable directory: %v", err)
	}
	if err := os.Chmod(open, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(filepath.Join(open, "l", "f")); err != nil {
		t.Errorf("one's own link in a sticky directory (/tmp): %v", err)
	}
}

// othersLinks (root only): another user's link is not followed, nor root's own link in another user's
// directory, which that user could swap.
func othersLinks(t *testing.T, base, real string) {
	t.Helper()
	var le *LinkError
	const other = 4242
	theirs := filepath.Join(base, "theirs")
	if err := os.Symlink(filepath.Join(base, "evil"), theirs); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(theirs, other, other); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(theirs); !errors.As(err, &le) || le.Owner != other || le.InDir {
		t.Errorf("another user's link: %v", err)
	}
	if err := MkdirAll(filepath.Join(theirs, "sub"), 0o700); !errors.As(err, &le) {
		t.Errorf("MkdirAll through another user's link: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(base, "evil")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MkdirAll created the link's target: %v", err)
	}
	userDir := filepath.Join(base, "user")
	if err := os.Mkdir(userDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(userDir, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(userDir, other, other); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(filepath.Join(userDir, "l")); !errors.As(err, &le) || !le.InDir || le.Owner != other {
		t.Errorf("a link in another user's directory: %v", err)
	}
	if _, err := Resolve(filepath.Join(userDir, "plain")); err != nil {
		t.Errorf("a path without links in another user's directory: %v", err)
	}
}
