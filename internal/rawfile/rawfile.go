// Package rawfile reads small files whole with plain system calls. The lean
// helper reads three on every warm get (currents.yaml, its compiled form, the
// token cache entry): through os.File each would set up the runtime's network
// poller, and grow its buffer as it reads, which together cost a warm get
// several percent of its time.
package rawfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Read reads the file at path, opened with flags (O_RDONLY and O_CLOEXEC are
// added). check, when not nil, judges the open file before anything is read;
// its error is returned as it is. A file larger than limit bytes is an error.
// Errors from the system are *os.PathError, as os.ReadFile's.
func Read(path string, flags int, limit int64, check func(fd int, st *syscall.Stat_t) error) ([]byte, error) {
	return ReadAt(atCWD, path, flags, limit, check)
}

// atCWD is AT_FDCWD: a path relative to the working directory.
const atCWD = -0x64

// ReadAt is Read of name in the directory open as dirfd (openat): a caller
// that reached the directory safely reads in it whatever links are swapped
// into its path meanwhile. Errors name the path as name.
func ReadAt(dirfd int, name string, flags int, limit int64, check func(fd int, st *syscall.Stat_t) error) ([]byte, error) {
	fd, err := open(dirfd, name, flags)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return readFd(fd, name, limit, check)
}

// ErrNeedsWalk is ReadNoLinks' error when it cannot answer for the path:
// there is a link on it, the kernel has no openat2, or it names a directory.
var ErrNeedsWalk = errors.New("a symbolic link on the path, no openat2, or a directory")

// ReadNoLinks is Read of a path none of whose components is a symbolic link,
// opened in one openat2 call that refuses any link on the way
// (RESOLVE_NO_SYMLINKS), where a walk opening each directory in the one
// before takes two to four system calls a component. A missing file is
// os.ErrNotExist as in Read. Anything else that stops the open — a link, a
// kernel or seccomp profile without openat2, a directory it may not search —
// and a directory where the file should be are ErrNeedsWalk: the caller
// walks the path as it would have without this, and says what it finds there.
func ReadNoLinks(path string, flags int, limit int64, check func(fd int, st *syscall.Stat_t) error) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, ErrNeedsWalk
	}
	how := unix.OpenHow{Flags: uint64(flags | syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NOFOLLOW), Resolve: unix.RESOLVE_NO_SYMLINKS}
	for {
		fd, err := unix.Openat2(unix.AT_FDCWD, abs, &how)
		switch err {
		case nil:
			return readFd(fd, path, limit, func(fd int, st *syscall.Stat_t) error {
				if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
					return ErrNeedsWalk
				}
				if check != nil {
					return check(fd, st)
				}
				return nil
			})
		case unix.EINTR:
			continue
		case unix.ENOENT:
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return nil, ErrNeedsWalk
	}
}

// readFd reads the open file fd (named path in errors) and closes it.
func readFd(fd int, path string, limit int64, check func(fd int, st *syscall.Stat_t) error) ([]byte, error) {
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if check != nil {
		if err := check(fd, &st); err != nil {
			return nil, err
		}
	}
	// One read usually does it: the size is known, plus one byte to see the end.
	buf := make([]byte, 0, min(max(st.Size, 0), limit)+1)
	for {
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

func open(dirfd int, path string, flags int) (int, error) {
	for {
		fd, err := syscall.Openat(dirfd, path, flags|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// NotRegularError is a file that must be a regular one and is not: a named
// pipe blocks its reader until something writes to it, a device may never end.
type NotRegularError struct {
	Path string
	Kind string // "a named pipe", "a directory", …
	Hint string // what to do; a general fix when empty
}

// Problem says what is wrong (fix.Fixer).
func (e *NotRegularError) Problem() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, e.Kind)
}

// Fix says what to do (fix.Fixer).
func (e *NotRegularError) Fix() string {
	if e.Hint != "" {
		return e.Hint
	}
	return "replace it with a regular file"
}

func (e *NotRegularError) Error() string { return e.Problem() + "; " + e.Fix() }

// Regular is a check for Read that accepts regular files only (a
// *NotRegularError naming path otherwise, with hint as its fix). With
// O_NONBLOCK in Read's flags a named pipe is opened without waiting for a
// writer, and refused here.
func Regular(path, hint string) func(fd int, st *syscall.Stat_t) error {
	return func(_ int, st *syscall.Stat_t) error {
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return &NotRegularError{Path: path, Kind: Kind(st.Mode), Hint: hint}
		}
		return nil
	}
}

// Kind names a file's type (st_mode) in messages: "a named pipe", "a directory", …
func Kind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "a regular file"
	case syscall.S_IFLNK:
		return "a symbolic link"
	case syscall.S_IFDIR:
		return "a directory"
	case syscall.S_IFIFO:
		return "a named pipe"
	case syscall.S_IFSOCK:
		return "a socket"
	case syscall.S_IFCHR, syscall.S_IFBLK:
		return "a device"
	}
	return "not a plain file"
}

// ErrNoEnd is ReadWithin's error for input that did not end in time.
var ErrNoEnd = errors.New("the input did not end in time")

// ReadWithin reads r to its end, at most limit bytes, giving up after
// within: input another process writes and closes at once (docker's line on
// a credential helper's stdin) that has not ended by then never will. The
// read left behind ends with the process.
func ReadWithin(r io.Reader, limit int64, within time.Duration) ([]byte, error) {
	var read []byte
	if f, ok := r.(*os.File); ok {
		var done bool
		var err error
		if read, done, err = readClosedPipe(f, limit); done || err != nil {
			return read, err
		}
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(r, limit+1-int64(len(read))))
		done <- result{append(read, data...), err}
	}()
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case res := <-done:
		if res.err == nil && int64(len(res.data)) > limit {
			res.err = fmt.Errorf("more than %d bytes", limit)
		}
		return res.data, res.err
	case <-timer.C:
		return nil, ErrNoEnd
	}
}

// readClosedPipe reads f whole when it is a pipe every writer has closed, as
// docker's stdin to a credential helper is by the time the helper runs (one
// line written, then closed): such a pipe holds all it ever will, so no read
// blocks, and the goroutine and timer ReadWithin needs otherwise (a tenth of
// a warm get's time beyond starting up) are spared. done is false, with what
// was read so far, for anything else: a pipe still open for writing, a named
// pipe (a writer may open it again at any time, so it is looked at again
// before each read), a terminal, or a file (on a network file system a read
// may hang). That needs no timer because a pipe without writers ends: its
// reads return what it holds, then nothing.
func readClosedPipe(f *os.File, limit int64) (data []byte, done bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, false, nil
	}
	cerr := rc.Control(func(fd uintptr) {
		var st syscall.Stat_t
		var fs syscall.Statfs_t
		if syscall.Fstat(int(fd), &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO ||
			syscall.Fstatfs(int(fd), &fs) != nil || fs.Type != unix.PIPEFS_MAGIC {
			return
		}
		buf := make([]byte, 0, 512)
		for {
			if !writersGone(int(fd)) {
				data = buf
				return
			}
			if int64(len(buf)) > limit {
				err = fmt.Errorf("more than %d bytes", limit)
				return
			}
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, rerr := syscall.Read(int(fd), buf[len(buf):cap(buf)])
			switch {
			case rerr == syscall.EINTR:
			case rerr != nil:
				err = &os.PathError{Op: "read", Path: f.Name(), Err: rerr}
				return
			case n == 0:
				data, done = buf, true
				return
			default:
				buf = buf[:len(buf)+n]
			}
		}
	})
	if cerr != nil {
		return nil, false, nil
	}
	return data, done, err
}

// writersGone reports whether the pipe open as fd has no writer left (POLLHUP).
func writersGone(fd int) bool {
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n == 1 && fds[0].Revents&unix.POLLHUP != 0
	}
}
