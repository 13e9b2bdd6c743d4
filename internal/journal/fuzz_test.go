package journal

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzJournal: whatever sits in the journal file, Read and Open never panic;
// a file they accept is written back by the next update and reads back the
// same.
func FuzzJournal(f *testing.F) {
	f.Add([]byte(`{"version":1,"project":"currents","services":{"api":{"image":"x","registry":"sha256:a","failed":["sha256:b"]}},"history":[{"id":1,"service":"api","action":"deploy","new":"sha256:a","result":"started"}]}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":2,"project":"x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "watch"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(Path(dir, "currents"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(dir, "currents"); err != nil {
			return
		}
		j, err := Open(dir, "currents", "/srv")
		if err != nil {
			return
		}
		defer j.Close()
		if err := j.Update(func(*State) error { return nil }); err != nil {
			t.Fatalf("an accepted journal cannot be written back: %v", err)
		}
		back, err := Read(dir, "currents")
		if err != nil {
			t.Fatalf("the journal written does not read: %v", err)
		}
		if want := j.State(); !reflect.DeepEqual(clone(back), clone(want)) {
			t.Fatalf("read back differs:\n%+v\n%+v", back, want)
		}
	})
}
