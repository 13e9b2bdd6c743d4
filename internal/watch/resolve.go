package watch

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"

	"github.com/currentsdev/currents/internal/insecure"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// resolver asks registries what tags point at: one HEAD per image, which
// does not count as a pull. Each registry keeps one authenticated transport
// (pinged once) over pooled connections, so a poll of N images costs N
// requests. Credentials are looked up afresh each round (a new keychain: the
// helper's warm answer), so a watch running for months never holds an
// expired ECR token; a 401 or 403 mid-round looks them up again once.
type resolver struct {
	base        http.RoundTripper
	newKeychain func() *keychain.Keychain
	jobs        int

	mu         sync.Mutex
	kc         *keychain.Keychain
	transports map[string]*regTransport // by registry host
}

type regTransport struct {
	rt     http.RoundTripper
	scopes []string
}

// resolved is what a tag pointed at, or why it could not be told.
type resolved struct {
	digest string
	err    error
}

func newResolver(base http.RoundTripper, newKeychain func() *keychain.Keychain, jobs int) *resolver {
	if jobs < 1 {
		jobs = 8
	}
	return &resolver{base: base, newKeychain: newKeychain, jobs: jobs, transports: map[string]*regTransport{}}
}

// resolve HEADs every reference, at most jobs at once, and returns the
// answers by reference string.
func (r *resolver) resolve(ctx context.Context, refs []name.Reference) map[string]resolved {
	r.mu.Lock()
	r.kc = r.newKeychain()
	r.mu.Unlock()
	out := make(map[string]resolved, len(refs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.jobs)
	seen := map[string]bool{}
	for _, ref := range refs {
		if seen[ref.String()] {
			continue
		}
		seen[ref.String()] = true
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d, err := r.head(ctx, ref, refs)
			mu.Lock()
			out[ref.String()] = resolved{digest: d, err: err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func (r *resolver) head(ctx context.Context, ref name.Reference, all []name.Reference) (string, error) {
	for attempt := 0; ; attempt++ {
		rt, err := r.transport(ctx, ref, all)
		if err == nil {
			var d *v1.Descriptor
			if d, err = remote.Head(ref, remote.WithContext(ctx), remote.WithTransport(rt)); err == nil {
				return d.Digest.String(), nil
			}
		}
		if attempt > 0 || !authFailure(err) {
			return "", err
		}
		// Credentials went stale mid-round (an ECR token that expired
		// since): ask the helper again and retry once.
		r.forget(ref.Context().RegistryStr())
	}
}

func authFailure(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden)
}

// transport is the registry's authenticated transport, made (one ping) when
// there is none or when it lacks a repository's scope.
func (r *resolver) transport(ctx context.Context, ref name.Reference, all []name.Reference) (http.RoundTripper, error) {
	host := ref.Context().RegistryStr()
	scope := ref.Context().Scope(transport.PullScope)
	r.mu.Lock()
	t, ok := r.transports[host]
	r.mu.Unlock()
	if ok && slices.Contains(t.scopes, scope) {
		return t.rt, nil
	}
	var scopes []string
	for _, o := range all {
		if s := o.Context().Scope(transport.PullScope); o.Context().RegistryStr() == host && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	// As docker speaks to it: HTTPS unless the registry is on loopback.
	rt, err := transport.NewWithContext(ctx, ref.Context().Registry, roundAuth{r, host}, insecure.HTTPSOnly(r.base, host), scopes)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.transports[host] = &regTransport{rt: rt, scopes: scopes}
	r.mu.Unlock()
	return rt, nil
}

// forget drops a registry's transport and this round's credentials.
func (r *resolver) forget(host string) {
	r.mu.Lock()
	delete(r.transports, host)
	r.kc = r.newKeychain()
	r.mu.Unlock()
}

// roundAuth answers with the current round's credentials for host.
type roundAuth struct {
	r    *resolver
	host string
}

func (a roundAuth) Authorization() (*authn.AuthConfig, error) {
	a.r.mu.Lock()
	kc := a.r.kc
	a.r.mu.Unlock()
	c := kc.Get(a.host)
	if c.Err != nil {
		return nil, c.Err
	}
	return c.Authenticator().Authorization()
}
