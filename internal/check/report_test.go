package check

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/probe"
	"github.com/currentsdev/currents/internal/stack"
)

func sample(t *testing.T) *Report {
	t.Helper()
	ref := func(s string) name.Reference {
		r, err := name.ParseReference(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tag := stack.Variable{Name: "TAG", Value: "1.0", Set: true, Origin: stack.Origin{Kind: stack.FromEnvFile, Location: stack.Location{File: ".env", Line: 2}}, Part: stack.PartTag}
	repo := stack.Variable{Name: "REPO", Value: "r.example/", Set: true, Origin: stack.Origin{Kind: stack.FromEnvironment}, Part: stack.PartName}
	st := &stack.Stack{Name: "p", Services: []stack.Service{
		{Name: "api", Kind: stack.Pulled, Image: "r.example/api:1.0", Ref: ref("r.example/api:1.0"), Variables: []stack.Variable{tag}},
		{Name: "web", Kind: stack.Pulled, Image: "r.example/web:1.0", Ref: ref("r.example/web:1.0"), Variables: []stack.Variable{repo, tag}},
		{Name: "bad", Kind: stack.Pulled, Image: "r.example/bad:", Diagnostics: []stack.Diagnostic{{Severity: stack.Error, Code: stack.CodeUnsetVariable, Message: "X unset", Fix: "set X"}}},
		{Name: "tool", Kind: stack.BuildOnly},
		{Name: "dbg", Kind: stack.Disabled, Image: "r.example/dbg:1", Profiles: []string{"debug"}},
		{Name: "local", Kind: stack.NotPulled, Image: "r.example/local:1", Ref: ref("r.example/local:1"), Reason: "pull_policy: never"},
	}}
	imgs := Images(st)
	if len(imgs) != 2 || imgs[0].ID != "api" || imgs[1].ID != "web" {
		t.Fatalf("Images = %+v", imgs)
	}
	return New(st, []probe.Result{
		{Image: imgs[0], Status: probe.OK, Digest: "sha256:" + strings.Repeat("a", 64)},
		{Image: imgs[1], Status: probe.NotFound, Missing: probe.MissingTag, Message: "tag 1.0 is not in r.example/web", Fix: "mirror it"},
	})
}

func TestRows(t *testing.T) {
	rep := sample(t)
	if rep.Pullable {
		t.Error("a missing image and an unset variable, yet pullable")
	}
	want := map[string]string{"api": "ok", "web": "not-found", "bad": StatusInvalid, "tool": StatusBuildOnly, "dbg": StatusSkipped, "local": StatusSkipped}
	for _, r := range rep.Services {
		if r.Status != want[r.Service] {
			t.Errorf("%s: %s, want %s", r.Service, r.Status, want[r.Service])
		}
	}
}

func TestJSONAndQuiet(t *testing.T) {
	rep := sample(t)
	var buf bytes.Buffer
	if err := JSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.SchemaVersion != 1 || len(back.Services) != 6 || back.Services[0].Variables[0].Origin.Line != 2 {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	buf.Reset()
	if err := Quiet(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "web\tnot-found\ttag 1.0 is not in r.example/web\nbad\tinvalid\tX unset\n" {
		t.Errorf("quiet = %q", got)
	}
}

func TestTableColour(t *testing.T) {
	rep := sample(t)
	var plain, coloured bytes.Buffer
	if err := Table(&plain, rep, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Table(&coloured, rep, TableOptions{Colour: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(coloured.String(), "\x1b[31m") {
		t.Errorf("colour switch ignored:\n%s\n%s", plain.String(), coloured.String())
	}
	// Colour changes nothing else: the columns stay aligned.
	if got := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(coloured.String(), ""); got != plain.String() {
		t.Errorf("coloured table, colours removed:\n%s\nplain:\n%s", got, plain.String())
	}
	// The missing tag's fix names the variable that wrote the tag, not the
	// one that wrote the repository.
	for _, s := range []string{"web: tag 1.0 is not in r.example/web", `fix: check TAG (="1.0", from .env:2), which writes the tag, or mirror that tag there`,
		`TAG="1.0" from .env:2`, "some images are not pullable", "local    r.example/local:1  skipped     -                    pull_policy: never"} {
		if !strings.Contains(plain.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, plain.String())
		}
	}
	if n := strings.Count(plain.String(), `TAG="1.0"`); n != 1 {
		t.Errorf("variable origin printed %d times", n)
	}
}

func TestColourDecision(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	if !Colour(true) || Colour(false) {
		t.Error("colour must follow the terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if Colour(true) {
		t.Error("NO_COLOR ignored")
	}
}

// A service with both image and build is built by compose when its image
// cannot be pulled: not a failure, but worth a warning.
func TestBuildFallback(t *testing.T) {
	ref, _ := name.ParseReference("r.example/app:1")
	st := &stack.Stack{Name: "p", Services: []stack.Service{{Name: "app", Kind: stack.Pulled, Image: "r.example/app:1", Ref: ref, Build: true}}}
	rep := New(st, []probe.Result{{Image: probe.Image{ID: "app", Ref: ref}, Status: probe.NotFound, Message: "tag 1 is not in r.example/app"}})
	row := rep.Services[0]
	if !rep.Pullable || row.Status != StatusBuildOnly || len(row.Warnings) != 1 || !strings.Contains(row.Warnings[0], "compose will build") {
		t.Errorf("%+v", rep)
	}
}

// A registry-wide failure is printed once under every service it hits.
func TestTableGroupsSharedProblems(t *testing.T) {
	ref, _ := name.ParseReference("r.example/a:1")
	var svcs []stack.Service
	var res []probe.Result
	for _, n := range []string{"a", "b", "c"} {
		svcs = append(svcs, stack.Service{Name: n, Kind: stack.Pulled, Image: "r.example/a:1", Ref: ref})
		res = append(res, probe.Result{Image: probe.Image{ID: n, Ref: ref}, Status: probe.Expired, Message: "the static ECR token for r.example expired", Fix: "register the helper",
			Warnings: []string{"w1"}})
	}
	res[2].Message = "other"
	var buf bytes.Buffer
	if err := Table(&buf, New(&stack.Stack{Name: "p", Services: svcs}, res), TableOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"\na, b: the static ECR token for r.example expired\nc: other\n  fix: register the helper\n", "\na, b, c: warning: w1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// Images sharing a registry path are shown relative to it, which is named
// above the table.
func TestTableShortensACommonRegistryPath(t *testing.T) {
	ref, _ := name.ParseReference("h.example:5000/vendor/stack/api:1")
	st := &stack.Stack{Name: "p", Services: []stack.Service{
		{Name: "api", Kind: stack.Pulled, Image: "h.example:5000/vendor/stack/api:1", Ref: ref},
		{Name: "web", Kind: stack.Pulled, Image: "h.example:5000/vendor/stack/web:1", Ref: ref},
		{Name: "tool", Kind: stack.BuildOnly},
	}}
	var buf bytes.Buffer
	if err := Table(&buf, New(st, nil), TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.HasPrefix(out, "images under h.example:5000/vendor/stack/\n") || !strings.Contains(out, "\napi      api:1 ") {
		t.Errorf("table:\n%s", out)
	}
	// --no-trunc: full references (and digests).
	buf.Reset()
	if err := Table(&buf, New(st, nil), TableOptions{NoTrunc: true}); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Contains(out, "images under") || !strings.Contains(out, "\napi      h.example:5000/vendor/stack/api:1 ") {
		t.Errorf("--no-trunc table:\n%s", out)
	}
}

// A digest the registry lacks points at the variable that wrote it, as the
// digest, and offers no mirror of "that tag".
func TestNotFoundFixOfADigest(t *testing.T) {
	d := stack.Variable{Name: "API_DIGEST", Value: "sha256:" + strings.Repeat("1", 64), Set: true, Origin: stack.Origin{Kind: stack.FromEnvFile, Location: stack.Location{File: ".env", Line: 3}}, Part: stack.PartTag}
	fix := notFoundFix(probe.Result{Status: probe.NotFound, Missing: probe.MissingDigest, Fix: "check the digest"}, []stack.Variable{d})
	if !strings.Contains(fix, "API_DIGEST") || !strings.Contains(fix, "writes the digest") || strings.Contains(fix, "tag") {
		t.Errorf("fix %q", fix)
	}
}
