// Package scripts_test runs the shell scripts `make install`, `make uninstall` and `make demo` call, so they
// cannot rot unnoticed.
package scripts_test

import (
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var ourFiles = []string{"docker-credential-currents", "docker-credential-currents-aws", "docker-currents", "currents-plugin"}

// fakeBin makes a BIN directory with executables standing in for the built binaries; install.sh copies
// whatever it finds, so the test need not build the real ones.
func fakeBin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range ourFiles {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("#!/bin/sh\necho "+f+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runInstall(t *testing.T, env []string, action string) string {
	t.Helper()
	cmd := exec.Command("bash", "install.sh", action)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh %s: %v\n%s", action, err, out)
	}
	return string(out)
}

// tree lists every path under root with its mode, for exact before/after comparison.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, _ := d.Info()
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel+" "+info.Mode().String())
		return nil
	})
	sort.Strings(out)
	return out
}

func TestInstallIntoDestdirAndUninstallReversesExactly(t *testing.T) {
	bin := fakeBin(t)
	for _, prefix := range []string{"", "/usr", "/opt/currents"} {
		t.Run("PREFIX="+prefix, func(t *testing.T) {
			dest := t.TempDir()
			// Someone else's plugin in a shared directory must survive uninstall, and so must that directory.
			base := prefix
			if base == "" {
				base = "/usr/local" // we run as root in CI; as another user the default is covered below
				if os.Geteuid() != 0 {
					t.Skip("the PREFIX-less default differs for non-root; see TestInstallAsUser")
				}
			}
			other := filepath.Join(dest, base, "lib/docker/cli-plugins/docker-compose")
			os.MkdirAll(filepath.Dir(other), 0o755)
			os.WriteFile(other, []byte("compose"), 0o755)
			before := tree(t, dest)

			env := []string{"BIN=" + bin, "DESTDIR=" + dest, "PREFIX=" + prefix}
			out := runInstall(t, env, "install")
			for _, want := range []string{base + "/bin/docker-credential-currents", base + "/bin/docker-credential-currents-aws", base + "/lib/docker/cli-plugins/docker-currents", base + "/lib/docker/cli-plugins/currents-plugin"} {
				st, err := os.Stat(filepath.Join(dest, want))
				if err != nil {
					t.Fatalf("%s not installed: %v\n%s", want, err, out)
				}
				if st.Mode().Perm() != 0o755 {
					t.Errorf("%s mode %v", want, st.Mode().Perm())
				}
			}
			if strings.Contains(out, "NOTE: ") {
				t.Errorf("a DESTDIR staging install must not judge this machine's PATH:\n%s", out)
			}
			// Installing twice is harmless and still uninstalls completely.
			runInstall(t, env, "install")
			runInstall(t, env, "uninstall")
			if after := tree(t, dest); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("uninstall did not restore the tree:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
			}
		})
	}
}

func TestInstallAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the script as an unprivileged user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not available")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid) // the script runs as this user, as `make install` does without sudo
	gid, _ := strconv.Atoi(nobody.Gid)
	home := t.TempDir()
	os.Chmod(filepath.Dir(home), 0o755)
	os.Chown(home, uid, gid)
	bin := fakeBin(t)
	os.Chmod(bin, 0o755)
	os.Chmod(filepath.Dir(bin), 0o755)
	script, _ := filepath.Abs("install.sh")

	run := func(action string) string {
		cmd := exec.Command(setpriv, "--reuid="+nobody.Uid, "--regid="+nobody.Gid, "--clear-groups", "bash", script, action)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "BIN=" + bin}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh %s as nobody: %v\n%s", action, err, out)
		}
		return string(out)
	}
	out := run("install")
	for _, p := range []string{".local/bin/docker-credential-currents", ".local/bin/docker-credential-currents-aws", ".docker/cli-plugins/docker-currents", ".docker/cli-plugins/currents-plugin"} {
		if _, err := os.Stat(filepath.Join(home, p)); err != nil {
			t.Errorf("%s: %v\n%s", p, err, out)
		}
	}
	if !strings.Contains(out, home+"/.local/bin is not on your PATH") || !strings.Contains(out, "sudo make install") {
		t.Errorf("the user must be told the helper is not on PATH and how services find it:\n%s", out)
	}
	run("uninstall")
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("uninstall left %v in HOME", tree(t, home))
	}
}

func TestInstallWithoutBuildSaysWhatToDo(t *testing.T) {
	cmd := exec.Command("bash", "install.sh", "install")
	cmd.Env = append(os.Environ(), "BIN="+t.TempDir(), "DESTDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "run 'make build' first") {
		t.Fatalf("want a failure naming make build, got %v:\n%s", err, out)
	}
}

// TestInstallOffTheSearchPathsSaysSo installs for real (no DESTDIR) under a prefix that neither the PATH of
// services and cron nor docker's plugin search covers: each gap gets a note with its fix, and uninstall
// reminds of the credHelpers entries that would now point at nothing.
func TestInstallOffTheSearchPathsSaysSo(t *testing.T) {
	prefix := t.TempDir()
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".docker"), 0o700)
	os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(`{"credHelpers": {"h.example": "currents"}}`), 0o600)
	// An older user-level copy of the plugin, which docker would run instead.
	os.MkdirAll(filepath.Join(home, ".docker", "cli-plugins"), 0o755)
	os.WriteFile(filepath.Join(home, ".docker", "cli-plugins", "docker-currents"), []byte("old"), 0o755)
	plugins := filepath.Join(prefix, "plugins")
	env := []string{"BIN=" + fakeBin(t), "PREFIX=" + prefix, "HOME=" + home, "DOCKER_CONFIG=", "PATH=/usr/bin:/bin", "BINDIR=", "PLUGINDIR=" + plugins}
	out := runInstall(t, env, "install")
	for _, want := range []string{
		home + "/.docker/cli-plugins/docker-currents comes first for docker and shadows the copy just installed",
		prefix + "/bin is not on your PATH",
		"systemd services or cron does not search " + prefix + "/bin", "Environment=PATH=" + prefix + "/bin:",
		"docker does not search " + plugins, "cliPluginsExtraDirs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	out = runInstall(t, env, "uninstall")
	if !strings.Contains(out, home+"/.docker/config.json still sends registries") {
		t.Errorf("uninstall does not mention the credHelpers entries:\n%s", out)
	}
	if entries, _ := os.ReadDir(prefix); len(entries) != 0 {
		t.Errorf("uninstall left %v", tree(t, prefix))
	}
}

// TestPrefixInstallPutsThePluginWhereDockerFindsIt is the README's rehearsal: `make install PREFIX=/tmp/x`
// must give a working `docker currents`, so a PREFIX docker does not search sends the plugin to the user
// plugin directory of DOCKER_CONFIG (the rehearsal's own), and uninstall takes it back.
func TestPrefixInstallPutsThePluginWhereDockerFindsIt(t *testing.T) {
	prefix := t.TempDir()
	dockerConfig := filepath.Join(t.TempDir(), "docker")
	env := []string{"BIN=" + fakeBin(t), "PREFIX=" + prefix, "HOME=" + t.TempDir(), "DOCKER_CONFIG=" + dockerConfig,
		"PATH=" + prefix + "/bin:/usr/bin:/bin", "BINDIR=", "PLUGINDIR="}
	out := runInstall(t, env, "install")
	plugin := filepath.Join(dockerConfig, "cli-plugins", "docker-currents")
	for _, f := range []string{plugin, filepath.Join(dockerConfig, "cli-plugins", "currents-plugin")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("plugin not in %s: %v\n%s", f, err, out)
		}
	}
	if strings.Contains(out, "docker does not search") {
		t.Errorf("the plugin went where docker searches; no note is due:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(prefix, "lib")); err == nil {
		t.Errorf("a plugin directory docker never searches was created under %s", prefix)
	}
	if docker, err := exec.LookPath("docker"); err == nil {
		// The docker CLI itself lists it (it runs the fake plugin's metadata command and shows it as invalid,
		// which proves it was found: an unfound plugin is not listed at all).
		cmd := exec.Command(docker, "info", "--format", "{{range .ClientInfo.Plugins}}{{.Path}} {{end}}")
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig, "DOCKER_HOST=unix:///nonexistent.sock")
		b, _ := cmd.CombinedOutput()
		if !strings.Contains(string(b), plugin) {
			t.Errorf("docker does not find the plugin in %s: %s", plugin, b)
		}
	}
	runInstall(t, env, "uninstall")
	if entries, _ := os.ReadDir(filepath.Join(dockerConfig, "cli-plugins")); len(entries) != 0 {
		t.Errorf("uninstall left %v", entries)
	}
}

// TestMakeInstallNeedsNoGo is `sudo make install` on a host whose root PATH has no Go: the target installs
// what `make build` left in BIN and builds nothing.
func TestMakeInstallNeedsNoGo(t *testing.T) {
	makePath, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make is needed to test the Makefile: ", err)
	}
	dest := t.TempDir()
	noGo := t.TempDir() // a PATH with make, bash, git and coreutils but no go
	for _, tool := range []string{"bash", "git", "install", "mkdir", "dirname", "mv", "rm", "rmdir", "sort", "cut", "awk", "grep", "id", "sh", "printf", "cat"} {
		if p, err := exec.LookPath(tool); err == nil {
			os.Symlink(p, filepath.Join(noGo, tool))
		}
	}
	cmd := exec.Command(makePath, "-C", "..", "install", "BIN="+fakeBin(t), "DESTDIR="+dest, "PREFIX=/usr")
	cmd.Env = append(os.Environ(), "PATH="+noGo)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make install without go on PATH: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/bin/docker-credential-currents")); err != nil {
		t.Fatalf("not installed: %v\n%s", err, out)
	}
}
