package stack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawLoaded is what the model loaded a second time, without interpolation,
// says each service's image is written as.
func rawLoaded(t *testing.T, o Options) map[string]string {
	t.Helper()
	po, err := o.projectOptions(func([]string) {})
	if err != nil {
		t.Fatal(err)
	}
	return rawImages(context.Background(), po)
}

// TestRawFromTheLoadItself: the images as written come from watching the
// load interpolate, with no second load of the model, and are those the
// second load gives (override files, extends, an image some other string
// also gives, services whose image is built or unset).
func TestRawFromTheLoadItself(t *testing.T) {
	cleanEnv(t)
	extended := writeProject(t, `services:
  base:
    image: ${REPO:-r.example/}base:1
  derived:
    extends: base
  other:
    extends:
      file: other.yaml
      service: far
  env:
    image: ${REPO:-r.example/}env:1
    environment:
      SAME: ${REPO:-r.example/}env:1
`)
	if err := os.WriteFile(filepath.Join(extended, "other.yaml"), []byte("services:\n  far:\n    image: ${REPO:-r.example/}far:${TAG:-2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		o      Options
		second bool // the second load is needed
	}{
		"stack":         {o: Options{ProjectDirectory: dir}},
		"extras":        {o: Options{Files: []string{dir + "/compose.yaml", dir + "/variants/extras.yaml"}}},
		"missing slash": {o: Options{ProjectDirectory: dir, EnvFiles: []string{dir + "/variants/missing-slash.env"}}},
		"extends":       {o: Options{ProjectDirectory: extended}},
		"build only":    {o: Options{ProjectDirectory: writeBuildProject(t, pullPolicies+"  built:\n    build: .\n")}},
		// A service without an image has an empty one, as has one whose
		// variables are all unset: once a string became empty, only the
		// model tells which.
		"unset": {o: Options{ProjectDirectory: writeBuildProject(t, "services:\n  gone:\n    image: ${NOPE}\n    build: .\n  built:\n    build: .\n")}, second: true},
	} {
		t.Run(name, func(t *testing.T) {
			want := rawLoaded(t, tc.o)
			before := secondLoads.Load()
			st, err := Load(context.Background(), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if second := secondLoads.Load() > before; second != tc.second {
				t.Errorf("second load: %v, want %v", second, tc.second)
			}
			for _, s := range st.Services {
				if s.Raw != want[s.Name] {
					t.Errorf("%s: raw %q, want %q", s.Name, s.Raw, want[s.Name])
				}
			}
		})
	}
}

// TestRawWhenTwoStringsGiveOneImage: an image that two different strings
// interpolate to is not guessed; each service's comes from the second load.
func TestRawWhenTwoStringsGiveOneImage(t *testing.T) {
	cleanEnv(t)
	t.Setenv("REPO", "r.example/")
	o := Options{ProjectDirectory: writeProject(t, `services:
  written:
    image: r.example/api:1
  variable:
    image: ${REPO}api:1
`)}
	before := secondLoads.Load()
	st := load(t, o)
	if secondLoads.Load() == before {
		t.Error("no second load")
	}
	if w, v := service(t, st, "written"), service(t, st, "variable"); w.Raw != "r.example/api:1" || v.Raw != "${REPO}api:1" || len(v.Variables) != 1 {
		t.Errorf("written %q, variable %q %v", w.Raw, v.Raw, v.Variables)
	}
}

// TestRawOfAnIncludedFile: a file included by a path with a variable in it
// is loaded (the second load, without interpolation, cannot find it), so
// its services' variables are diagnosed: an unset one is an error, and the
// image compose would make of it is not asked for.
func TestRawOfAnIncludedFile(t *testing.T) {
	cleanEnv(t)
	t.Setenv("PART", "part")
	o := Options{ProjectDirectory: writeProject(t, "include:\n  - ${PART}/compose.yaml\nservices:\n  main:\n    image: r.example/main:1\n")}
	if err := os.MkdirAll(filepath.Join(o.ProjectDirectory, "part"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.ProjectDirectory, "part", "compose.yaml"), []byte("services:\n  inc:\n    image: ${INC_REPO}inc:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := service(t, load(t, o), "inc")
	if s.Raw != "${INC_REPO}inc:1" || !hasError(s.Diagnostics) || s.Ref != nil {
		t.Errorf("included service: raw %q, diagnostics %v, ref %v", s.Raw, codes(s), s.Ref)
	}
}

// A variable only an include's env file sets (its env_file, or the .env of
// its project directory) is set for the included file's images: compose
// interpolates them with it. It was diagnosed unset, failing the check of
// an image compose pulls (the parity corpus's include-env-file found it).
func TestVariableOfAnIncludesEnvFile(t *testing.T) {
	cleanEnv(t)
	o := Options{ProjectDirectory: writeProject(t, "include:\n  - path: lib/compose.yaml\n    env_file: lib/lib.env\n  - other/compose.yaml\nservices:\n  main:\n    image: r.example/main:1\n")}
	for file, body := range map[string]string{
		"lib/compose.yaml":   "services:\n  lib:\n    image: ${LIB_IMAGE}\n  empty:\n    image: r.example/empty${EMPTY}:1\n",
		"lib/lib.env":        "LIB_IMAGE=r.example/lib:2\nEMPTY=\n",
		"other/compose.yaml": "services:\n  other:\n    image: r.example/other:${OTHER_TAG}\n",
		"other/.env":         "OTHER_TAG=3\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(o.ProjectDirectory, file)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(o.ProjectDirectory, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := Start(context.Background(), o, Selection{})
	st, err := l.Wait()
	if err != nil {
		t.Fatal(err)
	}
	pre, err := l.Preview()
	if err != nil {
		t.Fatal(err)
	}
	for name, image := range map[string]string{"lib": "r.example/lib:2", "other": "r.example/other:3"} {
		for _, s := range []Service{service(t, st, name), service(t, pre, name)} {
			if s.Image != image || hasError(s.Diagnostics) || s.Ref == nil || len(s.Variables) != 1 || !s.Variables[0].Set || s.Variables[0].Origin.Kind != FromEnvFile {
				t.Errorf("%s: image %q, diagnostics %+v, variables %+v", name, s.Image, s.Diagnostics, s.Variables)
			}
		}
	}
	// Set empty there: said so, naming where as well as we know.
	s := service(t, st, "empty")
	if len(s.Diagnostics) == 0 || s.Diagnostics[0].Code != CodeEmptyVariable || !strings.Contains(s.Diagnostics[0].Message, "set but empty at an env file compose does not name") {
		t.Errorf("empty: %+v", s.Diagnostics)
	}
}
