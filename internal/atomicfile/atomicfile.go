// Package atomicfile replaces files so that a reader, a crash or a full disk leaves either the old content or
// the new one, never a mix: a temporary file in the same directory is written, fsynced, given its final mode
// and owner, and renamed over the target; then the directory is fsynced so the rename itself survives a crash.
// NoSync leaves out both fsyncs, for a cache whose readers take a cut-short file for a missing one.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/currentsdev/currents/internal/dirs"
)

// Option adjusts WriteFile.
type Option func(*options)

type options struct {
	uid, gid    int
	followLinks bool        // WriteFile: replace a symlink's target, not the link
	maxMode     fs.FileMode // Replace: the most the file may allow (0: keep its mode)
	backup      []byte      // Replace: what the backup holds instead of the previous content
	backupSet   bool
	noSync      bool // NoSync
}

// WithOwner gives the new file this owner. Root editing a user's file (sudo) uses it so the file does not end
// up owned by root. An owner equal to the current user's is a no-op.
func WithOwner(uid, gid int) Option { return func(o *options) { o.uid, o.gid = uid, gid } }

// FollowLinks makes WriteFile replace the file a symlinked path points to (Target), as docker writes
// config.json, instead of replacing the link itself. Never for files in a directory others can write (the
// token cache): a planted link would redirect the write.
func FollowLinks() Option { return func(o *options) { o.followLinks = true } }

// MaxMode makes Replace tighten the file to at most mode (0o600: no access for group and others), keeping
// its owner, for a settings file that now holds a secret. The backup gets the same mode.
func MaxMode(mode fs.FileMode) Option { return func(o *options) { o.maxMode = mode } }

// Backup makes Replace write data as the backup instead of the previous content: the previous version
// without a secret the edit removed.
func Backup(data []byte) Option {
	return func(o *options) { o.backup, o.backupSet = data, true }
}

// NoSync makes WriteFile skip both fsyncs, the file's before the rename and the directory's after it. A
// reader still sees the old content or the new, never a mix (the rename is atomic); only a crash before the
// kernel writes the file back may leave the old file, or the new one cut short or empty. So it is for a
// cache of what can be fetched again, whose readers take such a file for a missing one: the token cache,
// where each fsync was a disk flush that every get of a burst waited on.
func NoSync() Option { return func(o *options) { o.noSync = true } }

// Syncs reports whether a write with opts fsyncs (no NoSync among them).
func Syncs(opts ...Option) bool { return !collect(opts).noSync }

// fsync is fsync(2), retried when a signal interrupts it; tests count its calls.
var fsync = func(fd int) error {
	for {
		if err := unix.Fsync(fd); err != unix.EINTR {
			return err
		}
	}
}

func collect(opts []Option) options {
	o := options{uid: -1, gid: -1}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WriteFile replaces path with data, with permissions mode. On error the target is untouched and no
// temporary file is left behind. The directory is reached by dirs.OpenDir's rule (only links this user
// controls), and everything happens through its descriptor.
func WriteFile(path string, data []byte, mode fs.FileMode, opts ...Option) (err error) {
	o := collect(opts)
	if o.followLinks {
		if path, err = Target(path); err != nil {
			return err
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	d, err := dirs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return writeAt(d, base, data, mode, o)
}

// writeAt is WriteFile in the open directory d.
func writeAt(d *dirs.Dir, base string, data []byte, mode fs.FileMode, o options) (err error) {
	tmp, name, err := createTemp(d, base)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			_ = unix.Unlinkat(d.Fd(), name, 0)
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if o.uid >= 0 && (o.uid != os.Geteuid() || o.gid != os.Getegid()) {
		if err = tmp.Chown(o.uid, o.gid); err != nil {
			return fmt.Errorf("keeping the owner %d:%d of %s: %w", o.uid, o.gid, filepath.Join(d.Path(), base), err)
		}
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if !o.noSync {
		if err = fsync(int(tmp.Fd())); err != nil {
			return &os.PathError{Op: "sync", Path: tmp.Name(), Err: err}
		}
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = unix.Renameat(d.Fd(), name, d.Fd(), base); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(d.Path(), name), New: filepath.Join(d.Path(), base), Err: err}
	}
	if o.noSync {
		return nil
	}
	if fd, derr := unix.Openat(d.Fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); derr == nil {
		_ = fsync(fd) // some filesystems refuse to fsync a directory; the rename has still happened
		unix.Close(fd)
	}
	return nil
}

// createTemp makes a new file named ."+base+".tmp-N in d (the pattern os.CreateTemp would use, which the
// token cache's sweep of a killed writer's leftovers knows), never through a link.
func createTemp(d *dirs.Dir, base string) (*os.File, string, error) {
	for range 10000 {
		name := "." + base + ".tmp-" + strconv.FormatUint(uint64(rand.Uint32()), 10)
		fd, err := unix.Openat(d.Fd(), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, "", &fs.PathError{Op: "create", Path: filepath.Join(d.Path(), name), Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(d.Path(), name)), name, nil
	}
	return nil, "", &fs.PathError{Op: "create", Path: filepath.Join(d.Path(), "."+base+".tmp-*"), Err: unix.EEXIST}
}

// Existing returns the mode of path and an Option keeping its owner, for writing a new version of it; for a
// missing file it returns defaultMode, a no-op Option and exists false.
func Existing(path string, defaultMode fs.FileMode) (mode fs.FileMode, owner Option, exists bool, err error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return defaultMode, func(*options) {}, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	owner = func(*options) {}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		owner = WithOwner(int(sys.Uid), int(sys.Gid))
	}
	return st.Mode().Perm(), owner, true, nil
}

// BackupSuffix is appended to a settings file's path for the copy of its previous content that Replace leaves.
const BackupSuffix = ".bak"

// BackupPath is where Replace keeps path's previous version: beside the path as the caller names it (beside
// a symlink, not in the directory the link points into), so the backup is found where the file is known.
func BackupPath(path string) string { return path + BackupSuffix }

// ErrChanged is returned by Replace when the file on disk is no longer what the caller read.
var ErrChanged = errors.New("the file changed while it was being edited; nothing was written, run the command again")

// Target returns the file a write to path replaces: path itself, or for a symlink the file it points to,
// followed even when that file does not exist yet (docker writes a dangling config.json link's target rather
// than replacing the link with a regular file). Every link in the path is resolved, and only one this user
// controls is followed (dirs.Resolve): root must not write through a link another user planted.
func Target(path string) (string, error) { return dirs.Resolve(path) }

// Replace writes a new version of a settings file that the caller read as old (nil or empty with exists
// false for a missing file), holding the file's Lock from that read to here: the file keeps its mode and
// owner (a new one gets defaultMode and its directory's owner, in a directory created 0700), its previous
// bytes go to BackupPath(path) the same way, and a symlinked file is written where it lives (Target). It
// refuses with ErrChanged when the file changed since it was read (a writer that takes no lock, such as
// docker itself), rather than lose that write. It returns the backup's path ("" when the file is new).
func Replace(path string, old []byte, exists bool, data []byte, defaultMode fs.FileMode, opts ...Option) (backup string, err error) {
	o := collect(opts)
	target, err := Target(path)
	if err != nil {
		return "", err
	}
	dir, base := filepath.Split(target)
	d, err := dirs.OpenDir(dir)
	if errors.Is(err, fs.ErrNotExist) && !exists {
		if err := dirs.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		d, err = dirs.OpenDir(dir)
	}
	if err != nil {
		return "", err
	}
	defer d.Close()
	now, st, err := readAt(d, base)
	if err != nil {
		return "", err
	}
	if (st != nil) != exists || !bytes.Equal(now, old) {
		return "", ErrChanged
	}
	mode, owner := defaultMode, dirOwner(d)
	if st != nil {
		mode, owner = fs.FileMode(st.Mode&0o777), WithOwner(int(st.Uid), int(st.Gid))
	}
	if o.maxMode != 0 {
		mode &= o.maxMode
	}
	if exists {
		backup = BackupPath(path)
		content := old
		if o.backupSet {
			content = o.backup
		}
		if err := WriteFile(backup, content, mode, owner); err != nil {
			return "", fmt.Errorf("writing the backup %s: %w", backup, err)
		}
	}
	w := collect([]Option{owner})
	if err := writeAt(d, base, data, mode, w); err != nil {
		return "", err
	}
	return backup, nil
}

// dirOwner gives a new file its directory's owner when root creates it in a directory of another user's
// (sudo with a user's HOME): a root-owned 0600 file there would be unreadable to that user's own tools.
func dirOwner(d *dirs.Dir) Option {
	var st unix.Stat_t
	if os.Geteuid() != 0 || unix.Fstat(d.Fd(), &st) != nil || st.Uid == 0 {
		return func(*options) {}
	}
	return WithOwner(int(st.Uid), int(st.Gid))
}
