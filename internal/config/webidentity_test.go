package config

import (
	"strings"
	"testing"
)

func TestWebIdentity(t *testing.T) {
	const head = "registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    role_arn: arn:aws:iam::513558712013:role/ci\n"
	c, err := Parse("/x/currents.yaml", []byte(head+"    web_identity: github-actions\n    web_identity_audience: sigstore\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Registries[0]; e.WebIdentity != WebIdentityGitHub || e.Audience() != "sigstore" {
		t.Errorf("entry: %+v", e)
	}
	c, _ = Parse("/x/currents.yaml", []byte(head+"    web_identity: circleci\n"))
	if e := c.Registries[0]; e.WebIdentity != WebIdentityCircleCI || e.Audience() != DefaultAudience {
		t.Errorf("entry: %+v", e)
	}
	if out := string(Redacted(c)); !strings.Contains(out, "web_identity: circleci") {
		t.Errorf("config output lacks the key:\n%s", out)
	}
	for name, c := range map[string]struct{ body, want string }{
		"unknown value":         {head + "    web_identity: github\n", `key "web_identity": "github" is not a web identity this helper knows; write one of github-actions, circleci, kubernetes`},
		"typo":                  {head + "    web_identity: circlec\n", "(did you mean circleci?)"},
		"no role":               {"registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    web_identity: circleci\n", `key "web_identity": only applies when the entry assumes a role`},
		"with profile":          {head + "    profile: p\n    web_identity: circleci\n", `key "web_identity": cannot be combined with profile`},
		"with token file":       {head + "    web_identity_token_file: /t\n    web_identity: circleci\n", `cannot be combined with web_identity_token_file`},
		"with external ID":      {head + "    external_id: abc123\n    web_identity: github-actions\n", "takes no external ID"},
		"audience for circleci": {head + "    web_identity: circleci\n    web_identity_audience: x\n", "CircleCI's token always has the organization ID"},
		"audience alone":        {head + "    web_identity_audience: x\n", "add web_identity: github-actions"},
		"audience with a space": {head + "    web_identity: github-actions\n    web_identity_audience: a b\n", "is not an audience"},
	} {
		_, err := Parse("/x/currents.yaml", []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/x/currents.yaml:") {
			t.Errorf("%s: %v\nwant %q", name, err, c.want)
		}
	}
}

func TestUpsertWebIdentity(t *testing.T) {
	spec := EntrySpec{Host: "513558712013.dkr.ecr.us-east-1.amazonaws.com", RoleARN: "arn:aws:iam::513558712013:role/ci", WebIdentity: WebIdentityGitHub}
	out, err := Upsert(nil, "/x/currents.yaml", spec)
	if err != nil || !strings.Contains(string(out), "web_identity: github-actions") {
		t.Fatalf("%v\n%s", err, out)
	}
	spec.WebIdentity = ""
	out, err = Upsert(out, "/x/currents.yaml", spec)
	if err != nil || strings.Contains(string(out), "web_identity") {
		t.Fatalf("flag left out keeps the key: %v\n%s", err, out)
	}
}
