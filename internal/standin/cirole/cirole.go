// Package cirole adds to the stand-in a role that CI jobs assume, trusting
// them through the very documents `docker currents policy ci-trust` writes
// (iampolicy), and gives the environment of a job it trusts. It is apart from
// standintest because iampolicy imports much of the product, which
// standintest's users include.
package cirole

import (
	"testing"

	"github.com/currentsdev/currents/internal/iampolicy"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// The CI jobs an Add role trusts: currentsdev/stack's GitHub Actions runs
// on main, and the jobs of one CircleCI project.
const (
	GitHubRepo      = "currentsdev/stack"
	GitHubRef       = "refs/heads/main"
	CircleCIOrg     = "4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f"
	CircleCIProject = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
)

// Add adds role to s, trusting one CI's jobs through the very document
// `docker currents policy ci-trust` writes, and registers that CI's OIDC
// provider. ci is currents.yaml's web_identity: settings.WebIdentityGitHub or
// settings.WebIdentityCircleCI. spec's TrustPolicy is that document.
func Add(t testing.TB, s *standin.Server, ci, role string, spec standin.RoleSpec) {
	t.Helper()
	var doc iampolicy.Document
	var err error
	switch ci {
	case settings.WebIdentityGitHub:
		doc, err = iampolicy.TrustGitHub("aws", s.Account(), iampolicy.GitHub{Repo: GitHubRepo, Ref: GitHubRef})
		s.AddOIDCProvider(s.Account(), standin.GitHubIssuer, "sts.amazonaws.com")
	case settings.WebIdentityCircleCI:
		doc, err = iampolicy.TrustCircleCI("aws", s.Account(), CircleCIOrg, CircleCIProject)
		s.AddOIDCProvider(s.Account(), standin.CircleCIIssuer(CircleCIOrg), CircleCIOrg)
	default:
		t.Fatalf("cirole.Add: %q is not a CI", ci)
	}
	if err != nil {
		t.Fatal(err)
	}
	spec.TrustPolicy = doc.JSON()
	s.AddRole(role, spec)
}

// Job is the environment of a job an Add role trusts, as a getenv
// (a CircleCI job's token is signed now, with the stand-in's ID-token lifetime).
func Job(s *standin.Server, ci string) func(string) string {
	if ci == settings.WebIdentityCircleCI {
		return standintest.Getenv(s.CircleCIEnv(standin.CircleCIJob{Org: CircleCIOrg, Project: CircleCIProject, User: "u"}))
	}
	return standintest.Getenv(s.GitHubEnv(standin.GitHubJob{Repository: GitHubRepo, Ref: GitHubRef}))
}
