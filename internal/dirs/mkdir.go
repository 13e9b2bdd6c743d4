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
// directories, such as /tmp, excepted). Root running with a user's HOME
// (sudo -E, or a sudo that keeps HOME) would otherwise leave root-owned
// directories in that home: the user's own tools then get "permission
// denied" there. It returns a *ForeignError then.
func MkdirAll(dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	parent := dir
	for {
		_, err := os.Stat(parent)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		up := filepath.Dir(parent)
		if up == parent {
			break
		}
		parent = up
	}
	if parent != dir {
		if owner, ok := Owner(parent); ok && owner != os.Geteuid() && owner != 0 {
			return &ForeignError{Dir: dir, Parent: parent, Owner: owner}
		}
	}
	return os.MkdirAll(dir, perm)
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
