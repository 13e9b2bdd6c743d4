// Package dirs decides where every file of this project and of docker's
// lives: the home directory, docker's config directory and config.json,
// currents.yaml, the state directory (watch's journals), the runtime
// directory (locks between processes), docker's plugin directories and the
// plugin's two files. One rule serves the lean helper, its AWS half and the
// plugin, so a file is never written under one path and read under another.
//
// It links only the standard library: the lean helper resolves currents.yaml
// on every `get`.
package dirs

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	"github.com/currentsdev/currents/internal/product"
)

// Environment variables and file names the paths derive from.
const (
	EnvDockerConfig = "DOCKER_CONFIG"      // docker's config directory
	EnvConfig       = "CURRENTS_CONFIG"    // path of currents.yaml, overriding the docker config directory
	EnvState        = "CURRENTS_STATE_DIR" // the state directory, overriding the XDG rule

	DockerConfigName = "config.json"   // docker's own settings, in its config directory
	ConfigName       = "currents.yaml" // this project's settings, beside config.json
)

// currentUser is user.Current, replaceable in tests (SetCurrentUser).
var currentUser = user.Current

// geteuid decides whether State is root's (a variable: the tests run as
// root in CI and as users elsewhere, and must try both).
var geteuid = os.Geteuid

// Home is $HOME, else this user's home directory from the user database.
// The docker CLI falls back the same way (user.Current), so a service or cron
// job run without HOME still finds ~/.docker/config.json — and must find
// currents.yaml beside it. Binaries are built with -tags osusergo: os/user
// then reads /etc/passwd in Go, instead of linking cgo's resolver (which
// would make the lean helper a dynamically linked binary).
func Home() (string, error) {
	if h := os.Getenv("HOME"); h != "" {
		return h, nil
	}
	u, err := currentUser()
	if err != nil {
		return "", fmt.Errorf("HOME is not set, and %v", err)
	}
	if !filepath.IsAbs(u.HomeDir) {
		return "", fmt.Errorf("HOME is not set, and the user database has no home directory for uid %s", u.Uid)
	}
	return u.HomeDir, nil
}

// DockerConfig returns the docker config directory exactly as the docker CLI
// chooses it: the --config flag value when one is given, else $DOCKER_CONFIG,
// else ~/.docker (HOME, or the user's passwd entry without it).
func DockerConfig(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if d := os.Getenv(EnvDockerConfig); d != "" {
		return d, nil
	}
	home, err := Home()
	if err != nil {
		return "", fmt.Errorf("cannot find the docker config directory: %s is not set and %v; set %s", EnvDockerConfig, err, EnvDockerConfig)
	}
	return filepath.Join(home, ".docker"), nil
}

// DockerConfigFile is config.json in the directory DockerConfig(flagValue) chooses.
func DockerConfigFile(flagValue string) (string, error) {
	d, err := DockerConfig(flagValue)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, DockerConfigName), nil
}

// Config returns where currents.yaml lives: CURRENTS_CONFIG, else beside
// config.json in the docker config directory. It fails only when none of
// those can be known (no CURRENTS_CONFIG, no DOCKER_CONFIG, no home).
func Config() (string, error) {
	if p := os.Getenv(EnvConfig); p != "" {
		return p, nil
	}
	d, err := DockerConfig("")
	if err != nil {
		return "", fmt.Errorf("cannot locate %s: set %s or %s (%v)", ConfigName, EnvConfig, EnvDockerConfig, err)
	}
	return filepath.Join(d, ConfigName), nil
}

// RootState is root's state directory, as /var/lib holds system services'
// state (systemd's StateDirectory=currents is this directory).
const RootState = "/var/lib/currents"

// stateName is this project's directory under XDG_STATE_HOME.
const stateName = "currents"

// State returns the directory for state that must survive reboots (watch's
// journals): CURRENTS_STATE_DIR, else $XDG_STATE_HOME/currents, else
// /var/lib/currents for root, else ~/.local/state/currents (the XDG
// default). It does not create the directory.
func State() (string, error) {
	if d := os.Getenv(EnvState); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, stateName), nil
	}
	if geteuid() == 0 {
		return RootState, nil
	}
	home, err := Home()
	if err != nil {
		return "", fmt.Errorf("cannot find the state directory: %v; set %s or XDG_STATE_HOME", err, EnvState)
	}
	return filepath.Join(home, ".local", "state", stateName), nil
}

// RootRuntime is root's runtime directory, made by the first process that
// needs it: not a unit's RuntimeDirectory=, which systemd removes when that
// unit stops, under the locks of another unit's instances.
const RootRuntime = "/run/currents"

// Runtime returns the directory for what lives as long as the boot: the
// locks processes of one machine take against each other (watch's deploy
// lock). Root's is always /run/currents: a unit (no XDG_RUNTIME_DIR) and root's
// login session (/run/user/0) must find the same locks. Another user's is
// $XDG_RUNTIME_DIR/currents, else ~/.local/state/currents/run. Never the
// state directory: two watches with different ones must meet here. It does
// not create the directory.
func Runtime() (string, error) {
	if geteuid() == 0 {
		return RootRuntime, nil
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, stateName), nil
	}
	home, err := Home()
	if err != nil {
		return "", fmt.Errorf("cannot find the runtime directory: XDG_RUNTIME_DIR is not set, and %v", err)
	}
	return filepath.Join(home, ".local", "state", stateName, "run"), nil
}

// SetCurrentUser makes Home ask lookup instead of user.Current, for tests in
// other packages; it returns the function that restores the previous one.
func SetCurrentUser(lookup func() (*user.User, error)) (restore func()) {
	old := currentUser
	currentUser = lookup
	return func() { currentUser = old }
}

// PluginFull is where the plugin's front, running from front (its resolved
// path: a symbolic link in a cli-plugins directory leads to the installed
// file), finds the full plugin: beside itself, whatever the directory (the
// package's /usr/libexec/docker/cli-plugins, make install's, a build's bin/).
func PluginFull(front string) string {
	return filepath.Join(filepath.Dir(front), product.PluginFullCommand)
}

// PluginFront is the plugin's front installed beside the full plugin at
// full (the file the compose shim takes its docker-compose from).
func PluginFront(full string) string {
	return filepath.Join(filepath.Dir(full), product.PluginCommand)
}
