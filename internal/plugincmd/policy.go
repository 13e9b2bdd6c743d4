package plugincmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/iampolicy"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/stack"
)

// policyFlags are shared by the policy sub-commands.
type policyFlags struct {
	project stack.Options
	to      string
}

func (p *policyFlags) add(cmd *cobra.Command) {
	p.project.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&p.to, "to", "", "Use the repositories of a mirror at REGISTRY/PREFIX/ (as mirror --to names them) instead of where the stack resolves now")
}

func newPolicyCommand(dockerCli command.Cli) *cobra.Command {
	return group(&cobra.Command{
		Use:   "policy pull|push|repository|ci-trust|watch|events",
		Short: "Print the IAM policies the stack's ECR repositories need",
		Long: `Print IAM policy JSON for exactly the stack's ECR repositories (from the compose
project's image references, loaded as check loads them). Documents go to
stdout, warnings and hints to stderr, so the output can be redirected to a
file and passed to the aws CLI as file://policy.json. A flag value that cannot
be used exits 125, as docker's own flag errors do.`,
	}, newPolicyPull(dockerCli), newPolicyPush(dockerCli), newPolicyRepository(dockerCli), newPolicyCITrust(dockerCli),
		newPolicyWatch(dockerCli), newPolicyEvents(dockerCli))
}

func newPolicyPull(dockerCli command.Cli) *cobra.Command {
	var p policyFlags
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS]",
		Short: "Identity policy for the role that pulls the stack (ecr:GetAuthorizationToken plus pull on each repository)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repos, err := p.repositories(cmd.Context(), dockerCli.Err())
			if err != nil {
				return err
			}
			doc, err := iampolicy.Pull(repos)
			if err != nil {
				return err
			}
			_, err = dockerCli.Out().Write(doc.JSON())
			return err
		},
	}
	p.add(cmd)
	return cmd
}

func newPolicyPush(dockerCli command.Cli) *cobra.Command {
	var (
		p      policyFlags
		create bool
	)
	cmd := &cobra.Command{
		Use:   "push --to REGISTRY/PREFIX/ [OPTIONS]",
		Short: "Identity policy for a role that mirrors the stack into ECR (pull and push on each repository)",
		Long: `Print the identity policy a role needs to run ` + "`docker currents mirror --to`" + ` into
an ECR mirror: ecr:GetAuthorizationToken, and pull plus push on exactly the
mirror's repositories. --create-repositories adds ecr:DescribeRepositories and
ecr:CreateRepository, which mirror uses only for repositories that do not exist
yet. For a CI role with an OIDC trust policy, see ci-trust.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repos, err := p.repositories(cmd.Context(), dockerCli.Err())
			if err != nil {
				return err
			}
			doc, err := iampolicy.Push(repos, iampolicy.PushOptions{CreateRepositories: create})
			if err != nil {
				return err
			}
			_, err = dockerCli.Out().Write(doc.JSON())
			return err
		},
	}
	p.add(cmd)
	cmd.Flags().BoolVar(&create, "create-repositories", false, "Also allow creating the repositories (what mirror does on first use)")
	return cmd
}

func newPolicyRepository(dockerCli command.Cli) *cobra.Command {
	var (
		p             policyFlags
		principal     string
		clusterRegion string
	)
	cmd := &cobra.Command{
		Use:   "repository --principal ARN [OPTIONS]",
		Short: "Repository policy granting another account's principal pull on each of the stack's repositories",
		Long: `Print the repository (resource) policy that lets --principal pull. Attach it to
each repository listed on stderr, e.g.
  aws ecr set-repository-policy --repository-name NAME --policy-text file://policy.json

--principal is an IAM role or user ARN, or a 12-digit account ID (its root,
which delegates to that account's own IAM). Cross-account pulls only work
within one region: --cluster-region warns about repositories elsewhere.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if principal == "" {
				return usageError(errors.New("--principal is required: the role ARN (arn:aws:iam::111111111111:role/NAME) or account ID that will pull"))
			}
			if clusterRegion != "" {
				if err := iampolicy.ValidateRegion(clusterRegion); err != nil {
					return usageError(fmt.Errorf("--cluster-region: %w", err))
				}
			}
			repos, err := p.repositories(cmd.Context(), dockerCli.Err())
			if err != nil {
				return err
			}
			doc, err := iampolicy.RepositoryPull(principal, repos[0].Partition)
			if err != nil {
				// Its shape, or its partition against the repositories'.
				return usageError(fmt.Errorf("--principal: %w", err))
			}
			grantee := doc.Statement[0].Principal["AWS"]
			for _, r := range repos {
				if strings.Contains(grantee, "::"+r.Account+":") {
					fmt.Fprintf(dockerCli.Err(), "warning: %s is in account %s, which owns repository %s: a repository policy is only needed across accounts; within one, give the principal `docker currents policy pull` as its identity policy\n", grantee, r.Account, r.Name)
					break
				}
			}
			warnings, err := iampolicy.ClusterRegionWarnings(repos, clusterRegion)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(dockerCli.Err(), "warning: "+w)
			}
			if clusterRegion == "" {
				fmt.Fprintf(dockerCli.Err(), "note: cross-account pulls work only within one region (here %s); add --cluster-region REGION to check the puller's\n", regionsOf(repos))
			}
			fmt.Fprintln(dockerCli.Err(), "Attach this policy to each repository:")
			for _, r := range repos {
				fmt.Fprintf(dockerCli.Err(), "  aws ecr set-repository-policy --region %s --registry-id %s --repository-name %s --policy-text file://policy.json\n", r.Region, r.Account, r.Name)
			}
			_, err = dockerCli.Out().Write(doc.JSON())
			return err
		},
	}
	p.add(cmd)
	cmd.Flags().StringVar(&principal, "principal", "", "IAM role/user ARN or 12-digit account ID to grant pull")
	cmd.Flags().StringVar(&clusterRegion, "cluster-region", "", "Region of the cluster that pulls; warns about repositories in other regions")
	return cmd
}

func newPolicyCITrust(dockerCli command.Cli) *cobra.Command {
	var (
		p          policyFlags
		gh         iampolicy.GitHub
		circleOrg  string
		circleProj string
		only       string
		create     bool
	)
	cmd := &cobra.Command{
		Use:   "ci-trust (--github-repo OWNER/REPO | --circleci-org ID) [OPTIONS]",
		Short: "OIDC trust policy for a CI role, plus its push permissions on the stack's repositories",
		Long: `Print two JSON documents: the role's trust policy (GitHub Actions via
token.actions.githubusercontent.com, or CircleCI via oidc.circleci.com/org/ID),
then the identity policy that lets the role push the stack's repositories.
--only trust or --only push prints just one, for file:// use with the aws CLI.
The OIDC provider must exist in the account that owns the repositories;
the commands that create it, the role and its policy are printed on stderr.

GitHub: every workflow run of the repository may assume the role, unless
--github-ref (e.g. refs/heads/main, refs/tags/v*) or --github-environment
narrows it. CircleCI: every job of the organization, unless
--circleci-project narrows it to one project.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCITrustFlags(gh, circleOrg, circleProj, only); err != nil {
				return usageError(err)
			}
			repos, err := p.repositories(cmd.Context(), dockerCli.Err())
			if err != nil {
				return err
			}
			account, partition := repos[0].Account, repos[0].Partition
			for _, r := range repos[1:] {
				if r.Account != account {
					return fmt.Errorf("the stack's repositories span accounts %s and %s; a CI role lives in one account: run once per account with --to", account, r.Account)
				}
			}
			var (
				trust         iampolicy.Document
				url, clientID string
			)
			if gh.Repo != "" {
				trust, err = iampolicy.TrustGitHub(partition, account, gh)
				url, clientID = iampolicy.GitHubProvider()
			} else {
				trust, err = iampolicy.TrustCircleCI(partition, account, circleOrg, circleProj)
				url, clientID = iampolicy.CircleCIProvider(circleOrg)
			}
			if err != nil {
				// Only the flags' values can be wrong here: the account and
				// partition are the repositories', already checked.
				return usageError(err)
			}
			push, err := iampolicy.Push(repos, iampolicy.PushOptions{CreateRepositories: create})
			if err != nil {
				return err
			}
			printCISteps(dockerCli.Err(), cmd.CommandPath(), only, url, clientID, account)
			out := dockerCli.Out()
			if only != "push" {
				if _, err := out.Write(trust.JSON()); err != nil {
					return err
				}
			}
			if only != "trust" {
				if _, err := out.Write(push.JSON()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	p.add(cmd)
	f := cmd.Flags()
	f.StringVar(&gh.Repo, "github-repo", "", "GitHub repository whose Actions may assume the role: OWNER/REPO")
	f.StringVar(&gh.Ref, "github-ref", "", "Only runs for this ref, e.g. refs/heads/main or refs/tags/v* (with --github-repo)")
	f.StringVar(&gh.Environment, "github-environment", "", "Only jobs in this deployment environment (with --github-repo)")
	f.StringVar(&circleOrg, "circleci-org", "", "CircleCI organization ID (a UUID) whose jobs may assume the role")
	f.StringVar(&circleProj, "circleci-project", "", "Only jobs of this CircleCI project ID (a UUID; with --circleci-org)")
	f.StringVar(&only, "only", "", "Print only the trust or the push document")
	f.BoolVar(&create, "create-repositories", false, "Also allow creating the repositories (what mirror does on first use)")
	return cmd
}

// checkCITrustFlags checks what ci-trust's flags say without the stack:
// which CI, and each value's shape.
func checkCITrustFlags(gh iampolicy.GitHub, circleOrg, circleProj, only string) error {
	switch {
	case (gh.Repo == "") == (circleOrg == ""):
		return errors.New("give exactly one of --github-repo OWNER/REPO or --circleci-org ID")
	case gh.Repo == "" && (gh.Ref != "" || gh.Environment != ""):
		return errors.New("--github-ref and --github-environment narrow --github-repo; give it too")
	case circleOrg == "" && circleProj != "":
		return errors.New("--circleci-project narrows --circleci-org; give it too")
	case only != "" && only != "trust" && only != "push":
		return fmt.Errorf("--only %q: use trust or push", only)
	}
	if gh.Repo != "" {
		if err := iampolicy.ValidateGitHubRepo(gh.Repo); err != nil {
			return fmt.Errorf("--github-repo: %w", err)
		}
		if _, err := gh.Subject(); err != nil {
			return fmt.Errorf("--github-ref/--github-environment: %w", err)
		}
		return nil
	}
	if err := iampolicy.ValidateCircleCIOrg(circleOrg); err != nil {
		return fmt.Errorf("--circleci-org: %w", err)
	}
	if circleProj != "" {
		if err := iampolicy.ValidateCircleCIProject(circleProj); err != nil {
			return fmt.Errorf("--circleci-project: %w", err)
		}
	}
	return nil
}

func regionsOf(repos []iampolicy.Repository) string {
	var out []string
	seen := map[string]bool{}
	for _, r := range repos {
		if !seen[r.Region] {
			seen[r.Region] = true
			out = append(out, r.Region)
		}
	}
	return strings.Join(out, ", ")
}

// printCISteps says, on stderr, how the printed documents become a role:
// the OIDC provider, the role with the trust policy, and the push policy.
// With both documents on stdout it shows how to get each alone.
func printCISteps(w io.Writer, command, only, url, clientID, account string) {
	trust, push := "the first document", "the second document"
	if only == "trust" {
		trust, push = "this document", "the --only push document"
	} else if only == "push" {
		trust, push = "the --only trust document", "this document"
	}
	fmt.Fprintf(w, `Create the CI role in account %s (the documents are on stdout; %s --only trust|push prints one):
  aws iam create-open-id-connect-provider --url %s --client-id-list %s   # once per account
  aws iam create-role --role-name ROLE --assume-role-policy-document file://trust.json   # %s
  aws iam put-role-policy --role-name ROLE --policy-name currents-push --policy-document file://push.json   # %s
`, account, command, url, clientID, trust, push)
}

// repositories are the stack's ECR repositories, rehomed under --to when
// given. Images outside ECR are named on errOut and left out.
func (p *policyFlags) repositories(ctx context.Context, errOut io.Writer) ([]iampolicy.Repository, error) {
	var prefix mirror.Prefix
	if p.to != "" {
		var err error
		if prefix, err = mirror.ParsePrefix(p.to); err != nil {
			return nil, usageError(err)
		}
	}
	found, err := iampolicy.ForStack(ctx, p.project, loadConfig(errOut), prefix)
	if found != nil {
		for _, s := range found.BuiltLocally {
			fmt.Fprintf(errOut, "skipping %s: it is built locally, not pulled\n", s)
		}
		if len(found.NotECR) > 0 {
			fmt.Fprintf(errOut, "not ECR, left out: %s\n", strings.Join(found.NotECR, ", "))
		}
	}
	if err != nil {
		return nil, err
	}
	return found.Repositories, nil
}
