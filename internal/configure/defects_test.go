package configure

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/fix"
)

const (
	alias = "127.0.0.1:5000"
	role  = "arn:aws:iam::123456789012:role/customer-pull"
)

func aliasSpec() config.EntrySpec {
	return config.EntrySpec{Host: alias, Account: "123456789012", Region: "us-east-1", RoleARN: role}
}

// home gives the test a HOME of its own with no docker config directory yet, and returns that directory.
func home(t *testing.T) string {
	t.Helper()
	h := t.TempDir()
	t.Setenv("HOME", h)
	t.Setenv(dirs.EnvDockerConfig, "")
	t.Setenv(dirs.EnvConfig, "")
	return filepath.Join(h, ".docker")
}

func run(t *testing.T, req Request) (*Result, error) {
	t.Helper()
	return Run(req, WithLookPath(func(string) (string, error) { return "/usr/local/bin/x", nil }))
}

func mustRun(t *testing.T, req Request) *Result {
	t.Helper()
	res, err := run(t, req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func write(t *testing.T, path, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func ownerOf(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return sys.Uid, sys.Gid
}

// zeros is /dev/zero as a reader: it never ends.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Issue 10, defect 6: `--external-id-file /dev/zero` read until the process ran out of memory.
func TestExternalIDIsReadFromABoundedFirstLine(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := ReadExternalID(nil, "/dev/zero")
		if err == nil || !strings.Contains(err.Error(), "longer than 1224 characters") {
			t.Errorf("/dev/zero: %v", err)
		}
		if _, err := ReadExternalID(zeros{}, "-"); err == nil || !strings.Contains(err.Error(), "stdin") {
			t.Errorf("endless stdin: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("reading /dev/zero did not stop")
	}
	f := filepath.Join(t.TempDir(), "id")
	longest := strings.Repeat("a", MaxExternalID)
	write(t, f, "  "+longest+"  \r\nsecond line\n", 0o600)
	if id, err := ReadExternalID(nil, f); err != nil || id != longest {
		t.Errorf("the longest ID: %q, %v", id, err)
	}
	write(t, f, longest+"b\n", 0o600)
	if _, err := ReadExternalID(nil, f); err == nil || !strings.Contains(err.Error(), "1225 characters long") {
		t.Errorf("one character too many: %v", err)
	}
	if id, err := ReadExternalID(io.MultiReader(strings.NewReader("ext-1\n"), zeros{}), "-"); err != nil || id != "ext-1" {
		t.Errorf("a first line followed by more: %q, %v", id, err)
	}
}

// yamlKey finds a currents.yaml key written as in the file ("account: ...", "role_arn"), not as a flag.
var yamlKey = regexp.MustCompile(`(^|[^-])\b(account|region|duration|role_arn|session_name):`)

// Issue 10, defect 13: errors about what the flags say named lines of a currents.yaml that was never written.
func TestErrorsAboutTheEntryNameTheFlag(t *testing.T) {
	dir := home(t)
	for _, c := range []struct {
		spec      config.EntrySpec
		flag, fix string
	}{
		{config.EntrySpec{Host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", RoleARN: "customer-pull"}, "--role-arn", "arn:aws:iam::"},
		{config.EntrySpec{Host: alias, Region: "us-east-1", RoleARN: role}, "--account", "--account 123456789012"},
		{config.EntrySpec{Host: alias, Account: "123456789012", Region: "us-east-1", RoleARN: role, Duration: "99h"}, "--duration", "--duration 1h"},
		{config.EntrySpec{Host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", Region: "eu-west-1", RoleARN: role}, "--region", "remove --region"},
	} {
		_, err := run(t, Request{Spec: c.spec})
		if err == nil {
			t.Fatalf("%+v: no error", c.spec)
		}
		problem, hint := fix.Split(err)
		if !strings.HasPrefix(problem, c.flag+": ") || !strings.Contains(hint, c.fix) ||
			strings.Contains(err.Error(), "currents.yaml") || yamlKey.MatchString(err.Error()) {
			t.Errorf("%+v: %q; want the flag %s and the fix %q, no file", c.spec, err, c.flag, c.fix)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a rejected configure created %s", dir)
	}
	// A broken entry that the file already holds is the file's to fix: its line is named.
	write(t, filepath.Join(dir, dirs.ConfigName), "registries:\n  - host: other.example.com\n    account: \"12\"\n    region: us-east-1\n", 0o600)
	if _, err := run(t, Request{Spec: aliasSpec()}); err == nil || !strings.Contains(err.Error(), "currents.yaml:3") {
		t.Errorf("a broken existing entry: %v", err)
	}
}

// Issue 10, defect 9: the external ID went into an existing 0644 currents.yaml without a word.
func TestAnExternalIDMakesTheFilePrivateKeepingItsOwner(t *testing.T) {
	dir := home(t)
	yaml := filepath.Join(dir, dirs.ConfigName)
	write(t, yaml, "# mine\nregistries: []\n", 0o644)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var uid, gid uint32 = uint32(os.Getuid()), uint32(os.Getgid())
	if os.Geteuid() == 0 { // root editing a user's file (sudo): the file stays the user's
		uid, gid = 4242, 4343
		if err := os.Chown(yaml, 4242, 4343); err != nil {
			t.Fatal(err)
		}
	}
	spec := aliasSpec()
	spec.ExternalID = "vendor-ext-9"
	res := mustRun(t, Request{Spec: spec})
	for _, p := range []string{yaml, yaml + backupSuffix} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", p, st.Mode().Perm())
		}
		if u, g := ownerOf(t, p); u != uid || g != gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, u, g, uid, gid)
		}
	}
	if res.Config.Tightened != 0o644 {
		t.Errorf("Tightened = %04o: the change of mode is not reported", res.Config.Tightened)
	}
	// A file that holds the ID already and is readable by others is tightened by the run that changes nothing.
	if err := os.Chmod(yaml, 0o644); err != nil {
		t.Fatal(err)
	}
	res = mustRun(t, Request{Spec: spec})
	if st, _ := os.Stat(yaml); res.Config.Changed || st.Mode().Perm() != 0o600 || res.Config.Tightened != 0o644 {
		t.Errorf("unchanged run: changed %v, mode %04o, tightened %04o", res.Config.Changed, st.Mode().Perm(), res.Config.Tightened)
	}
}

const backupSuffix = ".bak"

// Issue 10, defect 10: --remove-stale-auth said "removed the static login", and config.json.bak kept it.
func TestARemovedLoginIsNotKeptInTheBackup(t *testing.T) {
	dir := home(t)
	jsonPath := filepath.Join(dir, dirs.DockerConfigName)
	const secret = "QVdTOmh1bnRlcjI=" // AWS:hunter2
	orig := "{\n\t\"auths\": {\n\t\t\"https://" + alias + "\": {\n\t\t\t\"auth\": \"" + secret + "\"\n\t\t},\n" +
		"\t\t\"ghcr.io\": {\n\t\t\t\"auth\": \"dTpw\"\n\t\t}\n\t},\n\t\"psFormat\": \"table\"\n}\n"
	write(t, jsonPath, orig, 0o600)
	res := mustRun(t, Request{Spec: aliasSpec(), RemoveStaleAuth: true})
	if !res.RemovedStale || res.Docker.Backup != jsonPath+".bak" {
		t.Fatalf("result %+v", res)
	}
	bak, err := os.ReadFile(jsonPath + ".bak")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bak, []byte(secret)) {
		t.Fatalf("config.json.bak keeps the removed login:\n%s", bak)
	}
	// What the backup holds: the previous version without the removed login, every other byte as it was.
	f, err := dockerconfig.Load(jsonPath + ".bak")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.StaticAuths("ghcr.io")) != 1 || len(f.StaticAuths(alias)) != 0 || !bytes.Contains(bak, []byte(`"psFormat": "table"`)) {
		t.Errorf("the backup is not the previous version without the login:\n%s", bak)
	}
	if _, ok := f.CredHelper(alias); ok {
		t.Errorf("the backup holds this run's credHelpers entry:\n%s", bak)
	}
}

// Issue 10, defect 7: a dangling config.json symlink (into a dotfiles checkout, say) was replaced by a
// regular file; docker writes through the link.
func TestADanglingConfigJSONLinkIsWrittenThrough(t *testing.T) {
	dir := home(t)
	dotfiles := filepath.Join(filepath.Dir(dir), "dotfiles")
	if err := os.MkdirAll(dotfiles, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, dirs.DockerConfigName)
	if err := os.Symlink("../dotfiles/docker.json", link); err != nil {
		t.Fatal(err)
	}
	mustRun(t, Request{Spec: aliasSpec()})
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("config.json is no longer the link: %v %v", fi.Mode(), err)
	}
	f, err := dockerconfig.Load(filepath.Join(dotfiles, "docker.json"))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := f.CredHelper(alias); h != "currents" {
		t.Fatalf("the link's target lacks the entry:\n%s", f.Bytes())
	}
}

// Issue 10, defect 2: configure run by root with a user's HOME created a root-owned 0700 ~/.docker, after
// which the user's own helper could not read currents.yaml.
func TestRootLeavesNothingOfItsOwnInAUsersHome(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the defect is root's")
	}
	dir := home(t)
	h := filepath.Dir(dir)
	if err := os.Chown(h, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, Request{Spec: aliasSpec()})
	var fe *dirs.ForeignError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "run configure as the owner of "+h) {
		t.Fatalf("err = %v; want a refusal to create %s saying what to do", err, dir)
	}
	if entries, _ := os.ReadDir(h); len(entries) != 0 {
		t.Fatalf("root left %v in the user's home", entries)
	}
	// The user's own ~/.docker: what root writes there (files, locks) is the user's.
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	mustRun(t, Request{Spec: aliasSpec()})
	entries, _ := os.ReadDir(dir)
	if len(entries) < 2 {
		t.Fatalf("files: %v", entries)
	}
	for _, e := range entries {
		if u, g := ownerOf(t, filepath.Join(dir, e.Name())); u != 4242 || g != 4343 {
			t.Errorf("%s is owned by %d:%d, not by the home's owner", e.Name(), u, g)
		}
	}
}

// Harden, defect 1: root with a user's HOME (sudo -E) followed that user's config.json symlink into a
// root-only directory: it created the directory and the file there, rewrote an existing root-only file, and
// left a root-owned copy of it as config.json.bak in the user's directory. A link another user controls is
// not followed, and nothing is created or read through it; the user's own links still are (defect 7 above).
func TestRootDoesNotFollowAUsersLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the defect is root's")
	}
	const alice = 4242
	rootOnly := filepath.Join(t.TempDir(), "rootonly")
	secretFile := filepath.Join(rootOnly, "secret")
	write(t, secretFile, "root: only\n", 0o600)
	if err := os.Chmod(rootOnly, 0o700); err != nil {
		t.Fatal(err)
	}
	aliceLink := func(target, link string) {
		t.Helper()
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(link, alice, alice); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		plant func(dockerDir string)
	}{
		{"a dangling config.json link", func(d string) {
			aliceLink(filepath.Join(rootOnly, "sudoers.d", "zz-evil"), filepath.Join(d, dirs.DockerConfigName))
		}},
		{"a config.json link to a root-only file", func(d string) { aliceLink(secretFile, filepath.Join(d, dirs.DockerConfigName)) }},
		{"a currents.yaml link to a root-only file", func(d string) { aliceLink(secretFile, filepath.Join(d, dirs.ConfigName)) }},
		{"a root-owned link in the user's directory", func(d string) {
			if err := os.Symlink(secretFile, filepath.Join(d, dirs.DockerConfigName)); err != nil {
				t.Fatal(err)
			}
		}},
		{"the docker directory a link", func(d string) {
			if err := os.Remove(d); err != nil {
				t.Fatal(err)
			}
			aliceLink(rootOnly, d)
		}},
	} {
		t.Run(c.name, func(t *testing.T) { refusesUsersLink(t, rootOnly, secretFile, alice, c.plant) })
	}
}

// refusesUsersLink runs configure (printing, then writing) as root in a home of alice's where plant has
// put a link, and checks that nothing was read or written through it.
func refusesUsersLink(t *testing.T, rootOnly, secretFile string, alice int, plant func(dockerDir string)) {
	dir := home(t)
	h := filepath.Dir(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{h, dir} {
		if err := os.Chown(p, alice, alice); err != nil {
			t.Fatal(err)
		}
	}
	plant(dir)
	for _, dry := range []bool{true, false} {
		_, err := run(t, Request{Spec: aliasSpec(), DryRun: dry})
		var le *dirs.LinkError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), "not following the symbolic link") ||
			!strings.Contains(err.Error(), "without sudo") {
			t.Fatalf("print %v: err = %v; want a refusal to follow the user's link, with the fix", dry, err)
		}
		if strings.Contains(err.Error(), "root: only") {
			t.Fatalf("the error shows the root-only file: %v", err)
		}
	}
	entries, _ := os.ReadDir(rootOnly)
	if len(entries) != 1 || entries[0].Name() != "secret" {
		t.Errorf("root wrote into the root-only directory: %v", entries)
	}
	if b, _ := os.ReadFile(secretFile); string(b) != "root: only\n" {
		t.Errorf("the root-only file was rewritten: %q", b)
	}
	if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, _ := e.Info(); fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("root left %s in the user's directory", e.Name())
			}
		}
	}
}
