package atomicfile

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/rawfile"
)

// MaxSize bounds what ReadFile reads: settings files are kilobytes, and a wrong path (a log, a device) must
// be refused, not read until memory runs out.
const MaxSize = 16 << 20

// ReadFile reads the settings file at path as Replace will judge it: through Target (links this user
// controls only), opened without following a final link and without waiting on a FIFO, and only when it is
// a regular file (a *rawfile.NotRegularError otherwise). A missing file, or a missing directory, is exists false.
func ReadFile(path string) (data []byte, exists bool, err error) {
	d, base, err := dirs.OpenFileDir(path)
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

// readAt reads the regular file base in d, never through a link and never waiting on a FIFO; st is nil
// when the file does not exist.
func readAt(d *dirs.Dir, base string) (data []byte, st *syscall.Stat_t, err error) {
	p := filepath.Join(d.Path(), base)
	st = new(syscall.Stat_t)
	regular := rawfile.Regular(p, "")
	data, err = rawfile.ReadAt(d.Fd(), base, syscall.O_NOFOLLOW|syscall.O_NONBLOCK, MaxSize, func(fd int, s *syscall.Stat_t) error {
		*st = *s
		return regular(fd, s)
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil
	case errors.Is(err, syscall.ELOOP):
		return nil, nil, &rawfile.NotRegularError{Path: p, Kind: "a symbolic link"}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Path = p
		}
		return nil, nil, err
	}
	return data, st, nil
}
