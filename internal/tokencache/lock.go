package tokencache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/currentsdev/currents/internal/fix"
)

// LockFileError is a lock file that cannot serve as one: planted (a symlink,
// a FIFO, another user's file) or unreadable. It is not a reason to fail a
// pull: callers refresh without the lock and say what is wrong.
type LockFileError struct {
	Path    string
	Problem string
}

func (e *LockFileError) Error() string {
	return fix.Join("cache lock file "+e.Path+": "+e.Problem, e.Fix())
}

// Fix says how to repair it (fix.Fixer).
func (e *LockFileError) Fix() string {
	return "remove it (rm -r " + e.Path + ": a directory, a link or a file, it holds nothing); the next refresh makes a new one"
}

// Held is the cross-process lock on one identity's cache file: taken by
// TakeLock, or adopted from the process that took it (Adopt).
type Held struct {
	f *os.File
	// adopted locks are released by their taker: closing our descriptor
	// leaves the lock to the taker's.
	adopted bool
}

// File is the open lock file. A child given it (exec.Cmd.ExtraFiles) holds
// the lock with us, so it outlives our death until the child exits, and the
// child can Adopt it instead of waiting for the lock itself.
func (h *Held) File() *os.File { return h.f }

// Unlock releases the lock (an adopted one stays with its taker).
func (h *Held) Unlock() {
	if !h.adopted {
		_ = syscall.Flock(int(h.f.Fd()), syscall.LOCK_UN)
	}
	_ = h.f.Close()
}

// LockPath is the lock file of id's entry.
func (c *Cache) LockPath(id Identity) string { return filepath.Join(c.dir, id.Key()+".lock") }

// Lock takes the cross-process lock for id, waiting until ctx is done.
// The caller must Load again after taking it: another process may have
// refreshed meanwhile. A lock file that cannot be used is a *LockFileError;
// running out of ctx while another process holds the lock is any other error.
func (c *Cache) Lock(ctx context.Context, id Identity) (unlock func(), err error) {
	h, err := c.TakeLock(ctx, id)
	if err != nil {
		return nil, err
	}
	return h.Unlock, nil
}

// AwaitLock is TakeLock for the gets of a burst that find id's token due:
// the first gets the lock (held: it refreshes); the others wait for its
// refresh to end, all at once, on a shared lock, and get nil: they read the
// cache again, and take the lock in turn (TakeLock) only if it still does
// not answer them (see AwaitCompile).
func (c *Cache) AwaitLock(ctx context.Context, id Identity) (*Held, error) {
	return c.awaitAt(ctx, c.LockPath(id))
}

// awaitAt takes the lock p when it is free (held), or else waits for its
// holder to let go, on a shared lock with every other waiter, and returns nil.
func (c *Cache) awaitAt(ctx context.Context, p string) (*Held, error) {
	f, err := c.openLock(p)
	if err != nil {
		return nil, err
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		return &Held{f: f}, nil
	}
	if err := waitFlock(ctx, f, syscall.LOCK_SH); err != nil {
		return nil, c.waitErr(ctx, p, err)
	}
	f.Close() // releases the shared lock
	return nil, nil
}

// TakeLock is Lock keeping the lock file, to hand to a child process.
//
// The lock file is opened without following a symlink (O_CREATE through a
// planted link would create its target, as root anywhere) and without waiting
// on a FIFO, and must be a regular file of ours.
func (c *Cache) TakeLock(ctx context.Context, id Identity) (*Held, error) {
	return c.takeLockAt(ctx, c.LockPath(id))
}

func (c *Cache) takeLockAt(ctx context.Context, p string) (*Held, error) {
	f, err := c.openLock(p)
	if err != nil {
		return nil, err
	}
	if err := waitFlock(ctx, f, syscall.LOCK_EX); err != nil {
		return nil, c.waitErr(ctx, p, err)
	}
	return &Held{f: f}, nil
}

// waitErr is the error of waiting for the lock p: the lock file's own
// failure, or ctx's end while another process holds it.
func (c *Cache) waitErr(ctx context.Context, p string, err error) error {
	if ctx.Err() == nil {
		return &LockFileError{Path: p, Problem: err.Error()}
	}
	return fmt.Errorf("waiting for the cache lock %s: %w", p, err)
}

// openLock opens the lock file p, checked as TakeLock says.
func (c *Cache) openLock(p string) (*os.File, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	if err := c.ensureDir(c.dir); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(p); err == nil {
		if problem := notOurs(fi); problem != "" {
			return nil, &LockFileError{Path: p, Problem: "is " + problem}
		}
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &LockFileError{Path: p, Problem: "is a symbolic link"}
		}
		return nil, &LockFileError{Path: p, Problem: err.Error()}
	}
	// Checked again on the open file: it may have been swapped since Lstat.
	fi, err := f.Stat()
	if err == nil {
		if problem := notOurs(fi); problem != "" {
			err = errors.New("is " + problem)
		}
	}
	if err != nil {
		f.Close()
		return nil, &LockFileError{Path: p, Problem: err.Error()}
	}
	return f, nil
}

// waitFlock takes f's flock (how: LOCK_EX or LOCK_SH), blocked in the
// kernel rather than polling: the gets queued behind a refresh then cost no
// CPU while they wait, and wake as soon as it is done. On ctx's end f is
// closed (once the blocked flock returns, releasing what it got) and ctx's
// error returned.
func waitFlock(ctx context.Context, f *os.File, how int) error {
	fd := int(f.Fd())
	if err := syscall.Flock(fd, how|syscall.LOCK_NB); err == nil {
		return nil
	}
	got := make(chan error, 1)
	go func() {
		for {
			err := syscall.Flock(fd, how)
			if err != syscall.EINTR {
				got <- err
				return
			}
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
		}
		return err
	case <-ctx.Done():
		// A blocked flock cannot be called off: when it returns, let go.
		go func() {
			<-got
			f.Close()
		}()
		return ctx.Err()
	}
}

// Adopt takes over id's lock through f, a lock file inherited from the
// process that took it (Held.File). It fails, leaving f open, unless f is
// id's lock file and holding it: then the caller takes the lock itself.
func (c *Cache) Adopt(id Identity, f *os.File) (*Held, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	p := c.LockPath(id)
	want, err := os.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("adopting the cache lock %s: %w", p, err)
	}
	have, err := f.Stat()
	if err != nil || !os.SameFile(want, have) {
		return nil, fmt.Errorf("adopting the cache lock %s: the inherited file is not it", p)
	}
	// Succeeds at once on the taker's open file, which holds the lock.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("adopting the cache lock %s: %w", p, err)
	}
	return &Held{f: f, adopted: true}, nil
}
