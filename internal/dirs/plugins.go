package dirs

import (
	"os"
	"path/filepath"
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

// PluginBehind is the first plugin named name in search order that is
// neither in dir nor dir's own file of that name under another path: the
// plugin that one, shadowing it, hands over to. "" when there is none.
func PluginBehind(name, configDir string, extras []string, dir string) string {
	self, _ := os.Stat(filepath.Join(dir, name))
	for _, c := range Plugins(name, configDir, extras) {
		if filepath.Dir(c) == filepath.Clean(dir) {
			continue
		}
		if fi, err := os.Stat(c); err == nil && self != nil && os.SameFile(fi, self) {
			continue
		}
		return c
	}
	return ""
}
