// Package refresh renews a principal's session and token when the cache
// cannot answer. Two Refreshers exist: the lean binary's Subprocess runs the
// AWS binary, and the AWS binary's Fetcher calls AWS in-process under the
// cache lock, so N parallel cold gets make one AssumeRole and one
// GetAuthorizationToken between them.
package refresh

import (
	"context"
	"time"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/tokencache"
)

// Request is one refresh: the registry docker asked for and who serves it.
type Request struct {
	ServerURL string // as docker sent it
	Target    settings.Target
	Identity  tokencache.Identity
}

// Refresher produces a fresh, valid token for a request the cache could not
// answer.
type Refresher interface {
	Refresh(ctx context.Context, req Request) (credential.Token, error)
}

// Budget bounds a whole refresh: waiting for another process's refresh
// (the lock), then our own AWS calls, each bounded by the configured timeout.
func Budget(timeout time.Duration) time.Duration { return 2*timeout + 5*time.Second }
