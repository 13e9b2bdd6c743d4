// Package rawfile reads small files whole with plain system calls. The lean
// helper reads three on every warm get (currents.yaml, its compiled form, the
// token cache entry): through os.File each would set up the runtime's network
// poller, and grow its buffer as it reads, which together cost a warm get
// several percent of its time.
package rawfile

import (
	"fmt"
	"os"
	"syscall"
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
	path := name
	fd, err := open(dirfd, name, flags)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
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
