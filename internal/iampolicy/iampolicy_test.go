package iampolicy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/iampolicy")

// seedRepositories are the seed's six repositories in the vendor's account.
func seedRepositories() []Repository {
	var out []Repository
	// Deliberately not in ARN order, with a duplicate, to prove sorting and dedup.
	for _, s := range []string{"writer", "api", "director", "change-streams", "scheduler", "webhooks", "api"} {
		out = append(out, Repository{Partition: "aws", Region: "us-east-1", Account: "513558712013", Name: "currents/on-prem/" + s})
	}
	return out
}

// kind is what a policy document attaches to; IAM's rules differ by kind.
type kind int

const (
	identityPolicy   kind = iota // attached to a role: Resource, no Principal
	repositoryPolicy             // attached to an ECR repository: Principal, no Resource
	trustPolicy                  // a role's trust: a Federated principal, no Resource
	queuePolicy                  // attached to an SQS queue: a Service principal, the queue, the sender's ARN (or the execution role)
)

// knownActions are the real ECR and STS actions; a typo would be accepted
// by JSON and silently grant nothing in AWS.
var knownActions = map[string]bool{
	"ecr:BatchCheckLayerAvailability": true, "ecr:BatchGetImage": true, "ecr:GetDownloadUrlForLayer": true,
	"ecr:CompleteLayerUpload": true, "ecr:InitiateLayerUpload": true, "ecr:PutImage": true, "ecr:UploadLayerPart": true,
	"ecr:GetAuthorizationToken": true, "ecr:DescribeImages": true, "ecr:DescribeRepositories": true,
	"ecr:GetRepositoryPolicy": true, "ecr:ListImages": true, "ecr:CreateRepository": true,
	"sts:AssumeRoleWithWebIdentity": true,
	"sqs:ReceiveMessage":            true, "sqs:DeleteMessage": true, "sqs:GetQueueAttributes": true, "sqs:GetQueueUrl": true, "sqs:SendMessage": true,
}

var (
	repoARN     = regexp.MustCompile(`^arn:aws(-[a-z]+)*:ecr:[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:repository/[a-z0-9]+(?:[._/-][a-z0-9]+)*$`)
	awsARN      = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(root|role/.+|user/.+)$`)
	queueARN    = regexp.MustCompile(`^arn:aws(-[a-z]+)*:sqs:[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:[A-Za-z0-9_-]{1,80}$`)
	roleARN     = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,64}$`)
	ruleARN     = regexp.MustCompile(`^arn:aws(-[a-z]+)*:events:[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:rule/[.\-_A-Za-z0-9]{1,64}$`)
	providerARN = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:iam::[0-9]{12}:oidc-provider/(token\.actions\.githubusercontent\.com|oidc\.circleci\.com/org/([0-9a-f-]{36}))$`)
	alnumSid    = regexp.MustCompile(`^[A-Za-z0-9]*$`)
)

// checkIAM applies the IAM policy grammar AWS enforces when the document is
// attached (aws iam put-role-policy / create-role, ecr set-repository-policy),
// so a golden cannot drift into JSON that AWS would refuse or that would
// grant nothing.
func checkIAM(t *testing.T, name string, raw []byte, k kind) {
	t.Helper()
	for _, p := range iamProblems(name, raw, k) {
		t.Error(p)
	}
}

func iamProblems(name string, raw []byte, k kind) []string {
	c := &iamCheck{name: name, kind: k}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		c.fail("%s: %v", name, err)
		return c.problems
	}
	for key := range doc {
		if key != "Version" && key != "Statement" && key != "Id" {
			c.fail("%s: unknown top-level element %q", name, key)
		}
	}
	if doc["Version"] != "2012-10-17" {
		c.fail("%s: Version = %v", name, doc["Version"])
	}
	stmts, _ := doc["Statement"].([]any)
	if len(stmts) == 0 {
		c.fail("%s: no Statement array", name)
	}
	for i, raw := range stmts {
		st, _ := raw.(map[string]any)
		if !c.statement(i, st) {
			break
		}
	}
	return c.problems
}

// iamCheck collects what IAM would refuse in one policy document.
type iamCheck struct {
	name     string
	kind     kind
	problems []string
}

func (c *iamCheck) fail(format string, a ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, a...))
}

// strs reads an element IAM allows as a string or a list of strings.
func (c *iamCheck) strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				c.fail("%s: non-string %v", c.name, e)
			}
			out = append(out, s)
		}
		return out
	}
	c.fail("%s: want a string or a list of strings, got %T", c.name, v)
	return nil
}

// statement checks statement i; false stops the checks of the document.
func (c *iamCheck) statement(i int, st map[string]any) bool {
	for key := range st {
		switch key {
		case "Sid", "Effect", "Principal", "Action", "Resource", "Condition":
		default:
			c.fail("%s[%d]: element %q not used by our policies", c.name, i, key)
		}
	}
	if sid, _ := st["Sid"].(string); c.kind != repositoryPolicy && !alnumSid.MatchString(sid) {
		c.fail("%s[%d]: Sid %q must be alphanumeric in IAM policies", c.name, i, sid)
	}
	if e := st["Effect"]; e != "Allow" && e != "Deny" {
		c.fail("%s[%d]: Effect %v", c.name, i, e)
	}
	actions := c.strs(st["Action"])
	if len(actions) == 0 {
		c.fail("%s[%d]: no Action", c.name, i)
	}
	for _, a := range actions {
		if !knownActions[a] {
			c.fail("%s[%d]: unknown action %q", c.name, i, a)
		}
	}
	switch c.kind {
	case identityPolicy:
		c.identity(i, st, actions)
	case repositoryPolicy:
		c.repository(i, st)
	case trustPolicy:
		return c.trust(i, st)
	case queuePolicy:
		c.queue(i, st)
	}
	return true
}

func (c *iamCheck) queue(i int, st map[string]any) {
	p, _ := st["Principal"].(map[string]any)
	for _, r := range c.strs(st["Resource"]) {
		if !queueARN.MatchString(r) {
			c.fail("%s[%d]: %q is not an SQS queue ARN", c.name, i, r)
		}
	}
	if role, _ := p["AWS"].(string); len(p) == 1 && roleARN.MatchString(role) {
		// Another account's queue: only the rule's execution role sends.
		return
	}
	if len(p) != 1 || p["Service"] != "events.amazonaws.com" {
		c.fail("%s[%d]: a queue policy for EventBridge names the events.amazonaws.com service or the rule's execution role (got %v)", c.name, i, p)
	}
	conds, _ := st["Condition"].(map[string]any)
	eq, _ := conds["ArnEquals"].(map[string]any)
	if src, _ := eq["aws:SourceArn"].(string); len(conds) != 1 || !ruleARN.MatchString(src) {
		// Without it any rule of any account could fill the queue.
		c.fail("%s[%d]: want exactly ArnEquals aws:SourceArn = the rule's ARN, got %v", c.name, i, conds)
	}
}

func (c *iamCheck) identity(i int, st map[string]any, actions []string) {
	_, hasPrincipal := st["Principal"]
	res, hasResource := st["Resource"]
	if hasPrincipal || !hasResource {
		c.fail("%s[%d]: an identity policy has a Resource and no Principal", c.name, i)
	}
	for _, r := range c.strs(res) {
		if r == "*" || strings.HasPrefix(actions[0], "sqs:") && queueARN.MatchString(r) {
			continue
		}
		if !repoARN.MatchString(r) {
			c.fail("%s[%d]: %q is not an ECR repository ARN", c.name, i, r)
		}
		if len(actions) == 1 && actions[0] == "ecr:GetAuthorizationToken" {
			c.fail("%s[%d]: GetAuthorizationToken only works on *", c.name, i)
		}
	}
}

func (c *iamCheck) repository(i int, st map[string]any) {
	_, hasResource := st["Resource"]
	p, _ := st["Principal"].(map[string]any)
	if hasResource || len(p) != 1 || p["AWS"] == nil {
		c.fail("%s[%d]: a repository policy names an AWS Principal and no Resource", c.name, i)
	}
	for _, a := range c.strs(p["AWS"]) {
		if !awsARN.MatchString(a) {
			c.fail("%s[%d]: principal %q", c.name, i, a)
		}
	}
}

func (c *iamCheck) trust(i int, st map[string]any) bool {
	_, hasResource := st["Resource"]
	p, _ := st["Principal"].(map[string]any)
	fed, _ := p["Federated"].(string)
	m := providerARN.FindStringSubmatch(fed)
	if hasResource || len(p) != 1 || m == nil {
		c.fail("%s[%d]: a trust policy names a Federated OIDC provider and no Resource (got %v)", c.name, i, p)
		return false
	}
	issuer := m[1]
	conds, _ := st["Condition"].(map[string]any)
	aud := ""
	for op, kv := range conds {
		if op != "StringEquals" && op != "StringLike" {
			c.fail("%s[%d]: condition operator %q", c.name, i, op)
		}
		for key, v := range kv.(map[string]any) {
			switch key {
			case issuer + ":aud":
				aud, _ = v.(string)
			case issuer + ":sub":
			default:
				c.fail("%s[%d]: condition key %q does not belong to issuer %s", c.name, i, key, issuer)
			}
		}
	}
	// Without an audience pin any token of the issuer would do.
	want := "sts.amazonaws.com"
	if m[2] != "" {
		want = m[2] // CircleCI: the organization ID
	}
	if aud != want {
		c.fail("%s[%d]: %s:aud = %q, want %q", c.name, i, issuer, aud, want)
	}
	return true
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
	// EventBridge patterns are JSON too, but no IAM document.
	if !strings.HasSuffix(name, "-pattern.json") && doc["Version"] != "2012-10-17" {
		t.Errorf("%s: Version = %v", name, doc["Version"])
	}
}

func TestPullGolden(t *testing.T) {
	d, err := Pull(seedRepositories())
	if err != nil {
		t.Fatal(err)
	}
	out := d.JSON()
	golden(t, "pull.json", out)
	checkIAM(t, "pull.json", out, identityPolicy)
	// Exactly the six repository ARNs, and never the seed's malformed form.
	if n := strings.Count(string(out), ":repository/currents/on-prem/"); n != 6 {
		t.Errorf("want 6 repository ARNs, got %d", n)
	}
	if strings.Contains(string(out), ":currents/on-prem/api/*") {
		t.Error("reproduced seed 000's malformed ARN")
	}
}

func TestPushGolden(t *testing.T) {
	d, err := Push(seedRepositories()[:2], PushOptions{CreateRepositories: true})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "push-create.json", d.JSON())
	checkIAM(t, "push-create.json", d.JSON(), identityPolicy)
}

func TestRepositoryGolden(t *testing.T) {
	d, err := RepositoryPull("111111111111", "aws")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "repository.json", d.JSON())
	checkIAM(t, "repository.json", d.JSON(), repositoryPolicy)
	if strings.Contains(string(d.JSON()), "GetAuthorizationToken") {
		t.Error("GetAuthorizationToken has no effect in a repository policy")
	}
}

func TestTrustGolden(t *testing.T) {
	gh, err := TrustGitHub("aws", "222222222222", GitHub{Repo: "acme/deploy-currents"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "trust-github.json", gh.JSON())
	checkIAM(t, "trust-github.json", gh.JSON(), trustPolicy)
	cc, err := TrustCircleCI("aws", "222222222222", "4A5C7E3E-0B5F-4D1C-9E2A-3F6B8C1D2E7F", "")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "trust-circleci.json", cc.JSON())
	checkIAM(t, "trust-circleci.json", cc.JSON(), trustPolicy)
}

func TestTrustNarrowed(t *testing.T) {
	for g, want := range map[GitHub]string{
		{Repo: "acme/ops", Ref: "refs/heads/main"}:    `"token.actions.githubusercontent.com:sub": "repo:acme/ops:ref:refs/heads/main"`,
		{Repo: "acme/ops", Ref: "refs/tags/v*"}:       `"token.actions.githubusercontent.com:sub": "repo:acme/ops:ref:refs/tags/v*"`,
		{Repo: "acme/ops", Environment: "production"}: `"token.actions.githubusercontent.com:sub": "repo:acme/ops:environment:production"`,
	} {
		d, err := TrustGitHub("aws", "222222222222", g)
		if err != nil || !strings.Contains(string(d.JSON()), want) {
			t.Errorf("%+v: %v\n%s", g, err, d.JSON())
			continue
		}
		checkIAM(t, g.Ref+g.Environment, d.JSON(), trustPolicy)
	}
	for g, want := range map[GitHub]string{
		{Repo: "acme/ops", Ref: "main"}:                              "full ref",
		{Repo: "acme/ops", Ref: "refs/heads/main", Environment: "p"}: "not both",
		{Repo: "acme/ops", Environment: "prod:x"}:                    "environment",
	} {
		if _, err := TrustGitHub("aws", "222222222222", g); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: err %v, want %q", g, err, want)
		}
	}
	org, proj := "4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f", "9D2E7F4A-5C7E-4E0B-8F4D-1C9E2A3F6B8C"
	d, err := TrustCircleCI("aws", "222222222222", org, proj)
	if err != nil {
		t.Fatal(err)
	}
	checkIAM(t, "circleci project", d.JSON(), trustPolicy)
	if want := `"oidc.circleci.com/org/` + org + `:sub": "org/` + org + `/project/` + strings.ToLower(proj) + `/user/*"`; !strings.Contains(string(d.JSON()), want) {
		t.Errorf("want %s in\n%s", want, d.JSON())
	}
	if _, err := TrustCircleCI("aws", "222222222222", org, "proj"); err == nil {
		t.Error("non-UUID project accepted")
	}
}

// TestCheckIAMCatchesMistakes proves the grammar check can fail.
func TestCheckIAMCatchesMistakes(t *testing.T) {
	for name, c := range map[string]struct {
		doc string
		k   kind
	}{
		"typo action":           {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:BatchGetImages"],"Resource":"*"}]}`, identityPolicy},
		"seed 000 bad ARN":      {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:BatchGetImage"],"Resource":["arn:aws:ecr:us-east-1:513558712013:currents/on-prem/api/*"]}]}`, identityPolicy},
		"principal in identity": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"ecr:BatchGetImage","Resource":"*"}]}`, identityPolicy},
		"resource in repo":      {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"ecr:BatchGetImage","Resource":"*"}]}`, repositoryPolicy},
		"no audience":           {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:a/b:*"}}}]}`, trustPolicy},
		"circleci aud":          {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::222222222222:oidc-provider/oidc.circleci.com/org/4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc.circleci.com/org/4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f:aud":"sts.amazonaws.com"}}}]}`, trustPolicy},
		"old version":           {`{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*"}]}`, identityPolicy},
	} {
		if len(iamProblems(name, []byte(c.doc), c.k)) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, err := TrustGitHub("aws", "222222222222", GitHub{Repo: "acme/x"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		b, err := TrustGitHub("aws", "222222222222", GitHub{Repo: "acme/x"})
		if err != nil || !bytes.Equal(a.JSON(), b.JSON()) {
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
		{"unknown region", ValidateRegion("mars-west-1"), "not an AWS region"},
		{"partition shape", ValidatePartition("amazon"), "not an AWS partition"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, c.err, c.want)
		}
	}
	for _, ok := range []string{"us-east-1", "eu-west-2", "us-gov-west-1", "cn-north-1", "ap-southeast-4", "il-central-1", "us-isob-east-1", "eusc-de-east-1"} {
		if err := ValidateRegion(ok); err != nil {
			t.Errorf("%s rejected: %v", ok, err)
		}
	}
	if _, err := Pull(nil); err == nil {
		t.Error("empty stack accepted")
	}
	if _, err := TrustGitHub("aws", "2222", GitHub{Repo: "a/b"}); err == nil {
		t.Error("bad account accepted")
	}
}

func TestParsePrincipal(t *testing.T) {
	for in, want := range map[string]string{
		"111111111111":                          "arn:aws:iam::111111111111:root",
		"arn:aws:iam::111111111111:role/puller": "arn:aws:iam::111111111111:role/puller",
		"arn:aws:iam::111111111111:user/a/b":    "arn:aws:iam::111111111111:user/a/b",
	} {
		got, err := ParsePrincipal(in, "aws")
		if err != nil || got != want {
			t.Errorf("ParsePrincipal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := ParsePrincipal("111111111111", "aws-cn"); err != nil || got != "arn:aws-cn:iam::111111111111:root" {
		t.Errorf("account in aws-cn: %q, %v", got, err)
	}
	if _, err := ParsePrincipal("arn:aws-cn:iam::111111111111:user/a", "aws"); err == nil || !strings.Contains(err.Error(), "partition aws-cn") {
		t.Errorf("cross-partition principal: %v", err)
	}
	_, err := ParsePrincipal("arn:aws:sts::111111111111:assumed-role/puller/session-1", "aws")
	if err == nil || !strings.Contains(err.Error(), "arn:aws:iam::111111111111:role/puller") {
		t.Errorf("session ARN: %v", err)
	}
	for _, bad := range []string{"", "arn:aws:iam::11111111111:root", "arn:aws:s3:::bucket", "someone"} {
		if _, err := ParsePrincipal(bad, "aws"); err == nil {
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
