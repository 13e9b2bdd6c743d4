package plugincmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/shim"
	"github.com/currentsdev/currents/internal/stack"
)

func newShimCommand(dockerCli command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shim install|uninstall|status",
		Short: "Opt-in: answer `docker compose currents …` by shadowing the compose plugin",
		Long: `Compose cannot be extended with sub-commands and docker refuses aliases for
compose, so ` + "`docker compose currents check`" + ` needs a shim: this binary, installed as a
docker-compose plugin in its own directory listed first in cliPluginsExtraDirs.
It answers ` + "`docker compose [flags] currents …`" + ` itself (with compose's project flags),
optionally runs the check before ` + "`docker compose up`" + `, and execs the real compose,
untouched, for everything else (so ` + "`docker compose version`" + ` and ` + "`docker info`" + ` show
the real compose). uninstall puts config.json back byte for byte.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var checkBeforeUp bool
	install := &cobra.Command{
		Use:   "install [--check-before-up]",
		Short: "Install the compose shim for the active docker config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := shimPaths(dockerCli)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if exe, err = filepath.EvalSymlinks(exe); err != nil {
				return err
			}
			st, err := shim.Install(p, exe, shim.InstallOptions{CheckBeforeUp: checkBeforeUp})
			if err != nil {
				return err
			}
			fmt.Fprintf(dockerCli.Out(), "compose shim installed in %s, listed first in cliPluginsExtraDirs of %s\n", p.Dir, p.Config)
			writeShimStatus(dockerCli.Out(), st)
			fmt.Fprintln(dockerCli.Out(), "try: docker compose currents check    undo: docker currents shim uninstall")
			return nil
		},
	}
	install.Flags().BoolVar(&checkBeforeUp, "check-before-up", false, "Run `docker currents check` before every `docker compose up`; up stops if an image is not pullable")
	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the compose shim and restore config.json",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := shimPaths(dockerCli)
			if err != nil {
				return err
			}
			if st := shim.Inspect(p); !st.Installed && !st.Listed {
				fmt.Fprintln(dockerCli.Out(), "the compose shim is not installed; nothing to do")
				return nil
			}
			res, err := shim.Uninstall(p)
			if err != nil {
				return err
			}
			switch {
			case res.Exact:
				fmt.Fprintf(dockerCli.Out(), "compose shim removed; %s is back to its exact bytes before install\n", p.Config)
			case res.Kept:
				fmt.Fprintf(dockerCli.Out(), "compose shim removed from %s; changes made to it since install were kept\n", p.Config)
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Say whether the shim is installed and which compose docker runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := shimPaths(dockerCli)
			if err != nil {
				return err
			}
			st := shim.Inspect(p)
			if exe, err := os.Executable(); err == nil && st.Installed && st.Problem == "" && shim.Stale(p, exe) {
				st.Problem = "the shim is an older build of docker-currents; run `docker currents shim install` again to update it"
			}
			writeShimStatus(dockerCli.Out(), st)
			if st.Problem != "" {
				return ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.AddCommand(install, uninstall, status)
	return cmd
}

// shimPaths follows the docker config the CLI itself uses (--config,
// DOCKER_CONFIG, ~/.docker).
func shimPaths(dockerCli command.Cli) (shim.Paths, error) {
	dir := ""
	if cf := dockerCli.ConfigFile(); cf != nil && cf.Filename != "" {
		dir = filepath.Dir(cf.Filename)
	}
	return shim.Locate(dir)
}

func writeShimStatus(w io.Writer, st shim.Status) {
	state := "not installed"
	if st.Installed && st.First {
		state = "installed and active"
	} else if st.Installed {
		state = "installed but not active"
	}
	fmt.Fprintf(w, "shim:            %s\n", state)
	if st.Installed {
		fmt.Fprintf(w, "check before up: %v\n", st.Settings.CheckBeforeUp)
	}
	if st.Active != "" {
		fmt.Fprintf(w, "docker compose:  %s\n", st.Active)
	}
	if st.RealCompose != "" && st.RealCompose != st.Active {
		fmt.Fprintf(w, "real compose:    %s\n", st.RealCompose)
	}
	if st.Problem != "" {
		fmt.Fprintf(w, "problem:         %s\n", st.Problem)
	}
}

// CheckedEnv, set to 1 in compose's environment by a command that has just
// run the check (`docker currents up`), stops the shim checking twice.
const CheckedEnv = "CURRENTS_CHECKED"

// RunsAsComposeShim reports whether this process was started as the
// docker-compose plugin, i.e. through the shim.
func RunsAsComposeShim() bool { return filepath.Base(os.Args[0]) == shim.PluginName }

// ShimMain is main when the binary runs as docker-compose: `currents` is
// ours, `up` may be checked first, and everything else, including
// docker-cli-plugin-metadata, is the real compose's.
func ShimMain() int {
	dir, err := shim.Self(os.Args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	inv := shim.Parse(os.Args[1:])
	p, err := shim.Locate(inv.ConfigFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	extras, err := shimExtraDirs(p.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	real, realErr := shim.FindRealCompose(p.ConfigDir, extras, dir)

	switch {
	case inv.Metadata:
		// docker asks before every run; without a real compose we still
		// answer as a plugin so `docker compose currents` works.
		if realErr == nil {
			return execRealCompose(real, inv.Args)
		}
		os.Args = []string{os.Args[0], "docker-cli-plugin-metadata"}
		return Main()
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
		return Main()
	case inv.Command == "up":
		s, err := shim.LoadSettings(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// `docker currents up` has just checked and handed over to us.
		if s.CheckBeforeUp && os.Getenv(CheckedEnv) == "" {
			if code := shimCheck(inv); code != 0 {
				fmt.Fprintln(os.Stderr, "docker compose up stopped: the images above are not pullable (the compose shim runs `docker currents check` first; `docker currents shim install` without --check-before-up turns that off)")
				return code
			}
		}
	}
	if realErr != nil {
		fmt.Fprintln(os.Stderr, realErr)
		return 1
	}
	return execRealCompose(real, inv.Args)
}

// shimCheck runs the check in a child process of ourselves, because the
// plugin framework runs once per process and compose must still be exec'd.
func shimCheck(inv shim.Invocation) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Project flags may also follow "up"; the services up starts (and their
	// dependencies, unless --no-deps) are the ones to check.
	project, upArgs := stack.SplitArgs(append(append([]string{}, inv.ComposeFlags...), inv.Rest...))
	sel := upSelection(upArgs)
	args := append(append([]string{}, inv.DockerGlobal...), product.PluginName, "check", "--quiet")
	args = append(args, project.Args()...)
	if sel.NoDeps {
		args = append(args, "--no-deps")
	}
	if len(sel.Services) > 0 {
		args = append(append(args, "--"), sel.Services...)
	}
	return runSelfAs(exe, product.PluginCommand, args)
}

// projectFlags keeps the compose global flags that select the project; the
// check has no use for --ansi, --progress and the like.
func projectFlags(flags []string) []string {
	o, _ := stack.SplitArgs(flags)
	return o.Args()
}

func execRealCompose(real string, args []string) int {
	// Exec returns only on failure: 126, as a shell says for a command
	// found but not runnable.
	fmt.Fprintln(os.Stderr, shim.Exec(real, args))
	return 126
}

func shimExtraDirs(configPath string) ([]string, error) {
	cfg, err := dockerconfig.Load(configPath)
	if err != nil {
		return nil, err
	}
	return cfg.PluginsExtraDirs(), nil
}

// runSelfAs runs exe with argv[0] set to name, sharing our streams, and
// returns its exit status.
func runSelfAs(exe, name string, args []string) int {
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = name
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
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
