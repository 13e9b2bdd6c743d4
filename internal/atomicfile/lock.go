package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/fix"
)

// LockSuffix is appended to a settings file's Target for its lock file.
const LockSuffix = ".lock"

// LockWait is how long Lock waits for another holder. Holders keep the lock for one read-modify-write, a
// few milliseconds.
var LockWait = 30 * time.Second

// Lock takes the lock of the settings file at path: an exclusive flock on a sidecar file beside the file's
// Target (so two names of one file meet at one lock), created when missing, with the directory. Every
// read-modify-write of a settings file holds it from the read until Replace has renamed, so that writers
// which would otherwise each read the same old version and replace each other's work queue instead. The
// lock file is left in place: removing it would let a late opener lock a file nobody else locks.
func Lock(path string) (unlock func(), err error) {
	target, err := Target(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(target)
	if err := dirs.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lockPath := target + LockSuffix
	f, err := openLock(lockPath, dir)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(LockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", lockPath, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fix.New(fmt.Errorf("another process has held the lock %s for over %s", lockPath, LockWait),
				"see which with `fuser "+lockPath+"`, let it finish, and run the command again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// openLock opens the lock file, never through a symlink. One root created in a user's directory is given to
// that user, who could not otherwise open it; one left by another user can still be locked read-only.
func openLock(lockPath, dir string) (*os.File, error) {
	const flags = os.O_RDWR | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	f, err := os.OpenFile(lockPath, flags|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		var o options
		dirOwner(dir)(&o)
		if o.uid > 0 {
			if err := f.Chown(o.uid, o.gid); err != nil {
				f.Close()
				return nil, fmt.Errorf("giving the lock %s to its directory's owner: %w", lockPath, err)
			}
		}
		return f, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating the lock %s: %w", lockPath, err)
	}
	if f, err = os.OpenFile(lockPath, flags, 0); err == nil {
		return f, nil
	}
	if f, err2 := os.OpenFile(lockPath, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0); err2 == nil {
		return f, nil
	}
	return nil, fix.New(fmt.Errorf("opening the lock %s: %w", lockPath, err), "remove "+lockPath+" (it holds nothing) and run the command again")
}
