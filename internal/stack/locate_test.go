package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (path → content) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, body := range files {
		f := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// A problem with an image written in an included file (through a variable
// in the include's path, and an include of that file), in a file an
// extends names (from the root file or an included one), or in an override
// file is reported at the file and line
// where the image is written, not at the root compose.yaml.
func TestImageLocationOfIncludedAndExtendedServices(t *testing.T) {
	cleanEnv(t)
	t.Setenv("PART", "parts")
	root := writeTree(t, map[string]string{
		"compose.yaml": `include:
  - ${PART}/db.yaml
  - path: tools/tools.yaml
    project_directory: .
services:
  web:
    extends:
      file: common/base.yaml
      service: webbase
  worker:
    extends:
      file: common/base.yaml
      service: workerbase
    image: r.example/Worker:1
  app:
    image: r.example/app:1
`,
		"compose.override.yaml": `services:
  app:
    image: r.example/app:${APP_TAG}
`,
		"parts/db.yaml": `include:
  - nested/cache.yaml
services:
  db:
    image: r.example/db:${DB_TAG}
  migrate:
    extends:
      file: base.yaml
      service: migratebase
`,
		"tools/tools.yaml": `services:
  tool:
    extends: {file: tools/base.yaml, service: toolbase}
`,
		"tools/base.yaml": `services:
  toolbase:
    image: r.example/tool:${TOOL_TAG}
`,
		"parts/base.yaml": `services:
  migratebase:
    image: r.example/Migrate:1
`,
		"parts/nested/cache.yaml": `services:
  cache:
    image: r.example/Cache:1
`,
		"common/base.yaml": `services:
  webbase:
    image: r.example/web:${WEB_TAG}
  workerbase:
    image: r.example/worker:2
`,
	})
	st := load(t, Options{ProjectDirectory: root})
	for _, c := range []struct {
		service, file string
		line          int
		code          string
	}{
		{"db", "parts/db.yaml", 5, CodeUnsetVariable},
		{"cache", "parts/nested/cache.yaml", 3, CodeInvalidReference},
		{"migrate", "parts/base.yaml", 3, CodeInvalidReference},
		{"web", "common/base.yaml", 3, CodeUnsetVariable},
		{"tool", "tools/base.yaml", 3, CodeUnsetVariable},
		{"worker", "compose.yaml", 14, CodeInvalidReference},
		{"app", "compose.override.yaml", 3, CodeUnsetVariable},
	} {
		s := service(t, st, c.service)
		want := Location{File: filepath.Join(root, filepath.FromSlash(c.file)), Line: c.line}
		if s.Source != want {
			t.Errorf("%s: source = %v, want %v", c.service, s.Source, want)
		}
		if len(s.Diagnostics) == 0 || s.Diagnostics[0].Code != c.code {
			t.Errorf("%s: diagnostics = %+v, want %s", c.service, s.Diagnostics, c.code)
			continue
		}
		if msg := s.Diagnostics[0].Message; !strings.Contains(msg, "at "+want.String()) {
			t.Errorf("%s: message %q does not name %s", c.service, msg, want)
		}
	}
}

// A location whose written image is not the one the load says the service
// has is not the service's: it keeps no location (the root file, no line).
func TestImageLocationMustMatchWrittenImage(t *testing.T) {
	l := locations{"db": {Location{File: "parts/db.yaml", Line: 5}, "r.example/db:${DB_TAG}"}}
	if got := l.of("db", "r.example/db:${OTHER}"); got != (Location{}) {
		t.Errorf("mismatch: %v, want none", got)
	}
	if got := l.of("db", "r.example/db:${DB_TAG}"); got.Line != 5 {
		t.Errorf("match: %v", got)
	}
	if got := l.of("db", ""); got.Line != 5 {
		t.Errorf("unknown written image: %v", got)
	}
}

// The parity corpus's include and extends projects: every service whose
// image is written outside the root compose.yaml is located in that file.
func TestImageLocationParityFixtures(t *testing.T) {
	for dir, want := range map[string]map[string]string{
		"include-variable":      {"db": "parts/db.yaml:3"},
		"include-list":          {"lib": "lib/override.yaml:3"},
		"extends-other-file":    {"web": "common/base.yaml:3", "worker": "compose.yaml:10"},
		"extends-chain":         {"leaf": "root.yaml:3"},
		"extends-variable-file": {"web": "bases/web.yaml:3"},
	} {
		t.Run(dir, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("PART", "parts")
			t.Setenv("BASE_DIR", "bases")
			root, err := filepath.Abs(filepath.Join("../check/testdata/parity", dir))
			if err != nil {
				t.Fatal(err)
			}
			st := load(t, Options{ProjectDirectory: root})
			for name, at := range want {
				if got := service(t, st, name).Source.String(); got != filepath.Join(root, at) {
					t.Errorf("%s: source %s, want %s", name, got, filepath.Join(root, at))
				}
			}
		})
	}
}
