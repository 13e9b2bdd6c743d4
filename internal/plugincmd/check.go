package plugincmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/registry"
	"github.com/currentsdev/currents/internal/report"
	"github.com/currentsdev/currents/internal/stack"
)

func init() { register(newCheckCommand) }

// Exit codes of check (and of up when the check fails).
const (
	ExitPullable    = 0
	ExitNotPullable = 1
	ExitLoadFailed  = 2
)

// output says how a check reports.
type output struct {
	format string // "table" or "json"
	quiet  bool
	jobs   int
}

func newCheckCommand(dockerCli command.Cli) *cobra.Command {
	var (
		project stack.Options
		out     output
	)
	cmd := &cobra.Command{
		Use:   "check [OPTIONS] [SERVICE...]",
		Short: "Prove every image of the compose stack is pullable, before up",
		Long: `Load the compose project exactly as docker compose does (same flags, same
COMPOSE_* variables, .env with the OS environment winning), diagnose every image
reference, then find each registry's credentials as docker does and ask the
registry for every manifest. Nothing is pulled.

Naming services checks them and their dependencies only, as
'docker compose up SERVICE...' would start them.

Exit status: 0 every image is pullable, 1 some image is not, 2 the project
cannot be loaded.`,
		RunE: func(cmd *cobra.Command, services []string) error {
			if out.format != "table" && out.format != "json" {
				// A usage error, reported like docker's own flag errors.
				return cli.StatusError{StatusCode: 125, Status: fmt.Sprintf("invalid argument %q for \"--format\" flag: use table or json", out.format)}
			}
			code := runCheck(cmd.Context(), dockerCli, project, services, out, dockerCli.Out())
			if code != 0 {
				return ExitError{Code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	project.AddFlags(f)
	f.StringVar(&out.format, "format", "table", "Output format: table or json")
	f.BoolVarP(&out.quiet, "quiet", "q", false, "Print only unpullable images; the exit status tells the rest")
	f.IntVar(&out.jobs, "jobs", probe.DefaultJobs, "Manifest requests in flight at once")
	return cmd
}

// runCheck loads the project (restricted to services when any are named),
// probes its images and writes the report to w; it returns the exit code. up
// and the compose shim run it before compose.
func runCheck(ctx context.Context, dockerCli command.Cli, project stack.Options, services []string, out output, w io.Writer) int {
	errOut := dockerCli.Err()
	st, err := stack.Load(ctx, project, services...)
	if err != nil {
		var le *stack.LoadError
		if out.format == "json" && !out.quiet && errors.As(err, &le) {
			_ = report.JSON(w, &report.Report{Project: project.ProjectName, Services: []report.Row{}, Error: err.Error()})
		}
		fmt.Fprintln(errOut, err)
		return ExitLoadFailed
	}

	cfg, cfgErr := config.FromEnv()
	if cfgErr != nil {
		fmt.Fprintf(errOut, "warning: %v\n", cfgErr)
	}
	timeout := config.DefaultTimeout
	if cfg != nil {
		timeout = cfg.Timeout
	}
	isECR := func(host string) bool {
		host = strings.ToLower(host)
		if cfg != nil {
			_, ok := cfg.Lookup(host)
			return ok
		}
		_, ok := registry.Parse(host)
		return ok
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := probe.New(probe.NewKeychain(dockerCli.ConfigFile()), probe.WithJobs(out.jobs), probe.WithECR(isECR), probe.WithClock(time.Now))
	rep := report.New(st, p.Check(ctx, report.Images(st)))

	switch {
	case out.quiet:
		err = report.Quiet(errOut, rep)
	case out.format == "json":
		err = report.JSON(w, rep)
	default:
		err = report.Table(w, rep, report.Colour(isTerminal(w, dockerCli)))
	}
	if err != nil {
		fmt.Fprintln(errOut, err)
		return ExitNotPullable
	}
	if !rep.Pullable {
		return ExitNotPullable
	}
	return ExitPullable
}

// isTerminal reports whether w is one of the CLI's streams and a terminal.
func isTerminal(w io.Writer, dockerCli command.Cli) bool {
	switch w {
	case io.Writer(dockerCli.Out()):
		return dockerCli.Out().IsTerminal()
	case io.Writer(dockerCli.Err()):
		return dockerCli.Err().IsTerminal()
	}
	return false
}
