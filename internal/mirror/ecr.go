package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
)

// NewRepositoryCreator returns how to create missing repositories when the
// mirror is an ECR registry (by its host, or an alias in currents.yaml),
// with the AWS credentials the credential helper would use for it; nil for
// other registries, which create repositories on push, and when cfg is nil
// (currents.yaml could not be read). Each creation is said on log.
func NewRepositoryCreator(cfg *config.Config, to Prefix, log io.Writer) RepositoryCreator {
	if cfg == nil {
		return nil
	}
	host := to.Registry()
	t, ok := cfg.Lookup(host)
	if !ok || t.Registry.Public {
		return nil
	}
	client := awsapi.New(awsapi.WithTimeout(cfg.Timeout))
	var (
		once     sync.Once
		creds    credential.Session
		credsErr error
	)
	return func(ctx context.Context, repo name.Repository) error {
		// One set of credentials for the whole run, asked for only when a
		// repository turns out to be missing.
		once.Do(func() { creds, credsErr = client.Credentials(ctx, t) })
		if credsErr != nil {
			return credsErr
		}
		created, err := client.EnsureRepository(ctx, t, creds, repo.RepositoryStr())
		var e *awsapi.Error
		if errors.As(err, &e) {
			if action, resource, ok := e.MissingPermission(); ok {
				return fmt.Errorf("repository %s does not exist and may not be created: missing permission %s on %s; grant it (`docker currents policy push --create-repositories --to %s` prints the role's policy) or create the repository: aws ecr create-repository --region %s --registry-id %s --repository-name %s",
					repo.RepositoryStr(), action, resource, to, t.Registry.Region, t.Registry.Account, repo.RepositoryStr())
			}
		}
		if err != nil {
			return err
		}
		if created && log != nil {
			fmt.Fprintf(log, "created ECR repository %s in %s\n", repo.RepositoryStr(), host)
		}
		return nil
	}
}
