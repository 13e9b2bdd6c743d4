package stack

import (
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/spf13/pflag"

	"github.com/currentsdev/currents/internal/cliflags"
)

// Options are docker compose's project flags. They carry the same names, the
// same environment fallbacks and feed compose-go the same way
// docker/compose's cmd/compose ProjectOptions does, so that a project loads
// here exactly as it loads for `docker compose up`.
type Options struct {
	Files            []string // -f/--file, else COMPOSE_FILE, else compose.yaml found upwards
	ProjectName      string   // -p/--project-name, else COMPOSE_PROJECT_NAME, else name:, else the directory
	EnvFiles         []string // --env-file, else COMPOSE_ENV_FILES, else <project dir>/.env
	Profiles         []string // --profile, else COMPOSE_PROFILES
	ProjectDirectory string   // --project-directory, else the first compose file's directory
}

// AddFlags registers the project flags on fs with compose's names, shorthands
// and environment-derived defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.Files, "file", "f", nil, "Compose configuration files")
	fs.StringVarP(&o.ProjectName, "project-name", "p", "", "Project name")
	fs.StringArrayVar(&o.EnvFiles, "env-file", envList("COMPOSE_ENV_FILES"), "Specify an alternate environment file")
	fs.StringArrayVar(&o.Profiles, "profile", nil, "Specify a profile to enable")
	fs.StringVar(&o.ProjectDirectory, "project-directory", "", "Specify an alternate working directory\n(default: the path of the, first specified, Compose file)")
}

// Args renders the options back into `docker compose` flags, for handing the
// same project over to the real compose.
func (o Options) Args() []string {
	var args []string
	for _, f := range o.Files {
		args = append(args, "--file", f)
	}
	if o.ProjectName != "" {
		args = append(args, "--project-name", o.ProjectName)
	}
	for _, f := range o.EnvFiles {
		args = append(args, "--env-file", f)
	}
	for _, p := range o.Profiles {
		args = append(args, "--profile", p)
	}
	if o.ProjectDirectory != "" {
		args = append(args, "--project-directory", o.ProjectDirectory)
	}
	return args
}

// SplitArgs separates compose project flags from the rest of a command line,
// for commands such as `up` that pass unknown flags through untouched. Flags
// are recognised in every spelling pflag accepts (`-f x`, `-fx`, `--file x`,
// `--file=x`) and take effect as pflag sets them (a first --env-file
// replaces COMPOSE_ENV_FILES); everything after `--` is passed through.
func SplitArgs(args []string) (Options, []string) {
	var o Options
	fs := pflag.NewFlagSet("compose", pflag.ContinueOnError)
	o.AddFlags(fs)
	var rest []string
	for i := 0; i < len(args); {
		if args[i] == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		f, v, n := cliflags.Next(fs, args[i:])
		if n == 0 {
			rest = append(rest, args[i])
			i++
			continue
		}
		_ = fs.Set(f.Name, v) // string and string-array flags accept any value
		i += n
	}
	return o, rest
}

// GlobalFlags are the flags `docker compose` takes before its sub-command:
// the project flags, bound to o, and compose's other global flags, which
// callers only need to recognise (docker/compose cmd/compose RootCommand).
func (o *Options) GlobalFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("compose", pflag.ContinueOnError)
	o.AddFlags(fs)
	for _, name := range []string{"workdir", "progress", "ansi", "parallel"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"compatibility", "all-resources", "dry-run", "no-ansi", "verbose"} {
		fs.Bool(name, false, "")
	}
	fs.BoolP("version", "v", false, "")
	return fs
}

// envList reads a comma-separated list the way compose reads
// COMPOSE_ENV_FILES.
func envList(key string) []string {
	return strings.FieldsFunc(os.Getenv(key), func(c rune) bool { return c == ',' })
}

// projectOptions builds compose-go options in docker compose's order:
// OS environment first (it always wins), then .env from the current
// directory, then COMPOSE_FILE or the default compose.yaml, then .env from the
// project directory, then COMPOSE_PROFILES and the name. record is called
// after each .env pass with the files it read, so origins can be traced.
func (o Options) projectOptions(record func(files []string), extra ...cli.ProjectOptionsFn) (*cli.ProjectOptions, error) {
	recordFn := func(po *cli.ProjectOptions) error {
		record(append([]string(nil), po.EnvFiles...))
		return nil
	}
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(o.ProjectDirectory),
		cli.WithOsEnv,
	}
	if _, ok := os.LookupEnv("PWD"); !ok {
		if pwd, err := os.Getwd(); err == nil {
			opts = append(opts, cli.WithEnv([]string{"PWD=" + pwd}))
		}
	}
	opts = append(opts,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		recordFn,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		recordFn,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.ProjectName),
	)
	return cli.NewProjectOptions(o.Files, append(opts, extra...)...)
}
