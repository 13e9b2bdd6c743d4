package mirror

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/stack"
)

// stackImages loads testdata/stack (plus overlays) as compose would, with
// the registry variable the .env's repository line defaults from.
func stackImages(t *testing.T, overlays ...string) []stack.Image {
	t.Helper()
	t.Setenv("DC_CURRENTS_REGISTRY", "vendor.example")
	for _, k := range []string{"DC_CURRENTS_IMAGE_REPOSITORY", "DC_CURRENTS_IMAGE_TAG", "COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_ENV_FILES"} {
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{filepath.Join("..", "..", "testdata", "stack", "compose.yaml")}
	files = append(files, overlays...)
	st, err := stack.Load(context.Background(), stack.Options{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	images, err := st.Images()
	if err != nil {
		t.Fatal(err)
	}
	return images
}

// TestPlanPointsTheRepositoryVariableAtTheMirror: every image goes under
// the prefix with its name and tag, and the one env line that moves the
// stack is the repository variable's, where the .env sets it.
func TestPlanPointsTheRepositoryVariableAtTheMirror(t *testing.T) {
	images := stackImages(t)
	p, err := NewPlan(images, "mirror.example/m/", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Copies) != 6 || len(p.ComposeEdits) != 0 || len(p.Notes) != 0 || p.InMirror() {
		t.Fatalf("plan %+v", p)
	}
	for _, c := range p.Copies {
		if want := "vendor.example/currents/on-prem/" + c.Name + ":staging"; c.Source.String() != want {
			t.Errorf("%s: source %s, want %s", c.Name, c.Source, want)
		}
		if want := "mirror.example/m/" + c.Name + ":staging"; c.Target.String() != want {
			t.Errorf("%s: target %s, want %s", c.Name, c.Target, want)
		}
	}
	if len(p.Env) != 1 || p.Env[0].Name != "DC_CURRENTS_IMAGE_REPOSITORY" || p.Env[0].Value != "mirror.example/m/" ||
		!strings.HasSuffix(p.Env[0].Where(), ".env:6 (using DC_CURRENTS_REGISTRY from the environment)") {
		t.Errorf("env %+v", p.Env)
	}
}

// TestPlanTagAndLiteralImages: --tag reads and writes that tag where the
// tag is a variable and says where it cannot; an image written without a
// variable goes under the prefix too, named as a compose edit; services
// sharing an image share the copy.
func TestPlanTagAndLiteralImages(t *testing.T) {
	overlay := filepath.Join(t.TempDir(), "extra.yaml")
	y := "services:\n  cache:\n    image: vendor.example/currents/on-prem/writer:staging\n  also-api:\n    image: ${DC_CURRENTS_IMAGE_REPOSITORY}api:${DC_CURRENTS_IMAGE_TAG}\n"
	if err := os.WriteFile(overlay, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(stackImages(t, overlay), "mirror.example/m/", "v1")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Image{}
	for _, c := range p.Copies {
		byName[c.Name] = c
	}
	if c := byName["also-api,api"]; c.Source.String() != "vendor.example/currents/on-prem/api:v1" || c.Target.String() != "mirror.example/m/api:v1" {
		t.Errorf("shared api copy: %+v (copies %v)", c, p.Names())
	}
	if c := byName["cache"]; c.Source.String() != "vendor.example/currents/on-prem/writer:staging" || c.Target.String() != "mirror.example/m/writer:staging" {
		t.Errorf("literal cache copy: %+v", c)
	}
	if len(p.ComposeEdits) != 1 || p.ComposeEdits[0] != "cache:  image: mirror.example/m/writer:staging" {
		t.Errorf("compose edits %q", p.ComposeEdits)
	}
	if len(p.Notes) != 1 || !strings.HasPrefix(p.Notes[0], "cache: its tag is written literally") {
		t.Errorf("notes %q", p.Notes)
	}
	if len(p.Env) != 2 || p.Env[1].Name != "DC_CURRENTS_IMAGE_TAG" || p.Env[1].Value != "v1" {
		t.Errorf("env %+v", p.Env)
	}
	var literal []stack.Image
	for _, im := range stackImages(t, overlay) {
		if im.Name == "cache" {
			literal = append(literal, im)
		}
	}
	if _, err := NewPlan(literal, "mirror.example/m/", "v1"); len(literal) != 1 || err == nil || !strings.Contains(err.Error(), "no image's tag is written with a variable") {
		t.Errorf("--tag with only a literal tag: %v", err)
	}
}
