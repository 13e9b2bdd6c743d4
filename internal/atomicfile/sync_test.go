package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// countSyncs counts fsync calls for the rest of the test (still made).
func countSyncs(t *testing.T) *int {
	t.Helper()
	n, real := new(int), fsync
	t.Cleanup(func() { fsync = real })
	fsync = func(fd int) error {
		*n++
		return real(fd)
	}
	return n
}

func TestWriteFileSyncsFileAndDirectoryUnlessNoSync(t *testing.T) {
	n := countSyncs(t)
	p := filepath.Join(t.TempDir(), "f.json")
	if err := WriteFile(p, []byte("durable"), 0o600); err != nil {
		t.Fatal(err)
	}
	if *n != 2 || !Syncs() {
		t.Errorf("a default write made %d fsyncs (Syncs %v), want 2: the file before the rename, the directory after", *n, Syncs())
	}
	*n = 0
	if err := WriteFile(p, []byte("cached"), 0o600, NoSync()); err != nil {
		t.Fatal(err)
	}
	if *n != 0 || Syncs(NoSync()) {
		t.Errorf("a NoSync write made %d fsyncs (Syncs %v), want 0", *n, Syncs(NoSync()))
	}
	// Still a replacement by rename: the content is whole, the mode given, no temporary file left.
	b, err := os.ReadFile(p)
	st, _ := os.Stat(p)
	entries, _ := os.ReadDir(filepath.Dir(p))
	if err != nil || string(b) != "cached" || st.Mode().Perm() != 0o600 || len(entries) != 1 {
		t.Errorf("after a NoSync write: %q %v, mode %v, %d files", b, err, st.Mode().Perm(), len(entries))
	}
}
