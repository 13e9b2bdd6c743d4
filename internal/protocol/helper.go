// Package protocol implements docker's credential-helper protocol
// (credentials.Helper) for ECR registries.
//
// A `get` is answered from the token cache whenever the refresh policy allows;
// only then does it call a refresh.Refresher, the one edge where AWS is
// reached. Nothing about AWS leaks into this package, which is why the lean
// binary can link it.
package protocol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/rawfile"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/tokencache"
)

// Username is what ECR's Basic auth and `list` use for every registry.
const Username = "AWS"

// Helper is the credentials.Helper of both binaries.
type Helper struct {
	cfg        *settings.Config
	cache      *tokencache.Cache
	refresher  refresh.Refresher
	log        *slog.Logger
	errOut     io.Writer
	getenv     func(string) string
	prefetch   *prefetched // WithPrefetch, once Serve has started it
	prefetchOn bool
}

var _ credentials.Helper = (*Helper)(nil)

// Option configures a Helper.
type Option func(*Helper)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(h *Helper) { h.log = l } }

// WithErrorOutput sets where failed gets are reported (default stderr).
func WithErrorOutput(w io.Writer) Option { return func(h *Helper) { h.errOut = w } }

// WithGetenv replaces os.Getenv when deriving cache identities (tests).
func WithGetenv(f func(string) string) Option { return func(h *Helper) { h.getenv = f } }

// New returns a Helper serving cfg from cache, refreshing through r.
func New(cfg *settings.Config, cache *tokencache.Cache, r refresh.Refresher, opts ...Option) *Helper {
	h := &Helper{cfg: cfg, cache: cache, refresher: r, log: logging.Discard(), errOut: os.Stderr, getenv: os.Getenv}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Resolve maps a server URL to its refresh request. ok is false for a host the
// helper does not handle; docker then falls back to its other stores.
func (h *Helper) Resolve(serverURL string) (refresh.Request, bool) {
	host, err := ecrhost.Normalize(serverURL)
	if err != nil {
		return refresh.Request{}, false
	}
	t, ok := h.cfg.Lookup(host)
	if !ok {
		return refresh.Request{}, false
	}
	return refresh.Request{ServerURL: serverURL, Target: t, Identity: tokencache.IdentityFor(t, h.getenv)}, true
}

// Get answers from the cache when the token is fresh, refreshes otherwise, and
// falls back to the cached token only while it is safely valid.
func (h *Helper) Get(serverURL string) (string, string, error) {
	if user, secret, served, err := h.prefetchedFor(serverURL); served {
		if err != nil {
			h.reportError(err)
		}
		return user, secret, err
	}
	return h.get(serverURL, true)
}

// get is Get; report says a failure on the error output (the prefetch's
// does not: the get it serves says it, once).
func (h *Helper) get(serverURL string, report bool) (string, string, error) {
	req, ok := h.Resolve(serverURL)
	if !ok {
		if report {
			h.notOurs(serverURL)
		}
		return "", "", credentials.NewErrCredentialsNotFound()
	}
	host := req.Target.Registry.Host
	key := tokencache.TokenKey(req.Target.Registry)
	cached, hit := h.cache.LoadToken(req.Identity, key)
	now := h.cache.Clock().Now()
	if hit && !credential.NeedsRefresh(cached.Issued, cached.Expires, now) {
		h.log.Debug("cache hit", "host", host, "expires", cached.Expires)
		return cached.Username, cached.Password.Reveal(), nil
	}
	h.log.Debug("cache miss or due for refresh", "host", host, "cached", hit)
	ctx, cancel := context.WithTimeout(context.Background(), refresh.Budget(h.cfg.Timeout))
	defer cancel()
	tok, err := h.refresher.Refresh(ctx, req)
	if err != nil {
		if hit && credential.Servable(cached.Issued, cached.Expires, h.cache.Clock().Now()) {
			h.log.Warn("refresh failed; serving the cached token, which is still valid", "host", host,
				"expires", cached.Expires.Format(time.RFC3339), "err", err)
			return cached.Username, cached.Password.Reveal(), nil
		}
		if report {
			h.reportError(err)
		}
		return "", "", err
	}
	return tok.Username, tok.Password.Reveal(), nil
}

// notOurs explains, on stderr, a get for a host the helper does not serve.
// The answer stays "credentials not found" (docker then tries its other
// stores), but docker only asks this helper for hosts config.json sends to it,
// so such a host is almost always one configure was never run for, and
// without this line the user sees only "no basic auth credentials".
func (h *Helper) notOurs(serverURL string) {
	host, err := ecrhost.Normalize(serverURL)
	if err != nil {
		// Not a host at all; the URL may hold userinfo, so it is not repeated.
		h.log.Debug("server URL is not a registry host", "err", err)
		return
	}
	file := h.cfg.Path
	if file == "" {
		file = "currents.yaml (no home directory: set " + dirs.EnvConfig + ")"
	}
	fmt.Fprintf(h.errOut, "%s: %s is not an ECR hostname and has no entry in %s, so this helper has no credentials for it; add one: %s configure --registry %s --role-arn ARN (or remove %s from credHelpers in docker's config.json)\n",
		product.HelperCommand, host, file, product.HelperCommand, host, host)
}

// reportError also writes a failed get to stderr: docker drops a helper's
// get error and pulls anonymously, so stderr is where the user sees why. An
// error relayed from the AWS binary was already reported there by that process.
func (h *Helper) reportError(err error) {
	var r refresh.Relayed
	if !errors.As(err, &r) {
		ReportError(h.errOut, err)
	}
}

// ReportError writes err as one plain line, the way docker shows a helper's
// stderr to the user.
func ReportError(w io.Writer, err error) {
	fmt.Fprintf(w, "%s: %v\n", product.HelperCommand, err)
}

// MaxInput bounds what a protocol command reads on stdin: a server URL, or
// store's few hundred bytes of JSON.
const MaxInput = 1 << 20

// Serve runs one protocol action as credentials.HandleCommand does, its
// input read whole first, within the configured timeout: docker writes the
// line and closes stdin at once, so input that has not ended by then (a
// terminal, a pipe from a process that hangs) never will. An error is
// reported on the error output too; the caller prints it on stdout, where
// docker reads it.
func (h *Helper) Serve(action string, in io.Reader, out io.Writer) error {
	switch action {
	case credentials.ActionGet, credentials.ActionStore, credentials.ActionErase:
		if action == credentials.ActionGet && h.prefetchOn {
			h.startPrefetch()
		}
		timeout := settings.DefaultTimeout
		if h.cfg != nil && h.cfg.Timeout > 0 {
			timeout = h.cfg.Timeout
		}
		data, err := rawfile.ReadWithin(in, MaxInput, timeout)
		if errors.Is(err, rawfile.ErrNoEnd) {
			err = fix.New(fmt.Errorf("stdin did not end within %s: %s reads the registry from stdin, which docker writes and closes at once", timeout, action),
				fmt.Sprintf("pipe the registry in and close stdin: echo HOST | %s %s", product.HelperCommand, action))
		} else if err != nil {
			err = fmt.Errorf("reading stdin: %w", err)
		}
		if err != nil {
			ReportError(h.errOut, err)
			return err
		}
		in = bytes.NewReader(data)
	}
	return credentials.HandleCommand(h, action, in, out)
}

// Add accepts and discards credentials: a stray `docker login` to an ECR host
// must not fail, and tokens come from AWS, not from the user.
func (h *Helper) Add(c *credentials.Credentials) error {
	h.log.Debug("store ignored: tokens come from AWS", "server", c.ServerURL)
	return nil
}

// Delete drops the cached token serving serverURL (the token of its principal
// and region) and any failure remembered for it, so the next `get` asks AWS.
// The STS session stays.
func (h *Helper) Delete(serverURL string) error {
	req, ok := h.Resolve(serverURL)
	if !ok {
		return credentials.NewErrCredentialsNotFound()
	}
	if err := h.cache.Usable(); err != nil {
		h.log.Debug("erase: nothing is cached", "err", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Timeout)
	defer cancel()
	key := tokencache.TokenKey(req.Target.Registry)
	erase := func(e *tokencache.Entry) error {
		delete(e.Tokens, key)
		e.SetFailure(key, tokencache.Failure{})
		return nil
	}
	err := h.cache.Update(ctx, req.Identity, erase)
	var bad *tokencache.LockFileError
	if errors.As(err, &bad) {
		// As a get refreshes without an unusable lock: `docker logout` must not fail on a cache problem.
		h.log.Warn("erasing without the cache lock: "+bad.Problem, "file", bad.Path, "fix", bad.Fix())
		e := h.cache.Load(req.Identity)
		erase(e)
		err = h.cache.Store(req.Identity, e)
	}
	if err != nil {
		return fmt.Errorf("%s: erasing the cached token: %w", req.Target.Registry.Host, err)
	}
	return nil
}

// List names every configured registry with the username ECR uses. It reads
// only the config, so it works offline.
func (h *Helper) List() (map[string]string, error) {
	out := map[string]string{}
	for _, host := range h.cfg.Hosts() {
		out[host] = Username
	}
	return out, nil
}
