package mirror

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example.com/currents":   "registry.example.com/currents/",
		"registry.example.com/currents/":  "registry.example.com/currents/",
		"127.0.0.1:5000/mirror/currents/": "127.0.0.1:5000/mirror/currents/",
		"localhost/x":                     "localhost/x/",
	} {
		got, err := ParsePrefix(in)
		if err != nil || string(got) != want {
			t.Errorf("ParsePrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"https://registry.example.com/x/": "without a scheme",
		"currents/":                       "start with a registry host",
		"registry.example.com/Currents/":  "not a valid",
	} {
		if _, err := ParsePrefix(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePrefix(%q) err = %v, want %q", in, err, want)
		}
	}
}

func TestRehome(t *testing.T) {
	from := "513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-prem/"
	to := Prefix("registry.example.com/currents/")
	cases := []struct{ image, want string }{
		{from + "api:staging", "registry.example.com/currents/api:staging"},
		{from + "change-streams:2024.1", "registry.example.com/currents/change-streams:2024.1"},
		{from + "api", "registry.example.com/currents/api:latest"},
		{from + "api@sha256:" + strings.Repeat("a", 64), "registry.example.com/currents/api@sha256:" + strings.Repeat("a", 64)},
	}
	for _, c := range cases {
		got, err := Rehome(c.image, from, to)
		if err != nil || got.Name() != c.want {
			t.Errorf("Rehome(%q) = %v, %v; want %s", c.image, got, err, c.want)
		}
	}
	if _, err := Rehome("other.example.com/api:1", from, to); err == nil {
		t.Error("image outside from accepted")
	}
}

func TestSetEnvKeepsEveryOtherByte(t *testing.T) {
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
	edit, err := SetEnv(path, "DC_CURRENTS_IMAGE_REPOSITORY", "registry.example.com/currents/")
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
	if edit, err := SetEnv(path, "DC_CURRENTS_IMAGE_REPOSITORY", "registry.example.com/currents/"); err != nil || edit.Changed {
		t.Errorf("second run %+v err=%v", edit, err)
	}
}

func TestSetEnvEditsWhereASymlinkPoints(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.env")
	link := filepath.Join(dir, ".env")
	if err := os.WriteFile(shared, []byte("R=old/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("shared.env", link); err != nil {
		t.Fatal(err)
	}
	edit, err := SetEnv(link, "R", "new/")
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

func TestSetEnvQuotedDuplicateAndMissing(t *testing.T) {
	cases := []struct{ before, want string }{
		{"A=1\nR=\"old/\"\nR='older/'\n", "A=1\nR=\"new/\"\nR='new/'\n"},
		{"  export R = old/\n", "  export R = new/\n"},
		{"A=1", "A=1\nR=new/\n"},
		{"", "R=new/\n"},
	}
	for _, c := range cases {
		got, _, err := setEnvBytes([]byte(c.before), "R", "new/")
		if err != nil || string(got) != c.want {
			t.Errorf("setEnvBytes(%q) = %q, %v; want %q", c.before, got, err, c.want)
		}
	}
}

func TestSetEnvRefusesAFileItCannotRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	bad := "R=old/\nBROKEN=\"unterminated\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SetEnv(path, "R", "new/"); err == nil {
		t.Fatal("accepted an unparsable file")
	}
	if got, _ := os.ReadFile(path); string(got) != bad {
		t.Error("file changed despite the error")
	}
	if _, err := os.Stat(path + ".bak"); err == nil {
		t.Error("backup written despite the error")
	}
}
