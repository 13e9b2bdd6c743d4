package refresh

import (
	"context"
	"fmt"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/product"
)

// Session returns the principal's AWS session for req's target: the one the
// helper caches, when the refresh policy says it is still fresh, else a new
// one (AssumeRole), cached under the principal's lock for every `get` that
// follows. A principal without a role gets its source credentials, which are
// not cached, as with the helper. force skips the cached session (AWS
// rejected it). Long-running commands other than `get` (watch's SQS client)
// use it so that they share the helper's sessions and its refresh policy.
func (f *Fetcher) Session(ctx context.Context, req Request, force bool) (credential.Session, error) {
	log := f.Log
	if log == nil {
		log = logging.Discard()
	}
	if f.Cache.Usable() == nil {
		lockCtx, cancel := context.WithTimeout(ctx, f.Timeout)
		unlock, err := f.Cache.Lock(lockCtx, req.Identity)
		cancel()
		if err != nil {
			return credential.Session{}, fmt.Errorf("%s: %w; another %s process has been refreshing for over %s (see `ps`), or raise the timeout",
				req.Target.Registry.Host, err, product.HelperCommand, f.Timeout)
		}
		defer unlock()
	}
	now := f.Cache.Clock().Now()
	e := f.Cache.Load(req.Identity)
	s := e.Session
	if s != nil && !force && !credential.NeedsRefresh(s.Issued, s.Expires, now) {
		return *s, nil
	}
	awsCtx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	c, err := f.AWS.Credentials(awsCtx, req.Target)
	if err != nil {
		if s != nil && !force && credential.Servable(s.Issued, s.Expires, now) {
			log.Warn("renewing the AWS session failed; using the cached one, which is still valid", "expires", s.Expires, "err", err)
			return *s, nil
		}
		return credential.Session{}, err
	}
	if !c.Expires.IsZero() {
		e.Session = &c
		if err := f.Cache.Store(req.Identity, e); err != nil && f.Cache.Usable() == nil {
			log.Warn("AWS session made but not cached; the next refresh assumes the role again", "err", err)
		}
	}
	return c, nil
}
