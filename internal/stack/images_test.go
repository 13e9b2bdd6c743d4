package stack

import (
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestImageVariables: the repository and tag variables are found in every
// form compose accepts, and a longer name sharing a prefix is not mistaken.
func TestImageVariables(t *testing.T) {
	cleanEnv(t)
	env := environment{project: types.Mapping{"REPO": "r.io/x/", "REPO_X": "r.io/y/", "TAG": "1.0", "EMPTY": ""}}
	for raw, want := range map[string][2]string{
		"${REPO}api:${TAG}":                 {"REPO", "TAG"},
		"${REPO:-r.io/x/}api:${TAG:-1.0}":   {"REPO", "TAG"},
		"$REPO/api:$TAG":                    {"REPO", "TAG"},
		"${REPO_X}api:${TAG?set it}":        {"REPO_X", "TAG"},
		"r.io/x/api:${TAG}":                 {"", "TAG"},
		"${REPO}api:1.0":                    {"REPO", ""},
		"${REPO}api:${TAG}@sha256:0123abcd": {"REPO", ""},
		"${REPO}api:v${TAG}":                {"REPO", ""},
		"${EMPTY}r.io/api:1":                {"", ""},
		"$$REPO/api:1":                      {"", ""},
		"r.io:5000/api":                     {"", ""},
	} {
		svc := Service{Name: "api", Kind: Pulled, Raw: raw, Image: substitute(raw, env, nil)}
		diagnose(&svc, env)
		if got := [2]string{svc.RepoVar, svc.TagVar}; got != want {
			t.Errorf("%s: repository, tag variables = %q, want %q", raw, got, want)
		}
	}
}

func TestCommonPrefix(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"r.io/a/on-prem/api:1", "r.io/a/on-prem/api-gw:1"}, "r.io/a/on-prem/"},
		{[]string{"r.io/a/on-prem/api:1"}, "r.io/a/on-prem/"},
		{[]string{"r.io/a/x:1", "q.io/a/x:1"}, ""},
		{[]string{"r.io:5000/a/x:same", "r.io:5000/a/y:same"}, "r.io:5000/a/"},
		{[]string{"r.io/a/b", "r.io/a/b/c@sha256:0123"}, "r.io/a/"},
		{[]string{"redis:7", "r.io/a/x:1"}, ""},
		{nil, ""},
	} {
		if got := CommonPrefix(c.in); got != c.want {
			t.Errorf("CommonPrefix(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
