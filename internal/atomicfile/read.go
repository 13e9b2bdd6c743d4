package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/rawfile"
)

// MaxSize bounds what ReadFile reads: settings files are kilobytes, and a wrong path (a log, a device) must
// be refused, not read until memory runs out.
const MaxSize = 16 << 20

// ReadFile reads the settings file at path as Replace will judge it: through Target (links this user
// controls only), opened without following a final link and without waiting on a FIFO, and only when it is
// a regular file (a *NotRegularError otherwise). A missing file, or a missing directory, is exists false.
func ReadFile(path string) (data []byte, exists bool, err error) {
	target, err := Target(path)
	if err != nil {
		return nil, false, err
	}
	dir, base := filepath.Split(target)
	d, err := dirs.OpenDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer d.Close()
	data, st, err := readAt(d, base)
	return data, st != nil, err
}

// NotRegularError is a settings file that is not a regular file: a named pipe would block every reader
// until something writes to it, a device would be read without end.
type NotRegularError struct {
	Path string
	Kind string // "a named pipe", "a directory", …
}

// Problem says what is wrong (fix.Fixer).
func (e *NotRegularError) Problem() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, e.Kind)
}

// Fix says what to do (fix.Fixer).
func (e *NotRegularError) Fix() string {
	return "replace it with a regular file (or point the setting that names it at one)"
}

func (e *NotRegularError) Error() string { return fix.Join(e.Problem(), e.Fix()) }

// Kind names a file's type in messages: "a named pipe", "a directory", …
func Kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a named pipe"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	}
	return "not a plain file"
}

// readAt reads the regular file base in d, never through a link and never waiting on a FIFO; st is nil
// when the file does not exist.
func readAt(d *dirs.Dir, base string) (data []byte, st *syscall.Stat_t, err error) {
	p := filepath.Join(d.Path(), base)
	st = new(syscall.Stat_t)
	data, err = rawfile.ReadAt(d.Fd(), base, syscall.O_NOFOLLOW|syscall.O_NONBLOCK, MaxSize, func(_ int, s *syscall.Stat_t) error {
		if s.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return &NotRegularError{Path: p, Kind: Kind(s.Mode)}
		}
		*st = *s
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil
	case errors.Is(err, syscall.ELOOP):
		return nil, nil, &NotRegularError{Path: p, Kind: "a symbolic link"}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Path = p
		}
		return nil, nil, err
	}
	return data, st, nil
}
