package process

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/currentsdev/currents/internal/standin"
)

// oidcConfig is what the process serves for web identity: the account's
// IAM OIDC providers, roles judged by a trust policy document (such as the
// one `docker currents policy ci-trust --only trust` writes), and a GitHub
// Actions job whose runner variables go in the env file.
type oidcConfig struct {
	Providers     []string // ISSUER=CLIENTID[,CLIENTID...]
	TrustPolicies []string // ROLE_ARN=FILE
	GitHubJob     string   // OWNER/REPO@REF or OWNER/REPO@environment:NAME
}

func (c *Config) registerOIDCFlags(fs *flag.FlagSet) {
	fs.Func("oidc-provider", "register ISSUER=CLIENTID[,CLIENTID] as an IAM OIDC provider of -account (repeatable), e.g. "+standin.GitHubIssuer+"=sts.amazonaws.com", func(v string) error {
		if iss, ids, ok := strings.Cut(v, "="); !ok || !strings.HasPrefix(iss, "https://") || ids == "" {
			return fmt.Errorf("want https://ISSUER=CLIENTID[,CLIENTID], got %q", v)
		}
		c.OIDC.Providers = append(c.OIDC.Providers, v)
		return nil
	})
	fs.Func("trust-policy", "add role ROLE_ARN judged by the trust policy document in FILE: ROLE_ARN=FILE (repeatable)", func(v string) error {
		if arn, file, ok := strings.Cut(v, "="); !ok || !strings.HasPrefix(arn, "arn:") || file == "" {
			return fmt.Errorf("want ROLE_ARN=FILE, got %q", v)
		}
		c.OIDC.TrustPolicies = append(c.OIDC.TrustPolicies, v)
		return nil
	})
	fs.StringVar(&c.OIDC.GitHubJob, "github-job", "", "start a GitHub Actions job OWNER/REPO@REF (or OWNER/REPO@environment:NAME) and write its runner variables (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN) to the env file")
}

// setupOIDC registers the providers and roles, and starts the GitHub job;
// it returns the job's env lines.
func setupOIDC(aws *standin.Server, c Config) ([]string, error) {
	for _, p := range c.OIDC.Providers {
		iss, ids, _ := strings.Cut(p, "=")
		aws.AddOIDCProvider(c.Account, iss, strings.Split(ids, ",")...)
	}
	for _, tp := range c.OIDC.TrustPolicies {
		arn, file, _ := strings.Cut(tp, "=")
		doc, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("-trust-policy %s: %w", arn, err)
		}
		if err := standin.ValidateTrustPolicy(doc); err != nil {
			return nil, fmt.Errorf("-trust-policy %s: %s: %w", arn, file, err)
		}
		aws.AddRole(arn, standin.RoleSpec{TrustPolicy: doc, MaxSession: c.MaxSession})
	}
	if c.OIDC.GitHubJob == "" {
		return nil, nil
	}
	repo, ref, ok := strings.Cut(c.OIDC.GitHubJob, "@")
	if !ok || !strings.Contains(repo, "/") || ref == "" {
		return nil, fmt.Errorf("-github-job %q: want OWNER/REPO@REF, e.g. currentsdev/stack@refs/heads/main", c.OIDC.GitHubJob)
	}
	job := standin.GitHubJob{Repository: repo, Ref: ref}
	if env, ok := strings.CutPrefix(ref, "environment:"); ok {
		job = standin.GitHubJob{Repository: repo, Environment: env}
	}
	return aws.GitHubEnv(job), nil
}
