package plugincmd

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/currentsdev/currents/internal/cliflags"
	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/shim"
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
covers the services up will start: those named (with their dependencies, unless
--no-deps), else all.

Exit status: compose's own once it runs; otherwise check's (1 some image is not
pullable, 2 the project cannot be loaded).`,
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
			code := runCheck(cmd.Context(), dockerCli, project, upSelection(upArgs), output{format: "table", jobs: probe.DefaultJobs}, dockerCli.Err())
			if code != ExitPullable {
				return ExitError{Code: code}
			}
			return execCompose(project, upArgs)
		},
	}
}

// upSelection finds the services `docker compose up [OPTIONS] [SERVICE...]`
// will start, so the check covers exactly those (and, unless --no-deps,
// what they depend on).
func upSelection(upArgs []string) stack.Selection {
	fs := composeUpFlags()
	var sel stack.Selection
	for i := 0; i < len(upArgs); i++ {
		a := upArgs[i]
		if a == "--" {
			sel.Services = append(sel.Services, upArgs[i+1:]...)
			break
		}
		f, _, n := cliflags.Next(fs, upArgs[i:])
		switch {
		case n > 0:
			if f.Name == "no-deps" {
				sel.NoDeps = true
			}
			i += n - 1
		case strings.HasPrefix(a, "-"):
			// A flag this version does not know: compose's to judge.
		default:
			sel.Services = append(sel.Services, a)
		}
	}
	return sel
}

// composeUpFlags are the flags `docker compose up` accepts after "up"
// (docker/compose v2 cmd/compose/up.go, create.go and the persistent
// global ones). What matters is which take a value, so that a value is not
// taken for a service name; boolean flags it does not list are harmless.
func composeUpFlags() *pflag.FlagSet {
	var o stack.Options
	fs := o.GlobalFlags()
	for _, name := range []string{"pull", "exit-code-from", "wait-timeout"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"scale", "attach", "no-attach"} {
		fs.StringArray(name, nil, "")
	}
	fs.StringP("timeout", "t", "", "")
	fs.Bool("no-deps", false, "")
	return fs
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
