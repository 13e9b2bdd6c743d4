package shim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/compose"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/product"
)

// env is a docker config directory with a fake compose plugin in its user
// plugin directory, and stand-ins for our full plugin (exe, the binary that
// runs install) and its front beside it.
type env struct {
	p       Paths
	compose string
	exe     string
	front   string
}

func newEnv(t *testing.T) env {
	t.Helper()
	// A system-wide compose (Docker's docker-compose-plugin package) would
	// shadow the test's fake one: docker's system directories are the test's.
	system := dirs.SystemPluginDirs
	dirs.SystemPluginDirs = []string{filepath.Join(t.TempDir(), "system-plugins")}
	t.Cleanup(func() { dirs.SystemPluginDirs = system })
	dir := t.TempDir()
	p, err := Locate(filepath.Join(dir, "docker"))
	if err != nil {
		t.Fatal(err)
	}
	plugins := filepath.Join(p.ConfigDir, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(plugins, compose.PluginName)
	if err := os.WriteFile(real, []byte("#!/bin/sh\necho real compose \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	exe, front := filepath.Join(dir, product.PluginFullCommand), filepath.Join(dir, product.PluginCommand)
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho shim\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(front, []byte("#!/bin/sh\necho front\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return env{p: p, compose: real, exe: exe, front: front}
}

var configs = map[string]string{
	"empty object": "{}",
	"typical": `{
	"auths": {
		"registry.example.com": {
			"auth": "dXNlcjpwYXNz"
		}
	},
	"credHelpers": {
		"513558712013.dkr.ecr.us-east-1.amazonaws.com": "currents"
	},
	"psFormat": "table {{.ID}}"
}
`,
	"existing extras": "{\n  \"cliPluginsExtraDirs\": [\n    \"/opt/docker/plugins\"\n  ],\n  \"x-unknown\": {\"keep\": [1, 2]}\n}",
	"one line":        `{"currentContext":"default","cliPluginsExtraDirs":[]}`,
}

func TestInstallThenUninstallRestoresEveryByte(t *testing.T) {
	for name, before := range configs {
		for _, oldBackup := range []string{"", `{"auths": {"old": {}}}`} {
			t.Run(fmt.Sprintf("%s, backup %q", name, oldBackup), func(t *testing.T) {
				testInstallThenUninstall(t, before, oldBackup)
			})
		}
	}
}

// testInstallThenUninstall checks that uninstall leaves config.json and
// config.json.bak (oldBackup, "" for none) exactly as install found them.
func testInstallThenUninstall(t *testing.T, before, oldBackup string) {
	e := newEnv(t)
	if err := os.WriteFile(e.p.Config, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	bak := e.p.Config + dockerconfig.BackupSuffix
	if oldBackup != "" {
		if err := os.WriteFile(bak, []byte(oldBackup), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.install(t)
	// A second install changes nothing but the binary and settings.
	if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := Uninstall(e.p)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(e.p.Config)
	if string(after) != before || !res.Exact || res.Kept {
		t.Errorf("uninstall: %+v\n got %q\nwant %q", res, after, before)
	}
	if _, err := os.Stat(e.p.Dir); !os.IsNotExist(err) {
		t.Errorf("shim directory left behind: %v", err)
	}
	if st := Inspect(e.p); st.Installed || st.Listed || st.Active != e.compose {
		t.Errorf("after uninstall: %+v", st)
	}
	got, err := os.ReadFile(bak)
	switch {
	case oldBackup == "" && !os.IsNotExist(err):
		t.Errorf("uninstall left a config.json.bak install created: %q %v", got, err)
	case oldBackup != "" && string(got) != oldBackup:
		t.Errorf("config.json.bak = %q, want the one from before install %q", got, oldBackup)
	}
}

// install installs the shim, set to check before up, and checks that docker
// now finds it first and that it hands over to the real compose.
func (e env) install(t *testing.T) {
	t.Helper()
	st, err := Install(e.p, e.exe, InstallOptions{CheckBeforeUp: true})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Installed || !st.Listed || !st.First || st.RealCompose != e.compose || st.Problem != "" {
		t.Errorf("after install: %+v", st)
	}
	cfg, err := dockerconfig.Load(e.p.Config)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.PluginsExtraDirs(); len(got) == 0 || got[0] != e.p.Dir {
		t.Errorf("cliPluginsExtraDirs = %q", got)
	}
	if s, err := LoadSettings(e.p.Dir); err != nil || !s.CheckBeforeUp {
		t.Errorf("check-before-up not recorded: %+v %v", s, err)
	}
}

func TestUninstallRemovesAConfigInstallCreated(t *testing.T) {
	e := newEnv(t)
	if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.p.Config); err != nil {
		t.Fatal("install did not create config.json")
	}
	res, err := Uninstall(e.p)
	if err != nil || !res.Exact {
		t.Fatal(res, err)
	}
	if _, err := os.Stat(e.p.Config); !os.IsNotExist(err) {
		t.Error("config.json created by install survived uninstall")
	}
}

func TestUninstallKeepsChangesMadeSinceInstall(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.p.Config, []byte(configs["typical"]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := dockerconfig.Load(e.p.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetCredHelper("222222222222.dkr.ecr.eu-west-2.amazonaws.com", "currents"); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Save(); err != nil {
		t.Fatal(err)
	}
	res, err := Uninstall(e.p)
	if err != nil || res.Exact || !res.Kept {
		t.Fatalf("%+v %v", res, err)
	}
	after, _ := os.ReadFile(e.p.Config)
	if !strings.Contains(string(after), "222222222222") || strings.Contains(string(after), DirName) {
		t.Errorf("after uninstall:\n%s", after)
	}
}

func TestInstallRefusesWithoutARealCompose(t *testing.T) {
	e := newEnv(t)
	if err := os.Remove(e.compose); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.p.Config, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Install(e.p, e.exe, InstallOptions{})
	if err == nil || !strings.Contains(err.Error(), "docker compose is not installed") || !strings.Contains(err.Error(), "install the Docker Compose plugin") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(e.p.Config); string(b) != "{}" {
		t.Errorf("config changed: %s", b)
	}
	if _, err := os.Stat(e.p.Dir); !os.IsNotExist(err) {
		t.Error("shim directory created anyway")
	}
}

func TestFindRealComposeSkipsTheShimEvenUnderAnotherName(t *testing.T) {
	e := newEnv(t)
	if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	// Someone hard-links the shim into another listed directory too.
	other := filepath.Join(e.p.ConfigDir, "plugins")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(e.p.Binary(), filepath.Join(other, compose.PluginName)); err != nil {
		t.Fatal(err)
	}
	real, err := compose.FindReal(e.p.ConfigDir, []string{e.p.Dir, other}, e.p.Dir)
	if err != nil || real != e.compose {
		t.Errorf("real = %q, %v; want %s", real, err, e.compose)
	}
}

func TestStaleAfterAnUpgrade(t *testing.T) {
	e := newEnv(t)
	if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if Stale(e.p, e.exe) {
		t.Error("fresh install reported stale")
	}
	// An upgrade replaces the file by rename, as install tools do.
	tmp := e.exe + ".new"
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\necho shim v2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.exe); err != nil {
		t.Fatal(err)
	}
	if !Stale(e.p, e.exe) {
		t.Error("upgrade not detected")
	}
	// An upgrade of the front alone is one too.
	if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\necho front v2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.front); err != nil {
		t.Fatal(err)
	}
	if !Stale(e.p, e.exe) {
		t.Error("upgrade of the front not detected")
	}
}

// TestInstallPlacesTheFrontAndTheFullPlugin: the shim is the plugin's front
// as docker-compose (it answers docker's metadata question with the real
// compose's) with the full plugin beside it; a full plugin without its front
// is the shim alone, as before the front, and one installed so (before the
// front existed) is stale against a build with its front.
func TestInstallPlacesTheFrontAndTheFullPlugin(t *testing.T) {
	e := newEnv(t)
	if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	same := func(a, b string) bool {
		x, errA := os.Stat(a)
		y, errB := os.Stat(b)
		return errA == nil && errB == nil && os.SameFile(x, y)
	}
	if !same(e.p.Binary(), e.front) || !same(e.p.Full(), e.exe) {
		t.Errorf("%s is not the front or %s not the full plugin", e.p.Binary(), e.p.Full())
	}

	if err := os.Remove(e.front); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.p.Full()); !same(e.p.Binary(), e.exe) || err == nil {
		t.Errorf("without a front, the shim is not the full plugin alone (%v)", err)
	}
	if err := os.WriteFile(e.front, []byte("#!/bin/sh\necho front\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !Stale(e.p, e.exe) {
		t.Error("a shim without its front is not stale against a build with one")
	}
}
