package envfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestSetKeepsEveryOtherByte(t *testing.T) {
	const before = "# Point to your registry (include trailing slash)\r\n" +
		"DC_CURRENTS_IMAGE_REPOSITORY=513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-prem/ # vendor\r\n" +
		"\r\n" +
		"export OTHER='keep me'\r\n" +
		"DC_CURRENTS_IMAGE_TAG=staging"
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte(before), 0o640); err != nil {
		t.Fatal(err)
	}
	edit, err := SetFile(path, "DC_CURRENTS_IMAGE_REPOSITORY", "registry.example.com/currents/")
	if err != nil || !edit.Changed {
		t.Fatal(edit, err)
	}
	backup := edit.Backup
	if len(edit.Replaced) != 1 || edit.Replaced[0] != "513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-prem/" {
		t.Errorf("replaced %q", edit.Replaced)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(before, "513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-prem/", "registry.example.com/currents/", 1)
	if string(got) != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if b, _ := os.ReadFile(backup); string(b) != before {
		t.Errorf("backup %s = %q", backup, b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v", st.Mode())
	}
	// Idempotent: a second run changes nothing and writes nothing.
	if edit, err := SetFile(path, "DC_CURRENTS_IMAGE_REPOSITORY", "registry.example.com/currents/"); err != nil || edit.Changed {
		t.Errorf("second run %+v err=%v", edit, err)
	}
}

func TestSetEditsWhereASymlinkPoints(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.env")
	link := filepath.Join(dir, ".env")
	if err := os.WriteFile(shared, []byte("R=old/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("shared.env", link); err != nil {
		t.Fatal(err)
	}
	edit, err := SetFile(link, "R", "new/")
	if err != nil || !edit.Changed || edit.Backup != shared+".bak" {
		t.Fatalf("%+v %v", edit, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	if b, _ := os.ReadFile(shared); string(b) != "R=new/\n" {
		t.Errorf("shared file: %q", b)
	}
}

func TestSetEveryAssignmentComposeReads(t *testing.T) {
	cases := []struct{ before, want string }{
		{"A=1\nR=\"old/\"\nR='older/'\n", "A=1\nR=\"new/\"\nR='new/'\n"},
		{"  export R = old/\n", "  export R = new/\n"},
		{"A=1", "A=1\nR=new/\n"},
		{"", "R=new/\n"},
		// compose's `KEY: value` and `export KEY=value` are assignments
		// too; a line inside a quoted value that spans lines, or after a
		// comment's #, is not one.
		{"R: old/\n", "R: new/\n"},
		{"export R=old/\nA=\"x\nR=inside\"\n", "export R=new/\nA=\"x\nR=inside\"\n"},
		{"A=1 # R=not-this\n", "A=1 # R=not-this\nR=new/\n"},
	}
	for _, c := range cases {
		got, _, err := Set([]byte(c.before), "R", "new/")
		if err != nil || string(got) != c.want {
			t.Errorf("Set(%q) = %q, %v; want %q", c.before, got, err, c.want)
		}
	}
}

func TestSetRefusesAFileItCannotRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	bad := "R=old/\nBROKEN=\"unterminated\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SetFile(path, "R", "new/"); err == nil {
		t.Fatal("accepted an unparsable file")
	}
	if got, _ := os.ReadFile(path); string(got) != bad {
		t.Error("file changed despite the error")
	}
	if _, err := os.Stat(path + ".bak"); err == nil {
		t.Error("backup written despite the error")
	}
}

// TestSetFileKeepsTheOwner: root (sudo) running `mirror --write-env` on a
// user's project must leave the user's .env and its backup the user's.
func TestSetFileKeepsTheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("R=old/\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	edit, err := SetFile(path, "R", "new/")
	if err != nil || !edit.Changed {
		t.Fatal(edit, err)
	}
	for _, p := range []string{path, edit.Backup} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 4242 || st.Gid != 4343 || fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: owner %d:%d mode %v, want 4242:4343 0640", p, st.Uid, st.Gid, fi.Mode().Perm())
		}
	}
}

// TestReadPlacesEachVariable: the line of a variable is the last one that
// assigns it, as compose reads the file; comments, continuation lines of a
// quoted value and unset keys have none.
func TestReadPlacesEachVariable(t *testing.T) {
	t.Setenv("FROM_ENV", "e")
	path := filepath.Join(t.TempDir(), ".env")
	body := "# R=comment\nR=first\n  export R = second # note\nM=\"line one\nX=inside\"\nY: yaml\nZ=${FROM_ENV}z\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{"R": 3, "M": 4, "X": 0, "Y": 6, "Z": 7, "UNSET": 0} {
		if got, _ := f.Line(key); got != want {
			t.Errorf("Line(%s) = %d, want %d", key, got, want)
		}
	}
	if _, text := f.Line("R"); text != "  export R = second # note" {
		t.Errorf("text of R: %q", text)
	}
	if f.Values["R"] != "second" || f.Values["Z"] != "ez" || f.Values["Y"] != "yaml" {
		t.Errorf("values %q", f.Values)
	}
}

// TestParallelEditsAllLand: edits of one file by many writers at once
// (mirrors pointing their variables at their copies) each land; none is
// lost or refused.
func TestParallelEditsAllLand(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("# shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = SetFile(path, fmt.Sprintf("K%d", i), fmt.Sprintf("v%d", i))
		})
	}
	wg.Wait()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if k := fmt.Sprintf("K%d", i); errs[i] != nil || got[k] != fmt.Sprintf("v%d", i) {
			t.Errorf("%s: err %v, value %q", k, errs[i], got[k])
		}
	}
}
