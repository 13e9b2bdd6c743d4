// Package compose runs `docker compose` as docker runs it: the
// docker-compose plugin found where docker looks for it, command lines split
// as docker and compose read them, and the hand-over to compose (an exec, so
// that signals, the terminal and the exit status are compose's own).
package compose

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/docker/cli/cli/flags"
	"github.com/spf13/pflag"

	"github.com/currentsdev/currents/internal/cliflags"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/stack"
)

// PluginName is the file name docker looks for to run `docker compose`.
const PluginName = product.ComposePluginCommand

// Candidates lists every docker-compose plugin in docker's search order
// (dirs.PluginDirs), as docker would consider them.
func Candidates(configDir string, extras []string) []string {
	return dirs.Plugins(PluginName, configDir, extras)
}

// Installed says, with how to install it, when docker would find no compose
// plugin: `docker compose up -d` would then fail on "-d" as an unknown flag
// of docker itself.
func Installed(configDir string, extras []string) error {
	if len(Candidates(configDir, extras)) > 0 {
		return nil
	}
	return missing(configDir, extras)
}

func missing(configDir string, extras []string) error {
	return fix.Errorf("install the Docker Compose plugin: apt-get install docker-compose-plugin (or docker-compose-v2), dnf install docker-compose-plugin, "+
		"or put the docker-compose binary from https://github.com/docker/compose/releases in "+filepath.Join(configDir, "cli-plugins"),
		"docker compose is not installed: no %s plugin in %s", PluginName, strings.Join(dirs.PluginDirs(configDir, extras), ", "))
}

// FindReal is the first docker-compose in docker's search order that is
// not in shimDir and not the shim itself under another path: the compose a
// shim hands over to.
func FindReal(configDir string, extras []string, shimDir string) (string, error) {
	if real := dirs.PluginBehind(PluginName, configDir, extras, shimDir); real != "" {
		return real, nil
	}
	return "", missing(configDir, extras)
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

// Exec replaces this process, the shim in shimDir, with the compose plugin
// at path, argv exactly as docker gave it to us, and shimDir on the shim
// trail (dirs.ShimEnv). It returns only on failure.
func Exec(path string, args []string, shimDir string) error {
	err := syscall.Exec(path, append([]string{path}, args...), dirs.ShimEnv(shimDir))
	return fmt.Errorf("exec %s: %w", path, err)
}
