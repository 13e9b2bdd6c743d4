package plugincmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/docker/cli/cli/command"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/exitcode"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/stack"
)

// mirrorJobs is mirror's --jobs by default.
const mirrorJobs = 32

type mirrorFlags struct {
	to        string
	tag       string
	platforms string
	writeEnv  bool
	format    string
	jobs      int

	// What --to and --platform say, once parse has read them.
	prefix mirror.Prefix
	keep   []v1.Platform
}

// parse reads the flags' values; an error is a usage error naming each
// flag that is wrong.
func (fl *mirrorFlags) parse() error {
	if err := checkFormat(fl.format); err != nil {
		return err
	}
	if err := checkJobs(fl.jobs, mirrorJobs); err != nil {
		return err
	}
	if fl.to == "" {
		// Checked here, not by cobra, whose "required flag(s)" error
		// would exit 1.
		return usageError(errors.New("--to is required: the mirror's REGISTRY/PREFIX/, e.g. registry.example.com/currents/"))
	}
	var errTo, errPlatform error
	fl.prefix, errTo = mirror.ParsePrefix(fl.to)
	fl.keep, errPlatform = mirror.ParsePlatforms(fl.platforms)
	if err := errors.Join(errTo, mirror.ParseTag(fl.tag), errPlatform); err != nil {
		return usageError(err)
	}
	return nil
}

func newMirrorCommand(dockerCli command.Cli) *cobra.Command {
	var (
		project stack.Options
		fl      mirrorFlags
	)
	cmd := &cobra.Command{
		Use:   "mirror --to REGISTRY/PREFIX/ [OPTIONS]",
		Short: "Copy every image of the stack into your own registry, registry to registry",
		Long: `Copy every image of the compose project (loaded as check loads it) from where it
resolves now to REGISTRY/PREFIX/, keeping each repository's name under the
prefix. No Docker engine is involved. The whole multi-platform index is kept,
so digests stay identical; only blobs and manifests the target lacks are sent.
Credentials on both sides are found exactly as docker finds them.

Tags are written last, after every blob and manifest, so an interrupted copy
never leaves a tag on a partial image; running the command again resumes.

--tag T mirrors tag T of the stack, as if the tag variable (e.g.
DC_CURRENTS_IMAGE_TAG) were T: every image whose tag is written with a
variable is read from the source at :T and written to the mirror as :T.
Images with a literal tag or a digest keep theirs. The lines to set (or
--write-env) then include the tag variable.

Without --write-env the command prints the variable assignments that point
the stack at the mirror. With it, those lines are rewritten in the env file
they come from (atomically, the old file kept as .bak); a value that was
built from other variables, such as ${DC_CURRENTS_REGISTRY:-…}/currents/,
becomes the mirror's plain prefix.

Exit status: 0 every image is in the mirror, 1 some image failed, 2 the project
cannot be loaded, 125 a usage error, 130 interrupted (Ctrl-C or SIGTERM; rerun
to resume).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fl.parse(); err != nil {
				return err
			}
			if code := runMirror(cmd.Context(), dockerCli, project, fl); code != 0 {
				return ExitError{Code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	project.AddFlags(f)
	f.StringVar(&fl.to, "to", "", "Mirror prefix: REGISTRY/PREFIX/ (the new value of the repository variable)")
	f.StringVar(&fl.tag, "tag", "", "Mirror tag T: read :T from the source and write :T, for every image whose tag is a variable (default: the tags the stack resolves to now)")
	f.StringVar(&fl.platforms, "platform", "all", `Platforms to keep: "all" (identical digests) or os/arch[/variant],...`)
	f.BoolVar(&fl.writeEnv, "write-env", false, "Point the repository variable in the env file at the mirror (atomic, with a .bak backup)")
	f.StringVar(&fl.format, "format", "table", "Output format: table or json")
	f.IntVar(&fl.jobs, "jobs", mirrorJobs, "Blob transfers in flight at once, across all images (1 or more)")
	return cmd
}

func runMirror(ctx context.Context, dockerCli command.Cli, project stack.Options, fl mirrorFlags) int {
	errOut, out := dockerCli.Err(), dockerCli.Out()
	var bars *mirror.Bars
	progress := func(names []string) mirror.Observer {
		if errOut.IsTerminal() {
			bars = mirror.NewBars(errOut, names)
			return bars
		}
		// Also with --format json: the log lines go to stderr, the
		// document to stdout.
		return mirror.NewLines(errOut, names)
	}
	// On a terminal Ctrl-C reaches the plugin itself, not through docker:
	// the first one stops the copy cleanly (the table still says what got
	// through), a second one exits at once.
	copyCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-copyCtx.Done(); stop() }()
	res, copyErr := mirror.Stack(copyCtx, project, fl.prefix,
		mirror.WithTag(fl.tag),
		mirror.WithConfig(loadConfig(errOut)),
		mirror.WithLog(errOut),
		mirror.WithKeychain(keychain.New(dockerCli.ConfigFile())),
		mirror.WithJobs(fl.jobs),
		mirror.WithPlatforms(fl.keep),
		mirror.WithProgress(progress))
	if bars != nil {
		bars.Close()
	}
	if res == nil {
		fmt.Fprintln(errOut, copyErr)
		var le *stack.LoadError
		if errors.As(copyErr, &le) {
			return ExitLoadFailed
		}
		return ExitNotPullable
	}
	if err := renderMirror(out, res, fl.format); err != nil {
		fmt.Fprintln(errOut, err)
		return ExitNotPullable
	}
	if copyErr != nil {
		// Never point the stack at an incomplete mirror.
		if fl.writeEnv {
			fmt.Fprintln(errOut, "not changing the env file: some images are not in the mirror; rerun to resume")
		}
		if copyCtx.Err() != nil {
			fmt.Fprintln(errOut, "interrupted: no tag points at a partial image (tags are written last); run the same command again to resume")
			return exitcode.Interrupted
		}
		return ExitNotPullable
	}
	return pointAtMirror(dockerCli, res.Plan, fl)
}

// renderMirror writes the results: a table (and whether anything moved),
// or the JSON document.
func renderMirror(out io.Writer, res *mirror.StackResult, format string) error {
	if format == "json" {
		rep := mirror.Report{To: string(res.Plan.To), Images: res.Results, ComposeEdits: res.Plan.ComposeEdits}
		for _, a := range res.Plan.Env {
			rep.Env = append(rep.Env, a.Name+"="+a.Value)
		}
		return mirror.WriteJSON(out, rep)
	}
	if err := mirror.WriteTable(out, res.Results); err != nil {
		return err
	}
	present := 0
	for _, r := range res.Results {
		if r.Status == mirror.Present {
			present++
		}
	}
	if present == len(res.Results) {
		fmt.Fprintf(out, "\nnothing copied: all %d images are already in the mirror (checked by digest)\n", present)
	}
	return nil
}

// pointAtMirror says, or with --write-env does, what makes the stack use
// the mirror it now has.
func pointAtMirror(dockerCli command.Cli, plan *mirror.Plan, fl mirrorFlags) int {
	errOut, out := dockerCli.Err(), dockerCli.Out()
	// Hints go with the table, or to stderr beside a JSON document.
	hints := io.Writer(out)
	if fl.format == "json" {
		hints = errOut
	}
	if len(plan.ComposeEdits) > 0 {
		fmt.Fprintln(hints, "\nThese services write their image without a variable, so no env line moves them; edit the compose file:")
		for _, l := range plan.ComposeEdits {
			fmt.Fprintln(hints, "  "+l)
		}
	}
	if len(plan.Env) == 0 {
		if fl.format != "json" && plan.InMirror() {
			fmt.Fprintf(out, "the stack already uses the mirror at %s: nothing to set\n", plan.To)
		}
		return 0
	}
	if !fl.writeEnv {
		fmt.Fprintln(hints, "\nTo use the mirror, set (or rerun with --write-env):")
		for _, a := range plan.Env {
			fmt.Fprintf(hints, "  %s=%s    # %s\n", a.Name, a.Value, a.Where())
		}
		return 0
	}
	changes, err := mirror.WriteEnv(plan.Env)
	for _, c := range changes {
		writeEnvChange(errOut, c)
	}
	if err != nil {
		return ExitNotPullable
	}
	return 0
}

func writeEnvChange(w io.Writer, c mirror.EnvChange) {
	switch {
	case c.Err != nil:
		fmt.Fprintf(w, "%s: %v\n", c.Name, c.Err)
	case c.Edit.Changed:
		fmt.Fprintf(w, "set %s=%s in %s (previous file kept as %s)\n", c.Name, c.Value, c.Origin.Location.File, c.Edit.Backup)
		for _, old := range c.Interpolated() {
			fmt.Fprintf(w, "  the old value %s was built from other variables; it is now the mirror's plain prefix, which no longer depends on them\n", old)
		}
	case c.Origin.Kind == stack.FromEnvironment:
		// The OS environment wins over .env in compose: editing the
		// file would change nothing.
		fmt.Fprintf(w, "%s comes from the environment, which wins over .env; set it there: export %s=%s\n", c.Name, c.Name, c.Value)
	case c.Origin.Kind != stack.FromEnvFile:
		fmt.Fprintf(w, "%s is not set in any env file; add %s=%s to the project's .env\n", c.Name, c.Name, c.Value)
	}
}
