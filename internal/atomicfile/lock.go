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
	"github.com/currentsdev/currents/internal/rawfile"
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
	d, err := dirs.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	lockPath := target + LockSuffix
	f, err := openLock(d, filepath.Base(lockPath), lockPath)
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
func openLock(d *dirs.Dir, name, lockPath string) (*os.File, error) {
	const flags = os.O_RDWR | syscall.O_NOFOLLOW | syscall.O_CLOEXEC | syscall.O_NONBLOCK
	open := func(flags int) (*os.File, error) {
		fd, err := syscall.Openat(d.Fd(), name, flags, 0o600)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: lockPath, Err: err}
		}
		return os.NewFile(uintptr(fd), lockPath), nil
	}
	f, err := open(flags | os.O_CREATE | os.O_EXCL)
	if err == nil {
		var o options
		dirOwner(d)(&o)
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
	if f, err = open(flags); err == nil {
		return regularLock(f, lockPath)
	}
	if f, err2 := open(os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC | syscall.O_NONBLOCK); err2 == nil {
		return regularLock(f, lockPath)
	}
	return nil, fix.New(fmt.Errorf("opening the lock %s: %w", lockPath, err), "remove "+lockPath+" (it holds nothing) and run the command again")
}

// regularLock keeps f only when it is a regular file: flock on a FIFO or a device locks nothing another
// writer would see.
func regularLock(f *os.File, lockPath string) (*os.File, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening the lock %s: %w", lockPath, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		f.Close()
		return nil, fix.New(fmt.Errorf("the lock %s is %s, not a regular file", lockPath, rawfile.Kind(st.Mode)), "remove "+lockPath+" (it holds nothing) and run the command again")
	}
	return f, nil
}
