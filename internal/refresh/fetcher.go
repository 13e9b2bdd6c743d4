package refresh

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/tokencache"
)

// AWS is the edge where the AWS binary reaches AWS; internal/awsapi implements it.
type AWS interface {
	// Credentials resolves the principal's credentials: the source credentials,
	// then the configured role if any. A zero Expires marks long-term keys,
	// which are not cached.
	Credentials(ctx context.Context, t settings.Target) (credential.Session, error)
	// AuthorizationToken fetches a registry token with creds.
	AuthorizationToken(ctx context.Context, t settings.Target, creds credential.Session) (credential.Token, error)
}

// CredentialsRejected is implemented by AWS errors that mean the credentials
// themselves were refused (expired or revoked session), as opposed to an
// outage or a denied permission.
type CredentialsRejected interface{ CredentialsRejected() bool }

// Fetcher is the AWS binary's Refresher: it serialises refreshes per principal
// with the cache lock, so N parallel cold `get`s make one AssumeRole and one
// GetAuthorizationToken between them.
type Fetcher struct {
	Cache   *tokencache.Cache
	AWS     AWS
	Timeout time.Duration // bounds the lock wait and, separately, the AWS calls
	Log     *slog.Logger
	// Inherited is the lock file the lean binary took and handed down
	// (InheritedLock): adopted instead of waiting for the lock ourselves.
	Inherited *os.File
}

// Refresh implements Refresher.
func (f *Fetcher) Refresh(ctx context.Context, req Request) (credential.Token, error) {
	log := f.logger()
	clock := f.Cache.Clock()
	asked := clock.Now()
	unlock, err := f.lock(ctx, req, log)
	if err != nil {
		return credential.Token{}, err
	}
	defer unlock()

	key := tokencache.TokenKey(req.Target.Registry)
	settings := f.settings(req)
	e := f.Cache.Load(req.Identity)
	cached, hit := e.Token(key)
	if tok, err, done := settled(e, key, asked, clock.Now(), settings, log); done {
		return tok, err
	}

	awsCtx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	before := e.Session
	tok, err := f.fetch(awsCtx, req, e, log)
	if err != nil {
		// Keep the failure for the gets queued behind us, and a new session
		// even though ECR failed: the retry then needs no second AssumeRole.
		e.SetFailure(key, tokencache.Failure{At: clock.Now(), Message: err.Error(), Settings: settings})
		e.RecordFailure(key, clock.Now(), Stage(err), err.Error())
		if serr := f.Cache.Store(req.Identity, e); serr != nil {
			log.Debug("could not cache the failure", "err", serr, "new_session", e.Session != before)
		}
		if hit && credential.Servable(cached.Issued, cached.Expires, clock.Now()) {
			log.Warn("refresh failed; serving the cached token, which is still valid", "host", req.Target.Registry.Host,
				"expires", cached.Expires.Format(time.RFC3339), "err", err)
			return cached, nil
		}
		return credential.Token{}, err
	}
	e.SetToken(key, tok)
	e.SetFailure(key, tokencache.Failure{})
	e.RecordSuccess(key, clock.Now())
	if err := f.Cache.Store(req.Identity, e); err != nil && f.Cache.Usable() == nil {
		// The token is good; failing the pull because the disk is full would
		// punish the user twice. Say so loudly and answer.
		log.Warn("token fetched but not cached; every get will call AWS until this is fixed", "err", err)
	}
	return tok, nil
}

// lock takes the principal's cache lock: the one the lean binary handed
// down, else by waiting for it (waitTurn, which says why it goes on without
// one when the cache cannot lock).
func (f *Fetcher) lock(ctx context.Context, req Request, log *slog.Logger) (unlock func(), err error) {
	if f.Inherited != nil && f.Cache.Usable() == nil {
		held, err := f.Cache.Adopt(req.Identity, f.Inherited)
		if err == nil {
			return held.Unlock, nil
		}
		log.Debug("not adopting the inherited lock", "err", err)
	}
	held, err := waitTurn(ctx, f.Cache, req, f.Timeout, log, slog.LevelWarn)
	if err != nil || held == nil {
		return func() {}, err
	}
	return held.Unlock, nil
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Log == nil {
		return logging.Discard()
	}
	return f.Log
}

// settings names what a refresh depends on beyond the identity (which already
// covers the role, its source and the endpoints): a remembered failure answers
// only a get made with the same.
func (f *Fetcher) settings(req Request) string { return failureSettings(f.Timeout, req) }

func failureSettings(timeout time.Duration, req Request) string {
	s := "timeout=" + timeout.String()
	if e := req.Target.Entry; e != nil && e.Duration != 0 {
		s += " duration=" + e.Duration.String()
	}
	return s
}

// fetch gets a token, reusing the cached session when it is fresh (no
// AssumeRole), and updates e.Session when a new one was made.
func (f *Fetcher) fetch(ctx context.Context, req Request, e *tokencache.Entry, log *slog.Logger) (credential.Token, error) {
	now := f.Cache.Clock().Now()
	s := e.Session
	fromCache := s != nil && !credential.NeedsRefresh(s.Issued, s.Expires, now)
	var creds credential.Session
	if fromCache {
		creds = *s
		log.Debug("reusing cached AWS session", "expires", s.Expires)
	} else {
		c, err := f.AWS.Credentials(ctx, req.Target)
		switch {
		case err == nil:
			creds = c
			e.Session = nil
			if !c.Expires.IsZero() {
				e.Session = &c
			}
		case s != nil && credential.Servable(s.Issued, s.Expires, now):
			log.Warn("renewing the AWS session failed; using the cached one, which is still valid", "expires", s.Expires, "err", err)
			creds, fromCache = *s, true
		default:
			return credential.Token{}, err
		}
	}
	tok, err := f.AWS.AuthorizationToken(ctx, req.Target, creds)
	var rej CredentialsRejected
	if err != nil && fromCache && errors.As(err, &rej) && rej.CredentialsRejected() {
		// The cached session was revoked or its clock is off: start over once.
		log.Debug("cached AWS session rejected; assuming the role again", "err", err)
		e.Session = nil
		c, cerr := f.AWS.Credentials(ctx, req.Target)
		if cerr != nil {
			return credential.Token{}, cerr
		}
		if !c.Expires.IsZero() {
			e.Session = &c
		}
		tok, err = f.AWS.AuthorizationToken(ctx, req.Target, c)
	}
	return tok, err
}
