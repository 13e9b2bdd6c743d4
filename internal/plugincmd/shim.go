package plugincmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/shim"
)

func newShimCommand(dockerCli command.Cli) *cobra.Command {
	var checkBeforeUp bool
	install := shimCommand(dockerCli, "install [--check-before-up]", "Install the compose shim for the active docker config",
		func(p shim.Paths, out io.Writer) error { return installShim(p, out, checkBeforeUp) })
	install.Flags().BoolVar(&checkBeforeUp, "check-before-up", false, "Run 'docker currents check' before every 'docker compose up'; up stops if an image is not pullable")
	return group(&cobra.Command{
		Use:   "shim install|uninstall|status",
		Short: "Opt-in: answer `docker compose currents …` by shadowing the compose plugin",
		Long: `Compose cannot be extended with sub-commands and docker refuses aliases for
compose, so ` + "`docker compose currents check`" + ` needs a shim: this binary, installed as a
docker-compose plugin in its own directory listed first in cliPluginsExtraDirs.
It answers ` + "`docker compose [flags] currents …`" + ` itself (with compose's project flags),
optionally runs the check before ` + "`docker compose up`" + `, and execs the real compose,
untouched, for everything else (so ` + "`docker compose version`" + ` and ` + "`docker info`" + ` show
the real compose). uninstall puts config.json back byte for byte.`,
	}, install,
		shimCommand(dockerCli, "uninstall", "Remove the compose shim and restore config.json", uninstallShim),
		shimCommand(dockerCli, "status", "Say whether the shim is installed and which compose docker runs", shimStatus),
	)
}

// shimCommand is a shim sub-command: it runs on the shim of the docker
// config the CLI itself uses.
func shimCommand(dockerCli command.Cli, use, short string, run func(p shim.Paths, out io.Writer) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			p, err := shimPaths(dockerCli)
			if err != nil {
				return err
			}
			return run(p, dockerCli.Out())
		},
	}
}

func installShim(p shim.Paths, out io.Writer, checkBeforeUp bool) error {
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
	fmt.Fprintf(out, "compose shim installed in %s, listed first in cliPluginsExtraDirs of %s\n", p.Dir, p.Config)
	writeShimStatus(out, st)
	fmt.Fprintln(out, "try: docker compose currents check    undo: docker currents shim uninstall")
	return nil
}

func uninstallShim(p shim.Paths, out io.Writer) error {
	if st := shim.Inspect(p); !st.Installed && !st.Listed {
		fmt.Fprintln(out, "the compose shim is not installed; nothing to do")
		return nil
	}
	res, err := shim.Uninstall(p)
	if err != nil {
		return err
	}
	switch {
	case res.Exact:
		fmt.Fprintf(out, "compose shim removed; %s is back to its exact bytes before install\n", p.Config)
	case res.Kept:
		fmt.Fprintf(out, "compose shim removed from %s; changes made to it since install were kept\n", p.Config)
	}
	return nil
}

func shimStatus(p shim.Paths, out io.Writer) error {
	st := shim.Inspect(p)
	if exe, err := os.Executable(); err == nil && st.Installed && st.Problem == "" && shim.Stale(p, exe) {
		st.Problem = "the shim is an older build of docker-currents; run `docker currents shim install` again to update it"
	}
	writeShimStatus(out, st)
	if st.Problem != "" {
		return ExitError{Code: 1}
	}
	return nil
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
