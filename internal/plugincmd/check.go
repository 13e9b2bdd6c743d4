package plugincmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docker/cli/cli/command"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/check"
	"github.com/currentsdev/currents/internal/exitcode"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/stack"
)

// Exit codes of check (and of up when the check fails).
const (
	ExitPullable    = 0
	ExitNotPullable = 1
	ExitLoadFailed  = 2
)

// output says how a check reports.
type output struct {
	format  string // "table" or "json"
	quiet   bool
	noTrunc bool
	jobs    int
}

func newCheckCommand(dockerCli command.Cli) *cobra.Command {
	var (
		project stack.Options
		out     output
		noDeps  bool
		// up's --pull and --build, which the compose shim passes on.
		upPull  string
		upBuild bool
	)
	cmd := &cobra.Command{
		Use:   "check [OPTIONS] [SERVICE...]",
		Short: "Prove every image of the compose stack is pullable, before up",
		Long: `Load the compose project exactly as docker compose does (same flags, same
COMPOSE_* variables, .env with the OS environment winning), diagnose every image
reference, then find each registry's credentials as docker does and ask the
registry for every manifest. Nothing is pulled.

Naming services checks them and their dependencies only (--no-deps: them alone),
as 'docker compose up SERVICE...' would start them. Images are checked for the
service's platform:, else DOCKER_DEFAULT_PLATFORM, else the platform of the Docker
engine of the current context (--context, DOCKER_HOST), else this machine's.

Output: a table on stdout, coloured on a terminal unless NO_COLOR is set.
-q prints nothing when every image is pullable, and one line per image that is
not ("SERVICE<tab>STATUS<tab>MESSAGE") on stderr; it overrides --format.
--format json prints one document on stdout (schemaVersion 1; fields are only
ever added within a version):
  {"schemaVersion":1, "project", "platform", "platformFrom" (engine|host|
   DOCKER_DEFAULT_PLATFORM), "composeFiles", "envFiles", "pullable", "error"
   and "fix" (only when the project cannot be loaded), "services": [{"service",
   "image", "raw", "source" (file:line), "status", "pullable", "checked",
   "digest", "mediaType", "platform", "platformDigest", "credentials" {"kind"
   (credHelpers|credsStore|auths|DOCKER_AUTH_CONFIG|none), "helper", "key",
   "configFile", "expiry"}, "variables" [{"name", "value", "set", "default",
   "part" (name|tag), "origin" {"kind" (environment|env-file|unset), "file",
   "line", "refs" [{"name", "set", "from"}] (variables the env file line
   uses)}}],
   "diagnostics" [{"severity", "code", "message", "fix"}], "message", "fix",
   "warnings"}]}
Statuses: ok, not-found, unauthorized, denied, expired, no-platform,
manifest-missing (the index's manifest for the platform was deleted),
credentials-failed, unreachable, error (the registry's answer); invalid (the
reference is wrong before any request), build-only, skipped (not pulled by up).

Exit status: 0 every image is pullable, 1 some image is not, 2 the project
cannot be loaded, 125 a usage error, 130 interrupted (Ctrl-C).`,
		RunE: func(cmd *cobra.Command, services []string) error {
			if err := checkFormat(out.format); err != nil {
				return err
			}
			if err := checkJobs(out.jobs, probe.DefaultJobs); err != nil {
				return err
			}
			code := runCheck(cmd.Context(), dockerCli, project, stack.Selection{Services: services, NoDeps: noDeps, Pull: upPull, Build: upBuild}, out, dockerCli.Out())
			if code != 0 {
				return ExitError{Code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	project.AddFlags(f)
	f.StringVar(&out.format, "format", "table", "Output format: table or json")
	f.BoolVar(&out.noTrunc, "no-trunc", false, "Show full image references and digests in the table")
	f.BoolVarP(&out.quiet, "quiet", "q", false, "Print only unpullable images; the exit status tells the rest")
	f.IntVar(&out.jobs, "jobs", probe.DefaultJobs, "Requests in flight to one registry at most, 1 or more (and so its connections, over HTTP/1.1); within it the concurrency adapts, halving on 429 or 503")
	f.BoolVar(&noDeps, "no-deps", false, "Check the named services without their dependencies (as up --no-deps)")
	// Hidden: the compose shim's check before `up --pull P` or `up --build`.
	f.StringVar(&upPull, "up-pull", "", "Check as up --pull with this policy pulls")
	f.BoolVar(&upBuild, "up-build", false, "Check as up --build pulls")
	_ = f.MarkHidden("up-pull")
	_ = f.MarkHidden("up-build")
	return cmd
}

// runCheck runs the check (restricted to the selected services) and writes
// the report to w; it returns the exit code. up and the compose shim run it
// before compose.
func runCheck(ctx context.Context, dockerCli command.Cli, project stack.Options, sel stack.Selection, out output, w io.Writer) int {
	errOut := dockerCli.Err()
	// docker cancels the context when it is interrupted itself; a terminal's
	// Ctrl-C also signals this process (and the shim's check child) directly.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := check.Run(ctx, project,
		check.WithSelection(sel),
		check.WithConfig(loadConfig(errOut)),
		check.WithKeychain(keychain.New(dockerCli.ConfigFile())),
		check.WithEngine(enginePlatform(dockerCli)),
		check.WithJobs(out.jobs))
	if ctx.Err() != nil {
		// Ctrl-C (docker cancels the plugin's context): the answers cut
		// short are no verdict, and no registry was too slow.
		fmt.Fprintln(errOut, "interrupted: the check did not finish")
		return exitcode.Interrupted
	}
	if err != nil {
		if out.format == "json" && !out.quiet {
			_ = check.JSON(w, rep)
		}
		fmt.Fprintln(errOut, err)
		if rep.Fix != "" {
			fmt.Fprintln(errOut, "  fix: "+rep.Fix)
		}
		return ExitLoadFailed
	}
	switch {
	case out.quiet:
		err = check.Quiet(errOut, rep)
	case out.format == "json":
		err = check.JSON(w, rep)
	default:
		err = check.Table(w, rep, check.TableOptions{Colour: check.Colour(isTerminal(w, dockerCli)), NoTrunc: out.noTrunc})
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

// enginePlatform asks the Docker engine of the current context (--context,
// DOCKER_HOST) for its platform; no answer in a moment means no engine, or
// none reachable.
func enginePlatform(dockerCli command.Cli) check.Engine {
	return func(ctx context.Context) (v1.Platform, bool) {
		ctx, cancel := context.WithTimeout(ctx, engineTimeout)
		defer cancel()
		v, err := dockerCli.Client().ServerVersion(ctx, client.ServerVersionOptions{})
		if err != nil || v.Os == "" || v.Arch == "" {
			return v1.Platform{}, false
		}
		return v1.Platform{OS: v.Os, Architecture: v.Arch}, true
	}
}

// engineTimeout bounds the wait for the engine's version: a local engine
// answers in milliseconds, and the check must not hang on a remote one.
const engineTimeout = 2 * time.Second
