package tokencache

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/atomicfile"
)

// The cache writes without fsync (Store says why): a get of a burst waits for
// the refresh's writes, and a flush to disk is the slowest part of them.
func TestCacheWritesAreUnsynced(t *testing.T) {
	c, id := open(t)
	var writes, synced int
	real := writeFile
	t.Cleanup(func() { writeFile = real })
	writeFile = func(path string, data []byte, mode fs.FileMode, opts ...atomicfile.Option) error {
		writes++
		if atomicfile.Syncs(opts...) {
			synced++
		}
		return real(path, data, mode, opts...)
	}
	if err := c.Store(id, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteCompiled([]byte("compiled")); err != nil {
		t.Fatal(err)
	}
	if writes != 2 || synced != 0 {
		t.Errorf("%d of %d cache writes fsync, want none", synced, writes)
	}
	if _, ok := c.LoadToken(id, "us-east-1"); !ok || string(c.ReadCompiled()) != "compiled" {
		t.Error("an unsynced write is not read back")
	}
}

// What a crash can leave of an unsynced write — the new file cut short
// anywhere, or its end never written (zeros where the kernel allocated
// blocks it had not yet filled) — is a miss, on the warm path and the full
// decode alike, so the worst a crash costs is one refresh.
func TestCrashLeftoversAreMisses(t *testing.T) {
	c, id := open(t)
	if err := c.Store(id, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(c.Path(id))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good)-1; n++ { // the last byte is the newline
		for _, zeros := range []bool{false, true} {
			b := bytes.Clone(good[:n])
			if zeros {
				b = append(b, make([]byte, len(good)-n)...)
			}
			if err := os.WriteFile(c.Path(id), b, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.LoadToken(id, "us-east-1"); ok {
				t.Fatalf("the first %d of %d bytes (zeros after: %v): the warm path served a token", n, len(good), zeros)
			}
			if e := c.Load(id); e.Session != nil || len(e.Tokens) != 0 {
				t.Fatalf("the first %d of %d bytes (zeros after: %v): loaded %+v, want a miss", n, len(good), zeros, e)
			}
		}
	}
}

// A writer of a cache file killed between its temporary file and the rename
// leaves the temporary behind; over months of unattended runs they would
// pile up. The next write of that file removes the old ones, and leaves a
// fresh one (another writer's, mid-write) and other files' alone.
func TestWriteFileRemovesKilledWritersTemporaries(t *testing.T) {
	c, err := Open(WithDir(filepath.Join(t.TempDir(), "cache")))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile("image-platforms", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * staleTemp)
	temp := func(name string, at time.Time) string {
		p := filepath.Join(c.Dir(), name)
		if err := os.WriteFile(p, []byte("cut sh"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	killed := temp(".image-platforms.tmp-12345", old)
	live := temp(".image-platforms.tmp-67890", time.Now())
	other := temp(".registry-protocols.tmp-11111", old)
	if err := c.WriteFile("image-platforms", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(killed); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a killed writer's temporary file is still there: %v", err)
	}
	for _, p := range []string{live, other} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v; only old temporaries of the file written go", filepath.Base(p), err)
		}
	}
}
