package compose

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/dirs"
)

func TestParse(t *testing.T) {
	cases := []struct {
		args []string
		want Invocation
	}{
		{[]string{"compose", "up", "-d"}, Invocation{Command: "up", Rest: []string{"-d"}}},
		{[]string{"--config", "/c", "--context=x", "-D", "compose", "-f", "a.yaml", "--project-name=p", "--dry-run", "currents", "check", "-q"},
			Invocation{DockerGlobal: []string{"--config", "/c", "--context=x", "-D"}, ConfigFlag: "/c",
				ComposeFlags: []string{"-f", "a.yaml", "--project-name=p", "--dry-run"}, Command: "currents", Rest: []string{"check", "-q"}}},
		{[]string{"--config=/c", "compose", "--env-file", "x.env", "version"},
			Invocation{DockerGlobal: []string{"--config=/c"}, ConfigFlag: "/c", ComposeFlags: []string{"--env-file", "x.env"}, Command: "version", Rest: []string{}}},
		{[]string{"compose", "--help"}, Invocation{ComposeFlags: []string{"--help"}}},
		// Value flags are told from commands by docker's and compose's own
		// flag definitions: "up", "debug" and "plain" here are values.
		{[]string{"-H", "unix:///x.sock", "-c", "up", "-l", "debug", "--tlsverify", "compose", "-p", "up", "--progress", "plain", "-v", "ps"},
			Invocation{DockerGlobal: []string{"-H", "unix:///x.sock", "-c", "up", "-l", "debug", "--tlsverify"},
				ComposeFlags: []string{"-p", "up", "--progress", "plain", "-v"}, Command: "ps", Rest: []string{}}},
		{[]string{"docker-cli-plugin-metadata"}, Invocation{Metadata: true}},
	}
	for _, c := range cases {
		got := Parse(c.args)
		c.want.Args = c.args
		if c.want.Rest == nil && got.Rest != nil && len(got.Rest) == 0 {
			got.Rest = nil
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", c.args, got, c.want)
		}
	}
}

// TestInstalledNamesTheDirectoriesAndTheFix: with no compose plugin where
// docker looks, `docker currents up -d` must say so, not hand "-d" to docker.
func TestInstalledNamesTheDirectoriesAndTheFix(t *testing.T) {
	system := dirs.SystemPluginDirs
	dirs.SystemPluginDirs = []string{filepath.Join(t.TempDir(), "system")}
	t.Cleanup(func() { dirs.SystemPluginDirs = system })
	cfgDir, extra := t.TempDir(), t.TempDir()

	err := Installed(cfgDir, []string{extra})
	if err == nil {
		t.Fatal("no compose anywhere, and Installed says nothing")
	}
	for _, want := range []string{"docker compose is not installed", extra, filepath.Join(cfgDir, "cli-plugins"), dirs.SystemPluginDirs[0], "docker-compose-plugin", "https://github.com/docker/compose/releases"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	// Found in any directory docker searches, the system ones included.
	for _, dir := range []string{extra, filepath.Join(cfgDir, "cli-plugins"), dirs.SystemPluginDirs[0]} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, PluginName)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Installed(cfgDir, []string{extra}); err != nil {
			t.Errorf("compose in %s: %v", dir, err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUpSelection(t *testing.T) {
	for args, want := range map[string]string{
		"-d api":                         "api",
		"-d --no-deps api":               "api no-deps",
		"--scale writer=2 -t 5 director": "director",
		"--attach writer director":       "director",
		"--wait -- -f":                   "-f",
		"":                               "",
		"--pull never -d api":            "api pull=never",
		"--pull=always":                  " pull=always",
		"--build --no-deps api":          "api no-deps build",
		"--build=false api":              "api",
	} {
		sel := UpSelection(strings.Fields(args))
		got := strings.Join(sel.Services, " ")
		if sel.NoDeps {
			got += " no-deps"
		}
		if sel.Build {
			got += " build"
		}
		if sel.Pull != "" {
			got += " pull=" + sel.Pull
		}
		if got != want {
			t.Errorf("UpSelection(%q) = %q, want %q", args, got, want)
		}
	}
}
