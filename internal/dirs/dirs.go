// Package dirs decides where every file of this project and of docker's
// lives: the home directory, docker's config directory and config.json,
// currents.yaml. One rule serves the lean helper, its AWS half and the
// plugin, so a file is never written under one path and read under another.
//
// It links only the standard library: the lean helper resolves currents.yaml
// on every `get`.
package dirs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Environment variables and file names the paths derive from.
const (
	EnvDockerConfig = "DOCKER_CONFIG"   // docker's config directory
	EnvConfig       = "CURRENTS_CONFIG" // path of currents.yaml, overriding the docker config directory

	DockerConfigName = "config.json"   // docker's own settings, in its config directory
	ConfigName       = "currents.yaml" // this project's settings, beside config.json
)

// passwdFile is read for the home directory when HOME is unset (a variable
// for tests).
var passwdFile = "/etc/passwd"

// Home is $HOME, else this user's home directory in /etc/passwd. The docker
// CLI falls back the same way (user.Current), so a service or cron job run
// without HOME still finds ~/.docker/config.json — and must find currents.yaml
// beside it. (os/user itself would link cgo's resolver into the lean binary.)
func Home() (string, error) {
	if h := os.Getenv("HOME"); h != "" {
		return h, nil
	}
	data, err := os.ReadFile(passwdFile)
	if err != nil {
		return "", fmt.Errorf("HOME is not set, and %v", err)
	}
	uid := strconv.Itoa(os.Getuid())
	for line := range strings.Lines(string(data)) {
		// name:password:uid:gid:gecos:home:shell
		f := strings.Split(strings.TrimRight(line, "\n"), ":")
		if len(f) >= 7 && f[2] == uid && filepath.IsAbs(f[5]) {
			return f[5], nil
		}
	}
	return "", fmt.Errorf("HOME is not set, and %s has no home directory for uid %s", passwdFile, uid)
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

// SetPasswdFile makes Home read path instead of /etc/passwd, for tests in
// other packages; it returns the function that restores the previous one.
func SetPasswdFile(path string) (restore func()) {
	old := passwdFile
	passwdFile = path
	return func() { passwdFile = old }
}
