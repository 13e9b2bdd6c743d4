package stack

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestPreviewIsExactlyPartOfTheStack: every service the preview gives is one
// the stack pulls, with the same image, reference, platform and diagnostics
// (so the check asks a registry only for what it asks anyway); services
// whose fate depends on profiles, builds or pull policy are left out.
func TestPreviewIsExactlyPartOfTheStack(t *testing.T) {
	cleanEnv(t)
	build := writeBuildProject(t, pullPolicies+`  plain:
    image: r.example/plain:1
    platform: linux/arm64
  unset:
    image: ${NOPE}r.example/unset:1
  debug:
    image: r.example/debug:1
    profiles: [debug]
`)
	extras := []string{dir + "/compose.yaml", dir + "/variants/extras.yaml"}
	// Services from other files: extended and included, the included file
	// named with a variable; paths relative to them.
	t.Setenv("PART", "part")
	other := writeBuildProject(t, "include:\n  - ${PART}/compose.yaml\nservices:\n  derived:\n    extends:\n      file: base.yaml\n      service: base\n")
	for file, body := range map[string]string{
		"base.yaml":         "services:\n  base:\n    image: r.example/base:1\n    env_file: [base.env]\n",
		"base.env":          "A=1\n",
		"part/compose.yaml": "services:\n  inc:\n    image: r.example/inc:1\n    volumes: [./data:/data]\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(other, file)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(other, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		o    Options
		want []string // the services the preview must give
	}{
		"stack":               {Options{ProjectDirectory: dir}, []string{"api", "change-streams", "director", "scheduler", "webhooks", "writer"}},
		"extras":              {Options{Files: extras}, []string{"api", "change-streams", "director", "scheduler", "webhooks", "writer"}},
		"extras with profile": {Options{Files: extras, Profiles: []string{"debug"}}, []string{"api", "change-streams", "director", "scheduler", "webhooks", "writer"}},
		"missing slash":       {Options{ProjectDirectory: dir, EnvFiles: []string{dir + "/variants/missing-slash.env"}}, []string{"api", "change-streams", "director", "scheduler", "webhooks", "writer"}},
		"kinds":               {Options{ProjectDirectory: build}, []string{"plain", "unset"}},
		"other files":         {Options{ProjectDirectory: other}, []string{"derived", "inc"}},
	} {
		t.Run(name, func(t *testing.T) {
			l := Start(context.Background(), tc.o, Selection{})
			pre, err := l.Preview()
			if err != nil {
				t.Fatal(err)
			}
			st, err := l.Wait()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pre.Services {
				got = append(got, p.Name)
				s := service(t, st, p.Name)
				// Messages name the service's file and line, which the
				// preview does not look up.
				if s.Kind != Pulled || p.Image != s.Image || !reflect.DeepEqual(p.Ref, s.Ref) || p.Platform != s.Platform ||
					!reflect.DeepEqual(codes(p), codes(s)) || hasError(p.Diagnostics) != hasError(s.Diagnostics) {
					t.Errorf("%s: preview %+v\nstack %+v", p.Name, p, s)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("preview gave %v, want %v", got, tc.want)
			}
		})
	}
}

// A selection of services has no preview: only the full load knows their
// dependencies.
func TestNoPreviewForASelection(t *testing.T) {
	cleanEnv(t)
	l := Start(context.Background(), Options{ProjectDirectory: dir}, Selection{Services: []string{"api"}})
	if _, err := l.Preview(); err == nil {
		t.Error("a preview for a selection")
	}
	if st, err := l.Wait(); err != nil || len(st.Services) == 0 {
		t.Errorf("Wait: %v", err)
	}
}

func hasError(ds []Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}
