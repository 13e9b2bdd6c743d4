package plugincmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/iampolicy"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/registry"
	"github.com/currentsdev/currents/internal/stack"
)

func init() { register(newPolicyCommand) }

// policyFlags are shared by the policy sub-commands.
type policyFlags struct {
	project stack.Options
	to      string
}

func (p *policyFlags) add(cmd *cobra.Command) {
	p.project.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&p.to, "to", "", "Use the repositories of a mirror at REGISTRY/PREFIX/ (as `mirror --to` names them) instead of where the stack resolves now")
}

func newPolicyCommand(dockerCli command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy pull|repository|ci-trust",
		Short: "Print the IAM policies the stack's ECR repositories need",
		Long: `Print IAM policy JSON for exactly the stack's ECR repositories (from the compose
project's image references, loaded as check loads them). Documents go to
stdout, warnings and hints to stderr, so the output can be redirected to a
file and passed to the aws CLI as file://policy.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPolicyPull(dockerCli), newPolicyRepository(dockerCli), newPolicyCITrust(dockerCli))
	return cmd
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
				return errors.New("--principal is required: the role ARN (arn:aws:iam::111111111111:role/NAME) or account ID that will pull")
			}
			doc, err := iampolicy.RepositoryPull(principal)
			if err != nil {
				return fmt.Errorf("--principal: %w", err)
			}
			repos, err := p.repositories(cmd.Context(), dockerCli.Err())
			if err != nil {
				return err
			}
			warnings, err := iampolicy.ClusterRegionWarnings(repos, clusterRegion)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(dockerCli.Err(), "warning: "+w)
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
		p         policyFlags
		githubRep string
		circleOrg string
		only      string
		create    bool
	)
	cmd := &cobra.Command{
		Use:   "ci-trust (--github-repo OWNER/REPO | --circleci-org ID) [OPTIONS]",
		Short: "OIDC trust policy for a CI role, plus its push permissions on the stack's repositories",
		Long: `Print two JSON documents: the role's trust policy (GitHub Actions via
token.actions.githubusercontent.com, or CircleCI via oidc.circleci.com/org/ID),
then the identity policy that lets the role push the stack's repositories.
--only trust or --only push prints just one, for file:// use with the aws CLI.
The OIDC provider must exist in the account that owns the repositories.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (githubRep == "") == (circleOrg == "") {
				return errors.New("give exactly one of --github-repo OWNER/REPO or --circleci-org ID")
			}
			if only != "" && only != "trust" && only != "push" {
				return fmt.Errorf("--only %q: use trust or push", only)
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
			var trust iampolicy.Document
			if githubRep != "" {
				trust, err = iampolicy.TrustGitHub(partition, account, githubRep)
			} else {
				trust, err = iampolicy.TrustCircleCI(partition, account, circleOrg)
			}
			if err != nil {
				return err
			}
			push, err := iampolicy.Push(repos, iampolicy.PushOptions{CreateRepositories: create})
			if err != nil {
				return err
			}
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
	f.StringVar(&githubRep, "github-repo", "", "GitHub repository whose Actions may assume the role: OWNER/REPO")
	f.StringVar(&circleOrg, "circleci-org", "", "CircleCI organization ID (a UUID) whose jobs may assume the role")
	f.StringVar(&only, "only", "", "Print only the trust or the push document")
	f.BoolVar(&create, "create-repositories", false, "Also allow creating the repositories (what `mirror` does on first use)")
	return cmd
}

// repositories are the stack's ECR repositories, rehomed under --to when
// given. Images outside ECR are named on errOut and left out.
func (p *policyFlags) repositories(ctx context.Context, errOut io.Writer) ([]iampolicy.Repository, error) {
	_, images, err := stackImages(ctx, p.project, errOut)
	if err != nil {
		return nil, err
	}
	var prefix mirror.Prefix
	if p.to != "" {
		if prefix, err = mirror.ParsePrefix(p.to); err != nil {
			return nil, err
		}
	}
	cfg, cfgErr := config.FromEnv()
	if cfgErr != nil {
		fmt.Fprintf(errOut, "warning: %v\n", cfgErr)
	}
	var out []iampolicy.Repository
	var notECR []string
	for _, si := range images {
		ref := si.svc.Ref
		if prefix != "" {
			if ref, err = mirror.Rehome(si.svc.Image, si.from, prefix); err != nil {
				return nil, fmt.Errorf("%s: %w", si.svc.Name, err)
			}
		}
		repo, ok := ecrRepository(cfg, ref.Context())
		if !ok {
			notECR = append(notECR, si.svc.Name+" ("+ref.Context().RegistryStr()+")")
			continue
		}
		out = append(out, repo)
	}
	if len(notECR) > 0 {
		fmt.Fprintf(errOut, "not ECR, left out: %s\n", strings.Join(notECR, ", "))
	}
	if len(out) == 0 {
		return nil, errors.New("none of the stack's images is in an ECR registry; to write policies for an ECR mirror, add --to ACCOUNT.dkr.ecr.REGION.amazonaws.com/PREFIX/")
	}
	return out, nil
}

// ecrRepository maps a repository to its ECR account and region: from the
// host itself, or from currents.yaml when the host is an alias.
func ecrRepository(cfg *config.Config, repo name.Repository) (iampolicy.Repository, bool) {
	host := strings.ToLower(repo.RegistryStr())
	var r registry.Registry
	if cfg != nil {
		t, ok := cfg.Lookup(host)
		if !ok {
			return iampolicy.Repository{}, false
		}
		r = t.Registry
	} else {
		var ok bool
		if r, ok = registry.Parse(host); !ok {
			return iampolicy.Repository{}, false
		}
	}
	if r.Public || r.Account == "" {
		return iampolicy.Repository{}, false
	}
	return iampolicy.Repository{Partition: r.Partition, Region: r.Region, Account: r.Account, Name: repo.RepositoryStr()}, true
}
