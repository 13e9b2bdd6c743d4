package dirs

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/fix"
)

func TestConfigPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvConfig, "")
	t.Setenv(EnvDockerConfig, dir)
	if p, _ := Config(); p != filepath.Join(dir, ConfigName) {
		t.Errorf("Config() = %s with DOCKER_CONFIG", p)
	}
	t.Setenv(EnvDockerConfig, "")
	t.Setenv("HOME", dir)
	if p, _ := Config(); p != filepath.Join(dir, ".docker", ConfigName) {
		t.Errorf("Config() = %s with HOME", p)
	}
	t.Setenv(EnvConfig, "/elsewhere/currents.yaml")
	if p, _ := Config(); p != "/elsewhere/currents.yaml" {
		t.Errorf("Config() = %s with %s", p, EnvConfig)
	}
	t.Setenv(EnvConfig, "")
	t.Setenv("HOME", "")
	// Without HOME, the home directory comes from the user database, as docker finds config.json.
	me := &user.User{Uid: "1001", Username: "me", HomeDir: dir}
	defer SetCurrentUser(func() (*user.User, error) { return me, nil })()
	if p, err := Config(); p != filepath.Join(dir, ".docker", ConfigName) {
		t.Errorf("Config() = %s, %v without HOME; want the passwd home", p, err)
	}
	for _, lookup := range []func() (*user.User, error){
		func() (*user.User, error) { return nil, errors.New("user: unknown userid 12345") },
		func() (*user.User, error) { return &user.User{Uid: "12345"}, nil },
	} {
		SetCurrentUser(lookup)
		if p, err := Config(); err == nil {
			t.Errorf("Config() = %s without any home; want an error", p)
		}
	}
}

func TestDockerConfigFollowsDockerPrecedence(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	t.Setenv("DOCKER_CONFIG", "")
	if d, _ := DockerConfig(""); d != "/home/someone/.docker" {
		t.Errorf("default = %q", d)
	}
	t.Setenv("DOCKER_CONFIG", "/etc/docker-client")
	if d, _ := DockerConfig(""); d != "/etc/docker-client" {
		t.Errorf("DOCKER_CONFIG = %q", d)
	}
	if d, _ := DockerConfig("/from/flag"); d != "/from/flag" {
		t.Errorf("--config = %q", d)
	}
	if p, _ := DockerConfigFile(""); p != "/etc/docker-client/config.json" {
		t.Errorf("Path = %q", p)
	}
	// Services and cron often run without HOME: docker then uses the passwd entry, and so do we.
	t.Setenv("DOCKER_CONFIG", "")
	os.Unsetenv("HOME")
	want, err := Home()
	if err != nil {
		t.Skipf("no passwd home here: %v", err)
	}
	if d, err := DockerConfig(""); err != nil || d != filepath.Join(want, ".docker") {
		t.Errorf("without HOME: %q, %v; want %s/.docker", d, err, want)
	}
}

func TestStateDirectory(t *testing.T) {
	defer func(old func() int) { geteuid = old }(geteuid)
	t.Setenv(EnvState, "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/someone")
	for _, c := range []struct {
		euid      int
		env, xdg  string
		want      string
		wantError bool
	}{
		{euid: 1000, want: "/home/someone/.local/state/currents"},
		{euid: 0, want: RootState},
		{euid: 1000, xdg: "/xdg/state", want: "/xdg/state/currents"},
		{euid: 0, xdg: "/xdg/state", want: "/xdg/state/currents"},
		{euid: 1000, xdg: "relative/ignored", want: "/home/someone/.local/state/currents"},
		{euid: 0, env: "/srv/watch", xdg: "/xdg/state", want: "/srv/watch"},
	} {
		geteuid = func() int { return c.euid }
		t.Setenv(EnvState, c.env)
		t.Setenv("XDG_STATE_HOME", c.xdg)
		if got, err := State(); got != c.want || err != nil {
			t.Errorf("euid %d, %s=%q, XDG_STATE_HOME=%q: %q, %v; want %q", c.euid, EnvState, c.env, c.xdg, got, err, c.want)
		}
	}
	geteuid = func() int { return 1000 }
	t.Setenv(EnvState, "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	defer SetCurrentUser(func() (*user.User, error) { return nil, errors.New("user: unknown userid 1000") })()
	if got, err := State(); err == nil {
		t.Errorf("no HOME, no user: %q; want an error naming %s", got, EnvState)
	}
}

// TestRuntimeDirectory: root's is one for its units and its sessions; the
// state directory's variables do not move it.
func TestRuntimeDirectory(t *testing.T) {
	defer func(old func() int) { geteuid = old }(geteuid)
	t.Setenv("HOME", "/home/someone")
	t.Setenv(EnvState, "/srv/watch")
	for _, c := range []struct {
		euid      int
		xdg, want string
	}{
		{euid: 1000, xdg: "/run/user/1000", want: "/run/user/1000/currents"},
		{euid: 1000, want: "/home/someone/.local/state/currents/run"},
		{euid: 1000, xdg: "relative", want: "/home/someone/.local/state/currents/run"},
		{euid: 0, want: RootRuntime},
		{euid: 0, xdg: "/run/user/0", want: RootRuntime},
	} {
		geteuid = func() int { return c.euid }
		t.Setenv("XDG_RUNTIME_DIR", c.xdg)
		if got, err := Runtime(); got != c.want || err != nil {
			t.Errorf("euid %d, XDG_RUNTIME_DIR=%q: %q, %v; want %q", c.euid, c.xdg, got, err, c.want)
		}
	}
}

// TestCacheWithHOMEReadsNoUserDatabase: every get resolves the cache directory, so the usual case (HOME
// set, its cache usable) must not cost a read of /etc/passwd.
func TestCacheWithHOMEReadsNoUserDatabase(t *testing.T) {
	home := t.TempDir()
	t.Setenv(EnvCache, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", home)
	defer SetCurrentUser(func() (*user.User, error) {
		t.Error("the user database was read")
		return nil, errors.New("no")
	})()
	dir, skipped, err := Cache(func(d string) error { return MkdirAll(d, 0o700) })
	if err != nil || dir != filepath.Join(home, ".cache", "currents") || len(skipped) != 0 {
		t.Fatalf("Cache() = %s, %v, %v", dir, skipped, err)
	}
}

// TestCacheOrder: each candidate in turn, each refusal said once.
func TestCacheOrder(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv(EnvCache, "")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "xdg"))
	t.Setenv("HOME", "")
	t.Setenv("TMPDIR", tmp)
	defer SetRootCache(filepath.Join(tmp, "var"))()
	defer SetCurrentUser(func() (*user.User, error) { return &user.User{Uid: "7", HomeDir: filepath.Join(tmp, "pw")}, nil })()
	var tried []string
	refuse := func(d string) error { tried = append(tried, d); return errors.New("no: " + d) }
	if _, skipped, err := Cache(refuse); err == nil || len(skipped) != len(tried) {
		t.Fatalf("all refused: %v, skipped %v", err, skipped)
	}
	want := []string{filepath.Join(tmp, "xdg", "currents"), filepath.Join(tmp, "pw", ".cache", "currents")}
	if os.Geteuid() == 0 {
		want = append(want, filepath.Join(tmp, "var"))
	}
	if len(tried) != len(want)+1 || !reflect.DeepEqual(tried[:len(want)], want) || !strings.HasPrefix(tried[len(want)], filepath.Join(tmp, "currents-")) {
		t.Errorf("tried %q, want %q and a private temp directory", tried, want)
	}
	if entries, _ := filepath.Glob(filepath.Join(tmp, "currents-*")); len(entries) != 0 {
		t.Errorf("a refused temp directory was left: %v", entries)
	}
	// An explicit choice is never silently replaced.
	t.Setenv(EnvCache, filepath.Join(tmp, "explicit"))
	if _, _, err := Cache(refuse); err == nil || !strings.Contains(err.Error(), EnvCache) {
		t.Errorf("explicit, refused: %v", err)
	}
}

// TestRefusedCacheSaysOneFix: a CURRENTS_CACHE_DIR the cache refuses with
// its own fix (a shared directory) is named, with that fix alone; a refusal
// without one gets the generic advice.
func TestRefusedCacheSaysOneFix(t *testing.T) {
	t.Setenv(EnvCache, "/tmp")
	_, _, err := Cache(func(string) error {
		return fix.New(errors.New("/tmp is shared"), "give the cache a directory of its own, such as /tmp/currents")
	})
	problem, hint := fix.Split(err)
	if !strings.Contains(problem, EnvCache+"=/tmp") || hint != "give the cache a directory of its own, such as /tmp/currents" || strings.Contains(err.Error(), "writable directory") {
		t.Errorf("refused with its own fix: %v", err)
	}
	_, _, err = Cache(func(string) error { return errors.New("permission denied") })
	if err == nil || !strings.Contains(err.Error(), "set "+EnvCache+" to a writable directory") {
		t.Errorf("refused without a fix: %v", err)
	}
}
