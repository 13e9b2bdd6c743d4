package packaging_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/plugincmd"
	"github.com/currentsdev/currents/internal/testbin"
)

// options reads a unit file with systemd's own syntax (go-systemd's
// deserializer): every value of section's key, in order.
func options(t *testing.T, path, section, key string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := unit.DeserializeOptions(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var values []string
	for _, o := range opts {
		if o.Section == section && o.Name == key {
			values = append(values, o.Value)
		}
	}
	return values
}

// comments is the unit file's comment lines, joined.
func comments(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c []string
	for line := range strings.Lines(string(b)) {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "#") {
			c = append(c, strings.TrimSpace(strings.TrimPrefix(l, "#")))
		}
	}
	return strings.Join(c, " ")
}

// readmeWords is the README's section under heading, as words: the prose is
// wrapped anywhere.
func readmeWords(t *testing.T, heading string) string {
	return strings.Join(strings.Fields(testbin.ReadmeSection(t, heading)), " ")
}

const watchUnit = "systemd/system/currents-watch@.service"

// TestWatchUnitRestartsOnlyWhatARestartMends: the watch unit restarts on a
// failure that may pass, and not on one only the administrator can mend: a
// usage error (an empty or bad CURRENTS_WATCH_ARGS: 125) or a project,
// journal or queue watch cannot use (2), which restarted every 30 s forever.
// The statuses are the ones the real watch exits with when run as the unit
// runs it; the README says what a systemd user sees.
func TestWatchUnitRestartsOnlyWhatARestartMends(t *testing.T) {
	if r := options(t, watchUnit, "Service", "Restart"); !slices.Equal(r, []string{"on-failure"}) {
		t.Errorf("Restart=%v, want on-failure: a transient failure must restart the watch", r)
	}
	var prevent []string
	for _, v := range options(t, watchUnit, "Service", "RestartPreventExitStatus") {
		prevent = append(prevent, strings.Fields(v)...)
	}
	// The exit statuses are the real watch's, run as the unit runs it: its ExecStart, its environment
	// (a drop-in's CURRENTS_WATCH_ARGS appended), in a project directory.
	for _, c := range []struct {
		why, args string
		project   bool // the directory holds a compose project that loads
		want      int  // the status plugincmd's own tests prove for the same failure, through docker
	}{
		{"CURRENTS_WATCH_ARGS left empty, as the unit ships", "", true, 125},
		{"a bad option in the drop-in", "--deploy --interval 1s", true, 125},
		{"a project that does not load", "--mirror-to mirror.example/x/", false, plugincmd.ExitWatchNoStart},
	} {
		code, out := runUnit(t, c.args, c.project)
		if code != c.want {
			t.Errorf("%s: the unit's watch exits %d, want %d:\n%s", c.why, code, c.want, out)
		}
		if !slices.Contains(prevent, strconv.Itoa(code)) {
			t.Errorf("%s: watch exits %d and RestartPreventExitStatus=%v lets systemd restart it every 30 s forever, "+
				"though only the administrator can mend it:\n%s", c.why, code, prevent, out)
		}
	}
	// 1 is what a watch that is not --once exits with on anything unforeseen: restart it.
	if slices.Contains(prevent, "1") {
		t.Errorf("RestartPreventExitStatus=%v: exit 1 is a failure a restart may mend", prevent)
	}
	doc := readmeWords(t, "## Watching a project from systemd")
	for _, want := range []string{"exit 125", "exit 2", "does not restart", "systemctl restart", "restarts after 30 s"} {
		if !strings.Contains(doc, want) {
			t.Errorf("the README's systemd section does not say %q:\n%s", want, doc)
		}
	}
}

// TestRootsDirectoriesAgree: the README's systemd section and the units'
// comments name root's directories as the code computes them for a unit
// running as root (systemd sets HOME=/root for User=root): the docker
// configuration, the token cache and the state directory.
func TestRootsDirectoriesAgree(t *testing.T) {
	t.Setenv("HOME", "/root")
	for _, v := range []string{"XDG_CACHE_HOME", "XDG_STATE_HOME", dirs.EnvCache, dirs.EnvState, "DOCKER_CONFIG"} {
		t.Setenv(v, "")
	}
	cache, _, err := dirs.Cache(func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	docker, err := dirs.DockerConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cache != "/root/.cache/currents" || docker != "/root/.docker" {
		t.Fatalf("root's cache %s, docker configuration %s", cache, docker)
	}
	want := map[string][]string{
		"the README's systemd section":            {docker, cache, dirs.RootState},
		watchUnit:                                 {docker, cache, dirs.RootState},
		"systemd/system/currents-refresh.service": {docker, cache},
	}
	for where, paths := range want {
		text := readmeWords(t, "## Watching a project from systemd")
		if strings.HasSuffix(where, ".service") {
			text = comments(t, where)
		}
		for _, p := range paths {
			if !strings.Contains(text, p) {
				t.Errorf("%s does not name %s:\n%s", where, p, text)
			}
		}
		if strings.Contains(text, "/var/cache/currents") {
			t.Errorf("%s names /var/cache/currents, root's cache only when no home directory serves:\n%s", where, text)
		}
	}
}

// runUnit runs the watch unit's ExecStart as systemd would, with the unit's CURRENTS_WATCH_ARGS and then
// a drop-in's args: the real docker CLI (the one on PATH for /usr/bin/docker) running the built plugin, in
// a directory holding a compose project or not. Nothing reaches the machine's docker configuration, state
// directory or engine. It returns the exit status and what the watch said.
func runUnit(t *testing.T, dropIn string, project bool) (int, string) {
	t.Helper()
	bins, err := testbin.Product()
	if err != nil {
		t.Fatal(err)
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal("the docker CLI is not on PATH; the unit runs `docker currents watch` (apt-get install docker.io)")
	}
	env := map[string]string{}
	for _, e := range options(t, watchUnit, "Service", "Environment") {
		k, v, _ := strings.Cut(strings.Trim(e, `"`), "=")
		env[k] = v
	}
	env["CURRENTS_WATCH_ARGS"] = strings.TrimSpace(env["CURRENTS_WATCH_ARGS"] + " " + dropIn)
	start := options(t, watchUnit, "Service", "ExecStart")
	if len(start) != 1 {
		t.Fatalf("ExecStart=%v, want one command", start)
	}
	// systemd splits an unbraced $VAR at whitespace into words, none when it is empty.
	var argv []string
	for _, w := range strings.Fields(start[0]) {
		if name, ok := strings.CutPrefix(w, "$"); ok {
			argv = append(argv, strings.Fields(env[name])...)
		} else {
			argv = append(argv, w)
		}
	}
	if argv[0] != "/usr/bin/docker" {
		t.Fatalf("ExecStart runs %s, not the docker CLI", argv[0])
	}
	home := t.TempDir()
	config := filepath.Join(home, ".docker")
	if err := os.MkdirAll(filepath.Join(config, "cli-plugins"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bins.Plugin, filepath.Join(config, "cli-plugins", "docker-currents")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if project {
		compose := "services:\n  api:\n    image: mirror.example/currents/api:1\n"
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A watch that starts runs until stopped: a status this test expects comes at once.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, docker, argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "DOCKER_CONFIG=" + config,
		"DOCKER_HOST=unix://" + filepath.Join(home, "no-engine.sock"),
		dirs.EnvState + "=" + filepath.Join(home, "state"), dirs.EnvCache + "=" + filepath.Join(home, "cache"),
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-aws-credentials")}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%v: still running after 2 minutes:\n%s", argv, out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("%v: %v", argv, err)
	}
	return 0, string(out)
}
