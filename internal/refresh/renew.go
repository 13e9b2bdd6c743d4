package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/tokencache"
)

// Stage names the step a refresh failed in (source-credentials, assume-role,
// ecr-token, …) when the error knows it, else "refresh".
func Stage(err error) string {
	var s interface{ Stage() string }
	if errors.As(err, &s) {
		return s.Stage()
	}
	return "refresh"
}

// Due is what of a registry's credentials the refresh policy wants renewed.
type Due struct {
	Session bool // the role session
	Token   bool // the registry token
}

// Any reports whether anything is due.
func (d Due) Any() bool { return d.Session || d.Token }

// Renewal is what Renew did for one registry.
type Renewal struct {
	Host    string
	Renewed Due // zero when nothing was due

	// The state after it, from the cache: zero times when nothing is cached.
	SessionExpires time.Time
	TokenExpires   time.Time
	NextRefresh    time.Time // when the next renewal of either falls due

	Err error // why it failed; it carries the fix

	// Skipped says why refresh leaves this registry alone (nothing it could
	// renew); empty otherwise.
	Skipped string
}

// kubeletOnly is Renewal.Skipped of a web_identity: kubernetes entry: each
// pod's service-account token assumes its own session, and only a kubelet
// request carries one, so there is nothing refresh could renew, and a failure
// it recorded would be the same every run.
const kubeletOnly = "not renewed here: web_identity: kubernetes: each pod's service-account token assumes its own session, renewed by the kubelet's requests"

// DueNow is what the refresh policy says is due for req's registry in e at
// now; force makes everything that exists for it due.
func DueNow(req Request, e *tokencache.Entry, now time.Time, force bool) Due {
	hasRole := req.Target.RoleARN() != ""
	s := e.Session
	tok, hit := e.Token(tokencache.TokenKey(req.Target.Registry))
	return Due{
		// Long-term source keys are never cached, so without a role and
		// without a cached session there is no session to renew.
		Session: (hasRole || s != nil) && (force || s == nil || credential.NeedsRefresh(s.Issued, s.Expires, now)),
		Token:   force || !hit || credential.NeedsRefresh(tok.Issued, tok.Expires, now),
	}
}

// Renew renews, under the principal's lock, what of req's session and token
// the refresh policy says is due (everything with force). Nothing due means
// no AWS call at all. Every attempt is recorded in the cache for `status`.
func (f *Fetcher) Renew(ctx context.Context, req Request, force bool) Renewal {
	host := req.Target.Registry.Host
	r := Renewal{Host: host}
	if e := req.Target.Entry; e != nil && e.WebIdentity == settings.WebIdentityKubernetes {
		r.Skipped = kubeletOnly
		return r
	}
	if err := f.Cache.Usable(); err != nil {
		r.Err = fix.New(fmt.Errorf("%s: no usable cache: %w", host, err), "set "+tokencache.EnvDir+" to a directory this user owns: a refresh that cannot be kept is no refresh")
		return r
	}
	unlock, err := f.lock(ctx, req, f.logger())
	if err != nil {
		r.Err = err
		return r
	}
	defer unlock()

	clock := f.Cache.Clock()
	key := tokencache.TokenKey(req.Target.Registry)
	e := f.Cache.Load(req.Identity)
	due := DueNow(req, e, clock.Now(), force)
	if due.Any() {
		awsCtx, cancel := context.WithTimeout(ctx, f.Timeout)
		defer cancel()
		err := f.renew(awsCtx, req, e, due)
		if err != nil {
			e.SetFailure(key, tokencache.Failure{At: clock.Now(), Message: err.Error(), Settings: f.settings(req)})
			e.RecordFailure(key, clock.Now(), Stage(err), err.Error())
			r.Err = err
		} else {
			e.SetFailure(key, tokencache.Failure{})
			e.RecordSuccess(key, clock.Now())
			r.Renewed = due
		}
		if serr := f.Cache.Store(req.Identity, e); serr != nil && r.Err == nil {
			r.Err = serr
		}
	}
	r.SessionExpires, r.TokenExpires, r.NextRefresh = expiries(req, e)
	return r
}

// renew makes the calls due: a new session first (so a token due at the same
// time is fetched with it), then the token through fetch, which reuses that
// fresh session.
func (f *Fetcher) renew(ctx context.Context, req Request, e *tokencache.Entry, due Due) error {
	if due.Session {
		c, err := f.AWS.Credentials(ctx, req.Target)
		if err != nil {
			return err
		}
		e.Session = nil
		if !c.Expires.IsZero() {
			e.Session = &c
		}
	}
	if !due.Token {
		return nil
	}
	log := f.Log
	if log == nil {
		log = logging.Discard()
	}
	tok, err := f.fetch(ctx, req, e, log)
	if err != nil {
		return err
	}
	e.SetToken(tokencache.TokenKey(req.Target.Registry), tok)
	return nil
}

// expiries reads the state Renew leaves behind for its report.
func expiries(req Request, e *tokencache.Entry) (session, token, next time.Time) {
	if tok, ok := e.Token(tokencache.TokenKey(req.Target.Registry)); ok {
		token, next = tok.Expires, credential.RefreshAt(tok.Issued, tok.Expires)
	}
	if s := e.Session; s != nil {
		session = s.Expires
		if at := credential.RefreshAt(s.Issued, s.Expires); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return session, token, next
}

// Requests lists what `refresh` renews: every registry of cfg, or only host
// when it is given (which may be a real ECR host without an entry). getenv is
// os.Getenv outside tests.
func Requests(cfg *settings.Config, host string, getenv func(string) string) ([]Request, error) {
	hosts := cfg.Hosts()
	if host != "" {
		h, err := ecrhost.Normalize(host)
		if err != nil {
			return nil, fix.New(fmt.Errorf("--registry %q: %w", host, err), "give the registry host as in image references, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com")
		}
		hosts = []string{h}
	}
	var reqs []Request
	for _, h := range hosts {
		t, ok := cfg.Lookup(h)
		if !ok {
			return nil, fix.New(fmt.Errorf("--registry %s: not an ECR hostname and not in %s", h, cfg.Path),
				fmt.Sprintf("run `%s configure --registry %s --account N --region R --role-arn ARN`, or spell the host as in %s", product.HelperCommand, h, cfg.Path))
		}
		reqs = append(reqs, Request{ServerURL: h, Target: t, Identity: tokencache.IdentityFor(t, getenv)})
	}
	return reqs, nil
}

// RenewAll renews every request in order (registries sharing a principal and
// region share a token, so the later ones find it fresh).
func (f *Fetcher) RenewAll(ctx context.Context, reqs []Request, force bool) []Renewal {
	out := make([]Renewal, 0, len(reqs))
	for _, req := range reqs {
		out = append(out, f.Renew(ctx, req, force))
	}
	return out
}
