package tokencache

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/logging"
)

// Issue 10, defect 4: the cache followed planted symlinks and FIFOs. A file
// planted in the directory before it was tightened must neither redirect a
// chmod or a create elsewhere nor hang a get.

// notHung runs f and fails the test if it has not returned after a generous
// while: what is tested is that it returns at all (a FIFO open blocks forever).
func notHung(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hung (a FIFO opened for reading waits for a writer forever)", what)
	}
}

func TestPlantedSymlinkIsNotFollowed(t *testing.T) {
	c, id := open(t)
	var logs bytes.Buffer
	c.log = logging.New(&logs, -8, "test")
	victim := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(victim, []byte("root:x:0:0::/root:/bin/sh\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, c.Path(id)); err != nil {
		t.Fatal(err)
	}
	if e := c.Load(id); e.Session != nil || len(e.Tokens) != 0 {
		t.Errorf("loaded through a symlink: %+v", e)
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o640 {
		t.Errorf("the symlink's target was chmodded to %o", fi.Mode().Perm())
	}
	if !strings.Contains(logs.String(), c.Path(id)) {
		t.Errorf("the planted link is not reported:\n%s", logs.String())
	}
	// Store replaces the link itself, never writes through it.
	if err := c.Store(id, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if fi, err := os.Lstat(c.Path(id)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("cache file after Store: %v, %v", fi, err)
	}
}

func TestPlantedLockSymlinkCreatesNothing(t *testing.T) {
	c, id := open(t)
	target := filepath.Join(t.TempDir(), "nologin")
	lock := filepath.Join(c.Dir(), id.Key()+".lock")
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	unlock, err := c.Lock(context.Background(), id)
	if err == nil {
		unlock()
	}
	if _, serr := os.Lstat(target); serr == nil {
		t.Fatal("taking the lock created the symlink's target")
	}
	var le *LockFileError
	if !errors.As(err, &le) || le.Path != lock || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), "rm -r "+lock) {
		t.Errorf("Lock through a planted symlink: %v; want a LockFileError naming the file and its removal", err)
	}
}

func TestPlantedFIFOsDoNotHang(t *testing.T) {
	c, id := open(t)
	lock := filepath.Join(c.Dir(), id.Key()+".lock")
	for _, p := range []string{c.Path(id), lock} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	notHung(t, "Load of a FIFO", func() {
		if e := c.Load(id); e.Session != nil {
			t.Errorf("loaded from a FIFO: %+v", e)
		}
	})
	notHung(t, "Lock on a FIFO", func() {
		unlock, err := c.Lock(context.Background(), id)
		if err == nil {
			unlock()
			t.Error("locked a FIFO")
		}
		var le *LockFileError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Lock on a FIFO: %v", err)
		}
	})
}

// A lock file that is not ours: a directory (anyone), or, for root, a file
// owned by another user.
func TestForeignLockFileIsReported(t *testing.T) {
	c, id := open(t)
	lock := filepath.Join(c.Dir(), id.Key()+".lock")
	if err := os.Mkdir(lock, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(context.Background(), id); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory as lock: %v", err)
	}
	os.Remove(lock)
	if os.Getuid() == 0 {
		if err := os.WriteFile(lock, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(lock, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Lock(context.Background(), id); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("lock file of uid 65534: %v", err)
		}
	}
}

// The cache file is read with a bound: a planted huge file is a miss, never
// gigabytes in memory, even when it is valid JSON.
func TestHugeCacheFileIsAMiss(t *testing.T) {
	c, id := open(t)
	if err := c.Store(id, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(c.Path(id))
	huge := append([]byte(`{"padding": "`+strings.Repeat("x", 4<<20)+`", `), good[1:]...)
	if err := os.WriteFile(c.Path(id), huge, 0o600); err != nil {
		t.Fatal(err)
	}
	if e := c.Load(id); e.Session != nil {
		t.Errorf("loaded a %d-byte file", len(huge))
	}
}

// TestADirectoryWhereAnEntryBelongsIsNamedWithItsFix: a directory in a cache
// file's place cannot be replaced by a rename, so every refresh failed to
// keep its token; the log promised "the next refresh replaces it" and the
// error said to check the directory's permissions. Both now say to remove it.
func TestADirectoryWhereAnEntryBelongsIsNamedWithItsFix(t *testing.T) {
	var logs bytes.Buffer
	c, err := Open(WithDir(filepath.Join(t.TempDir(), "cache")), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	id := IdentityFor(target(&config.Entry{RoleARN: "arn:aws:iam::111122223333:role/pull"}), env(nil))
	if err := os.Mkdir(c.Path(id), 0o700); err != nil {
		t.Fatal(err)
	}
	c.Load(id)
	if strings.Contains(logs.String(), "replaces it") || !strings.Contains(logs.String(), "remove it") {
		t.Errorf("the log about the directory:\n%s", logs.String())
	}
	err = c.Store(id, sampleEntry())
	if err == nil || strings.Contains(err.Error(), "permissions") || !strings.Contains(err.Error(), "remove the directory "+c.Path(id)) {
		t.Errorf("Store over a directory: %v", err)
	}
}
