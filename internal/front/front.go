// Package front is docker-currents, the binary docker finds in a cli-plugins
// directory: a small front for the plugin. The docker CLI runs a plugin with
// docker-cli-plugin-metadata before every `docker currents …` (and for `docker
// info` and `docker --help`); the full plugin spends most of that answer in
// its libraries' package initialisation before main (compose-go's JSON
// schema alone about 9 ms, 25 MB resident), which no code of ours can skip.
// The front answers that question itself and execs the full plugin,
// installed beside it, for everything else: same arguments, same argv[0],
// same environment, no extra process.
//
// Installed by `docker currents shim install` as docker-compose, it is the
// compose shim's front too: docker asks that before every `docker compose
// …`, and the answer is the real compose's, found and exec'd here as the
// shim finds it (shim.Main), without the full plugin's start-up either.
//
// It links only the standard library and small packages of this module's
// without costly initialisation (TestFrontLinksNothingHeavy).
package front

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/exitcode"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/product"
)

// MetadataCommand is the argument the docker CLI asks a plugin's metadata
// with (docker/cli's metadata.MetadataSubcommandName).
const MetadataCommand = "docker-cli-plugin-metadata"

// Metadata is the plugin's answer to MetadataCommand: the fields, names and
// JSON form of docker/cli's metadata.Metadata, which the full plugin gives
// docker/cli's plugin package (plugincmd.Metadata, built from Info).
type Metadata struct {
	SchemaVersion    string `json:",omitempty"`
	Vendor           string `json:",omitempty"`
	Version          string `json:",omitempty"`
	ShortDescription string `json:",omitempty"`
	URL              string `json:",omitempty"`
}

// Info is the plugin's metadata, the one place it is written.
func Info() Metadata {
	return Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           "Currents",
		Version:          product.Version,
		ShortDescription: "Check, mirror and run a compose stack's private ECR images",
		URL:              "https://github.com/currentsdev/currents",
	}
}

// WriteMetadata writes Info as docker/cli's plugin package writes a
// plugin's metadata (no HTML escaping, five-space indent), byte for byte.
func WriteMetadata(w io.Writer) error { return writeMetadata(w, Info()) }

func writeMetadata(w io.Writer, m Metadata) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "     ")
	return enc.Encode(m)
}

// frontInfo is the front's answer to docker's metadata question: Info, or,
// when the full plugin is missing or not executable, Info with a
// description that says so. Failing the question instead would hide the
// cause: docker then lists the plugin as invalid with only an exit status,
// and answers `docker currents …` with "unknown command"; answered, `docker
// info` and `docker --help` show the problem, and `docker currents …` runs
// the front, which names the file and the fix.
func frontInfo() Metadata {
	m := Info()
	full, err := Full()
	switch {
	case err != nil:
		m.ShortDescription = "BROKEN: run `docker " + product.PluginName + "` for the cause"
	case runnable(full) != nil:
		m.ShortDescription = "BROKEN: " + product.PluginFullCommand + " is missing beside " + product.PluginCommand + " or not executable; reinstall the plugin"
	}
	return m
}

// Main is docker-currents' main: the metadata from here, everything else
// from the full plugin. Run as the compose shim, what the shim would only
// hand to the real compose goes there straight; under any other name, the
// full plugin answers everything.
func Main() int {
	switch filepath.Base(os.Args[0]) {
	case product.PluginCommand:
		if len(os.Args) > 1 && os.Args[1] == MetadataCommand {
			if err := writeMetadata(os.Stdout, frontInfo()); err != nil {
				fmt.Fprintf(os.Stderr, "docker %s: %v\n", product.PluginName, err)
				return 1
			}
			return 0
		}
	case product.ComposePluginCommand:
		if real, dir := behindShim(); real != "" && shimPassesOn(os.Args[1:]) {
			// Returns only on failure: then the full plugin's shim says why.
			_ = syscall.Exec(real, append([]string{real}, os.Args[1:]...), dirs.ShimEnv(dir))
		}
	}
	full, err := Full()
	if err == nil {
		err = Exec(full)
	}
	fmt.Fprintf(os.Stderr, "docker %s: %v\n", product.PluginName, err)
	return exitcode.CannotRun
}

// Full is the full plugin's path: beside the front's own file (a symbolic
// link to the front leads to the installed file's directory).
func Full() (string, error) {
	self, err := executable()
	if err != nil && filepath.IsAbs(os.Args[0]) {
		// Without /proc (the kernel's answer), the path docker ran: it
		// always runs a plugin by its absolute path.
		self, err = filepath.EvalSymlinks(os.Args[0])
	}
	if err != nil {
		return "", fix.Errorf("run it by its absolute path", "cannot locate %s itself, so not the plugin beside it: %v", product.PluginCommand, err)
	}
	return dirs.PluginFull(self), nil
}

// behindShim is the compose the shim, this front run as docker-compose from
// its own directory, hands docker's metadata question to: the first
// docker-compose in docker's search order outside that directory, with
// config.json and the config directory as the shim finds them (shim.Main:
// shim.Self, shim.Locate); and that directory, for the shim trail. real is
// "" when the full plugin must answer (no compose, or an unreadable
// config.json, which it then names).
func behindShim() (real, dir string) {
	dir = filepath.Dir(os.Args[0])
	if !filepath.IsAbs(os.Args[0]) {
		exe, err := executable()
		if err != nil {
			return "", ""
		}
		dir = filepath.Dir(exe)
	}
	configDir, err := dirs.DockerConfig("")
	if err != nil {
		return "", ""
	}
	if configDir, err = filepath.Abs(configDir); err != nil {
		return "", ""
	}
	cfg, err := dockerconfig.Load(filepath.Join(configDir, dirs.DockerConfigName))
	if err != nil {
		return "", ""
	}
	return dirs.PluginBehind(product.ComposePluginCommand, configDir, cfg.PluginsExtraDirs(), dir), dir
}

// shimPassesOn reports whether the shim (shim.Main) would hand args, as
// docker gives them, to the real compose untouched, found through the
// docker config directory without --config: so with no argument that could
// be its `currents` or `up` sub-command (it checks before up) or docker's
// --config flag. It errs towards false: the full plugin's shim then parses
// the command line with the real flag definitions and decides.
func shimPassesOn(args []string) bool {
	for _, a := range args {
		if a == product.PluginName || a == "up" || a == "--config" || strings.HasPrefix(a, "--config=") {
			return false
		}
	}
	return true
}

// executable is os.Executable, replaceable in tests.
var executable = os.Executable

// Exec replaces this process with the full plugin at path, with this
// process's arguments (argv[0] included) and environment. It returns only
// on failure, with what to do.
func Exec(path string) error {
	return cannotRun(path, syscall.Exec(path, os.Args, os.Environ()))
}

// runnable is nil when this process may execute the file at path.
func runnable(path string) error {
	const xOK = 1 // access(2)'s X_OK
	if err := syscall.Access(path, xOK); err != nil {
		return cannotRun(path, err)
	}
	return nil
}

// cannotRun is the failure to run the full plugin at path, with what to do.
func cannotRun(path string, err error) error {
	return fix.Errorf(fmt.Sprintf("%s is the plugin's front and runs the plugin from beside itself: reinstall the plugin so %s and %s are both in %s (the package, or make build && make install)",
		product.PluginCommand, product.PluginCommand, product.PluginFullCommand, filepath.Dir(path)),
		"cannot run the plugin %s: %v", path, err)
}
