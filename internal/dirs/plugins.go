package dirs

import (
	"os"
	"path/filepath"
	"strings"
)

// SystemPluginDirs are the docker CLI's default plugin directories on Unix
// (docker/cli cli-plugins/manager defaultSystemPluginDirs, unexported
// there). Tests point it at directories of their own.
var SystemPluginDirs = []string{
	"/usr/local/lib/docker/cli-plugins",
	"/usr/local/libexec/docker/cli-plugins",
	"/usr/lib/docker/cli-plugins",
	"/usr/libexec/docker/cli-plugins",
}

// PluginDirs is the docker CLI's plugin search order (docker/cli
// cli-plugins/manager getPluginDirs, unexported there): cliPluginsExtraDirs
// in order, then <config dir>/cli-plugins, then the system directories.
func PluginDirs(configDir string, extras []string) []string {
	dirs := append([]string(nil), extras...)
	dirs = append(dirs, filepath.Join(configDir, "cli-plugins"))
	return append(dirs, SystemPluginDirs...)
}

// Plugins lists every plugin file named name (docker-compose, …) in search
// order, as docker would consider them (regular files, or symbolic links
// that resolve to one).
func Plugins(name, configDir string, extras []string) []string {
	var out []string
	for _, d := range PluginDirs(configDir, extras) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}

// ShimTrailEnv lists the directories of the compose shims a command has
// passed through on its way to the real compose (os.PathListSeparator
// between them). Each shim skips them all when it looks for the compose
// behind it: two copies of the shim in docker's search order (a second copy
// made by hand, one left behind by an upgrade) would otherwise hand every
// command to each other for ever.
const ShimTrailEnv = "CURRENTS_SHIM_TRAIL"

// PluginBehind is the first plugin named name in search order that is
// neither in dir nor dir's own file of that name under another path, nor in
// a directory of the shim trail: the plugin that one, shadowing it, hands
// over to. "" when there is none.
func PluginBehind(name, configDir string, extras []string, dir string) string {
	self, _ := os.Stat(filepath.Join(dir, name))
	// Directories are compared as files: docker takes relative and linked
	// plugin directories, and a shim records its own as the kernel names it.
	var passed []os.FileInfo
	for _, d := range append([]string{dir}, filepath.SplitList(os.Getenv(ShimTrailEnv))...) {
		if fi, err := os.Stat(d); err == nil {
			passed = append(passed, fi)
		}
	}
	for _, c := range Plugins(name, configDir, extras) {
		if sameAsAny(filepath.Dir(c), passed) {
			continue
		}
		if fi, err := os.Stat(c); err == nil && self != nil && os.SameFile(fi, self) {
			continue
		}
		return c
	}
	return ""
}

func sameAsAny(path string, files []os.FileInfo) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	for _, f := range files {
		if os.SameFile(fi, f) {
			return true
		}
	}
	return false
}

// ShimEnv is this process's environment with the shim directory dir added
// to the trail, for exec'ing the plugin behind it (PluginBehind).
func ShimEnv(dir string) []string {
	trail := filepath.Clean(dir)
	if abs, err := filepath.Abs(dir); err == nil {
		trail = abs // its children may run elsewhere
	}
	if prev := os.Getenv(ShimTrailEnv); prev != "" {
		trail = prev + string(os.PathListSeparator) + trail
	}
	env := os.Environ()
	for i, kv := range env {
		if strings.HasPrefix(kv, ShimTrailEnv+"=") {
			env = append(env[:i:i], env[i+1:]...)
			break
		}
	}
	return append(env, ShimTrailEnv+"="+trail)
}
