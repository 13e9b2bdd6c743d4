package tokencache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/currentsdev/currents/internal/atomicfile"
)

// CompiledFile is the file holding currents.yaml's compiled form (package
// settings) beside the cache entries: the AWS binary writes it whenever it
// parses the file, the lean binary reads it instead of parsing YAML. Like the
// entries it is 0600 in the 0700 directory: it holds the external ID.
const CompiledFile = "currents-yaml.compiled"

// ReadCompiled returns the compiled form of currents.yaml, read as cache
// entries are (see Load); nil when there is none or it cannot be used.
func (c *Cache) ReadCompiled() []byte { return c.ReadFile(CompiledFile) }

// WriteCompiled replaces the compiled form of currents.yaml atomically.
func (c *Cache) WriteCompiled(b []byte) error { return c.WriteFile(CompiledFile, b) }

// ReadFile returns the file name (a plain name, kept by another package
// beside the entries: currents.yaml's compiled form, the check's image
// platforms), read as cache entries are (see Load); nil when there is none
// or it cannot be used.
func (c *Cache) ReadFile(name string) []byte {
	if c.broken != nil || filepath.Base(name) != name {
		return nil
	}
	b, _ := c.readFile(filepath.Join(c.dir, name))
	return b
}

// WriteFile replaces the file name (see ReadFile) atomically, mode 0600,
// without fsync as Store does: its readers too take a file cut short for a
// missing one.
func (c *Cache) WriteFile(name string, b []byte) error {
	if c.broken != nil {
		return c.broken
	}
	if filepath.Base(name) != name {
		return fmt.Errorf("cache file %q: not a plain name", name)
	}
	if err := c.ensureDir(c.dir); err != nil {
		return err
	}
	p := filepath.Join(c.dir, name)
	c.removeStaleTemps(name)
	if err := writeFile(p, b, 0o600, atomicfile.NoSync()); err != nil { // unsynced, as Store says
		return c.writeErr(p, err)
	}
	return nil
}

// staleTemp is how old a temporary file of WriteFile's must be to be taken
// for a killed writer's: a write takes milliseconds.
const staleTemp = time.Minute

// removeStaleTemps deletes the temporary files killed writers of name left
// behind, which would otherwise pile up over months of unattended runs. No
// lock covers every writer of these files (two checks may save platforms at
// once), so only old ones go; one removed under a live writer would fail its
// rename, which costs that writer nothing but the saved work.
func (c *Cache) removeStaleTemps(name string) {
	temps, _ := filepath.Glob(filepath.Join(c.dir, "."+name+".tmp-*")) // atomicfile's temporary names
	for _, t := range temps {
		if fi, err := os.Lstat(t); err == nil && time.Since(fi.ModTime()) > staleTemp { // the kernel's clock stamped it
			os.Remove(t)
		}
	}
}

// Kept is what a command keeps in a file of the cache directory between
// runs (the check's image platforms and registry protocols, mirror's
// manifests): it says whether it changed and what to write.
type Kept interface {
	Changed() bool
	Bytes() []byte
}

// Keep loads the file name of the user's cache with load, and returns it
// with the function that writes it back when it changed. Without a usable
// cache it is T's zero value (which must keep nothing) and a save that does
// nothing: such a file only spares work, so neither reading nor writing it
// may fail the command.
func Keep[T Kept](name string, load func([]byte) T) (kept T, save func()) {
	cache, err := Open()
	if err != nil {
		return kept, func() {}
	}
	kept = load(cache.ReadFile(name))
	return kept, func() {
		if kept.Changed() {
			_ = cache.WriteFile(name, kept.Bytes()) // the next run does the work again
		}
	}
}

// TakeCompileLock takes the lock under which one process of a burst compiles
// currents.yaml while the others wait for its result (see TakeLock).
func (c *Cache) TakeCompileLock(ctx context.Context) (*Held, error) {
	return c.takeLockAt(ctx, c.compileLockPath())
}

func (c *Cache) compileLockPath() string { return filepath.Join(c.dir, CompiledFile+".lock") }

// AwaitCompile is how a process of a burst that found no compiled form
// waits for the one compiling it. The first to ask gets the compile lock
// (held: it compiles, through the AWS binary). The others wait for that
// process to let go, all at once, on a shared lock, and get nil: they read
// the compiled form again, and take the compile lock (TakeCompileLock) only
// if it still does not answer. Waiting on the exclusive lock instead let
// them through one at a time, each woken with all the others by the one
// before it lets go.
func (c *Cache) AwaitCompile(ctx context.Context) (*Held, error) {
	return c.awaitAt(ctx, c.compileLockPath())
}
