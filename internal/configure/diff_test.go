package configure

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/dirs"
)

func TestDiffShowsHunksWithContextAndRedacts(t *testing.T) {
	before := "a\nb\nc\n\"password\": \"hunter2\",\nd\ne\nx\nf\ng\nh\n"
	after := "a\nb\nc\nd\ne\nx\nf\ng\nh2\n"
	got := Diff("f", []byte(before), []byte(after), []string{"hunter2"})
	want := "--- f\n+++ f (after)\n@@ -2,5 +2,4 @@\n b\n c\n-\"password\": \"[redacted]\",\n d\n e\n@@ -8,3 +7,3 @@\n f\n g\n-h\n+h2\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Harden, defect 2: --print showed logins and external IDs unless each sat on a line of its own, as the
// line-anchored pattern expected. Every secret value either file holds, before or after, is redacted
// wherever and however it is written.
func TestPrintRedactsSecretsWhateverTheirLayout(t *testing.T) {
	secrets := []string{
		"Z2hwOm9uZS1saW5lLXNlY3JldA==", // the one-line config.json
		"aWQtdG9rZW4tMTIzNDU2Nzg=",     // beside auth on the host's line
		"cGFzcy1zZWNyZXQtOQ==",         // with a capital key (docker's decoder ignores case)
		"pass-secret-9",                // written with an escape
		"reg-token-77abc",
		"ext-flow-5d1e",    // currents.yaml flow style
		"ext-quoted-8a2b",  // a quoted key
		"ext-removed-2b7f", // only in the file before
	}
	dir := home(t)
	json := `{"auths":{"ghcr.io":{"auth":"Z2hwOm9uZS1saW5lLXNlY3JldA=="},"quay.io": {"auth": "aWQtdG9rZW4tMTIzNDU2Nzg=", "identitytoken": "aWQtdG9rZW4tMTIzNDU2Nzg="},` +
		`"r.example.com":{"Auth":"cGFzcy1zZWNyZXQtOQ==","password":"pass-s\u0065cret-9","REGISTRYTOKEN":"reg-token-77abc"}},"credsStore":"pass"}`
	write(t, filepath.Join(dir, dirs.DockerConfigName), json, 0o600)
	// The entry that changes in flow style between two others, their external IDs in its context lines;
	// every other layout is config.TestRedactTextMasksEveryExternalID's.
	yaml := "registries:\n" +
		"  - {host: a.example.com, account: \"123456789012\", region: us-east-1, role_arn: \"" + role + "\", external_id: ext-flow-5d1e}\n" +
		"  - {host: " + alias + ", account: \"123456789012\", region: us-east-1, role_arn: \"" + role + "\", external_id: 'ext-removed-2b7f'}\n" +
		"  - \"external_id\": ext-quoted-8a2b\n    host: b.example.com\n    account: \"123456789012\"\n    region: us-east-1\n    role_arn: " + role + "\n"
	write(t, filepath.Join(dir, dirs.ConfigName), yaml, 0o600)
	spec := aliasSpec()
	spec.Duration = "2h" // the entry changes; its external ID goes
	res, err := run(t, Request{Spec: spec, DryRun: true, RemoveStaleAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	diffs := res.Config.Diff + res.Docker.Diff
	if !strings.Contains(res.Config.Diff, "duration: 2h") && !strings.Contains(res.Config.Diff, "duration: \"2h\"") || !strings.Contains(res.Docker.Diff, "credHelpers") || !strings.Contains(diffs, "[redacted]") {
		t.Fatalf("the diffs do not show the change:\n%s", diffs)
	}
	for _, s := range append(secrets, "pass-s\\u0065cret-9") {
		if strings.Contains(diffs, s) {
			t.Errorf("--print shows %s:\n%s", s, diffs)
		}
	}
	if !strings.Contains(res.Config.Diff, "a.example.com") || !strings.Contains(res.Config.Diff, "b.example.com") ||
		!strings.Contains(res.Docker.Diff, "ghcr.io") || !strings.Contains(res.Docker.Diff, `"credsStore":"pass"`) {
		t.Errorf("the diffs lost what is not secret:\n%s", diffs)
	}
}
