package stack

import (
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/spf13/pflag"
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
// `--file=x`); everything after `--` is passed through.
func SplitArgs(args []string) (Options, []string) {
	o := Options{EnvFiles: envList("COMPOSE_ENV_FILES")}
	explicitEnv := false
	set := func(flag, v string) {
		switch flag {
		case "file":
			o.Files = append(o.Files, v)
		case "project-name":
			o.ProjectName = v
		case "env-file":
			if !explicitEnv {
				o.EnvFiles, explicitEnv = nil, true
			}
			o.EnvFiles = append(o.EnvFiles, v)
		case "profile":
			o.Profiles = append(o.Profiles, v)
		case "project-directory":
			o.ProjectDirectory = v
		}
	}
	long := map[string]bool{"file": true, "project-name": true, "env-file": true, "profile": true, "project-directory": true}
	short := map[string]string{"f": "file", "p": "project-name"}

	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		var flag, value string
		hasValue := false
		switch {
		case strings.HasPrefix(a, "--"):
			name, v, eq := strings.Cut(a[2:], "=")
			if !long[name] {
				rest = append(rest, a)
				continue
			}
			flag, value, hasValue = name, v, eq
		case strings.HasPrefix(a, "-") && len(a) >= 2:
			name, ok := short[a[1:2]]
			if !ok {
				rest = append(rest, a)
				continue
			}
			flag = name
			if len(a) > 2 {
				value, hasValue = strings.TrimPrefix(a[2:], "="), true
			}
		default:
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				// Leave a dangling flag for compose to complain about.
				rest = append(rest, a)
				continue
			}
			i++
			value = args[i]
		}
		set(flag, value)
	}
	return o, rest
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
func (o Options) projectOptions(record func(files []string)) (*cli.ProjectOptions, error) {
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
	return cli.NewProjectOptions(o.Files, opts...)
}
