package plugincmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/docker/cli/cli/command"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/stack"
)

// ExitInterrupted is mirror's status when a signal stopped the copy, as a
// shell reports a command ended by SIGINT.
const ExitInterrupted = 130

type mirrorFlags struct {
	to        string
	tag       string
	platforms string
	writeEnv  bool
	format    string
	jobs      int
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
cannot be loaded, 130 interrupted (Ctrl-C or SIGTERM; rerun to resume).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl.format != "table" && fl.format != "json" {
				return fmt.Errorf("--format %q: use table or json", fl.format)
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
	f.IntVar(&fl.jobs, "jobs", 16, "Blob transfers in flight at once, across all images")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// stackImage is one pullable service and how its image is written.
type stackImage struct {
	svc stack.Service
	// repoVar is the variable that writes the image's registry/path prefix,
	// nil when the image is written without one.
	repoVar *stack.Variable
	// tagVar is the variable that writes the tag, nil for a literal tag.
	tagVar *stack.Variable
	from   string // the prefix the mirror replaces
}

// leadingVar and trailingTagVar find the variable an image reference starts
// with (its registry/path prefix) and the one its tag is, in any of compose's
// forms: $NAME, ${NAME}, ${NAME:-default} and the other modifiers.
var (
	leadingVar = regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	// validTag is the distribution spec's tag grammar (go-containerregistry
	// checks the characters but lets a leading '.' or '-' through).
	validTag       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	trailingTagVar = regexp.MustCompile(`:\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?:[-+?:][^}/]*)?\})$`)
)

func variableNamed(s stack.Service, name string) *stack.Variable {
	for k := range s.Variables {
		if s.Variables[k].Name == name {
			return &s.Variables[k]
		}
	}
	return nil
}

// stackImages loads the project and returns the services whose images can
// be copied or named in a policy; problems that stop that are errors.
func stackImages(ctx context.Context, project stack.Options, errOut io.Writer) (*stack.Stack, []stackImage, error) {
	st, err := stack.Load(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	var out []stackImage
	var bad []string
	for _, s := range st.Services {
		if s.Kind != stack.Pulled {
			if s.Kind == stack.BuildOnly {
				fmt.Fprintf(errOut, "skipping %s: it is built locally, not pulled\n", s.Name)
			}
			continue
		}
		for _, d := range s.Diagnostics {
			if d.Severity == stack.Error {
				bad = append(bad, fmt.Sprintf("%s: %s (%s)", s.Name, d.Message, d.Fix))
			}
		}
		if s.Ref == nil {
			continue
		}
		si := stackImage{svc: s}
		if m := leadingVar.FindStringSubmatch(s.Raw); m != nil {
			if v := variableNamed(s, m[1]); v != nil && v.Value != "" && strings.HasPrefix(s.Image, v.Value) {
				si.repoVar, si.from = v, v.Value
			}
		}
		if m := trailingTagVar.FindStringSubmatch(s.Raw); m != nil {
			si.tagVar = variableNamed(s, m[1]+m[2])
		}
		out = append(out, si)
	}
	if len(bad) > 0 {
		return st, nil, fmt.Errorf("fix the image references first (see `docker currents check`):\n  %s", strings.Join(bad, "\n  "))
	}
	if len(out) == 0 {
		return st, nil, errors.New("the project has no service that pulls an image")
	}
	// Images written without a variable are rehomed below their common prefix.
	var plain []string
	for _, si := range out {
		if si.repoVar == nil {
			plain = append(plain, si.svc.Image)
		}
	}
	common := mirror.CommonPrefix(plain)
	for k := range out {
		if out[k].repoVar == nil {
			out[k].from = common
		}
	}
	return st, out, nil
}

func parsePlatforms(s string) ([]v1.Platform, error) {
	if s == "" || s == "all" {
		return nil, nil
	}
	var out []v1.Platform
	for _, p := range strings.Split(s, ",") {
		pl, err := v1.ParsePlatform(strings.TrimSpace(p))
		if err != nil || pl.OS == "" || pl.Architecture == "" {
			return nil, fmt.Errorf("--platform %q: want all or os/arch[/variant], e.g. linux/amd64,linux/arm64", p)
		}
		out = append(out, *pl)
	}
	return out, nil
}

func runMirror(ctx context.Context, dockerCli command.Cli, project stack.Options, fl mirrorFlags) int {
	errOut, out := dockerCli.Err(), dockerCli.Out()
	prefix, err := mirror.ParsePrefix(fl.to)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return ExitNotPullable
	}
	platforms, err := parsePlatforms(fl.platforms)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return ExitNotPullable
	}
	if fl.tag != "" {
		if !validTag.MatchString(fl.tag) {
			fmt.Fprintf(errOut, "--tag %q: not a valid tag (letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-')\n", fl.tag)
			return ExitNotPullable
		}
	}
	_, images, err := stackImages(ctx, project, errOut)
	if err != nil {
		fmt.Fprintln(errOut, err)
		var le *stack.LoadError
		if errors.As(err, &le) {
			return ExitLoadFailed
		}
		return ExitNotPullable
	}

	copies, literal, err := planCopies(images, prefix, fl.tag, errOut)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return ExitNotPullable
	}
	names := make([]string, len(copies))
	for i, c := range copies {
		names[i] = c.Name
	}

	opts := []mirror.Option{
		mirror.WithKeychain(probe.NewKeychain(dockerCli.ConfigFile())),
		mirror.WithJobs(fl.jobs),
		mirror.WithPlatforms(platforms),
		mirror.WithTransport(stallGuard()),
	}
	if create := repositoryCreator(prefix, errOut); create != nil {
		opts = append(opts, mirror.WithRepositoryCreator(create))
	}
	var bars *mirror.Bars
	switch {
	case dockerCli.Err().IsTerminal():
		bars = mirror.NewBars(errOut, names)
		opts = append(opts, mirror.WithObserver(bars))
	default:
		// Also with --format json: the log lines go to stderr, the
		// document to stdout.
		opts = append(opts, mirror.WithObserver(mirror.NewLines(errOut, names)))
	}
	// On a terminal Ctrl-C reaches the plugin itself, not through docker:
	// the first one stops the copy cleanly (the table still says what got
	// through), a second one exits at once.
	copyCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-copyCtx.Done(); stop() }()
	results, copyErr := mirror.Copy(copyCtx, copies, opts...)
	if bars != nil {
		bars.Close()
	}
	interrupted := copyErr != nil && copyCtx.Err() != nil

	env := envAssignments(images, prefix, fl.tag)
	if fl.format == "json" {
		rep := mirror.Report{To: string(prefix), Images: results, ComposeEdits: literal}
		for _, a := range env {
			rep.Env = append(rep.Env, a.name+"="+a.value)
		}
		if err := mirror.WriteJSON(out, rep); err != nil {
			fmt.Fprintln(errOut, err)
			return ExitNotPullable
		}
	} else {
		if err := mirror.WriteTable(out, results); err != nil {
			fmt.Fprintln(errOut, err)
			return ExitNotPullable
		}
		if present := countStatus(results, mirror.Present); present == len(results) {
			fmt.Fprintf(out, "\nnothing copied: all %d images are already in the mirror (checked by digest)\n", present)
		}
	}
	if copyErr != nil {
		// Never point the stack at an incomplete mirror.
		if fl.writeEnv {
			fmt.Fprintln(errOut, "not changing the env file: some images are not in the mirror; rerun to resume")
		}
		if interrupted {
			fmt.Fprintln(errOut, "interrupted: no tag points at a partial image (tags are written last); run the same command again to resume")
			return ExitInterrupted
		}
		return ExitNotPullable
	}
	// Hints go with the table, or to stderr beside a JSON document.
	hints := out
	if fl.format == "json" {
		hints = errOut
	}
	if len(literal) > 0 {
		fmt.Fprintln(hints, "\nThese services write their image without a variable, so no env line moves them; edit the compose file:")
		for _, l := range literal {
			fmt.Fprintln(hints, "  "+l)
		}
	}
	if len(env) == 0 {
		if fl.format != "json" && allFrom(copies, prefix) {
			fmt.Fprintf(out, "the stack already uses the mirror at %s: nothing to set\n", prefix)
		}
		return 0
	}
	if !fl.writeEnv {
		fmt.Fprintln(hints, "\nTo use the mirror, set (or rerun with --write-env):")
		for _, a := range env {
			fmt.Fprintf(hints, "  %s=%s    # %s\n", a.name, a.value, a.where())
		}
		return 0
	}
	return writeEnv(errOut, env)
}

// planCopies names one copy per distinct source and target (services
// sharing an image share the copy and are named together), applying --tag.
// literal are the services whose image no variable writes, with the image
// line to use: no env line can point them at the mirror, the compose file
// must.
func planCopies(images []stackImage, prefix mirror.Prefix, tag string, errOut io.Writer) (copies []mirror.Image, literal []string, err error) {
	byKey := map[string]int{}
	retagged := 0
	for _, si := range images {
		source := si.svc.Ref
		target, err := mirror.Rehome(si.svc.Image, si.from, prefix)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", si.svc.Name, err)
		}
		if tag != "" {
			_, byTag := source.(name.Tag)
			switch {
			case si.tagVar != nil && byTag:
				source, target = source.Context().Tag(tag), target.Context().Tag(tag)
				retagged++
			case byTag:
				fmt.Fprintf(errOut, "%s: its tag is written literally (%s), so --tag does not apply; mirroring %s\n", si.svc.Name, si.svc.Raw, source)
			default:
				fmt.Fprintf(errOut, "%s: pinned by digest, so --tag does not apply; mirroring %s\n", si.svc.Name, source)
			}
		}
		if si.repoVar == nil && source.String() != target.String() {
			literal = append(literal, fmt.Sprintf("%s:  image: %s", si.svc.Name, target))
		}
		key := source.String() + " " + target.String()
		if k, ok := byKey[key]; ok {
			copies[k].Name += "," + si.svc.Name
			continue
		}
		byKey[key] = len(copies)
		copies = append(copies, mirror.Image{Name: si.svc.Name, Source: source, Target: target})
	}
	if tag != "" && retagged == 0 {
		return nil, nil, fmt.Errorf("--tag %s: no image's tag is written with a variable, so the stack could never use a mirrored :%s; leave out --tag, or write the tags as ${VAR} in the compose file", tag, tag)
	}
	return copies, literal, nil
}

// assignment is one variable to set so the stack resolves to the mirror.
type assignment struct {
	name, value string
	origin      stack.Origin
}

func (a assignment) where() string {
	if a.origin.Kind == stack.FromEnvFile {
		return a.origin.String()
	}
	return "now from " + a.origin.String()
}

// allFrom: every image is already read from under the prefix.
func allFrom(copies []mirror.Image, prefix mirror.Prefix) bool {
	for _, c := range copies {
		if !strings.HasPrefix(c.Source.Context().String()+"/", string(prefix)) {
			return false
		}
	}
	return len(copies) > 0
}

func countStatus(results []mirror.Result, s mirror.Status) int {
	n := 0
	for _, r := range results {
		if r.Status == s {
			n++
		}
	}
	return n
}

// envAssignments: the repository variable becomes the prefix; with --tag,
// the tag variable becomes the tag.
func envAssignments(images []stackImage, prefix mirror.Prefix, tag string) []assignment {
	seen := map[string]bool{}
	var out []assignment
	add := func(v *stack.Variable, value string) {
		if v == nil || seen[v.Name] || v.Value == value {
			return
		}
		seen[v.Name] = true
		out = append(out, assignment{name: v.Name, value: value, origin: v.Origin})
	}
	for _, si := range images {
		add(si.repoVar, string(prefix))
		if tag != "" {
			add(si.tagVar, tag)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func writeEnv(errOut io.Writer, env []assignment) int {
	code := 0
	for _, a := range env {
		switch a.origin.Kind {
		case stack.FromEnvFile:
			edit, err := mirror.SetEnv(a.origin.Location.File, a.name, a.value)
			switch {
			case err != nil:
				fmt.Fprintf(errOut, "%s: %v\n", a.name, err)
				code = ExitNotPullable
			case edit.Changed:
				fmt.Fprintf(errOut, "set %s=%s in %s (previous file kept as %s)\n", a.name, a.value, a.origin.Location.File, edit.Backup)
				for _, old := range edit.Replaced {
					if strings.Contains(old, "$") {
						fmt.Fprintf(errOut, "  the old value %s was built from other variables; it is now the mirror's plain prefix, which no longer depends on them\n", old)
					}
				}
			}
		case stack.FromEnvironment:
			// The OS environment wins over .env in compose: editing the
			// file would change nothing.
			fmt.Fprintf(errOut, "%s comes from the environment, which wins over .env; set it there: export %s=%s\n", a.name, a.name, a.value)
		default:
			fmt.Fprintf(errOut, "%s is not set in any env file; add %s=%s to the project's .env\n", a.name, a.name, a.value)
		}
	}
	return code
}

// repositoryCreator returns how to create missing repositories when the
// mirror is an ECR registry (by its host, or an alias in currents.yaml), with
// the AWS credentials the credential helper would use for it; nil for other
// registries, which create repositories on push.
func repositoryCreator(prefix mirror.Prefix, errOut io.Writer) mirror.RepositoryCreator {
	host := prefix.Registry()
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(errOut, "warning: %v\n", err)
		return nil
	}
	t, ok := cfg.Lookup(strings.ToLower(host))
	if !ok || t.Registry.Public {
		return nil
	}
	client := awsapi.New(awsapi.WithTimeout(cfg.Timeout))
	var (
		once     sync.Once
		creds    credential.Session
		credsErr error
	)
	return func(ctx context.Context, repo name.Repository) error {
		// One set of credentials for the whole run, asked for only when a
		// repository turns out to be missing.
		once.Do(func() { creds, credsErr = client.Credentials(ctx, t) })
		if credsErr != nil {
			return credsErr
		}
		created, err := client.EnsureRepository(ctx, t, creds, repo.RepositoryStr())
		var e *awsapi.Error
		if errors.As(err, &e) {
			if action, resource, ok := e.MissingPermission(); ok {
				return fmt.Errorf("repository %s does not exist and may not be created: missing permission %s on %s; grant it (`docker currents policy push --create-repositories --to %s` prints the role's policy) or create the repository: aws ecr create-repository --region %s --registry-id %s --repository-name %s",
					repo.RepositoryStr(), action, resource, prefix, t.Registry.Region, t.Registry.Account, repo.RepositoryStr())
			}
		}
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(errOut, "created ECR repository %s in %s\n", repo.RepositoryStr(), host)
		}
		return nil
	}
}

// stallGuard is go-containerregistry's transport with a bound on how long a
// registry may take to start answering (CURRENTS_TIMEOUT or currents.yaml's
// timeout), so a dead registry fails the copy instead of hanging it. Bodies
// may stream for as long as they keep moving.
func stallGuard() http.RoundTripper {
	timeout := config.DefaultTimeout
	if cfg, err := config.FromEnv(); err == nil {
		timeout = cfg.Timeout
	}
	t, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		return remote.DefaultTransport
	}
	t = t.Clone()
	t.ResponseHeaderTimeout = timeout
	return t
}
