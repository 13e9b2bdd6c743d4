package dirs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/currentsdev/currents/internal/fix"
)

// LinkError is a symbolic link this user does not control: one owned by
// another user, or lying in a directory another user may change. Following
// it would let that user point this process's reads and writes anywhere —
// root's writes into /etc, with a user's HOME under sudo -E — so it is
// refused, as MkdirAll refuses to create a directory inside another user's.
type LinkError struct {
	Link  string // the link, every link before it resolved
	Owner int    // who controls it: the link's owner, or its directory's; -1: everyone (a world-writable directory)
	InDir bool   // Owner controls the directory the link lies in
}

// Problem says what was refused (fix.Fixer).
func (e *LinkError) Problem() string {
	whose := "it belongs to " + userName(e.Owner)
	switch {
	case e.Owner < 0:
		whose = "it lies in " + filepath.Dir(e.Link) + ", which every user may write to"
	case e.InDir:
		whose = "it lies in " + filepath.Dir(e.Link) + ", which belongs to " + userName(e.Owner)
	}
	return fmt.Sprintf("not following the symbolic link %s: %s, not to this user (%s), who could point it at any file this user may write",
		e.Link, whose, userName(os.Geteuid()))
}

// Fix says what to do (fix.Fixer).
func (e *LinkError) Fix() string {
	if e.Owner < 0 {
		return "move the file out of " + filepath.Dir(e.Link) + ", or replace the link with the file it points to"
	}
	return "run the command as " + userName(e.Owner) + " (without sudo), or replace the link with the file it points to"
}

func (e *LinkError) Error() string { return fix.Join(e.Problem(), e.Fix()) }

// maxLinks is how many symbolic links one resolution follows, as the kernel's
// limit (ELOOP).
const maxLinks = 40

// walked is where walk stopped: the deepest existing directory, open, and
// what of the path lies beyond it.
type walked struct {
	dir  *os.File // O_PATH: usable as the directory of *at system calls, not for reading
	path string   // dir's path, every link resolved
	// rest are the components after dir: none when the path is dir itself;
	// else the first is the final component when last is set, or the first
	// missing one.
	rest []string
	// last is set when rest[0] is the path's final component and exists (a
	// file, or a link walk was told not to follow).
	last bool
}

func (w *walked) close() {
	if w.dir != nil {
		w.dir.Close()
	}
}

// walk resolves path from the root one component at a time, each looked up
// in the directory opened before it (openat with O_NOFOLLOW), so that a link
// swapped in after the check cannot redirect what the caller does next in the
// directory it gets. It follows a symbolic link only when this user controls
// it (follow): a link of this user's or root's, in a directory of this
// user's or root's that other users cannot change. followLast also follows a
// final link (a dangling one too: the caller creates its target).
func walk(path string, followLast bool) (*walked, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	w := &walked{path: "/"}
	if w.dir, err = openPath(unix.AT_FDCWD, "/"); err != nil {
		return nil, err
	}
	queue := split(abs)
	for links := 0; len(queue) > 0; {
		name := queue[0]
		queue = queue[1:]
		if name == ".." {
			if err := w.enter(".."); err != nil {
				w.close()
				return nil, err
			}
			continue
		}
		var st unix.Stat_t
		err := unix.Fstatat(int(w.dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			w.rest = append([]string{name}, queue...)
			return w, nil
		}
		if err != nil {
			w.close()
			return nil, &fs.PathError{Op: "lstat", Path: filepath.Join(w.path, name), Err: err}
		}
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFLNK && (followLast || len(queue) > 0):
			if links++; links > maxLinks {
				w.close()
				return nil, &fs.PathError{Op: "resolve", Path: abs, Err: unix.ELOOP}
			}
			target, err := w.follow(name, &st)
			if err != nil {
				w.close()
				return nil, err
			}
			if filepath.IsAbs(target) {
				if err := w.enter("/"); err != nil {
					w.close()
					return nil, err
				}
			}
			queue = append(split(target), queue...)
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			if err := w.enter(name); err != nil {
				w.close()
				return nil, err
			}
		case len(queue) == 0:
			w.rest, w.last = []string{name}, true
			return w, nil
		default:
			w.close()
			return nil, &fs.PathError{Op: "resolve", Path: filepath.Join(w.path, name), Err: unix.ENOTDIR}
		}
	}
	return w, nil
}

// enter makes the directory name (in w's, or "/") w's directory.
func (w *walked) enter(name string) error {
	at, next := int(w.dir.Fd()), filepath.Join(w.path, name)
	if name == "/" {
		at, next = unix.AT_FDCWD, "/"
	}
	d, err := openPath(at, name)
	if err != nil {
		return &fs.PathError{Op: "open", Path: next, Err: err}
	}
	w.dir.Close()
	w.dir, w.path = d, next
	return nil
}

// follow reads the link name in w's directory, when this user controls it.
func (w *walked) follow(name string, link *unix.Stat_t) (string, error) {
	var dir unix.Stat_t
	if err := unix.Fstat(int(w.dir.Fd()), &dir); err != nil {
		return "", &fs.PathError{Op: "stat", Path: w.path, Err: err}
	}
	me := uint32(os.Geteuid())
	p := filepath.Join(w.path, name)
	switch {
	case dir.Uid != me && dir.Uid != 0:
		return "", &LinkError{Link: p, Owner: int(dir.Uid), InDir: true}
	case dir.Mode&0o002 != 0 && dir.Mode&unix.S_ISVTX == 0:
		return "", &LinkError{Link: p, Owner: -1, InDir: true}
	case link.Uid != me && link.Uid != 0:
		return "", &LinkError{Link: p, Owner: int(link.Uid)}
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(int(w.dir.Fd()), name, buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
	}
	return string(buf[:n]), nil
}

// openPath opens the directory name in at for *at calls only, never
// through a link.
func openPath(at int, name string) (*os.File, error) {
	for {
		fd, err := unix.Openat(at, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

func split(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// Resolve returns path with every symbolic link resolved, the final one too
// (even when it dangles: a write through it creates its target, as docker
// writes a symlinked config.json), following only links this user controls
// (a *LinkError otherwise). A missing part of the path is kept as written.
func Resolve(path string) (string, error) {
	w, err := walk(path, true)
	if err != nil {
		return "", err
	}
	defer w.close()
	return filepath.Join(append([]string{w.path}, w.rest...)...), nil
}

// Dir is a directory opened by OpenDir for *at system calls: what is done
// through it happens in that directory, whatever links are swapped into its
// path afterwards.
type Dir struct {
	f    *os.File
	path string
}

// Fd is the directory's descriptor (O_PATH: for *at calls and fstat only).
func (d *Dir) Fd() int { return int(d.f.Fd()) }

// Path is the directory's path, every link resolved.
func (d *Dir) Path() string { return d.path }

// Close releases the descriptor.
func (d *Dir) Close() error { return d.f.Close() }

// OpenDir opens the existing directory dir, following only links this user
// controls (see Resolve).
func OpenDir(dir string) (*Dir, error) {
	w, err := walk(dir, true)
	if err != nil {
		return nil, err
	}
	if len(w.rest) > 0 {
		w.close()
		e := unix.ENOENT
		if w.last {
			e = unix.ENOTDIR
		}
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(append([]string{w.path}, w.rest...)...), Err: e}
	}
	return &Dir{f: w.dir, path: w.path}, nil
}

// OpenFileDir resolves path as Resolve does and opens the directory its final
// component lies in: one walk, after which that component is read or written
// with openat (and O_NOFOLLOW) where no link swapped in later can redirect
// it. name is the component; a missing directory is fs.ErrNotExist.
func OpenFileDir(path string) (d *Dir, name string, err error) {
	w, err := walk(path, true)
	if err != nil {
		return nil, "", err
	}
	switch {
	case len(w.rest) == 1 && w.rest[0] != "..":
		return &Dir{f: w.dir, path: w.path}, w.rest[0], nil
	case len(w.rest) == 0:
		w.close()
		return nil, "", &fs.PathError{Op: "open", Path: w.path, Err: unix.EISDIR}
	}
	w.close()
	return nil, "", &fs.PathError{Op: "open", Path: filepath.Join(append([]string{w.path}, w.rest...)...), Err: unix.ENOENT}
}
