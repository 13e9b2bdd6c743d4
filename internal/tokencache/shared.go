package tokencache

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// othersDir says why dir, whose mode is wider than 0700, is not one the
// cache may make private, or "": one other users and programs use too (a
// temp directory, or /var/cache named where /var/cache/currents was meant),
// which a chmod to 0700 — by root, of any directory — would shut them out
// of. The cache holds only files of its user, so a sticky directory (a
// shared one, such as /tmp) or one holding directories or other users'
// files is not the cache's own. Asked only of a directory whose mode is
// wrong, never on a warm get.
func othersDir(dir string, fi fs.FileInfo) string {
	if fi.Mode()&fs.ModeSticky != 0 {
		return "it is sticky: a directory users share"
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			return fmt.Sprintf("it holds directories (%s), so it is another program's too", e.Name())
		}
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
				return fmt.Sprintf("it holds files of other users (%s, uid %d)", e.Name(), st.Uid)
			}
		}
	}
	return ""
}

// othersDirError is ensureDir's refusal of such a directory, with the fix.
func othersDirError(dir string, fi fs.FileInfo, why string) error {
	mode := uint32(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return fmt.Errorf("cache directory %s: mode %o, and %s: not made private (0700), which would shut the others out; give the cache a directory of its own, such as %s",
		dir, mode, why, filepath.Join(dir, "currents"))
}
