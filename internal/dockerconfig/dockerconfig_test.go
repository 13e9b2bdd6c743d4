package dockerconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/cli/cli/config/configfile"

	"github.com/currentsdev/currents/internal/dirs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/dockerconfig/golden")

const corpusDir = "../../testdata/dockerconfig"

// corpus lists the real-world shapes; "missing" has no file on purpose.
var corpus = []string{"desktop", "proxies", "unknown-keys", "empty", "missing", "compact", "windows-crlf", "stale-ecr-login"}

const ourHost = "127.0.0.1:5000"

// copyCorpus puts one corpus file (or nothing, for "missing") into a fresh directory and returns the
// config.json path there and the original bytes.
func copyCorpus(t *testing.T, name string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, dirs.DockerConfigName)
	if name == "missing" {
		return path, nil
	}
	data, err := os.ReadFile(filepath.Join(corpusDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// parseDocker loads bytes with the docker CLI's own parser, the one that matters.
func parseDocker(t *testing.T, data []byte) *configfile.ConfigFile {
	t.Helper()
	cf := configfile.New("config.json")
	if len(bytes.TrimSpace(data)) == 0 {
		return cf
	}
	if err := cf.LoadFromReader(bytes.NewReader(data)); err != nil {
		t.Fatalf("docker cannot parse the result: %v\n%s", err, data)
	}
	return cf
}

// golden compares got with testdata/dockerconfig/golden/<name>, so a reviewer sees exactly what we write.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(corpusDir, "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// edit is one reversible change of config.json, as a round trip drives it.
type edit struct {
	name        string // in messages
	golden      string // the golden files' suffix: <shape>.<golden>.json
	apply, undo func(*File) error
}

// roundTrip applies e to every corpus shape: the result matches its golden
// file and passes check (before is the file as loaded, untouched), applying
// again changes nothing, and undoing gives back the original bytes.
func (e edit) roundTrip(t *testing.T, check func(t *testing.T, before *File, orig, after []byte)) {
	for _, name := range corpus {
		t.Run(name, func(t *testing.T) {
			path, orig := copyCorpus(t, name)
			before, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.apply(f); err != nil {
				t.Fatal(err)
			}
			after := bytes.Clone(f.Bytes())
			golden(t, name+"."+e.golden+".json", after)
			check(t, before, orig, after)

			if err := e.apply(f); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.Bytes(), after) {
				t.Fatalf("a second %s changed the content:\n%s", e.name, f.Bytes())
			}
			if err := e.undo(f); err != nil {
				t.Fatal(err)
			}
			wantBack := orig
			if len(bytes.TrimSpace(orig)) == 0 {
				wantBack = []byte("{}\n") // a blank file comes back as docker's empty document
			}
			if !bytes.Equal(f.Bytes(), wantBack) {
				t.Errorf("%s then undo is not the identity:\n--- got\n%q\n--- want\n%q", e.name, f.Bytes(), wantBack)
			}
		})
	}
}

func TestCredHelperRoundTripsEveryShape(t *testing.T) {
	e := edit{name: "registration", golden: "credhelper",
		apply: func(f *File) error { return f.SetCredHelper(ourHost, "currents") },
		undo:  func(f *File) error { return f.RemoveCredHelper(ourHost) }}
	e.roundTrip(t, func(t *testing.T, _ *File, orig, after []byte) {
		// Docker reads our entry, and every other setting exactly as before.
		want := parseDocker(t, orig)
		got := parseDocker(t, after)
		if got.CredentialHelpers[ourHost] != "currents" {
			t.Fatalf("docker does not see credHelpers[%s]: %v", ourHost, got.CredentialHelpers)
		}
		delete(got.CredentialHelpers, ourHost)
		if len(got.CredentialHelpers) == 0 {
			got.CredentialHelpers, want.CredentialHelpers = nil, nil
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("other settings changed:\nbefore %+v\nafter  %+v", want, got)
		}
		// Every key, including ones docker does not know, survives with the same value, in the same order.
		wantKeys := keys(t, orig)
		if !strings.Contains(","+wantKeys+",", ",credHelpers,") {
			wantKeys = strings.TrimPrefix(wantKeys+",credHelpers", ",")
		}
		if keys(t, after) != wantKeys {
			t.Errorf("top-level keys or order changed: %s → %s", keys(t, orig), keys(t, after))
		}
	})
}

// registered loads path and registers our host in it, not yet saved.
func registered(t *testing.T, path string) *File {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetCredHelper(ourHost, "currents"); err != nil {
		t.Fatal(err)
	}
	return f
}

// keys lists the top-level keys in file order.
func keys(t *testing.T, data []byte) string {
	t.Helper()
	if len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(out, ",")
}

func TestSecondHostAndChangedHelper(t *testing.T) {
	path, _ := copyCorpus(t, "unknown-keys")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{ourHost, "123456789012.dkr.ecr.us-east-1.amazonaws.com", "[::1]:5000", `a*b?c|d#e@f\g"h`} {
		if err := f.SetCredHelper(h, "currents"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetCredHelper("gcr.io", "currents"); err != nil { // replaces gcloud
		t.Fatal(err)
	}
	cf := parseDocker(t, f.Bytes())
	want := map[string]string{
		"gcr.io": "currents", "us-docker.pkg.dev": "gcloud", ourHost: "currents", "[::1]:5000": "currents",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com": "currents", `a*b?c|d#e@f\g"h`: "currents",
	}
	if !reflect.DeepEqual(cf.CredentialHelpers, want) {
		t.Fatalf("credHelpers = %v, want %v", cf.CredentialHelpers, want)
	}
	golden(t, "unknown-keys.several.json", f.Bytes())
	for h := range want {
		if err := f.RemoveCredHelper(h); err != nil {
			t.Fatal(err)
		}
	}
	if cf := parseDocker(t, f.Bytes()); len(cf.CredentialHelpers) != 0 {
		t.Fatalf("left behind: %v", cf.CredentialHelpers)
	}
	if strings.Contains(string(f.Bytes()), "credHelpers") {
		t.Errorf("an emptied credHelpers object should go:\n%s", f.Bytes())
	}
}

func TestPluginsExtraDirsRoundTrip(t *testing.T) {
	const dir = "/home/u/.docker/currents-shim"
	e := edit{name: "prepend", golden: "plugindir",
		apply: func(f *File) error { return f.PrependPluginsExtraDir(dir) },
		undo:  func(f *File) error { return f.RemovePluginsExtraDir(dir) }}
	e.roundTrip(t, func(t *testing.T, before *File, _, after []byte) {
		got := parseDocker(t, after).CLIPluginsExtraDirs
		if want := append([]string{dir}, before.PluginsExtraDirs()...); !reflect.DeepEqual(got, want) {
			t.Fatalf("cliPluginsExtraDirs = %q, want %q", got, want)
		}
	})
}

func TestPrependMovesAnExistingDirToTheFront(t *testing.T) {
	path := filepath.Join(t.TempDir(), dirs.DockerConfigName)
	os.WriteFile(path, []byte("{\n  \"cliPluginsExtraDirs\": [\n    \"/a\",\n    \"/b\",\n    \"/c\"\n  ]\n}\n"), 0o600)
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.PrependPluginsExtraDir("/b"); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"cliPluginsExtraDirs\": [\n    \"/b\",\n    \"/a\",\n    \"/c\"\n  ]\n}\n"
	if string(f.Bytes()) != want {
		t.Fatalf("got\n%s", f.Bytes())
	}
	if err := f.RemovePluginsExtraDir("/c"); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"cliPluginsExtraDirs\": [\n    \"/b\",\n    \"/a\"\n  ]\n}\n"; string(f.Bytes()) != want {
		t.Fatalf("got\n%s", f.Bytes())
	}
}

func TestStaticAuthsAndRemoval(t *testing.T) {
	const ecrHost = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
	path, orig := copyCorpus(t, "stale-ecr-login")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := f.StaticAuths(ecrHost)
	want := []StaticAuth{{Key: "https://" + ecrHost, Username: "AWS", HasSecret: true, Expiry: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("StaticAuths = %+v, want %+v", got, want)
	}
	if az := f.StaticAuths("myregistry.azurecr.io"); len(az) != 1 || !az[0].HasSecret || !az[0].Expiry.IsZero() {
		t.Fatalf("identitytoken entry: %+v", az)
	}
	if f.StaticAuths(ourHost) != nil {
		t.Fatal("no entry expected for an unrelated host")
	}
	if err := f.RemoveAuth(ecrHost); err != nil {
		t.Fatal(err)
	}
	cf := parseDocker(t, f.Bytes())
	if _, ok := cf.AuthConfigs["https://"+ecrHost]; ok || len(cf.AuthConfigs) != 1 {
		t.Fatalf("auths after removal: %v", cf.AuthConfigs)
	}
	golden(t, "stale-ecr-login.removed.json", f.Bytes())
	if _, err := f.Save(); err != nil {
		t.Fatal(err)
	}
	// The backup is the previous version without the removed login (issue 10, defect 10): restoring it must
	// not bring the saved password back, nor may it sit on disk after the user asked to remove it.
	bak, _ := os.ReadFile(path + BackupSuffix)
	if bytes.Contains(bak, []byte("QVdT")) || !bytes.Contains(orig, []byte("QVdT")) {
		t.Fatalf("the backup keeps the removed login:\n%s", bak)
	}
	if !bytes.Equal(bak, f.Bytes()) { // nothing but the removal changed here
		t.Fatalf("the backup is not the previous version without the login:\n%s", bak)
	}
}

func TestSaveKeepsModeLeavesBackupAndIsIdempotent(t *testing.T) {
	path, orig := copyCorpus(t, "desktop") // written 0644 by copyCorpus
	f := registered(t, path)
	backup, err := f.Save()
	if err != nil {
		t.Fatal(err)
	}
	if backup != path+BackupSuffix {
		t.Fatalf("backup = %q", backup)
	}
	for _, p := range []string{path, backup} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s mode = %v, want 0644 kept", p, st.Mode().Perm())
		}
	}
	if b, _ := os.ReadFile(backup); !bytes.Equal(b, orig) {
		t.Error("backup does not hold the previous bytes")
	}
	written, _ := os.ReadFile(path)
	if !bytes.Equal(written, f.Bytes()) {
		t.Error("file on disk differs from what was saved")
	}
	stBefore, _ := os.Stat(path)

	// Second run: a fresh process loads, registers, saves — and writes nothing at all.
	os.Remove(backup)
	f2 := registered(t, path)
	if f2.Changed() {
		t.Fatal("second registration reports a change")
	}
	if b, err := f2.Save(); err != nil || b != "" {
		t.Fatalf("Save = %q, %v", b, err)
	}
	stAfter, _ := os.Stat(path)
	if !os.SameFile(stBefore, stAfter) || !stAfter.ModTime().Equal(stBefore.ModTime()) {
		t.Error("the file was rewritten although nothing changed")
	}
	if _, err := os.Stat(backup); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a backup was written although nothing changed")
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestSaveCreatesAMissingFilePrivately(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh", ".docker")
	path := filepath.Join(dir, dirs.DockerConfigName)
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Exists() {
		t.Fatal("Exists for a missing file")
	}
	f.SetCredHelper(ourHost, "currents")
	backup, err := f.Save()
	if err != nil {
		t.Fatal(err)
	}
	if backup != "" {
		t.Errorf("backup %q for a file that did not exist", backup)
	}
	st, _ := os.Stat(path)
	dst, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o600 || dst.Mode().Perm() != 0o700 {
		t.Errorf("modes file %v dir %v, want 0600 and 0700", st.Mode().Perm(), dst.Mode().Perm())
	}
}

func TestMalformedJSONNamesFileAndPositionAndTouchesNothing(t *testing.T) {
	cases := map[string]struct{ data, want string }{
		"syntax":     {"{\n\t\"auths\": {},\n\t\"credsStore\": \"desktop\",\n}\n", "line 4, column 1"},
		"truncated":  {"{\n\t\"auths\": {\n", "line 3"},
		"array":      {"[1, 2]", "must hold a JSON object"},
		"null":       {"null", "found null"},
		"badHelpers": {`{"credHelpers": ["currents"]}`, `"credHelpers" must be an object`},
		"duplicate":  {`{"credHelpers": {}, "credHelpers": {}}`, `"credHelpers" appears 2 times`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), dirs.DockerConfigName)
			os.WriteFile(path, []byte(c.data), 0o600)
			f, err := Load(path)
			if err == nil {
				err = f.SetCredHelper(ourHost, "currents")
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name %s and say %q", err, path, c.want)
			}
			if b, _ := os.ReadFile(path); string(b) != c.data {
				t.Error("the file was changed")
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("stray files: %v", entries)
			}
		})
	}
}

func TestSaveRefusesWhenSomeoneElseWroteMeanwhile(t *testing.T) {
	path, _ := copyCorpus(t, "proxies")
	f := registered(t, path)
	theirs := []byte(`{"auths": {"new.example.com": {}}}`)
	os.WriteFile(path, theirs, 0o644)
	if _, err := f.Save(); err == nil || !strings.Contains(err.Error(), "changed while") {
		t.Fatalf("Save = %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, theirs) {
		t.Error("the other writer's content was lost")
	}
}

func TestSaveWritesThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "docker-config.json")
	os.MkdirAll(filepath.Dir(real), 0o700)
	os.WriteFile(real, []byte("{}"), 0o600)
	link := filepath.Join(dir, dirs.DockerConfigName)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	f := registered(t, link)
	if _, err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced by a file")
	}
	if b, _ := os.ReadFile(real); !strings.Contains(string(b), ourHost) {
		t.Fatal("the link target was not updated")
	}
	// The backup is where the file is known: beside the link, not in the directory it points into.
	if b, err := os.ReadFile(link + BackupSuffix); err != nil || string(b) != "{}" {
		t.Errorf("backup beside the link: %q, %v", b, err)
	}
	if _, err := os.Stat(real + BackupSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a backup beside the link's target: %v", err)
	}
}

func TestSaveKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	path, _ := copyCorpus(t, "compact")
	if err := os.Chown(path, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	f := registered(t, path)
	if _, err := f.Save(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + BackupSuffix} {
		st, _ := os.Stat(p)
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 4242 || sys.Gid != 4343 {
			t.Errorf("%s owner %d:%d, want 4242:4343", p, sys.Uid, sys.Gid)
		}
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestSaveOnAFullDiskLosesNothing fills a small tmpfs so the write fails with ENOSPC: the error says so and
// config.json keeps its bytes, with no temporary file left behind.
func TestSaveOnAFullDiskLosesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	orig, err := os.ReadFile(filepath.Join(corpusDir, "desktop.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(mnt, dirs.DockerConfigName)
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	filler, _ := os.Create(filepath.Join(mnt, "filler"))
	for {
		if _, err := filler.Write(make([]byte, 512)); err != nil {
			break
		}
	}
	filler.Close()

	f := registered(t, path)
	_, err = f.Save()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Save on a full disk = %v, want ENOSPC naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, orig) {
		t.Fatal("config.json changed")
	}
	assertNoTempFiles(t, mnt)
}

// TestAHostIsFoundUnderEverySpelling: config.json keys are matched by ecrhost.Normalize, the rule currents.yaml
// and the cache use, so an entry written as "HTTPS://Host:443/" is the entry of "host".
func TestAHostIsFoundUnderEverySpelling(t *testing.T) {
	const doc = "{\n\t\"auths\": {\n\t\t\"https://Reg.Example.com:443/v1/\": {\"auth\": \"QVdTOnB3\"}\n\t},\n" +
		"\t\"credHelpers\": {\n\t\t\"REG.example.com.\": \"currents\",\n\t\t\"other.example.com\": \"gcloud\"\n\t}\n}\n"
	path := filepath.Join(t.TempDir(), dirs.DockerConfigName)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"reg.example.com", "https://reg.example.com", "Reg.Example.Com:443"} {
		if h, ok := f.CredHelper(spelling); !ok || h != "currents" {
			t.Errorf("CredHelper(%q) = %q, %v", spelling, h, ok)
		}
		if a := f.StaticAuths(spelling); len(a) != 1 {
			t.Errorf("StaticAuths(%q) = %v", spelling, a)
		}
	}
	if err := f.SetCredHelper("reg.example.com", "currents"); err != nil || f.Changed() {
		t.Fatalf("registering a host registered under another spelling changed the file (%v):\n%s", err, f.Bytes())
	}
	// A changed helper is set on the entry that is there, keeping its key and place.
	if err := f.SetCredHelper("https://OTHER.example.com/", "currents"); err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(doc, `"gcloud"`, `"currents"`, 1); string(f.Bytes()) != want {
		t.Fatalf("got\n%s\nwant\n%s", f.Bytes(), want)
	}
	if err := f.RemoveCredHelper("reg.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveAuth("reg.example.com"); err != nil {
		t.Fatal(err)
	}
	if cf := parseDocker(t, f.Bytes()); len(cf.AuthConfigs) != 0 || len(cf.CredentialHelpers) != 1 {
		t.Fatalf("entries left: %v %v", cf.AuthConfigs, cf.CredentialHelpers)
	}
}

func TestSameHost(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"https://index.docker.io/v1/", "index.docker.io", true},
		{"http://127.0.0.1:5000", "127.0.0.1:5000", true},
		{"registry.example.com/v2/", "Registry.Example.com:443", true},
		{"ghcr.io", "ghcr.io.evil.com", false},
		{"127.0.0.1:5000", "127.0.0.1:5001", false},
		{"https://user:pw@ghcr.io", "ghcr.io", false}, // a key with userinfo is no registry docker would ask about
	} {
		if got := SameHost(c.a, c.b); got != c.same {
			t.Errorf("SameHost(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}
