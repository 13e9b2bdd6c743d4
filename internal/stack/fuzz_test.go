package stack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/currentsdev/currents/internal/envfile"
)

// FuzzDiagnose: any image as written in a compose file, with any .env beside
// it, is diagnosed without a panic; the reference is parsed exactly when no
// error was found, and every error says what to do.
func FuzzDiagnose(f *testing.F) {
	for _, s := range [][3]string{
		{"${REPO}api:${TAG}", "REPO=r.io/x/\nTAG=1.0\n", ""},
		{"${REPO}api:${TAG}", "REPO=r.io/x\nTAG=\n", "linux/amd64"},
		{"${DC_CURRENTS_REGISTRY:-513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/}api:${TAG:-latest}", "", "linux/arm64/v8"},
		{"$REPO/api:$TAG", "REPO=\"a b\"\n", "windows"},
		{"${REPO_X}api:${TAG?set it}", "REPO_X=${REPO}\nREPO=${REPO_X}\n", ""},
		{"r.io/x/api:${TAG}@sha256:0123abcd", "TAG=v${TAG}\n", ""},
		{"${EMPTY}r.io/api:1", "EMPTY=\n", ""}, {"$$REPO/api:1", "", ""}, {"r.io:5000/api", "", ""},
		{"${A:+x}${B+y}", "A=1\n", ""}, {"${", "", ""}, {"$", "", ""}, {"${A:-${B:-${C}}}", "", ""}, {"UPPER/Case:tag", "", ""},
		{"", "", ""}, {"api:1", "A=\"unterminated\n", "linux/"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw, dotenv, platform string) {
		values, err := envfile.Parse([]byte(dotenv))
		if err != nil {
			return // compose refuses the project
		}
		p := filepath.Join(dir, ".env")
		if err := os.WriteFile(p, []byte(dotenv), 0o600); err != nil {
			t.Fatal(err)
		}
		env := environment{project: types.Mapping(values), passes: [][]string{{p}}}
		svc := Service{Name: "api", Kind: Pulled, Raw: raw, Image: substitute(raw, env, nil), Platform: platform,
			Source: Location{File: "compose.yaml", Line: 3}}
		diagnose(&svc, env)
		failed := false
		for _, d := range svc.Diagnostics {
			if d.Severity == Error {
				failed = true
				if d.Message == "" || d.Fix == "" {
					t.Errorf("error without its message or fix: %+v", d)
				}
			}
		}
		if !failed && svc.Image != "" && svc.Ref == nil {
			t.Errorf("%q (from %q): no error and no reference", svc.Image, raw)
		}
		if failed && svc.Ref != nil {
			t.Errorf("%q: an error and a reference: %+v", svc.Image, svc.Diagnostics)
		}
	})
}
