package doctor_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/doctor"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/cirole"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// TestGitHubWebIdentity: in a GitHub job, doctor names the CI, shows the
// token's claims beside the condition keys, and on a refusal the same claims
// and the condition to compare.
func TestGitHubWebIdentity(t *testing.T) {
	w := newWorld(t)
	ci := "arn:aws:iam::" + w.aws.Account() + ":role/currents-ci"
	cirole.Add(t, w.aws, config.WebIdentityGitHub, ci, standin.RoleSpec{})
	p := filepath.Join(w.home, ".docker", dirs.ConfigName)
	data, err := config.Upsert(nil, p, config.EntrySpec{Host: w.reg.Host(), Account: w.aws.Account(), Region: w.aws.Region(), RoleARN: ci, WebIdentity: config.WebIdentityGitHub})
	must(t, err)
	must(t, os.WriteFile(p, data, 0o600))
	// A runner has no AWS keys.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")

	standintest.SetEnv(t, w.aws.GitHubEnv(standin.GitHubJob{Repository: "currentsdev/stack", Ref: "refs/heads/main"}))
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckSource, doctor.Pass, "detected CI: GitHub Actions", "sub=repo:currentsdev/stack:ref:refs/heads/main",
		"aud=sts.amazonaws.com", "iss=https://token.actions.githubusercontent.com", "token.actions.githubusercontent.com:sub")
	expect(t, rep, doctor.CheckAssume, doctor.Pass, "assumed-role/currents-ci/")
	expect(t, rep, doctor.CheckRegistry, doctor.Pass)

	standintest.SetEnv(t, w.aws.GitHubEnv(standin.GitHubJob{Repository: "currentsdev/stack", Ref: "refs/heads/feature"}))
	rep = w.doctor(t)
	expect(t, rep, doctor.CheckSource, doctor.Pass, "sub=repo:currentsdev/stack:ref:refs/heads/feature")
	expect(t, rep, doctor.CheckAssume, doctor.Fail, "AccessDenied", "sub=repo:currentsdev/stack:ref:refs/heads/feature", "compare its condition token.actions.githubusercontent.com:sub")

	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "")
	rep = w.doctor(t)
	expect(t, rep, doctor.CheckSource, doctor.Fail, "detected CI: GitHub Actions", "ACTIONS_ID_TOKEN_REQUEST_URL is not set", "permissions: id-token: write")
	expect(t, rep, doctor.CheckAssume, doctor.Skip)
}
