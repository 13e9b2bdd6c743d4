package iampolicy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/stack"
)

// StackRepositories are a compose project's ECR repositories.
type StackRepositories struct {
	Repositories []Repository
	// NotECR are the services left out, "service (registry)": their images
	// are in no ECR registry.
	NotECR []string
	// BuiltLocally are the services compose builds instead of pulling.
	BuiltLocally []string
}

// ForStack loads the compose project (as compose does) and maps its images
// to ECR repositories: by the host itself, or by currents.yaml when the host
// is an alias (cfg nil: real ECR hosts only). With a prefix, the images are
// first named as `mirror --to` names their copies.
func ForStack(ctx context.Context, project stack.Options, cfg *config.Config, to mirror.Prefix) (*StackRepositories, error) {
	if to != "" {
		if err := checkECRHost(to.Registry()); err != nil {
			return nil, fmt.Errorf("--to %s: %w", to, err)
		}
	}
	st, err := stack.Load(ctx, project)
	if err != nil {
		return nil, err
	}
	out := &StackRepositories{BuiltLocally: st.BuiltLocally()}
	images, err := st.Images()
	if err != nil {
		return out, err
	}
	for _, im := range images {
		ref := im.Ref
		if to != "" {
			if ref, err = mirror.Rehome(im.Image, im.From, to); err != nil {
				return out, fmt.Errorf("%s: %w", im.Name, err)
			}
		}
		repo, ok := ecrRepository(cfg, ref.Context())
		if !ok {
			out.NotECR = append(out.NotECR, im.Name+" ("+ref.Context().RegistryStr()+")")
			continue
		}
		out.Repositories = append(out.Repositories, repo)
	}
	if len(out.Repositories) == 0 {
		return out, errors.New("none of the stack's images is in an ECR registry; to write policies for an ECR mirror, add --to ACCOUNT.dkr.ecr.REGION.amazonaws.com/PREFIX/")
	}
	return out, nil
}

// checkECRHost explains why a host that looks like an ECR registry
// (ACCOUNT.dkr.ecr.REGION.amazonaws.com) is not one, instead of leaving it
// out as "not ECR".
func checkECRHost(host string) error {
	if _, ok := ecrhost.Parse(host); ok {
		return nil
	}
	labels := strings.Split(host, ".")
	if len(labels) < 4 || !strings.HasPrefix(labels[1], "dkr") {
		return nil // not meant as ECR
	}
	if err := ValidateAccount(labels[0]); err != nil {
		return err
	}
	if err := ValidateRegion(labels[3]); err != nil {
		return err
	}
	return fmt.Errorf("%s is not an ECR registry host: expected ACCOUNT.dkr.ecr.REGION.amazonaws.com (.amazonaws.com.cn in China)", host)
}

// ecrRepository maps a repository to its ECR account and region.
func ecrRepository(cfg *config.Config, repo name.Repository) (Repository, bool) {
	t, ok := cfg.Lookup(repo.RegistryStr())
	if !ok || t.Registry.Public || t.Registry.Account == "" {
		return Repository{}, false
	}
	r := t.Registry
	return Repository{Partition: r.Partition, Region: r.Region, Account: r.Account, Name: repo.RepositoryStr()}, true
}
