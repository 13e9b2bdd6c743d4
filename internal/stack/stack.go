// Package stack loads a compose project exactly as `docker compose` does and
// turns each service into an image reference with diagnostics about how that
// reference was written: unset variables, where each value came from, the
// missing trailing slash, invalid references and an implicit `latest`.
//
// Nothing here touches the network; the probe package takes it from there.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-containerregistry/pkg/name"
)

// Stack is a loaded compose project reduced to what image checks need.
type Stack struct {
	Name         string
	WorkingDir   string
	ComposeFiles []string
	// EnvFiles are the .env files compose read, in the order it read them.
	EnvFiles []string
	// Services are sorted by name and include build-only and
	// profile-disabled services, marked by Kind.
	Services []Service
	// DefaultPlatform is DOCKER_DEFAULT_PLATFORM as compose sees it (OS
	// environment or .env): compose pulls every service without a
	// platform: for it. Empty when unset.
	DefaultPlatform string
}

// Kind says what a check should do with a service.
type Kind string

const (
	// Pulled services run a registry image: check it.
	Pulled Kind = "pull"
	// BuildOnly services are built locally (no image, or pull_policy: build).
	BuildOnly Kind = "build-only"
	// Disabled services belong to a profile that is not active.
	Disabled Kind = "disabled"
	// NotPulled services never pull an image of their own: pull_policy:
	// never, or a provider service. Reason says which.
	NotPulled Kind = "not-pulled"
)

// Service is one compose service and its image reference.
type Service struct {
	Name string
	Kind Kind
	// Image is the reference after interpolation, as compose will use it.
	Image string
	// Raw is the reference as written in the compose file, before
	// interpolation; empty when the loader could not recover it.
	Raw string
	// Source is where the image key is written (file:line).
	Source Location
	// Ref is the parsed reference; nil when the reference is invalid.
	Ref name.Reference
	// Platform is the service's `platform:`, empty when unset.
	Platform string
	// Reason says why a NotPulled or BuildOnly service is not checked.
	Reason string
	// Build says the service also has a build section: a missing image is
	// then built rather than fatal.
	Build bool
	// Profiles are the service's profiles (for reporting disabled ones).
	Profiles []string
	// Variables are the variables used in the raw image, in order of use.
	Variables []Variable
	// RepoVar names the variable the raw image starts with when the image
	// starts with its (non-empty) value: it writes the registry and path
	// ($REPO/api, ${REPO}api). TagVar names the variable that is the whole
	// tag (api:${TAG}). "" when that part is written literally.
	RepoVar, TagVar string
	// Diagnostics are problems found in the reference itself.
	Diagnostics []Diagnostic
}

// Location is a position in a file; Line is 0 when unknown.
type Location struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

func (l Location) String() string {
	if l.File == "" {
		return ""
	}
	if l.Line == 0 {
		return l.File
	}
	return fmt.Sprintf("%s:%d", l.File, l.Line)
}

// Severity ranks a diagnostic: errors make the image unpullable.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Diagnostic codes, stable for `--format json` consumers.
const (
	CodeUnsetVariable    = "unset-variable"
	CodeEmptyVariable    = "empty-variable"
	CodeMissingSlash     = "missing-slash"
	CodeInvalidReference = "invalid-reference"
	CodeImplicitLatest   = "implicit-latest"
	CodeInvalidPlatform  = "invalid-platform"
)

// Diagnostic is one finding about a service's image reference.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	// Fix says what to do, in one line.
	Fix string `json:"fix,omitempty"`
}

// LoadError means the project itself could not be loaded (exit code 2).
type LoadError struct{ Err error }

func (e *LoadError) Error() string { return e.Problem() }

// Problem is the error itself (fix.Fixer); compose-go's messages do not carry
// our fix, so Error does not repeat it.
func (e *LoadError) Problem() string { return "cannot load the compose project: " + e.Err.Error() }
func (e *LoadError) Unwrap() error   { return e.Err }

// Fix says what to do about the commonest load errors; "" when the error
// says it already (compose-go names the file, key and line).
func (e *LoadError) Fix() string {
	msg := e.Err.Error()
	switch {
	case strings.HasPrefix(msg, "no configuration file provided"):
		return "run it in the directory holding compose.yaml (or below it), or name the file: -f FILE, --project-directory DIR, or COMPOSE_FILE"
	case strings.HasPrefix(msg, "no such service"):
		return "name services of the project (docker compose config --services lists them)"
	case strings.HasPrefix(msg, "couldn't find env file"):
		// dotenv's message for a file given with --env-file (or COMPOSE_ENV_FILES).
		return "check the path given with --env-file or COMPOSE_ENV_FILES"
	case strings.HasPrefix(msg, "compose file "):
		// compose-go's wrapping of a compose file it was given (-f, COMPOSE_FILE).
		if errors.Is(e.Err, fs.ErrNotExist) {
			return "check the path given with -f or COMPOSE_FILE"
		}
	case errors.Is(e.Err, fs.ErrNotExist):
		// Any other missing file is one a compose file names: no flag changes it.
		return "a compose file names this file (in include, extends or env_file): create it, or correct the path there"
	}
	return ""
}

// Load loads the project the way `docker compose` would with the same flags
// and environment, then diagnoses every service's image reference. Naming
// services restricts the stack to them and their dependencies, as
// `docker compose up SERVICE...` does (naming a profile-disabled service
// enables it).
func Load(ctx context.Context, o Options, services ...string) (*Stack, error) {
	return LoadSelection(ctx, o, Selection{Services: services})
}

// Selection names services as `docker compose up [--no-deps] SERVICE...`
// does; no services means all of them.
type Selection struct {
	Services []string
	// NoDeps leaves the named services' dependencies out.
	NoDeps bool
	// Pull is `up --pull POLICY`: every service's pull policy. Build is
	// `up --build`: every service with a build section is built, not pulled.
	// Compose applies both to the project before it pulls.
	Pull  string
	Build bool
}

// LoadSelection is Load for a selection of services. It loads no preview,
// which only a check has a use for (Start).
func LoadSelection(ctx context.Context, o Options, sel Selection) (*Stack, error) {
	rewind, err := KeepStdin(o.Files)
	if err != nil {
		return nil, &LoadError{err}
	}
	return loadSelection(ctx, o, sel, newRaws(rewound(rewind, secondLoad(ctx, o))))
}

// Loading is a project being loaded as compose loads it (Wait), with an
// early view of the images it certainly pulls (Preview), for the check to
// start asking registries while the project is still being loaded.
type Loading struct {
	preview chan loaded
	full    chan loaded
	once    sync.Once
	st      *Stack
	err     error
}

type loaded struct {
	st  *Stack
	err error
}

// errNoPreview: the preview gives nothing for a selection of services,
// whose dependencies only the full load knows.
var errNoPreview = errors.New("no preview for a selection of services, up --pull or --build, or a compose file on standard input")

// Start starts loading the project, and its preview.
func Start(ctx context.Context, o Options, sel Selection) *Loading {
	l := &Loading{preview: make(chan loaded, 1), full: make(chan loaded, 1)}
	if readsStdin(o.Files) {
		// Every load reads standard input to its end: one at a time, each
		// from the start, and no preview beside the load.
		l.preview <- loaded{nil, errNoPreview}
		go func() {
			st, err := LoadSelection(ctx, o, sel)
			l.full <- loaded{st, err}
		}()
		return l
	}
	// The model loaded without interpolation, when either load needs it.
	second := secondLoad(ctx, o)
	go func() {
		st, err := loadSelection(ctx, o, sel, newRaws(second))
		l.full <- loaded{st, err}
	}()
	if len(sel.Services) > 0 || sel.Pull != "" || sel.Build {
		l.preview <- loaded{nil, errNoPreview}
	} else {
		go func() {
			st, err := preview(ctx, o, newRaws(second))
			l.preview <- loaded{st, err}
		}()
	}
	return l
}

// Preview is a subset of the stack, known before compose-go has built the
// project (its costliest step) or validated the files: the services that
// are pulled whatever the profiles, each with its image parsed and
// diagnosed as Wait's will be. It is an error when there is no such view
// (a selection of services) or the load failed.
func (l *Loading) Preview() (*Stack, error) {
	p := <-l.preview
	l.preview <- p
	return p.st, p.err
}

// Wait is the stack, or the error compose's load gives.
func (l *Loading) Wait() (*Stack, error) {
	l.once.Do(func() {
		p := <-l.full
		l.st, l.err = p.st, p.err
	})
	return l.st, l.err
}

// PrepareValidation compiles compose's schema, which the first validating
// load would otherwise compile on its own time: started early, it runs while
// the command starts up and the registries are asked.
func PrepareValidation() { _ = schema.Validate(map[string]any{}) }

// loadSelection builds the stack from compose-go's project; raw, which
// observes the load, gives the images as written.
func loadSelection(ctx context.Context, o Options, sel Selection, raw *raws) (*Stack, error) {
	services := sel.Services
	var passes [][]string
	po, err := o.projectOptions(func(files []string) { passes = append(passes, files) }, raw.observe())
	if err != nil {
		return nil, &LoadError{err}
	}
	project, err := po.LoadProject(ctx)
	if err != nil {
		return nil, &LoadError{err}
	}
	if project.Name == "" {
		return nil, &LoadError{errors.New("project name can't be empty; use --project-name")}
	}
	if len(services) > 0 {
		// Compose's own post-processing order: enable, then select.
		disabled := project.DisabledServices
		if project, err = project.WithServicesEnabled(services...); err != nil {
			return nil, &LoadError{err}
		}
		var deps []types.DependencyOption
		if sel.NoDeps {
			deps = append(deps, types.IgnoreDependencies)
		}
		if project, err = project.WithSelectedServices(services, deps...); err != nil {
			return nil, &LoadError{err}
		}
		// Services left out by the selection are not part of this stack;
		// only those a profile disables are worth reporting as skipped.
		kept := types.Services{}
		for name, s := range project.DisabledServices {
			if _, ok := disabled[name]; ok && !slices.Contains(services, name) {
				kept[name] = s
			}
		}
		project.DisabledServices = kept
	}

	st := &Stack{
		Name:            project.Name,
		WorkingDir:      project.WorkingDir,
		ComposeFiles:    project.ComposeFiles,
		DefaultPlatform: project.Environment[defaultPlatformVar],
	}
	seen := map[string]bool{}
	for _, pass := range passes {
		for _, f := range pass {
			if !seen[f] {
				seen[f] = true
				st.EnvFiles = append(st.EnvFiles, f)
			}
		}
	}

	where := imageLocations(project.ComposeFiles, project.WorkingDir, project.Environment)
	built := builders(project.Services)
	env := newEnvironment(project.Environment, passes)

	add := func(s types.ServiceConfig, kind Kind) {
		written := raw.of(s.Name, s.Image)
		svc := Service{
			Name:     s.Name,
			Kind:     kind,
			Image:    s.Image,
			Raw:      written,
			Source:   where.of(s.Name, written),
			Platform: s.Platform,
			Build:    s.Build != nil,
			Profiles: s.Profiles,
		}
		if svc.Source.File == "" && len(project.ComposeFiles) > 0 {
			svc.Source.File = project.ComposeFiles[0]
		}
		if kind == Pulled {
			svc.Kind, svc.Reason = pulls(sel.apply(s), built)
		}
		if svc.Kind != Disabled {
			diagnose(&svc, env.of(raw, svc.Raw, s.Image))
		}
		st.Services = append(st.Services, svc)
	}
	for _, s := range project.Services {
		add(s, Pulled)
	}
	for _, s := range project.DisabledServices {
		add(s, Disabled)
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].Name < st.Services[j].Name })
	return st, nil
}

// defaultPlatformVar is the variable compose passes as the platform of
// every pull for services without platform:.
const defaultPlatformVar = "DOCKER_DEFAULT_PLATFORM"

// apply sets s's pull policy as `up --pull` and `up --build` do
// (compose's createOptions.apply).
func (sel Selection) apply(s types.ServiceConfig) types.ServiceConfig {
	if sel.Pull != "" {
		s.PullPolicy = sel.Pull
	}
	if sel.Build && s.Build != nil {
		s.PullPolicy = types.PullPolicyBuild
	}
	return s
}

// pulls decides, as compose's pull logic does, whether up pulls s's image:
// not for a provider service, nor with pull_policy never or build, nor when
// the image is built (by s itself when it has no image, or by another
// service building the same image: built, from builders).
func pulls(s types.ServiceConfig, built map[string][]string) (Kind, string) {
	switch {
	case s.Provider != nil:
		return NotPulled, "provider service: no image"
	case s.Build != nil && s.Image == "":
		return BuildOnly, "built locally by compose, not pulled"
	case s.PullPolicy == types.PullPolicyBuild:
		return BuildOnly, "pull_policy: build: built locally by compose, not pulled"
	case s.PullPolicy == types.PullPolicyNever:
		return NotPulled, "pull_policy: never: compose uses the image only if it is already on the engine"
	}
	if s.Build == nil {
		for _, name := range built[s.Image] {
			if name != s.Name {
				return BuildOnly, "built locally by service " + name + ", not pulled"
			}
		}
	}
	return Pulled, ""
}

// builders maps each image a service builds to those services' names,
// sorted: found once per project, not once per service (a stack of 300
// services compared every pair).
func builders(all types.Services) map[string][]string {
	built := map[string][]string{}
	for _, s := range all {
		if s.Build != nil {
			built[s.Image] = append(built[s.Image], s.Name)
		}
	}
	for _, names := range built {
		sort.Strings(names)
	}
	return built
}

// rawImages recovers each service's image as written, after override merging
// and extends but before interpolation, by loading the model a second time
// with interpolation off, for the images watching the load could not tell
// (raws). The second load is best effort: when it fails, the variable
// diagnostics are simply unavailable.
func rawImages(ctx context.Context, po *cli.ProjectOptions) map[string]string {
	out := map[string]string{}
	rawOpts, err := cli.NewProjectOptions(po.ConfigPaths,
		cli.WithWorkingDirectory(po.WorkingDir),
		cli.WithEnv(envSlice(po.Environment)),
		cli.WithInterpolation(false),
		cli.WithLoadOptions(func(lo *loader.Options) {
			lo.SkipValidation = true
			lo.SkipNormalization = true
			lo.SkipConsistencyCheck = true
			lo.SkipResolveEnvironment = true
			lo.SkipResolveLabels = true
		}),
	)
	if err != nil {
		return out
	}
	model, err := rawOpts.LoadModel(ctx)
	if err != nil {
		return out
	}
	services, _ := model["services"].(map[string]any)
	for name, s := range services {
		m, _ := s.(map[string]any)
		if img, ok := m["image"].(string); ok {
			out[name] = img
		}
	}
	return out
}

// displayPath shortens a path relative to the current directory when that
// reads better; diagnostics are for people.
func displayPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

func envSlice(m types.Mapping) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}
