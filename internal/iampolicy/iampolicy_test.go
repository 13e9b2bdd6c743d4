package iampolicy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/iampolicy")

// stack is the seed's six repositories in the vendor's account.
func stack() []Repository {
	var out []Repository
	// Deliberately not in ARN order, with a duplicate, to prove sorting and dedup.
	for _, s := range []string{"writer", "api", "director", "change-streams", "scheduler", "webhooks", "api"} {
		out = append(out, Repository{Partition: "aws", Region: "us-east-1", Account: "513558712013", Name: "currents/on-prem/" + s})
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "iampolicy", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./internal/iampolicy -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
	// Every golden must be a single valid JSON document with the IAM version.
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s is not valid JSON: %v", name, err)
	}
	if doc["Version"] != "2012-10-17" {
		t.Errorf("%s: Version = %v", name, doc["Version"])
	}
}

func TestPullGolden(t *testing.T) {
	d, err := Pull(stack())
	if err != nil {
		t.Fatal(err)
	}
	out := d.JSON()
	golden(t, "pull.json", out)
	// Exactly the six repository ARNs, and never the seed's malformed form.
	if n := strings.Count(string(out), ":repository/currents/on-prem/"); n != 6 {
		t.Errorf("want 6 repository ARNs, got %d", n)
	}
	if strings.Contains(string(out), ":currents/on-prem/api/*") {
		t.Error("reproduced seed 000's malformed ARN")
	}
}

func TestPushGolden(t *testing.T) {
	d, err := Push(stack()[:2], PushOptions{CreateRepositories: true})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "push-create.json", d.JSON())
}

func TestRepositoryGolden(t *testing.T) {
	d, err := RepositoryPull("111111111111")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "repository.json", d.JSON())
	if strings.Contains(string(d.JSON()), "GetAuthorizationToken") {
		t.Error("GetAuthorizationToken has no effect in a repository policy")
	}
}

func TestTrustGolden(t *testing.T) {
	gh, err := TrustGitHub("aws", "222222222222", "acme/deploy-currents")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "trust-github.json", gh.JSON())
	cc, err := TrustCircleCI("aws", "222222222222", "4A5C7E3E-0B5F-4D1C-9E2A-3F6B8C1D2E7F")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "trust-circleci.json", cc.JSON())
}

func TestDeterministic(t *testing.T) {
	a, _ := TrustGitHub("aws", "222222222222", "acme/x")
	for i := 0; i < 50; i++ {
		b, _ := TrustGitHub("aws", "222222222222", "acme/x")
		if !bytes.Equal(a.JSON(), b.JSON()) {
			t.Fatal("output changed between runs")
		}
	}
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"short account", ValidateAccount("12345678901"), "exactly 12 digits"},
		{"letters account", ValidateAccount("12345678901a"), "exactly 12 digits"},
		{"region", ValidateRegion("us-east"), "not an AWS region"},
		{"region upper", ValidateRegion("US-EAST-1"), "not an AWS region"},
		{"gh no slash", ValidateGitHubRepo("acme"), "OWNER/REPO"},
		{"gh bad owner", ValidateGitHubRepo("-acme/x"), "OWNER/REPO"},
		{"gh dotdot", ValidateGitHubRepo("acme/.."), "OWNER/REPO"},
		{"circleci", ValidateCircleCIOrg("my-org"), "must be a UUID"},
		{"repo name", Repository{"aws", "us-east-1", "513558712013", "Currents/API"}.Validate(), "not a valid ECR repository name"},
		{"partition mismatch", Repository{"aws", "cn-north-1", "513558712013", "a"}.Validate(), "partition aws-cn"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, c.err, c.want)
		}
	}
	for _, ok := range []string{"us-east-1", "eu-west-2", "us-gov-west-1", "cn-north-1", "ap-southeast-4", "il-central-1"} {
		if err := ValidateRegion(ok); err != nil {
			t.Errorf("%s rejected: %v", ok, err)
		}
	}
	if _, err := Pull(nil); err == nil {
		t.Error("empty stack accepted")
	}
	if _, err := TrustGitHub("aws", "2222", "a/b"); err == nil {
		t.Error("bad account accepted")
	}
}

func TestParsePrincipal(t *testing.T) {
	for in, want := range map[string]string{
		"111111111111":                          "arn:aws:iam::111111111111:root",
		"arn:aws:iam::111111111111:role/puller": "arn:aws:iam::111111111111:role/puller",
		"arn:aws-cn:iam::111111111111:user/a/b": "arn:aws-cn:iam::111111111111:user/a/b",
	} {
		got, err := ParsePrincipal(in)
		if err != nil || got != want {
			t.Errorf("ParsePrincipal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParsePrincipal("arn:aws:sts::111111111111:assumed-role/puller/session-1")
	if err == nil || !strings.Contains(err.Error(), "arn:aws:iam::111111111111:role/puller") {
		t.Errorf("session ARN: %v", err)
	}
	for _, bad := range []string{"", "arn:aws:iam::11111111111:root", "arn:aws:s3:::bucket", "someone"} {
		if _, err := ParsePrincipal(bad); err == nil {
			t.Errorf("ParsePrincipal(%q) accepted", bad)
		}
	}
}

func TestClusterRegionWarnings(t *testing.T) {
	repos := []Repository{{"aws", "eu-west-2", "222222222222", "app"}, {"aws", "us-east-1", "222222222222", "db"}}
	w, err := ClusterRegionWarnings(repos, "eu-west-2")
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "db is in us-east-1") {
		t.Errorf("warnings = %q, %v", w, err)
	}
	if _, err := ClusterRegionWarnings(repos, "mars-1"); err == nil {
		t.Error("bad cluster region accepted")
	}
}
