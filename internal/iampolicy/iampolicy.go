// Package iampolicy writes the IAM JSON a stack's ECR repositories need: the
// pull policy for the role that reads them, the repository policy that lets
// another account read them, and the OIDC trust plus push permissions for a CI
// role that writes them. Output is deterministic (fixed key order, sorted
// lists) so it can be diffed, reviewed and golden-tested.
package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/currentsdev/currents/internal/partition"
)

// Version is the current IAM policy language version. Seed 002 shows the
// legacy "2008-10-17"; ECR accepts both for repository policies, and only the
// current one supports every condition operator, so we always write this.
const Version = "2012-10-17"

// Document is an IAM policy document. Field order is the order AWS's own
// examples use, and encoding/json keeps struct order, so output is stable.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one IAM statement. Resource is either "*" or a sorted list;
// Condition maps operator → key → value, which encoding/json sorts.
type Statement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal,omitempty"`
	Action    []string                     `json:"Action"`
	Resource  any                          `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// JSON renders the document with two-space indentation and a trailing newline,
// without HTML escaping (ARNs and conditions contain no HTML, but "<", ">" and
// "&" must never be mangled into \u003c in a policy someone pastes).
func (d Document) JSON() []byte { return indented(d) }

// indented is v (strings, and slices and maps of them) as JSON: two-space
// indentation, a trailing newline, no HTML escaping.
func indented(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// Only strings, slices and maps of strings: encoding cannot fail.
		panic(err)
	}
	return buf.Bytes()
}

// Repository is one ECR repository, the unit IAM scopes ECR actions to.
type Repository struct {
	Partition string // aws, aws-cn, aws-us-gov
	Region    string
	Account   string
	Name      string // e.g. currents/on-prem/api
}

// ARN is the repository's resource ARN. ECR repository actions are authorised
// against exactly this form; seed 000 also lists
// "arn:aws:ecr:…:currents/on-prem/api/*", which lacks the "repository/"
// resource type, so it matches no ECR resource at all. We do not reproduce it:
// it grants nothing, and a reader would take it for a wildcard that does.
func (r Repository) ARN() string {
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", r.Partition, r.Region, r.Account, r.Name)
}

// Validate reports the first thing wrong with r, naming the field.
func (r Repository) Validate() error {
	if err := ValidatePartition(r.Partition); err != nil {
		return err
	}
	if err := ValidateRegion(r.Region); err != nil {
		return err
	}
	if err := ValidateAccount(r.Account); err != nil {
		return err
	}
	if !repoNameRE().MatchString(r.Name) {
		return fmt.Errorf("repository name %q is not a valid ECR repository name (lowercase letters, digits, and . _ - / separators, 2-256 characters)", r.Name)
	}
	if got := partition.OfRegion(r.Region); got != r.Partition {
		return fmt.Errorf("region %s belongs to partition %s, not %s", r.Region, got, r.Partition)
	}
	return nil
}

var (
	repoNameRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	})
	ghOwnerRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`) })
	ghRepoRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`) })
	uuidRE    = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	})
)

// ValidateAccount checks an AWS account ID: exactly 12 digits.
func ValidateAccount(id string) error {
	if !partition.IsAccount(id) {
		return fmt.Errorf("AWS account ID %q must be exactly 12 digits (leading zeros included)", id)
	}
	return nil
}

// ValidateRegion checks the shape of an AWS region name such as eu-west-2.
func ValidateRegion(region string) error {
	if !partition.IsRegion(region) || partition.OfRegion(region) == "" {
		return fmt.Errorf("%q is not an AWS region name (expected something like us-east-1 or eu-west-2)", region)
	}
	return nil
}

// ValidatePartition checks that p names an AWS partition (aws, aws-cn,
// aws-us-gov, aws-iso-b…).
func ValidatePartition(p string) error {
	if !partition.Known(p) {
		return fmt.Errorf("%q is not an AWS partition (aws, aws-cn, aws-us-gov, …)", p)
	}
	return nil
}

// ParsePrincipal turns a user's --principal into the ARN a repository policy
// names. A bare account ID means the account's root, which delegates to that
// account's own IAM (the usual cross-account grant). An STS session ARN is
// refused with the role ARN to use instead, because a session ARN in a
// policy stops matching as soon as the session ends.
// partition is the repositories' partition: a bare account becomes a root ARN
// there, and an ARN from another partition is refused (IAM never matches
// principals across partitions).
func ParsePrincipal(s, part string) (string, error) {
	s = strings.TrimSpace(s)
	if err := ValidatePartition(part); err != nil {
		return "", err
	}
	if partition.IsAccount(s) {
		return "arn:" + part + ":iam::" + s + ":root", nil
	}
	if !strings.HasPrefix(s, "arn:") {
		return "", fmt.Errorf("principal %q must be a 12-digit account ID or an IAM ARN such as arn:aws:iam::111111111111:role/NAME", s)
	}
	a, err := arn.Parse(s)
	if err == nil && a.Region == "" && partition.IsAccount(a.AccountID) && partition.Known(a.Partition) {
		switch role, isSession := sessionRole(a); {
		case a.Service == "iam" && isPrincipal(a.Resource) && a.Partition != part:
			return "", fmt.Errorf("principal %q is in partition %s but the repositories are in %s; a principal can only be granted within its partition", s, a.Partition, part)
		case a.Service == "iam" && isPrincipal(a.Resource):
			return s, nil
		case isSession:
			return "", fmt.Errorf("principal %q is a temporary session; use the role itself: arn:%s:iam::%s:role/%s", s, a.Partition, a.AccountID, role)
		}
	}
	return "", fmt.Errorf("principal %q is not an IAM principal ARN (expected arn:aws:iam::<12-digit account>:root, :role/NAME or :user/NAME)", s)
}

// isPrincipal reports whether an IAM ARN's resource is a kind a repository
// policy can name: the account root, a user or a role (with its path).
func isPrincipal(resource string) bool {
	if resource == "root" {
		return true
	}
	kind, name, ok := strings.Cut(resource, "/")
	return ok && (kind == "user" || kind == "role") && name != "" && iamChars(name, "+=,.@/-_")
}

// sessionRole returns the role of an STS assumed-role session ARN.
func sessionRole(a arn.ARN) (string, bool) {
	rest, ok := strings.CutPrefix(a.Resource, "assumed-role/")
	if a.Service != "sts" || !ok {
		return "", false
	}
	role, _, ok := strings.Cut(rest, "/")
	return role, ok && role != "" && iamChars(role, "+=,.@-_")
}

// iamChars reports whether s holds only letters, digits and the characters in extra.
func iamChars(s, extra string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}

// Pull actions: exactly what `docker pull` needs against a repository.
var pullActions = []string{
	"ecr:BatchCheckLayerAvailability",
	"ecr:BatchGetImage",
	"ecr:GetDownloadUrlForLayer",
}

// Push actions: what `docker push` (and `docker currents mirror`) need, on
// top of pull, to write layers and manifests.
var pushActions = []string{
	"ecr:BatchCheckLayerAvailability",
	"ecr:BatchGetImage",
	"ecr:CompleteLayerUpload",
	"ecr:GetDownloadUrlForLayer",
	"ecr:InitiateLayerUpload",
	"ecr:PutImage",
	"ecr:UploadLayerPart",
}

// tokenStatement: GetAuthorizationToken is account-wide and cannot be scoped
// to a repository, so it is always on "*" and always in its own statement.
func tokenStatement() Statement {
	return Statement{
		Sid:      "GetAuthorizationToken",
		Effect:   "Allow",
		Action:   []string{"ecr:GetAuthorizationToken"},
		Resource: "*",
	}
}

func arns(repos []Repository) ([]string, error) {
	if len(repos) == 0 {
		return nil, fmt.Errorf("no ECR repositories: the stack has no image in an ECR registry")
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range repos {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		a := r.ARN()
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Pull is the identity policy for a role that pulls the given repositories:
// a token from anywhere, and the three pull actions on exactly these ARNs.
func Pull(repos []Repository) (Document, error) {
	res, err := arns(repos)
	if err != nil {
		return Document{}, err
	}
	return Document{Version: Version, Statement: []Statement{
		tokenStatement(),
		{Sid: "PullStackImages", Effect: "Allow", Action: sorted(pullActions), Resource: res},
	}}, nil
}

// PushOptions tune Push.
type PushOptions struct {
	// CreateRepositories lets the role create missing repositories, which
	// `docker currents mirror` does on first use.
	CreateRepositories bool
}

// Push is the identity policy for a role that pushes the given repositories.
func Push(repos []Repository, o PushOptions) (Document, error) {
	res, err := arns(repos)
	if err != nil {
		return Document{}, err
	}
	acts := append([]string(nil), pushActions...)
	if o.CreateRepositories {
		acts = append(acts, "ecr:CreateRepository", "ecr:DescribeRepositories")
	}
	return Document{Version: Version, Statement: []Statement{
		tokenStatement(),
		{Sid: "PushStackImages", Effect: "Allow", Action: sorted(acts), Resource: res},
	}}, nil
}

// RepositoryPull is the repository (resource) policy that lets principal pull
// from the repository it is attached to. A repository policy has no Resource:
// it is the resource. Seed 002 also lists read-only discovery actions, which
// `docker currents check` and ECR consoles use; we keep those. It lists
// ecr:GetAuthorizationToken too, but that action is account-wide and is
// ignored in a repository policy; the principal must get it from its own
// identity policy (`docker currents policy pull`), so we leave it out rather
// than suggest it does something here.
func RepositoryPull(principal, part string) (Document, error) {
	p, err := ParsePrincipal(principal, part)
	if err != nil {
		return Document{}, err
	}
	return Document{Version: Version, Statement: []Statement{{
		Sid:       "AllowCrossAccountPull",
		Effect:    "Allow",
		Principal: map[string]string{"AWS": p},
		Action: sorted(append(append([]string(nil), pullActions...),
			"ecr:DescribeImages",
			"ecr:DescribeRepositories",
			"ecr:GetRepositoryPolicy",
			"ecr:ListImages",
		)),
	}}}, nil
}

// GitHub Actions' OIDC issuer; AWS matches the provider ARN on this host.
const githubIssuer = "token.actions.githubusercontent.com"

// ValidateGitHubRepo checks OWNER/REPO as GitHub names them.
func ValidateGitHubRepo(s string) error {
	owner, repo, ok := strings.Cut(s, "/")
	if !ok || !ghOwnerRE().MatchString(owner) || !ghRepoRE().MatchString(repo) || repo == "." || repo == ".." {
		return fmt.Errorf("GitHub repository %q must be OWNER/REPO (owner: letters, digits and single hyphens, at most 39; repo: letters, digits, '.', '_', '-')", s)
	}
	return nil
}

// ValidateCircleCIOrg checks a CircleCI organization ID, a UUID shown under
// Organization Settings > Overview.
func ValidateCircleCIOrg(id string) error {
	if !uuidRE().MatchString(id) {
		return fmt.Errorf("CircleCI organization ID %q must be a UUID like 4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f (Organization Settings > Overview)", id)
	}
	return nil
}

// ValidateCircleCIProject checks a CircleCI project ID, a UUID shown under
// Project Settings > Overview.
func ValidateCircleCIProject(id string) error {
	if !uuidRE().MatchString(id) {
		return fmt.Errorf("CircleCI project ID %q must be a UUID (Project Settings > Overview)", id)
	}
	return nil
}

// GitHub names the workflow runs a trust policy admits: every run of Repo
// (OWNER/REPO), or only those for one Ref (refs/heads/main, refs/tags/v*)
// or one deployment Environment. Ref and Environment exclude each other:
// GitHub's subject claim carries the environment instead of the ref when a
// job has one.
type GitHub struct {
	Repo        string
	Ref         string
	Environment string
}

var (
	ghRefRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^refs/(heads|tags|pull)/[^\s:]+$`) })
	ghEnvRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^\s:*?]{1,255}$`) })
)

// Subject is the value the token's sub claim must match (StringLike).
func (g GitHub) Subject() (string, error) {
	if err := ValidateGitHubRepo(g.Repo); err != nil {
		return "", err
	}
	switch {
	case g.Ref != "" && g.Environment != "":
		return "", fmt.Errorf("give a GitHub ref or an environment, not both: a job with an environment has it instead of the ref in its token")
	case g.Ref != "":
		if !ghRefRE().MatchString(g.Ref) {
			return "", fmt.Errorf("GitHub ref %q must be a full ref such as refs/heads/main or refs/tags/v* ('*' matches any characters)", g.Ref)
		}
		return "repo:" + g.Repo + ":ref:" + g.Ref, nil
	case g.Environment != "":
		if !ghEnvRE().MatchString(g.Environment) {
			return "", fmt.Errorf("GitHub environment %q must be its name as in Settings > Environments (no spaces, ':', '*' or '?')", g.Environment)
		}
		return "repo:" + g.Repo + ":environment:" + g.Environment, nil
	}
	return "repo:" + g.Repo + ":*", nil
}

// TrustGitHub is the trust policy that lets GitHub Actions runs of gh.Repo
// (any branch, tag or environment unless gh narrows it) assume the role in
// account. The audience pin stops tokens minted for other services from
// being used; the subject pin stops other repositories' runs.
func TrustGitHub(part, account string, gh GitHub) (Document, error) {
	if err := ValidatePartition(part); err != nil {
		return Document{}, err
	}
	if err := ValidateAccount(account); err != nil {
		return Document{}, err
	}
	sub, err := gh.Subject()
	if err != nil {
		return Document{}, err
	}
	return webIdentity(part, account, githubIssuer, map[string]map[string]string{
		"StringEquals": {githubIssuer + ":aud": "sts.amazonaws.com"},
		"StringLike":   {githubIssuer + ":sub": sub},
	}), nil
}

// TrustCircleCI is the trust policy that lets jobs of a CircleCI organization
// assume the role, or only the jobs of one project when project (a UUID, from
// Project Settings > Overview) is given. CircleCI's issuer is per
// organization, its token's audience is the organization ID itself, and its
// subject is org/ORG/project/PROJECT/user/USER.
func TrustCircleCI(part, account, org, project string) (Document, error) {
	if err := ValidatePartition(part); err != nil {
		return Document{}, err
	}
	if err := ValidateAccount(account); err != nil {
		return Document{}, err
	}
	if err := ValidateCircleCIOrg(org); err != nil {
		return Document{}, err
	}
	org = strings.ToLower(org)
	issuer := "oidc.circleci.com/org/" + org
	cond := map[string]map[string]string{
		"StringEquals": {issuer + ":aud": org},
	}
	if project != "" {
		if err := ValidateCircleCIProject(project); err != nil {
			return Document{}, err
		}
		cond["StringLike"] = map[string]string{issuer + ":sub": "org/" + org + "/project/" + strings.ToLower(project) + "/user/*"}
	}
	return webIdentity(part, account, issuer, cond), nil
}

// GitHubProvider and CircleCIProvider are the issuer URL to register as the
// account's IAM OIDC provider (aws iam create-open-id-connect-provider --url)
// and the audience to list with it (--client-id-list).
func GitHubProvider() (url, clientID string) {
	return "https://" + githubIssuer, "sts.amazonaws.com"
}

func CircleCIProvider(org string) (url, clientID string) {
	org = strings.ToLower(org)
	return "https://oidc.circleci.com/org/" + org, org
}

func webIdentity(part, account, issuer string, cond map[string]map[string]string) Document {
	return Document{Version: Version, Statement: []Statement{{
		Sid:       "AllowCIWebIdentity",
		Effect:    "Allow",
		Principal: map[string]string{"Federated": fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", part, account, issuer)},
		Action:    []string{"sts:AssumeRoleWithWebIdentity"},
		Condition: cond,
	}}}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// ClusterRegionWarnings returns one warning per repository whose region is not
// clusterRegion. Cross-account ECR pulls only work within a region (seed 002);
// the fix is ECR replication to the cluster's region or a mirror there.
func ClusterRegionWarnings(repos []Repository, clusterRegion string) ([]string, error) {
	if clusterRegion == "" {
		return nil, nil
	}
	if err := ValidateRegion(clusterRegion); err != nil {
		return nil, fmt.Errorf("--cluster-region: %w", err)
	}
	var out []string
	for _, r := range repos {
		if r.Region != clusterRegion {
			out = append(out, fmt.Sprintf("repository %s is in %s but the cluster is in %s: cross-account pulls need the same region; replicate the repository to %s (ECR replication) or mirror it there with `docker currents mirror`", r.Name, r.Region, clusterRegion, clusterRegion))
		}
	}
	return out, nil
}
