package plugincmd

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/shim"
	"github.com/currentsdev/currents/internal/stack"
)

func init() { register(newUpCommand) }

func newUpCommand(dockerCli command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "up [PROJECT OPTIONS] [COMPOSE UP OPTIONS] [SERVICE...]",
		Short: "Check the stack's images, then run docker compose up",
		Long: `Run the same check as 'docker currents check' and, only when every image is
pullable, replace this process with 'docker compose [PROJECT OPTIONS] up [...]',
so signals, the terminal and the exit status are compose's own.

Project options (-f, -p, --env-file, --profile, --project-directory) may appear
anywhere; every other argument goes to 'docker compose up' untouched.`,
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
			project, upArgs := stack.SplitArgs(args)
			code := runCheck(cmd.Context(), dockerCli, project, nil, output{format: "table", jobs: probe.DefaultJobs}, dockerCli.Err())
			if code != ExitPullable {
				return ExitError{Code: code}
			}
			return execCompose(project, upArgs)
		},
	}
}

// execCompose replaces the plugin with `docker [global options] compose
// [project options] up [args]`. The docker binary is the one that started
// the plugin (metadata.ReexecEnvvar), else docker on PATH.
func execCompose(project stack.Options, upArgs []string) error {
	docker := os.Getenv(metadata.ReexecEnvvar)
	if docker == "" {
		docker = "docker"
	}
	path, err := exec.LookPath(docker)
	if err != nil {
		return fmt.Errorf("cannot find the docker CLI to hand over to compose (%s): %w", docker, err)
	}
	// Docker's global options (--config, --context, …) precede the plugin's
	// name in our argv, exactly as they precede "compose" in compose's.
	argv := append([]string{docker}, shim.Parse(os.Args[1:]).DockerGlobal...)
	argv = append(argv, "compose")
	argv = append(argv, project.Args()...)
	argv = append(argv, "up")
	argv = append(argv, upArgs...)
	// A compose shim set to check before up need not check again.
	return syscall.Exec(path, argv, append(os.Environ(), CheckedEnv+"=1"))
}
