package shim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/currentsdev/currents/internal/compose"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/exitcode"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/stack"
)

// Runs reports whether this process was started as the docker-compose
// plugin, i.e. through the shim.
func Runs() bool { return filepath.Base(os.Args[0]) == compose.PluginName }

// Main is main when the binary runs as docker-compose: `currents` is ours,
// `up` may be checked first, and everything else, including
// docker-cli-plugin-metadata, is the real compose's. plugin is the
// plugin's own main, which reads os.Args.
func Main(plugin func() int) int {
	dir, err := Self(os.Args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	inv := compose.Parse(os.Args[1:])
	p, err := Locate(inv.ConfigFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := dockerconfig.Load(p.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	real, realErr := compose.FindReal(p.ConfigDir, cfg.PluginsExtraDirs(), dir)

	switch {
	case inv.Metadata:
		// docker asks before every run; without a real compose we still
		// answer as a plugin so `docker compose currents` works.
		if realErr == nil {
			return execReal(real, inv.Args, dir)
		}
		os.Args = []string{os.Args[0], "docker-cli-plugin-metadata"}
		return plugin()
	case inv.Command == product.PluginName:
		// `docker compose [compose flags] currents SUB [args]` becomes
		// `docker currents SUB [args] [compose project flags]`.
		sub := inv.Rest
		if len(sub) == 0 {
			sub = []string{"check"}
		}
		args := append([]string{os.Args[0]}, inv.DockerGlobal...)
		args = append(args, product.PluginName)
		args = append(args, sub...)
		os.Args = append(args, projectFlags(inv.ComposeFlags)...)
		return plugin()
	case inv.Command == "up":
		if code := checkBeforeUp(dir, inv); code != 0 {
			return code
		}
	}
	if realErr != nil {
		fmt.Fprintln(os.Stderr, realErr)
		return 1
	}
	return execReal(real, inv.Args, dir)
}

// checkBeforeUp runs the check when the shim is set to, unless `docker
// currents up` has just checked and handed over to us.
func checkBeforeUp(dir string, inv compose.Invocation) int {
	s, err := LoadSettings(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !s.CheckBeforeUp || os.Getenv(compose.CheckedEnv) != "" {
		return 0
	}
	code := check(inv)
	if code == exitcode.Interrupted {
		// Ctrl-C stopped the check: up stops, without blaming the images.
		return code
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, "docker compose up stopped: the images above are not pullable (the compose shim runs `docker currents check` first; `docker currents shim install` without --check-before-up turns that off)")
		return code
	}
	// Checked: the compose this hands up to (another shim, in a second
	// plugin directory) need not check again.
	os.Setenv(compose.CheckedEnv, "1")
	return 0
}

// check runs the check in a child process of ourselves, because the
// plugin framework runs once per process and compose must still be exec'd.
func check(inv compose.Invocation) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Project flags may also follow "up"; the services up starts (and their
	// dependencies, unless --no-deps) are the ones to check.
	project, upArgs := stack.SplitArgs(append(append([]string{}, inv.ComposeFlags...), inv.Rest...))
	rewind, err := stack.KeepStdin(project.Files)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sel := compose.UpSelection(upArgs)
	args := append(append([]string{}, inv.DockerGlobal...), product.PluginName, "check", "--quiet")
	args = append(args, project.Args()...)
	if sel.NoDeps {
		args = append(args, "--no-deps")
	}
	if sel.Pull != "" {
		args = append(args, "--up-pull", sel.Pull)
	}
	if sel.Build {
		args = append(args, "--up-build")
	}
	if len(sel.Services) > 0 {
		args = append(append(args, "--"), sel.Services...)
	}
	code := runSelfAs(exe, product.PluginCommand, args)
	if err := rewind(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}

// projectFlags keeps the compose global flags that select the project; the
// check has no use for --ansi, --progress and the like.
func projectFlags(flags []string) []string {
	o, _ := stack.SplitArgs(flags)
	return o.Args()
}

func execReal(real string, args []string, dir string) int {
	// Exec returns only on failure: CannotRun, as a shell says for a command
	// found but not runnable.
	fmt.Fprintln(os.Stderr, compose.Exec(real, args, dir))
	return exitcode.CannotRun
}

// runSelfAs runs exe with argv[0] set to name, sharing our streams, and
// returns its exit status.
func runSelfAs(exe, name string, args []string) int {
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = name
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// A terminal's Ctrl-C signals the whole foreground group: the check
	// stops itself and says so. Dying of it here instead would leave the
	// check writing after the prompt and docker exiting 255: the shim waits,
	// as a shell waits for its job. A SIGTERM meant for the shim alone (a
	// service manager's stop) is passed on.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM {
					_ = cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
}

// ErrNotShim is returned by Self when the binary does not run from a shim
// directory.
var ErrNotShim = errors.New("not running as the compose shim")

// Self is the directory the running shim was started from.
func Self(argv0 string) (string, error) {
	if filepath.Base(argv0) != compose.PluginName {
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
