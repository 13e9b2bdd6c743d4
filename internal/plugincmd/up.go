package plugincmd

import (
	"path/filepath"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/compose"
	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/stack"
)

func newUpCommand(dockerCli command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "up [PROJECT OPTIONS] [COMPOSE UP OPTIONS] [SERVICE...]",
		Short: "Check the stack's images, then run docker compose up",
		Long: `Run the same check as 'docker currents check' and, only when every image is
pullable, replace this process with 'docker compose [PROJECT OPTIONS] up [...]',
so signals, the terminal and the exit status are compose's own.

Project options (-f, -p, --env-file, --profile, --project-directory) may appear
anywhere; every other argument goes to 'docker compose up' untouched. The check
covers the images up will pull: those of the services named (with their
dependencies, unless --no-deps), else all, as --pull POLICY and --build leave
them (--pull never: none).

Exit status: compose's own once it runs; otherwise check's (1 some image is not
pullable, 2 the project cannot be loaded), or 1 when docker has no compose
plugin (the error says how to install one).`,
		// compose up has dozens of flags we pass through without knowing them.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "--" {
					break
				}
				if a == "-h" || a == "--help" {
					return cmd.Help()
				}
			}
			cf := dockerCli.ConfigFile()
			if err := compose.Installed(filepath.Dir(cf.Filename), cf.CLIPluginsExtraDirs); err != nil {
				return err
			}
			project, upArgs := stack.SplitArgs(args)
			rewind, err := stack.KeepStdin(project.Files)
			if err != nil {
				return err
			}
			code := runCheck(cmd.Context(), dockerCli, project, compose.UpSelection(upArgs), output{format: "table", jobs: probe.DefaultJobs}, dockerCli.Err())
			if code != ExitPullable {
				return ExitError{Code: code}
			}
			if err := rewind(); err != nil {
				return err
			}
			return compose.ExecUp(project, upArgs)
		},
	}
}
