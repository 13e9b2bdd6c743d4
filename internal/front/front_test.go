package front

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli-plugins/metadata"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/testbin"
)

// fakeFull makes this test binary the full plugin a front execs: it prints
// what it was started with and exits 3.
const fakeFull = "CURRENTS_FRONT_TEST_FULL"

type started struct {
	Args []string
	Pid  int
	Env  string
}

func TestMain(m *testing.M) {
	if os.Getenv(fakeFull) != "" {
		json.NewEncoder(os.Stdout).Encode(started{os.Args, os.Getpid(), os.Getenv("CURRENTS_FRONT_TEST_VALUE")})
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// TestFrontLinksNothingHeavy: the front's whole point is to start in about
// a millisecond; one heavy import brings back the package initialisation it
// exists to avoid. Besides the standard library it links small packages of
// ours (the compose shim's front reads config.json as the shim does) and the
// small libraries they use.
func TestFrontLinksNothingHeavy(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-tags=osusergo", "../../composeplugin/"+product.PluginCommand).Output()
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{}
	for _, p := range []string{"front", "dirs", "exitcode", "fix", "product", "dockerconfig", "atomicfile", "rawfile", "ecrhost", "partition", "secret"} {
		ours[product.Module+"/internal/"+p] = true
	}
	ours[product.Module+"/composeplugin/"+product.PluginCommand] = true
	for _, p := range []string{"golang.org/x/sys/unix", "github.com/tidwall/gjson", "github.com/tidwall/sjson", "github.com/tidwall/match", "github.com/tidwall/pretty"} {
		ours[p] = true
	}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		std := !strings.Contains(strings.Split(dep, "/")[0], ".")
		switch {
		case dep == "net" || dep == "runtime/cgo":
			t.Errorf("the front links %s", dep)
		case std || ours[dep]:
		default:
			t.Errorf("the front links %s", dep)
		}
	}
	if len(deps) < 10 {
		t.Fatalf("go list printed %d packages: %q", len(deps), out)
	}
}

// TestMetadataIsDockers: the front writes docker/cli's metadata type's
// fields under their JSON names, and answers docker's own argument.
func TestMetadataIsDockers(t *testing.T) {
	t.Parallel()
	if MetadataCommand != metadata.MetadataSubcommandName {
		t.Errorf("MetadataCommand %q, docker asks %q", MetadataCommand, metadata.MetadataSubcommandName)
	}
	ours, theirs := reflect.TypeOf(Metadata{}), reflect.TypeOf(metadata.Metadata{})
	for i := range ours.NumField() {
		f := ours.Field(i)
		d, ok := theirs.FieldByName(f.Name)
		if !ok || d.Type != f.Type || d.Tag != f.Tag {
			t.Errorf("field %s %s %q: docker's is %v %v %q", f.Name, f.Type, f.Tag, ok, d.Type, d.Tag)
		}
	}
	var b bytes.Buffer
	if err := WriteMetadata(&b); err != nil {
		t.Fatal(err)
	}
	var m metadata.Metadata
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m.SchemaVersion != "0.1.0" || m.Vendor == "" || m.Version != product.Version {
		t.Errorf("docker reads %+v (%v) from %s", m, err, b.Bytes())
	}
}

// frontDir is a directory holding the real front and, when full, this test
// binary as the full plugin beside it.
func frontDir(t *testing.T, full bool) string {
	t.Helper()
	b, err := testbin.Product()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyFile(t, b.Plugin, filepath.Join(dir, product.PluginCommand))
	if full {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, self, dirs.PluginFull(filepath.Join(dir, product.PluginCommand)))
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// run starts path as docker starts a plugin (argv[0] the path) and returns
// what the fake full plugin saw, the front's pid, its exit code and stderr.
func run(t *testing.T, path string, args ...string) (started, int, int, string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), fakeFull+"=1", "CURRENTS_FRONT_TEST_VALUE=kept")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var s started
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			t.Fatalf("%s: %v", out.Bytes(), err)
		}
	}
	return s, cmd.Process.Pid, code, errb.String()
}

// TestFrontExecsTheFullPlugin: every invocation but docker's metadata
// question reaches the full plugin beside the front's file in the same
// process (no extra fork), with argv[0], the arguments, the environment and
// the exit status unchanged, also through a symbolic link in a cli-plugins
// directory, as the tests, the demo and the e2e tier install it.
func TestFrontExecsTheFullPlugin(t *testing.T) {
	t.Parallel()
	dir := frontDir(t, true)
	plugins := t.TempDir()
	link := filepath.Join(plugins, product.PluginCommand)
	if err := os.Symlink(filepath.Join(dir, product.PluginCommand), link); err != nil {
		t.Fatal(err)
	}
	for _, front := range []string{filepath.Join(dir, product.PluginCommand), link} {
		args := []string{"currents", "check", "--format", "json", "-f", "a b.yaml"}
		s, pid, code, stderr := run(t, front, args...)
		want := append([]string{front}, args...)
		if code != 3 || !reflect.DeepEqual(s.Args, want) || s.Env != "kept" {
			t.Errorf("%s: exit %d, the full plugin saw %q env %q, want %q\n%s", front, code, s.Args, s.Env, want, stderr)
		}
		if s.Pid != pid {
			t.Errorf("%s: the full plugin ran as pid %d, the front was %d: not exec'd in place", front, s.Pid, pid)
		}
	}
	// Run under another name (a copy made docker-compose by hand), even
	// the metadata question is the full plugin's.
	other := filepath.Join(dir, "docker-compose")
	copyFile(t, filepath.Join(dir, product.PluginCommand), other)
	if s, _, code, _ := run(t, other, MetadataCommand); code != 3 || len(s.Args) != 2 || s.Args[0] != other {
		t.Errorf("docker-compose %s: exit %d, the full plugin saw %q", MetadataCommand, code, s.Args)
	}
}

// TestFrontAnswersMetadataItself: docker's question is answered without
// the full plugin, with WriteMetadata's bytes.
func TestFrontAnswersMetadataItself(t *testing.T) {
	t.Parallel()
	dir := frontDir(t, true)
	out, err := exec.Command(filepath.Join(dir, product.PluginCommand), MetadataCommand).Output()
	var want bytes.Buffer
	if werr := WriteMetadata(&want); err != nil || werr != nil || !bytes.Equal(out, want.Bytes()) {
		t.Errorf("metadata %q (%v), want %q", out, err, want.Bytes())
	}
}

// TestMissingFullPlugin: a front without its full plugin says which file
// it expected and to reinstall.
func TestMissingFullPlugin(t *testing.T) {
	t.Parallel()
	dir := frontDir(t, false)
	_, _, code, stderr := run(t, filepath.Join(dir, product.PluginCommand), "currents", "check")
	full := dirs.PluginFull(filepath.Join(dir, product.PluginCommand))
	if code != 126 || !strings.Contains(stderr, full+": no such file or directory") || !strings.Contains(stderr, "reinstall") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
	// docker's metadata question is answered, with the problem as the
	// description `docker info` and `docker --help` show: failing it would
	// make docker answer `docker currents …` with "unknown command".
	out, err := exec.Command(filepath.Join(dir, product.PluginCommand), MetadataCommand).Output()
	var m Metadata
	if err != nil || json.Unmarshal(out, &m) != nil || !strings.Contains(m.ShortDescription, "BROKEN") || !strings.Contains(m.ShortDescription, "reinstall") {
		t.Errorf("metadata without the full plugin: %v, %q", err, out)
	}
	if m.Vendor != Info().Vendor || m.SchemaVersion != Info().SchemaVersion {
		t.Errorf("metadata without the full plugin: %+v, want Info's but the description", m)
	}
}

// TestFullWithoutProc: where the kernel cannot say which file runs (no
// /proc), the full plugin is found beside the file docker ran, through its
// symbolic link; with neither, the error says so.
func TestFullWithoutProc(t *testing.T) {
	dir, links := t.TempDir(), t.TempDir()
	front := filepath.Join(dir, product.PluginCommand)
	copyFile(t, os.Args[0], front)
	link := filepath.Join(links, product.PluginCommand)
	if err := os.Symlink(front, link); err != nil {
		t.Fatal(err)
	}
	executable = func() (string, error) { return "", errors.New("no /proc") }
	args := os.Args
	t.Cleanup(func() { executable, os.Args = os.Executable, args })

	resolved, err := filepath.EvalSymlinks(front)
	if err != nil {
		t.Fatal(err)
	}
	os.Args = []string{link, "currents", "check"}
	if full, err := Full(); err != nil || full != dirs.PluginFull(resolved) {
		t.Errorf("Full() = %q, %v; want %q", full, err, dirs.PluginFull(resolved))
	}
	os.Args = []string{product.PluginCommand, "currents", "check"}
	if _, err := Full(); err == nil || !strings.Contains(err.Error(), "no /proc") {
		t.Errorf("Full() with a relative argv[0]: %v", err)
	}
}

// TestFrontAsTheComposeShim: installed as the shim (docker-compose, the full
// plugin beside it, its directory first in cliPluginsExtraDirs), docker's
// metadata question and every command line the shim would only pass on go to
// the real compose, found as the shim finds it, in the same process;
// `currents`, `up` and docker's --config are the full plugin's, and so is
// everything when there is no real compose.
func TestFrontAsTheComposeShim(t *testing.T) {
	t.Parallel()
	shimDir := frontDir(t, true)
	shimFront := filepath.Join(shimDir, product.ComposePluginCommand)
	if err := os.Rename(filepath.Join(shimDir, product.PluginCommand), shimFront); err != nil {
		t.Fatal(err)
	}
	config := t.TempDir()
	real := filepath.Join(config, "cli-plugins", product.ComposePluginCommand)
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("#!/bin/sh\necho REAL $$ \"$0\" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"cliPluginsExtraDirs": []string{shimDir}})
	if err := os.WriteFile(filepath.Join(config, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	shim := func(args ...string) (string, int, int) {
		cmd := exec.Command(shimFront, args...)
		cmd.Env = append(os.Environ(), fakeFull+"=1", "DOCKER_CONFIG="+config)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return string(out), cmd.Process.Pid, cmd.ProcessState.ExitCode()
	}

	out, pid, code := shim(MetadataCommand)
	if want := fmt.Sprintf("REAL %d %s %s\n", pid, real, MetadataCommand); code != 0 || out != want {
		t.Errorf("metadata through the shim: exit %d, %q; want %q", code, out, want)
	}
	out, pid, code = shim("--log-level", "debug", "compose", "--ansi", "never", "ps", "-a")
	if want := fmt.Sprintf("REAL %d %s --log-level debug compose --ansi never ps -a\n", pid, real); code != 0 || out != want {
		t.Errorf("compose ps through the shim: exit %d, %q; want %q", code, out, want)
	}
	for _, args := range [][]string{{"compose", "currents", "check"}, {"compose", "-f", "x.yaml", "up", "-d"}, {"--config", config, "compose", "ps"}, {"--config=" + config, "compose", "ps"}} {
		if out, _, code := shim(args...); code != 3 || !strings.Contains(out, `"compose"`) || strings.Contains(out, "REAL") {
			t.Errorf("%q through the shim: exit %d, %q; want the full plugin's", args, code, out)
		}
	}
	if err := os.Remove(real); err != nil {
		t.Fatal(err)
	}
	if out, _, code := shim(MetadataCommand); code != 3 || !strings.Contains(out, MetadataCommand) {
		t.Errorf("metadata without a real compose: exit %d, %q; want the full plugin's", code, out)
	}
}

// TestTwoShimsDoNotHandOverToEachOther: a second copy of the shim's front
// in docker's search order (made by hand, or left by an upgrade: another
// file, so not the shim under another path) is skipped on the way to the
// real compose, rather than the two exec'ing each other for ever.
func TestTwoShimsDoNotHandOverToEachOther(t *testing.T) {
	t.Parallel()
	first := frontDir(t, true)
	second := t.TempDir()
	copyFile(t, filepath.Join(first, product.PluginCommand), filepath.Join(second, product.ComposePluginCommand))
	if err := os.Rename(filepath.Join(first, product.PluginCommand), filepath.Join(first, product.ComposePluginCommand)); err != nil {
		t.Fatal(err)
	}
	behind := t.TempDir()
	if err := os.WriteFile(filepath.Join(behind, product.ComposePluginCommand), []byte("#!/bin/sh\necho REAL $$ \"$0\" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	config := t.TempDir()
	// Relative plugin directories, as docker takes them (from the working
	// directory), with the shim run by a relative path: the trail must
	// still know the directories it passed.
	work := filepath.Dir(first)
	rel := func(d string) string {
		r, err := filepath.Rel(work, d)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, extras := range [][]string{{first, second, behind}, {second, first, behind}, {rel(first), rel(second), rel(behind)}, {rel(second), rel(first), rel(behind)}} {
		b, _ := json.Marshal(map[string]any{"cliPluginsExtraDirs": extras})
		if err := os.WriteFile(filepath.Join(config, "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(extras[0], product.ComposePluginCommand), MetadataCommand)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), fakeFull+"=1", "DOCKER_CONFIG="+config)
		out, err := cmd.Output()
		cancel()
		// The real compose, run as docker lists it.
		real := filepath.Join(extras[2], product.ComposePluginCommand)
		if want := fmt.Sprintf("REAL %d %s %s\n", cmd.Process.Pid, real, MetadataCommand); err != nil || string(out) != want {
			t.Errorf("metadata through two shims (%s first): %v, %q; want %q", extras[0], err, out, want)
		}
	}
}
