package compose

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/spf13/pflag"

	"github.com/currentsdev/currents/internal/cliflags"
	"github.com/currentsdev/currents/internal/stack"
)

// CheckedEnv, set to 1 in compose's environment by a command that has just
// run the check (`docker currents up`), stops a compose shim set to check
// before up from checking twice.
const CheckedEnv = "CURRENTS_CHECKED"

// UpSelection finds the services `docker compose up [OPTIONS] [SERVICE...]`
// will start, so that a check covers exactly those (and, unless --no-deps,
// what they depend on).
func UpSelection(upArgs []string) stack.Selection {
	fs := upFlags()
	var sel stack.Selection
	for i := 0; i < len(upArgs); i++ {
		a := upArgs[i]
		if a == "--" {
			sel.Services = append(sel.Services, upArgs[i+1:]...)
			break
		}
		f, value, n := cliflags.Next(fs, upArgs[i:])
		switch {
		case n > 0:
			switch f.Name {
			case "no-deps":
				sel.NoDeps = value == "true"
			case "pull":
				sel.Pull = value
			case "build":
				sel.Build = value == "true"
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

// upFlags are the flags `docker compose up` accepts after "up"
// (docker/compose v2 cmd/compose/up.go, create.go and the persistent
// global ones). What matters is which take a value, so that a value is not
// taken for a service name; boolean flags it does not list are harmless.
func upFlags() *pflag.FlagSet {
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
	fs.Bool("build", false, "")
	return fs
}

// ExecUp replaces this process with `docker [global options] compose
// [project options] up [args]`, compose told the check has run (CheckedEnv).
// The docker binary is the one that started this plugin
// (metadata.ReexecEnvvar), else docker on PATH; docker's global options
// (--config, --context, …) are those that preceded the plugin's name in our
// own argv, exactly as they precede "compose" in compose's.
func ExecUp(project stack.Options, upArgs []string) error {
	path, argv, err := commandLine(project, "up", upArgs)
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, append(os.Environ(), CheckedEnv+"=1"))
}

// Command is `docker [global options] compose [project options] sub args`
// as ExecUp builds it, to run as a child (watch's pull, up and rollback),
// with CheckedEnv set: the caller has run the check.
func Command(ctx context.Context, project stack.Options, sub string, args ...string) (*exec.Cmd, error) {
	path, argv, err := commandLine(project, sub, args)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Env = append(os.Environ(), CheckedEnv+"=1")
	return cmd, nil
}

func commandLine(project stack.Options, sub string, args []string) (path string, argv []string, err error) {
	docker := os.Getenv(metadata.ReexecEnvvar)
	if docker == "" {
		docker = "docker"
	}
	path, err = exec.LookPath(docker)
	if err != nil {
		return "", nil, fmt.Errorf("cannot find the docker CLI to hand over to compose (%s): %w", docker, err)
	}
	argv = append([]string{docker}, Parse(os.Args[1:]).DockerGlobal...)
	argv = append(argv, "compose")
	argv = append(argv, project.Args()...)
	argv = append(argv, sub)
	argv = append(argv, args...)
	return path, argv, nil
}
