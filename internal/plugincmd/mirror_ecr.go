package plugincmd

import (
	"github.com/currentsdev/currents/internal/mirror"
)

// repositoryCreator returns how to create missing repositories on the
// target registry, or nil when the registry creates them on push.
// TODO(MIRROR): ECR targets need CreateRepository; waiting on
// internal/ecr EnsureRepository (requests.md).
func repositoryCreator(host string) mirror.RepositoryCreator {
	_ = host
	return nil
}
