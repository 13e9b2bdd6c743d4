package dirs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ForeignError is MkdirAll refusing to create a directory inside one that
// belongs to another user.
type ForeignError struct {
	Dir    string // what would have been created
	Parent string // the existing directory it would have been created in
	Owner  int    // Parent's owner
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("not creating %s: %s belongs to %s, not to this user (%s), and a directory made there would lock its owner out",
		e.Dir, e.Parent, userName(e.Owner), userName(os.Geteuid()))
}

// MkdirAll creates dir and its missing parents with perm, as os.MkdirAll
// does, but never inside a directory that belongs to another user (root's
// directories, such as /tmp, excepted), and never through a symbolic link
// this user does not control (Resolve's rule). Root running with a user's
// HOME (sudo -E, or a sudo that keeps HOME) would otherwise leave root-owned
// directories in that home: the user's own tools then get "permission
// denied" there. It returns a *ForeignError or a *LinkError then.
//
// Each directory is made in the one opened before it (mkdirat), so a link
// swapped into the path meanwhile cannot redirect the creation.
func MkdirAll(dir string, perm fs.FileMode) error {
	w, err := walk(dir, true)
	if err != nil {
		return err
	}
	defer w.close()
	if w.last {
		return &fs.PathError{Op: "mkdir", Path: filepath.Join(w.path, w.rest[0]), Err: syscall.ENOTDIR}
	}
	if len(w.rest) == 0 {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(w.dir.Fd()), &st); err != nil {
		return &fs.PathError{Op: "stat", Path: w.path, Err: err}
	}
	if owner := int(st.Uid); owner != os.Geteuid() && owner != 0 {
		return &ForeignError{Dir: filepath.Join(append([]string{w.path}, w.rest...)...), Parent: w.path, Owner: owner}
	}
	for _, name := range w.rest {
		if name == ".." { // below a directory that did not exist
			return &fs.PathError{Op: "mkdir", Path: filepath.Join(append([]string{w.path}, w.rest...)...), Err: syscall.ENOENT}
		}
		if err := unix.Mkdirat(int(w.dir.Fd()), name, uint32(perm.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return &fs.PathError{Op: "mkdir", Path: filepath.Join(w.path, name), Err: err}
		}
		if err := w.enter(name); err != nil {
			return err
		}
	}
	return nil
}

// Owner returns the uid owning path (following links), if it can be read.
func Owner(path string) (int, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// userName is "name (uid N)", or "uid N" when the user database has no name for it.
func userName(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}
