package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/tokencache"
)

// waitTurn takes req's cache lock, waiting at most timeout for another
// process's refresh. A nil Held with a nil error means refreshing without the
// lock, because the cache cannot lock (no usable directory, a lock file that
// is not a usable one; said at level): a cache problem must not stop docker
// pull. Only another process holding the lock past the timeout is an error.
func waitTurn(ctx context.Context, cache *tokencache.Cache, req Request, timeout time.Duration, log *slog.Logger, level slog.Level) (*tokencache.Held, error) {
	if err := cache.Usable(); err != nil {
		// Said once per refresh, which is every get until it is fixed.
		log.Log(ctx, level, "no usable cache directory: every get calls AWS until this is fixed", "err", err)
		return nil, nil
	}
	lockCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	held, err := cache.TakeLock(lockCtx, req.Identity)
	var bad *tokencache.LockFileError
	switch {
	case errors.As(err, &bad):
		log.Log(ctx, level, "refreshing without the cache lock, so parallel pulls may each call AWS: "+bad.Problem, "file", bad.Path, "fix", bad.Fix())
		return nil, nil
	case err != nil:
		return nil, fix.New(fmt.Errorf("%s: %w", req.Target.Registry.Host, err),
			fmt.Sprintf("another %s process has been refreshing for over %s (see `ps`), or raise the timeout", product.HelperCommand, timeout))
	}
	return held, nil
}

// settled is what a refresh finds once it holds the lock: the token another
// process fetched while it waited, or the failure another met, with the same
// settings, since shortly before it asked (then that answer is ours too,
// without asking AWS again). done is false when the refresh must call AWS.
func settled(e *tokencache.Entry, key string, asked, now time.Time, settings string, log *slog.Logger) (tok credential.Token, err error, done bool) {
	cached, hit := e.Token(key)
	if hit && !credential.NeedsRefresh(cached.Issued, cached.Expires, now) {
		log.Debug("token refreshed by another process")
		return cached, nil, true
	}
	failed, ok := e.Remembered(key, asked, now, settings)
	if !ok {
		return credential.Token{}, nil, false
	}
	if hit && credential.Servable(cached.Issued, cached.Expires, now) {
		return cached, nil, true
	}
	log.Debug("a refresh failed moments ago; answering with its error", "at", failed.At)
	return credential.Token{}, fmt.Errorf("%s (failed %s ago; AWS is asked again %s after a failure, at once after erase or a changed timeout)",
		failed.Message, now.Sub(failed.At).Round(time.Second), tokencache.FailureHold), true
}

// InheritedLock is the cache lock file the lean binary handed down with
// product.EnvLockFD, or nil. Fetcher.Adopt checks it is the right one.
func InheritedLock() *os.File {
	fd, err := strconv.Atoi(os.Getenv(product.EnvLockFD))
	if err != nil || fd < 3 {
		return nil
	}
	return os.NewFile(uintptr(fd), "inherited cache lock")
}
