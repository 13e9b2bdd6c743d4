package plugincmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/exitcode"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/journal"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/stack"
	"github.com/currentsdev/currents/internal/watch"
)

// Exit codes of watch --once (and of a watch that cannot start).
const (
	ExitWatchCurrent  = 0 // every image current: nothing changed, or every change handled
	ExitWatchFailed   = 1 // an action failed (copy, pull proof, deploy rolled back), or a registry or the journal failed; the next run retries
	ExitWatchNoStart  = 2 // the project, journal or queue cannot be used
	ExitWatchDeferred = 3 // a deploy waits for the maintenance window (--window)
)

type watchFlags struct {
	queue, mirrorTo, logFormat, format string
	interval, settle, healthTimeout    time.Duration
	deploy, once, status, intervalSet  bool
	windows                            []string
}

func newWatchCommand(dockerCli command.Cli) *cobra.Command {
	var (
		project stack.Options
		fl      watchFlags
	)
	cmd := &cobra.Command{
		Use:   "watch [OPTIONS]",
		Short: "Keep the stack current: mirror and deploy new images, on ECR push events or by polling",
		Long: `Watch the images of the compose project (loaded exactly as check loads it) and act
when a tag moves: --mirror-to copies the new image into your registry with
mirror's own code; --deploy proves it pullable as check does, then has compose
pull and recreate exactly the changed services (docker compose up -d --no-deps
--wait SERVICE...) and puts the previous image back for a service that is not
healthy within --health-timeout (the failed digest is not tried again until a
newer one appears).

Changes are found by polling each image's digest (--interval, one HEAD per
image, ±10 % jitter) and, with --queue, from ECR push events that an EventBridge
rule sends to that SQS queue (docker currents policy events prints the rule).
The registry's digest is the truth: an event only prompts a look. Changes are
acted on once none has arrived for --settle, so a release of six images is one
action; a change waits at most ten times --settle, so a tag that keeps moving
(a CI pushing every minute) is acted on then, at the registry's digest. A
queue message is deleted once the journal records its change (the journal
then carries the mirror and deploy, and their retries), or once deliberately
ignored (an image no service uses, a DELETE, a FAILURE); a malformed one is
logged and left to the queue's redrive policy, so only malformed messages
reach its dead-letter queue.

The queue is read with the credentials of the currents.yaml entry whose
account owns it (its profile and role, through the helper's cache), else the
AWS SDK default chain.

State: a journal per project in the state directory (CURRENTS_STATE_DIR, else
$XDG_STATE_HOME/currents, else /var/lib/currents for root, else
~/.local/state/currents), written atomically at every step; --status prints it.

Logs: one line per happening on stderr (--log-format text|json). Transient
failures are retried with backoff and never end the watch; SIGTERM stops it.

Exit status: 0 stopped by SIGTERM or SIGINT (--once: every image current);
1 (--once) an action failed, or a registry or the journal could not
be reached; 2 the project, the journal or the queue cannot be
used; 3 (--once) a deploy waits for the maintenance window; 125 a usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl.status {
				return watchStatus(cmd.Context(), dockerCli, project, fl.format)
			}
			fl.intervalSet = cmd.Flags().Changed("interval")
			o, err := fl.options(dockerCli, project)
			if err != nil {
				return usageError(err)
			}
			return runWatch(cmd.Context(), dockerCli, o)
		},
	}
	f := cmd.Flags()
	project.AddFlags(f)
	f.StringVar(&fl.queue, "queue", "", "SQS queue URL fed with ECR push events (see policy events)")
	f.DurationVar(&fl.interval, "interval", 0, "Poll every image's digest this often, ±10%, "+watch.IntervalBounds+" (default 15m; 6h with --queue)")
	f.StringVar(&fl.mirrorTo, "mirror-to", "", "Copy each changed image to REGISTRY/PREFIX/ (as mirror --to)")
	f.BoolVar(&fl.deploy, "deploy", false, "Pull and recreate changed services with compose, rolling back unhealthy ones")
	f.DurationVar(&fl.settle, "settle", watch.DefaultSettle, fmt.Sprintf("Act once no change has arrived for this long (a change waits at most %d times this): %s", watch.SettleFactor, watch.SettleBounds))
	f.DurationVar(&fl.healthTimeout, "health-timeout", watch.DefaultHealthTimeout, "How long a recreated service has to become healthy (running, without a healthcheck): "+watch.HealthTimeoutBounds)
	f.StringArrayVar(&fl.windows, "window", nil, `Deploy only inside this local-time window, e.g. "Sat 02:00-04:00" (repeatable; mirroring runs any time)`)
	f.BoolVar(&fl.once, "once", false, "Look once, act at once (no settling) and exit")
	f.StringVar(&fl.logFormat, "log-format", "text", "Log lines: text or json")
	f.BoolVar(&fl.status, "status", false, "Print the project's journal and exit")
	f.StringVar(&fl.format, "format", "table", "--status output: table or json")
	return cmd
}

// options turns the flags into watch.Options; an error is a usage error.
func (fl watchFlags) options(dockerCli command.Cli, project stack.Options) (watch.Options, error) {
	o := watch.Options{Project: project, Docker: dockerCli.ConfigFile(), Queue: fl.queue, Interval: fl.interval, MirrorTo: fl.mirrorTo,
		Deploy: fl.deploy, Settle: fl.settle, HealthTimeout: fl.healthTimeout, Once: fl.once}
	if fl.intervalSet && fl.interval == 0 {
		// 0 is the default to the library; on the command line it reads as "never" or "always".
		return o, fix.New(errors.New("--interval 0: polling cannot be turned off (with --queue it is the safety net)"),
			"give --interval a duration "+watch.IntervalBounds)
	}
	for _, raw := range fl.windows {
		win, err := watch.ParseWindow(raw)
		if err != nil {
			return o, err
		}
		o.Windows = append(o.Windows, win)
	}
	if err := o.Check(); err != nil {
		return o, err
	}
	// Info is where watch says what happens; CURRENTS_LOG=debug adds the AWS SDK's own lines.
	level := slog.LevelInfo
	if v := os.Getenv(logging.EnvLevel); v != "" {
		level = logging.Level(v)
	}
	var h slog.Handler
	switch fl.logFormat {
	case "text":
		h = slog.NewTextHandler(dockerCli.Err(), &slog.HandlerOptions{Level: level})
	case "json":
		h = slog.NewJSONHandler(dockerCli.Err(), &slog.HandlerOptions{Level: level})
	default:
		return o, fmt.Errorf("--log-format %q: use text or json", fl.logFormat)
	}
	o.Log = slog.New(h)
	if fl.deploy {
		o.Engine = &watch.DockerEngine{API: dockerCli.Client(), Project: project, Log: o.Log}
		o.Platform = enginePlatform(dockerCli)
	}
	return o, nil
}

func runWatch(ctx context.Context, dockerCli command.Cli, o watch.Options) error {
	errOut := dockerCli.Err()
	o.Config = loadConfig(errOut)
	state, err := dirs.State()
	if err != nil {
		fmt.Fprintln(errOut, err)
		return ExitError{Code: ExitWatchNoStart}
	}
	o.StateDir = state
	if o.Deploy {
		if o.RuntimeDir, err = dirs.Runtime(); err != nil {
			fmt.Fprintln(errOut, err)
			return ExitError{Code: ExitWatchNoStart}
		}
	}
	// SIGTERM (systemctl stop) and Ctrl-C end the watch cleanly.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := watch.Run(ctx, o)
	if err != nil {
		printFixed(errOut, err)
		return ExitError{Code: ExitWatchNoStart}
	}
	if !o.Once {
		return nil
	}
	switch {
	case ctx.Err() != nil:
		return ExitError{Code: exitcode.Interrupted}
	case out.Failed > 0 || out.RolledBack > 0:
		return ExitError{Code: ExitWatchFailed}
	case out.Deferred > 0:
		return ExitError{Code: ExitWatchDeferred}
	}
	return nil
}

// printFixed prints an error and, on its own line, its fix.
func printFixed(w io.Writer, err error) {
	problem, how := fix.Split(err)
	fmt.Fprintln(w, problem)
	if how != "" {
		fmt.Fprintln(w, "  fix: "+how)
	}
}

func watchStatus(ctx context.Context, dockerCli command.Cli, project stack.Options, format string) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	errOut := dockerCli.Err()
	st, err := stack.Load(ctx, project)
	if err != nil {
		printFixed(errOut, err)
		return ExitError{Code: ExitWatchNoStart}
	}
	state, err := dirs.State()
	if err != nil {
		fmt.Fprintln(errOut, err)
		return ExitError{Code: ExitWatchNoStart}
	}
	j, err := journal.Read(state, st.Name)
	if err != nil {
		printFixed(errOut, err)
		return ExitError{Code: ExitWatchNoStart}
	}
	path := journal.Path(state, st.Name)
	if format == "json" {
		return journal.WriteJSON(dockerCli.Out(), path, j)
	}
	return journal.WriteTable(dockerCli.Out(), path, j)
}
