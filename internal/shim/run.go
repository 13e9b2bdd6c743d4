package shim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/docker/cli/cli/flags"
	"github.com/spf13/pflag"

	"github.com/currentsdev/currents/internal/cliflags"
	"github.com/currentsdev/currents/internal/stack"
)

// systemPluginDirs are the docker CLI's default plugin directories on Unix
// (docker/cli cli-plugins/manager defaultSystemPluginDirs, unexported there).
var systemPluginDirs = []string{
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
	return append(dirs, systemPluginDirs...)
}

// Candidates lists every docker-compose plugin in search order, as docker
// would consider them (regular files or symlinks that resolve).
func Candidates(configDir string, extras []string) []string {
	var out []string
	for _, d := range PluginDirs(configDir, extras) {
		p := filepath.Join(d, PluginName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}

// FindRealCompose is the first docker-compose in docker's search order that
// is not in the shim directory and not the shim itself under another path.
func FindRealCompose(configDir string, extras []string, shimDir string) (string, error) {
	self, _ := os.Stat(filepath.Join(shimDir, PluginName))
	for _, c := range Candidates(configDir, extras) {
		if filepath.Dir(c) == filepath.Clean(shimDir) {
			continue
		}
		if fi, err := os.Stat(c); err == nil && self != nil && os.SameFile(fi, self) {
			continue
		}
		return c, nil
	}
	return "", fmt.Errorf("no docker compose plugin found in %s; install docker compose first", strings.Join(PluginDirs(configDir, extras), ", "))
}

// Invocation is a command line docker hands the docker-compose plugin:
// docker's global flags, the plugin name "compose", compose's global flags,
// then compose's sub-command and its arguments.
type Invocation struct {
	Args         []string // as received, without argv[0]
	DockerGlobal []string // docker's global flags, before "compose"
	ConfigFlag   string   // docker --config value, if given
	ComposeFlags []string // compose's global flags, before the sub-command
	Command      string   // compose sub-command: "up", "currents", ...; "" when none
	Rest         []string // after the sub-command
	Metadata     bool     // docker-cli-plugin-metadata
}

// Parse splits args (os.Args[1:]) as docker and compose read them: docker's
// global flags as docker/cli defines them, then compose's global flags as
// compose defines them, then the sub-command.
func Parse(args []string) Invocation {
	inv := Invocation{Args: args}
	if len(args) > 0 && args[0] == "docker-cli-plugin-metadata" {
		inv.Metadata = true
		return inv
	}
	docker := pflag.NewFlagSet("docker", pflag.ContinueOnError)
	flags.NewClientOptions().InstallFlags(docker)
	inv.DockerGlobal, args = cliflags.Split(docker, args)
	for i := 0; i < len(inv.DockerGlobal); i++ {
		if f, v, n := cliflags.Next(docker, inv.DockerGlobal[i:]); n > 0 {
			if f.Name == "config" {
				inv.ConfigFlag = v
			}
			i += n - 1
		}
	}
	if len(args) > 0 && args[0] == "compose" {
		args = args[1:]
	}
	var project stack.Options
	inv.ComposeFlags, args = cliflags.Split(project.GlobalFlags(), args)
	if len(args) > 0 && args[0] != "--" {
		inv.Command = args[0]
		inv.Rest = args[1:]
	}
	return inv
}

// Exec replaces this process with the real compose, argv exactly as docker
// gave it to us, so signals, the terminal and the exit status are compose's
// own. It returns only on failure.
func Exec(real string, args []string) error {
	err := syscall.Exec(real, append([]string{real}, args...), os.Environ())
	return fmt.Errorf("exec %s: %w", real, err)
}

// ErrNotShim is returned by Self when the binary does not run from a shim
// directory.
var ErrNotShim = errors.New("not running as the compose shim")

// Self is the directory the running shim was started from.
func Self(argv0 string) (string, error) {
	if filepath.Base(argv0) != PluginName {
		return "", ErrNotShim
	}
	p := argv0
	if !filepath.IsAbs(p) {
		exe, err := os.Executable()
		if err != nil {
			return "", err
		}
		p = exe
	}
	return filepath.Dir(p), nil
}
