package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const dir = "../../testdata/stack"

// cleanEnv removes every variable that changes how compose loads a project,
// so the developer's shell cannot steer the tests.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "COMPOSE_") || strings.HasPrefix(k, "DC_CURRENTS_") || k == "DOCKER_DEFAULT_PLATFORM" {
			t.Setenv(k, "")
			_ = os.Unsetenv(k)
		}
	}
}

func load(t *testing.T, o Options) *Stack {
	t.Helper()
	st, err := Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// apiWith loads the test stack, in an environment cleared but for one
// variable, and gives its api service.
func apiWith(t *testing.T, name, value string) Service {
	t.Helper()
	cleanEnv(t)
	t.Setenv(name, value)
	return service(t, load(t, Options{ProjectDirectory: dir}), "api")
}

func service(t *testing.T, st *Stack, name string) Service {
	t.Helper()
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %q in %v", name, st.Services)
	return Service{}
}

func codes(s Service) []string {
	var out []string
	for _, d := range s.Diagnostics {
		out = append(out, d.Code)
	}
	return out
}

func TestGoodStack(t *testing.T) {
	cleanEnv(t)
	st := load(t, Options{ProjectDirectory: dir})
	if st.Name != "currents" {
		t.Errorf("name = %q", st.Name)
	}
	var names []string
	for _, s := range st.Services {
		names = append(names, s.Name)
		if s.Kind != Pulled || len(s.Diagnostics) != 0 || s.Ref == nil {
			t.Errorf("%s: kind %s, diagnostics %v, ref %v", s.Name, s.Kind, s.Diagnostics, s.Ref)
		}
	}
	want := []string{"api", "change-streams", "director", "scheduler", "webhooks", "writer"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("services = %v, want %v", names, want)
	}
	api := service(t, st, "api")
	if api.Image != "513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-prem/api:staging" {
		t.Errorf("image = %q", api.Image)
	}
	if api.Raw != "${DC_CURRENTS_IMAGE_REPOSITORY}api:${DC_CURRENTS_IMAGE_TAG}" {
		t.Errorf("raw = %q", api.Raw)
	}
	if !strings.HasSuffix(api.Source.String(), "compose.yaml:6") {
		t.Errorf("source = %q", api.Source)
	}
	if len(api.Variables) != 2 {
		t.Fatalf("variables = %+v", api.Variables)
	}
	for i, line := range []int{6, 7} {
		v := api.Variables[i]
		if v.Origin.Kind != FromEnvFile || v.Origin.Location.Line != line || filepath.Base(v.Origin.Location.File) != ".env" {
			t.Errorf("%s origin = %+v, want .env:%d", v.Name, v.Origin, line)
		}
	}
}

func TestEnvironmentBeatsDotEnv(t *testing.T) {
	api := apiWith(t, "DC_CURRENTS_IMAGE_REPOSITORY", "127.0.0.1:5000/currents/on-prem/")
	if api.Image != "127.0.0.1:5000/currents/on-prem/api:staging" {
		t.Errorf("image = %q", api.Image)
	}
	if got := api.Variables[0].Origin; got.Kind != FromEnvironment || got.String() != "the environment" {
		t.Errorf("origin = %+v", got)
	}
	if got := api.Variables[1].Origin; got.Kind != FromEnvFile {
		t.Errorf("tag origin = %+v", got)
	}
}

func TestMissingSlash(t *testing.T) {
	cleanEnv(t)
	st := load(t, Options{ProjectDirectory: dir, EnvFiles: []string{dir + "/variants/missing-slash.env"}})
	api := service(t, st, "api")
	if api.Image != "513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-premapi:staging" {
		t.Fatalf("image = %q", api.Image)
	}
	if !reflect.DeepEqual(codes(api), []string{CodeMissingSlash}) {
		t.Fatalf("diagnostics = %+v", api.Diagnostics)
	}
	d := api.Diagnostics[0]
	if !strings.Contains(d.Message, `"513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-prem/api:staging" was probably meant`) {
		t.Errorf("message = %s", d.Message)
	}
	if !strings.Contains(d.Fix, "DC_CURRENTS_IMAGE_REPOSITORY=513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-prem/ at ") ||
		!strings.HasSuffix(d.Fix, "missing-slash.env:3)") {
		t.Errorf("fix = %s", d.Fix)
	}
	if api.Ref == nil {
		t.Error("a missing slash still leaves a reference to probe")
	}
}

func TestNoFalseMissingSlash(t *testing.T) {
	cleanEnv(t)
	for _, prefix := range []string{"registry.example.com/currents/", "registry.example.com/currents/api-", ""} {
		t.Setenv("DC_CURRENTS_IMAGE_REPOSITORY", prefix)
		t.Setenv("DC_CURRENTS_IMAGE_TAG", "1.0")
		st := load(t, Options{ProjectDirectory: dir})
		for _, d := range service(t, st, "api").Diagnostics {
			if d.Code == CodeMissingSlash {
				t.Errorf("prefix %q: unexpected %+v", prefix, d)
			}
		}
	}
}

func TestUnsetVariable(t *testing.T) {
	cleanEnv(t)
	st := load(t, Options{ProjectDirectory: dir, EnvFiles: []string{dir + "/variants/unset-variable.env"}})
	for _, s := range st.Services {
		if !reflect.DeepEqual(codes(s), []string{CodeUnsetVariable}) {
			t.Fatalf("%s: diagnostics = %+v", s.Name, s.Diagnostics)
		}
		d := s.Diagnostics[0]
		if d.Severity != Error || !strings.Contains(d.Message, "DC_CURRENTS_IMAGE_TAG") || !strings.Contains(d.Message, "compose.yaml:") {
			t.Errorf("%s: %+v", s.Name, d)
		}
		if s.Ref != nil {
			t.Errorf("%s: an unset variable must not leave a reference to probe", s.Name)
		}
	}
}

func TestEmptyVariable(t *testing.T) {
	api := apiWith(t, "DC_CURRENTS_IMAGE_TAG", "")
	if !reflect.DeepEqual(codes(api), []string{CodeEmptyVariable}) {
		t.Fatalf("diagnostics = %+v", api.Diagnostics)
	}
	// The empty environment value hides the .env one: say so, and that
	// unsetting it is the fix.
	d := api.Diagnostics[0]
	if !strings.Contains(d.Message, "set to an empty string in the environment") || !strings.Contains(d.Message, "/testdata/stack/.env:7, because the environment wins") ||
		!strings.HasPrefix(d.Fix, "unset DC_CURRENTS_IMAGE_TAG in the environment (unset DC_CURRENTS_IMAGE_TAG) so the value at ") {
		t.Errorf("%+v", d)
	}

	// Empty in an env file: that line is the one to fix.
	cleanEnv(t)
	tmp := t.TempDir()
	env := filepath.Join(tmp, "empty.env")
	if err := os.WriteFile(env, []byte("DC_CURRENTS_IMAGE_REPOSITORY=r.example/x/\nDC_CURRENTS_IMAGE_TAG=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d = service(t, load(t, Options{ProjectDirectory: dir, EnvFiles: []string{env}}), "api").Diagnostics[0]
	if d.Code != CodeEmptyVariable || !strings.Contains(d.Message, "set but empty at "+env+":2") || d.Fix != "give DC_CURRENTS_IMAGE_TAG a value at "+env+":2" {
		t.Errorf("%+v", d)
	}
}

func TestVariableParts(t *testing.T) {
	cleanEnv(t)
	api := service(t, load(t, Options{ProjectDirectory: dir}), "api")
	got := map[string]string{}
	for _, v := range api.Variables {
		got[v.Name] = v.Part
	}
	want := map[string]string{"DC_CURRENTS_IMAGE_REPOSITORY": PartName, "DC_CURRENTS_IMAGE_TAG": PartTag}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parts = %v, want %v", got, want)
	}
	for raw, want := range map[string]int{"${R:-r.io/x/}api:${T:-1}": 16, "${IMAGE}": -1, "${R}api:${T}": 7, "r/a@${D}": 3, "${R}/a${S}": -1, "h:5000/a": -1, "h:5000/a:${T}": 8} {
		if got := tagSeparator(raw, variableMatches(raw)); got != want {
			t.Errorf("tagSeparator(%q) = %d, want %d", raw, got, want)
		}
	}
}

func TestPlatformDiagnostics(t *testing.T) {
	cleanEnv(t)
	compose := `services:
  typo:
    image: r.example/a:1
    platform: linux/amd6
  broken:
    image: r.example/a:1
    platform: "linux//amd64"
  alias:
    image: r.example/a:1
    platform: x86_64
  plain:
    image: r.example/a:1
`
	tmp := writeProject(t, compose)
	st := load(t, Options{ProjectDirectory: tmp})
	for svc, want := range map[string]string{"typo": `platform: of service typo is "linux/amd6": linux/amd6 is not an OS/architecture docker knows`,
		"broken": `platform: of service broken is "linux//amd64", which is not a platform docker can pull`} {
		s := service(t, st, svc)
		if len(s.Diagnostics) != 1 || s.Diagnostics[0].Code != CodeInvalidPlatform || s.Diagnostics[0].Message != want || s.Ref != nil {
			t.Errorf("%s: %+v", svc, s.Diagnostics)
		}
	}
	for _, svc := range []string{"alias", "plain"} {
		if s := service(t, st, svc); len(s.Diagnostics) != 0 {
			t.Errorf("%s: %+v", svc, s.Diagnostics)
		}
	}

	// DOCKER_DEFAULT_PLATFORM applies to services without platform:, as in
	// compose, and is judged the same way.
	t.Setenv("DOCKER_DEFAULT_PLATFORM", "linux/arm64")
	if st := load(t, Options{ProjectDirectory: tmp}); st.DefaultPlatform != "linux/arm64" || len(service(t, st, "plain").Diagnostics) != 0 {
		t.Errorf("default platform %q, plain %+v", st.DefaultPlatform, service(t, st, "plain").Diagnostics)
	}
	t.Setenv("DOCKER_DEFAULT_PLATFORM", "linux/arm65")
	st = load(t, Options{ProjectDirectory: tmp})
	if d := service(t, st, "plain").Diagnostics; len(d) != 1 || !strings.HasPrefix(d[0].Message, `DOCKER_DEFAULT_PLATFORM (from the environment) is "linux/arm65"`) {
		t.Errorf("plain: %+v", d)
	}
	if d := service(t, st, "alias").Diagnostics; len(d) != 0 {
		t.Errorf("a service's own platform: wins over DOCKER_DEFAULT_PLATFORM: %+v", d)
	}
}

// pullPolicies are services whose pull depends on their pull policy and
// builds: never pulled (local), pulled though it builds (builder), built by
// another service (user), always built (forced). Services follow.
const pullPolicies = `services:
  local:
    image: r.example/local:1
    pull_policy: never
  builder:
    image: r.example/app:1
    build: .
  user:
    image: r.example/app:1
  forced:
    image: r.example/forced:1
    build: .
    pull_policy: build
`

// Services compose never pulls are not checked, each with its reason.
func TestServicesComposeDoesNotPull(t *testing.T) {
	cleanEnv(t)
	tmp := writeBuildProject(t, pullPolicies+`  pulled:
    image: r.example/pulled:1
    build: .
`)
	st := load(t, Options{ProjectDirectory: tmp})
	want := map[string]Kind{"local": NotPulled, "user": BuildOnly, "forced": BuildOnly, "pulled": Pulled, "builder": Pulled}
	for name, kind := range want {
		if s := service(t, st, name); s.Kind != kind || (kind != Pulled && s.Reason == "") {
			t.Errorf("%s: kind %s reason %q, want %s", name, s.Kind, s.Reason, kind)
		}
	}
	if r := service(t, st, "user").Reason; !strings.Contains(r, "built locally by service builder") {
		t.Errorf("user: %q", r)
	}
}

// `up --pull POLICY` sets every service's pull policy, and `up --build`
// builds every service that has a build section, as compose applies them
// (createOptions.apply): the check covers what that up pulls.
func TestUpPullAndBuildFlags(t *testing.T) {
	cleanEnv(t)
	tmp := writeBuildProject(t, pullPolicies+`  plain:
    image: r.example/plain:1
`)
	for _, c := range []struct {
		sel  Selection
		want map[string]Kind
	}{
		{Selection{Pull: "never"}, map[string]Kind{"local": NotPulled, "builder": NotPulled, "user": NotPulled, "plain": NotPulled, "forced": NotPulled}},
		{Selection{Pull: "always"}, map[string]Kind{"local": Pulled, "builder": Pulled, "user": BuildOnly, "plain": Pulled, "forced": Pulled}},
		{Selection{Build: true}, map[string]Kind{"local": NotPulled, "builder": BuildOnly, "user": BuildOnly, "plain": Pulled, "forced": BuildOnly}},
	} {
		st, err := LoadSelection(context.Background(), Options{ProjectDirectory: tmp}, c.sel)
		if err != nil {
			t.Fatal(err)
		}
		for name, kind := range c.want {
			if s := service(t, st, name); s.Kind != kind {
				t.Errorf("%+v: %s is %s (%s), want %s", c.sel, name, s.Kind, s.Reason, kind)
			}
		}
	}
}

// When several services build one image, a service using it names the
// first of them by name, every time (services come from a map).
func TestBuiltByTheFirstBuilderByName(t *testing.T) {
	cleanEnv(t)
	tmp := writeBuildProject(t, `services:
  zeta:
    image: r.example/app:1
    build: .
  alpha:
    image: r.example/app:1
    build: .
  user:
    image: r.example/app:1
`)
	for range 5 {
		st := load(t, Options{ProjectDirectory: tmp})
		if s := service(t, st, "user"); s.Kind != BuildOnly || s.Reason != "built locally by service alpha, not pulled" {
			t.Fatalf("user: %s %q", s.Kind, s.Reason)
		}
		for _, b := range []string{"alpha", "zeta"} {
			if s := service(t, st, b); s.Kind != Pulled {
				t.Errorf("%s builds and names an image: compose pulls it first (%s %q)", b, s.Kind, s.Reason)
			}
		}
	}
}

func TestInvalidReferenceAndImplicitLatest(t *testing.T) {
	cleanEnv(t)
	compose := `services:
  upper:
    image: Registry.example.com/Currents/API:1
  notag:
    image: registry.example.com/currents/api
  pinned:
    image: registry.example.com:5000/currents/api@sha256:` + strings.Repeat("a", 64) + `
`
	tmp := writeProject(t, compose)
	st := load(t, Options{ProjectDirectory: tmp})
	if got := codes(service(t, st, "upper")); !reflect.DeepEqual(got, []string{CodeInvalidReference}) {
		t.Errorf("upper: %v", got)
	}
	if d := service(t, st, "upper").Diagnostics[0]; !strings.HasSuffix(d.Message, "repository names must be lowercase") || d.Fix != "write it in lowercase: registry.example.com/currents/api:1" {
		t.Errorf("upper: %+v", d)
	}
	if got := codes(service(t, st, "notag")); !reflect.DeepEqual(got, []string{CodeImplicitLatest}) {
		t.Errorf("notag: %v", got)
	}
	if got := codes(service(t, st, "pinned")); len(got) != 0 {
		t.Errorf("pinned: %v", got)
	}
}

func TestProfilesAndBuildOnly(t *testing.T) {
	cleanEnv(t)
	files := []string{dir + "/compose.yaml", dir + "/variants/extras.yaml"}
	st := load(t, Options{Files: files})
	if s := service(t, st, "migrate"); s.Kind != BuildOnly || len(s.Diagnostics) != 0 {
		t.Errorf("migrate: %+v", s)
	}
	if s := service(t, st, "debug"); s.Kind != Disabled {
		t.Errorf("debug: kind %s", s.Kind)
	}

	st = load(t, Options{Files: files, Profiles: []string{"debug"}})
	if s := service(t, st, "debug"); s.Kind != Pulled {
		t.Errorf("--profile debug: kind %s", s.Kind)
	}
	t.Setenv("COMPOSE_PROFILES", "debug")
	st = load(t, Options{Files: files})
	if s := service(t, st, "debug"); s.Kind != Pulled {
		t.Errorf("COMPOSE_PROFILES=debug: kind %s", s.Kind)
	}
}

func TestComposeEnvironmentVariables(t *testing.T) {
	cleanEnv(t)
	abs := absDir(t)
	t.Setenv("COMPOSE_FILE", abs+"/compose.yaml"+string(os.PathListSeparator)+abs+"/variants/extras.yaml")
	t.Setenv("COMPOSE_PROJECT_NAME", "other")
	t.Setenv("COMPOSE_ENV_FILES", abs+"/variants/missing-tag.env")
	// Options as the flags leave them: COMPOSE_ENV_FILES is --env-file's default.
	o, rest := SplitArgs([]string{"-d"})
	if len(rest) != 1 {
		t.Fatalf("rest = %v", rest)
	}
	st := load(t, o)
	if st.Name != "other" {
		t.Errorf("COMPOSE_PROJECT_NAME ignored: %q", st.Name)
	}
	service(t, st, "migrate") // COMPOSE_FILE honoured
	if img := service(t, st, "api").Image; !strings.HasSuffix(img, ":never-mirrored") {
		t.Errorf("COMPOSE_ENV_FILES ignored: %q", img)
	}
}

func TestDisableEnvFile(t *testing.T) {
	cleanEnv(t)
	t.Setenv("COMPOSE_DISABLE_ENV_FILE", "true")
	st := load(t, Options{ProjectDirectory: dir})
	if got := codes(service(t, st, "api")); !reflect.DeepEqual(got, []string{CodeUnsetVariable, CodeUnsetVariable}) {
		t.Errorf("diagnostics = %v", got)
	}
}

func TestLoadError(t *testing.T) {
	cleanEnv(t)
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "compose.yaml"), []byte("services: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), Options{ProjectDirectory: tmp})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	_, err = Load(context.Background(), Options{Files: []string{filepath.Join(tmp, "missing.yaml")}})
	if !errors.As(err, &le) {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestSplitArgs(t *testing.T) {
	cleanEnv(t)
	o, rest := SplitArgs([]string{"-f", "a.yaml", "--file=b.yaml", "-fc.yaml", "-d", "--build", "-p", "x",
		"--env-file", "e1", "--env-file=e2", "--profile", "debug", "--project-directory", "/p", "--scale", "api=2", "api", "--", "-f"})
	want := Options{Files: []string{"a.yaml", "b.yaml", "c.yaml"}, ProjectName: "x", EnvFiles: []string{"e1", "e2"},
		Profiles: []string{"debug"}, ProjectDirectory: "/p"}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options = %+v", o)
	}
	if !reflect.DeepEqual(rest, []string{"-d", "--build", "--scale", "api=2", "api", "--", "-f"}) {
		t.Errorf("rest = %v", rest)
	}
	back, _ := SplitArgs(o.Args())
	if !reflect.DeepEqual(back, o) {
		t.Errorf("Args round trip: %+v", back)
	}

	// COMPOSE_ENV_FILES is --env-file's default: kept without the flag,
	// replaced (not extended) by it, as pflag does for compose.
	t.Setenv("COMPOSE_ENV_FILES", "x.env,y.env")
	if o, _ := SplitArgs([]string{"up"}); !reflect.DeepEqual(o.EnvFiles, []string{"x.env", "y.env"}) {
		t.Errorf("COMPOSE_ENV_FILES: %v", o.EnvFiles)
	}
	if o, _ := SplitArgs([]string{"--env-file", "z.env"}); !reflect.DeepEqual(o.EnvFiles, []string{"z.env"}) {
		t.Errorf("--env-file over COMPOSE_ENV_FILES: %v", o.EnvFiles)
	}
}

func TestEnvironmentFeedsDotEnvInterpolation(t *testing.T) {
	api := apiWith(t, "DC_CURRENTS_REGISTRY", "127.0.0.1:5000")
	if api.Image != "127.0.0.1:5000/currents/on-prem/api:staging" {
		t.Errorf("image = %q", api.Image)
	}
	// The value is .env line 6's, but the environment steers it: say so.
	o := api.Variables[0].Origin
	if o.Kind != FromEnvFile || o.Location.Line != 6 || !reflect.DeepEqual(o.Refs, []Ref{{Name: "DC_CURRENTS_REGISTRY", Set: true, From: "the environment"}}) ||
		!strings.HasSuffix(o.String(), ".env:6 (using DC_CURRENTS_REGISTRY from the environment)") {
		t.Errorf("origin = %+v %s", o, o)
	}
	// Unset, the line's default applies.
	cleanEnv(t)
	o = service(t, load(t, Options{ProjectDirectory: dir}), "api").Variables[0].Origin
	if !reflect.DeepEqual(o.Refs, []Ref{{Name: "DC_CURRENTS_REGISTRY", From: "unset"}}) {
		t.Errorf("origin = %+v", o)
	}
	if o := service(t, load(t, Options{ProjectDirectory: dir}), "api").Variables[1].Origin; o.Refs != nil {
		t.Errorf("a plain value has no refs: %+v", o)
	}

	// A cycle between env file values ends.
	tmp := t.TempDir()
	env := filepath.Join(tmp, "cycle.env")
	if err := os.WriteFile(env, []byte("DC_CURRENTS_IMAGE_REPOSITORY=${DC_CURRENTS_IMAGE_TAG}r.example/\nDC_CURRENTS_IMAGE_TAG=${DC_CURRENTS_IMAGE_REPOSITORY}1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	load(t, Options{ProjectDirectory: dir, EnvFiles: []string{env}})
}

func TestSelectedServices(t *testing.T) {
	cleanEnv(t)
	files := []string{dir + "/compose.yaml", dir + "/variants/extras.yaml"}
	st, err := Load(context.Background(), Options{Files: files}, "api")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range st.Services {
		got = append(got, s.Name+":"+string(s.Kind))
	}
	// api depends on writer; debug stays reported as profile-disabled.
	if want := []string{"api:pull", "debug:disabled", "writer:pull"}; !reflect.DeepEqual(got, want) {
		t.Errorf("services = %v, want %v", got, want)
	}
	st, err = LoadSelection(context.Background(), Options{Files: files}, Selection{Services: []string{"api"}, NoDeps: true})
	if err != nil || len(st.Services) != 2 || st.Services[0].Name != "api" || st.Services[1].Kind != Disabled {
		t.Errorf("--no-deps api: %v %+v", err, st)
	}
	st, err = Load(context.Background(), Options{Files: files}, "debug")
	if err != nil || len(st.Services) != 1 || st.Services[0].Kind != Pulled {
		t.Errorf("naming a profile service enables it: %v %+v", err, st)
	}
	var le *LoadError
	if _, err := Load(context.Background(), Options{Files: files}, "nope"); !errors.As(err, &le) {
		t.Errorf("unknown service: %v", err)
	}
}

// Compose reads COMPOSE_* settings from .env too (docker compose's
// setEnvWithDotEnv); the OS environment still wins.
func TestComposeSettingsFromDotEnv(t *testing.T) {
	cleanEnv(t)
	tmp := t.TempDir()
	abs := absDir(t)
	dotenv := "COMPOSE_FILE=" + abs + "/compose.yaml:" + abs + "/variants/extras.yaml\nCOMPOSE_PROFILES=debug\nCOMPOSE_PROJECT_NAME=fromdotenv\n" +
		"DC_CURRENTS_IMAGE_REPOSITORY=r.example/\nDC_CURRENTS_IMAGE_TAG=1\n"
	if err := os.WriteFile(filepath.Join(tmp, ".env"), []byte(dotenv), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(tmp)
	st := load(t, Options{})
	if st.Name != "fromdotenv" || service(t, st, "debug").Kind != Pulled || service(t, st, "migrate").Kind != BuildOnly {
		t.Errorf("name %q, services %+v", st.Name, st.Services)
	}
	t.Setenv("COMPOSE_PROJECT_NAME", "fromenv")
	if st := load(t, Options{}); st.Name != "fromenv" {
		t.Errorf("the environment must win: %q", st.Name)
	}
}

// writeProject writes compose as compose.yaml in a new directory and
// returns the directory.
func writeProject(t *testing.T, compose string) string {
	t.Helper()
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	return tmp
}

// writeBuildProject is writeProject with a Dockerfile beside compose.yaml.
func writeBuildProject(t *testing.T, compose string) string {
	t.Helper()
	dir := writeProject(t, compose)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Load errors compose-go leaves terse get a fix.
func TestLoadErrorFix(t *testing.T) {
	cleanEnv(t)
	abs := absDir(t)
	t.Chdir(t.TempDir())
	var le *LoadError
	_, err := Load(context.Background(), Options{})
	if !errors.As(err, &le) || !strings.Contains(le.Fix(), "-f FILE, --project-directory DIR, or COMPOSE_FILE") {
		t.Errorf("no compose file: %v, fix %q", err, le.Fix())
	}
	_, err = Load(context.Background(), Options{ProjectDirectory: abs}, "nosuch")
	if !errors.As(err, &le) || !strings.Contains(le.Fix(), "docker compose config --services") {
		t.Errorf("unknown service: %v", err)
	}
}

// A missing file is fixed where its path was written: a path given with -f
// or --env-file on the command line, or one a compose file names (include,
// extends, env_file), which no flag changes.
func TestLoadErrorFixSaysWhereTheMissingPathIsWritten(t *testing.T) {
	cleanEnv(t)
	for _, c := range []struct {
		name, compose string
		o             Options
		want, not     string
	}{
		{"service env_file", "services:\n  a:\n    image: x\n    env_file: [missing.env]\n", Options{}, "include, extends or env_file", "-f"},
		{"include", "include: [missing/inc.yaml]\nservices:\n  a: {image: x}\n", Options{}, "include, extends or env_file", "-f"},
		{"include env_file", "include:\n  - path: inc.yaml\n    env_file: missing.env\nservices:\n  a: {image: x}\n", Options{}, "include, extends or env_file", "-f"},
		{"extends file", "services:\n  a: {extends: {file: missing.yaml, service: x}}\n", Options{}, "include, extends or env_file", "-f"},
		{"--env-file", "services:\n  a: {image: x}\n", Options{EnvFiles: []string{"missing.env"}}, "--env-file", "include"},
		{"-f", "services:\n  a: {image: x}\n", Options{Files: []string{"missing.yaml"}}, "-f", "include"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			t.Chdir(d)
			if err := os.WriteFile(filepath.Join(d, "compose.yaml"), []byte(c.compose), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, "inc.yaml"), []byte("services:\n  i: {image: y}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var le *LoadError
			_, err := Load(context.Background(), c.o)
			if !errors.As(err, &le) || !strings.Contains(le.Fix(), c.want) || strings.Contains(le.Fix(), c.not) {
				t.Errorf("%v: fix %q, want it to name %q and not %q", err, le.Fix(), c.want, c.not)
			}
		})
	}
}

// absDir is the test stack's directory, absolute.
func absDir(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
