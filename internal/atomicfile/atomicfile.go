// Package atomicfile replaces files so that a reader, a crash or a full disk leaves either the old content or
// the new one, never a mix: a temporary file in the same directory is written, fsynced, given its final mode
// and owner, and renamed over the target; then the directory is fsynced so the rename itself survives a crash.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Option adjusts WriteFile.
type Option func(*options)

type options struct {
	uid, gid int
}

// WithOwner gives the new file this owner. Root editing a user's file (sudo) uses it so the file does not end
// up owned by root. An owner equal to the current user's is a no-op.
func WithOwner(uid, gid int) Option { return func(o *options) { o.uid, o.gid = uid, gid } }

// WriteFile replaces path with data, with permissions mode. On error the target is untouched and no
// temporary file is left behind.
func WriteFile(path string, data []byte, mode fs.FileMode, opts ...Option) (err error) {
	o := options{uid: -1, gid: -1}
	for _, opt := range opts {
		opt(&o)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if o.uid >= 0 && (o.uid != os.Geteuid() || o.gid != os.Getegid()) {
		if err = tmp.Chown(o.uid, o.gid); err != nil {
			return fmt.Errorf("keeping the owner %d:%d of %s: %w", o.uid, o.gid, path, err)
		}
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // some filesystems refuse to fsync a directory; the rename has still happened
		d.Close()
	}
	return nil
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

// ErrChanged is returned by Replace when the file on disk is no longer what the caller read.
var ErrChanged = errors.New("the file changed while it was being edited; nothing was written, run the command again")

// Replace writes a new version of a settings file that the caller read as old (nil or empty with exists
// false for a missing file): the file keeps its mode and owner (defaultMode when new, in a directory created
// 0700), its previous bytes go to path+BackupSuffix the same way, and a symlinked file is updated where it
// lives. It refuses with ErrChanged when the file changed since it was read, rather than lose that write. It
// returns the backup's path ("" when the file is new).
func Replace(path string, old []byte, exists bool, data []byte, defaultMode fs.FileMode) (backup string, err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	mode, owner, existsNow, err := Existing(path, defaultMode)
	if err != nil {
		return "", err
	}
	now, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if existsNow != exists || !bytes.Equal(now, old) {
		return "", ErrChanged
	}
	if !exists {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
	} else {
		backup = path + BackupSuffix
		if err := WriteFile(backup, old, mode, owner); err != nil {
			return "", fmt.Errorf("writing the backup %s: %w", backup, err)
		}
	}
	if err := WriteFile(path, data, mode, owner); err != nil {
		return "", err
	}
	return backup, nil
}
