package tokencache

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/logging"
)

// TestMain lets a test open the cache in a process of another user: started with
// CURRENTS_TEST_OPEN_CACHE set, the test binary opens the cache and prints its directory.
func TestMain(m *testing.M) {
	if os.Getenv("CURRENTS_TEST_OPEN_CACHE") != "" {
		c, err := Open(WithLogger(logging.New(os.Stderr, slog.LevelWarn, "test")))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(c.Dir())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Issue 10, defect 8: without HOME the cache fell back to /tmp/currents-<uid> although config lookup used the
// user database's home: one rule (dirs.Home) serves both.
func TestWithoutHOMETheCacheIsInTheHomeConfigLookupUses(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	t.Setenv("TMPDIR", tmp)
	defer dirs.SetRootCache(filepath.Join(tmp, "var-cache-currents"))()
	pwHome := filepath.Join(tmp, "home", "svc")
	defer dirs.SetCurrentUser(func() (*user.User, error) { return &user.User{Uid: "4242", HomeDir: pwHome}, nil })()
	configDir, err := dirs.DockerConfig("")
	if err != nil || filepath.Dir(configDir) != pwHome {
		t.Fatalf("config lookup: %s, %v", configDir, err)
	}
	c, err := Open()
	if err != nil || c.Dir() != filepath.Join(pwHome, ".cache", "currents") {
		t.Fatalf("cache: %v, %v; want it in %s, the home config lookup uses", c, err, pwHome)
	}
}

// Issue 10, defect 8: another user who created /tmp/currents-<uid> first disabled that user's cache (every get
// called AWS). Real processes: the cache is opened by uid 65534, whose home does not exist, after uid 4242
// took the old predictable name.
func TestASquattedTempNameDoesNotDisableTheCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: to be two users")
	}
	tmp := t.TempDir()
	// A shared temp directory, as /tmp is (t.TempDir's parent is private to root).
	if err := os.Chmod(filepath.Dir(tmp), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	squat := filepath.Join(tmp, "currents-65534")
	if err := os.Mkdir(squat, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(squat, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	// The test binary, where another user may run it.
	exe := filepath.Join(tmp, "tokencache.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	open := func() string {
		cmd := exec.Command(exe)
		cmd.Dir = "/"
		cmd.Env = []string{"CURRENTS_TEST_OPEN_CACHE=1", "TMPDIR=" + tmp, "PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("opening the cache as uid 65534: %v\n%s%s", err, out, stderr.Bytes())
		}
		dir := strings.TrimSpace(string(out))
		if !strings.Contains(stderr.String(), "WARN") {
			t.Errorf("the fallback to %s was not said as a warning:\n%s", dir, stderr.Bytes())
		}
		return dir
	}
	dir := open()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); dir == squat || filepath.Dir(dir) != tmp || sys.Uid != 65534 || st.Mode().Perm() != 0o700 {
		t.Fatalf("cache %s (owner %d, mode %04o); want a private directory of uid 65534's own under %s", dir, sys.Uid, st.Mode().Perm(), tmp)
	}
	if again := open(); again != dir {
		t.Errorf("the next get uses %s, not %s: nothing would ever be cached", again, dir)
	}
}

// Issue 10, defect 2: root with a user's HOME (sudo -E) created ~/.cache and ~/.cache/currents owned by root
// in that home, and the user's own tools then got "permission denied" there.
func TestRootWithAUsersHOMECreatesNothingInIt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the defect is root's")
	}
	tmp := t.TempDir()
	userHome := filepath.Join(tmp, "home", "u")
	if err := os.MkdirAll(userHome, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(userHome, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", userHome)
	rootHome := filepath.Join(tmp, "root")
	defer dirs.SetCurrentUser(func() (*user.User, error) { return &user.User{Uid: "0", HomeDir: rootHome}, nil })()
	defer dirs.SetRootCache(filepath.Join(tmp, "var-cache-currents"))()
	var logs bytes.Buffer
	c, err := Open(WithLogger(logging.New(io.MultiWriter(&logs), slog.LevelWarn, "test")))
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(userHome); len(entries) != 0 {
		t.Fatalf("root created %v in the user's home", entries)
	}
	if c.Dir() != filepath.Join(rootHome, ".cache", "currents") {
		t.Errorf("cache %s; want root's own, in its user database home", c.Dir())
	}
	if l := logs.String(); !strings.Contains(l, "WARN") || !strings.Contains(l, "using "+c.Dir()) || !strings.Contains(l, userHome+" belongs to uid 4242") {
		t.Errorf("no warning saying where the cache went and why:\n%s", l)
	}
}
