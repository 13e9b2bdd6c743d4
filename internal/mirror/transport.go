package mirror

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/currentsdev/currents/internal/keychain"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// putDigests is the transport that remembers the digest a registry answers
// each manifest PUT with (Docker-Content-Digest), so a copy can check the
// target kept the source's digest without asking again.
type putDigests struct {
	inner http.RoundTripper
	mu    sync.Mutex
	m     map[string]v1.Hash
}

func (d *putDigests) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.inner.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") && resp.StatusCode/100 == 2 {
		if h, herr := v1.NewHash(resp.Header.Get("Docker-Content-Digest")); herr == nil {
			d.mu.Lock()
			d.m[req.URL.Host+req.URL.Path] = h
			d.mu.Unlock()
		}
	}
	return resp, err
}

// take returns (and forgets) the digest the registry said for ref's PUT.
func (d *putDigests) take(ref name.Reference) (v1.Hash, bool) {
	key := ref.Context().RegistryStr() + "/v2/" + ref.Context().RepositoryStr() + "/manifests/" + ref.Identifier()
	d.mu.Lock()
	defer d.mu.Unlock()
	h, ok := d.m[key]
	delete(d.m, key)
	return h, ok
}

// retryStatus and retryBackoff are go-containerregistry's own defaults for
// remote operations, which its transport.Wrapper leaves to the caller.
var (
	retryStatus  = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, 499, 522}
	retryBackoff = transport.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 3}
)

// basicFirst is the transport for a copy whose every registry is ECR (a
// real hostname or a currents.yaml alias): ECR answers every request with a
// Basic challenge, so each registry's credentials go with its first request,
// as docker sends them after its first 401, and no registry is pinged (go-
// containerregistry would ping each once per repository, on either side).
// ok is false when some registry is not known to be ECR or has no Basic
// credentials: then go-containerregistry negotiates as usual.
func basicFirst(ctx context.Context, o options, images []Image, inner http.RoundTripper) (http.RoundTripper, bool) {
	if o.config == nil {
		return nil, false
	}
	regs := map[string]name.Registry{}
	for _, img := range images {
		for _, r := range []name.Registry{img.Source.Context().Registry, img.Target.Context().Registry} {
			regs[r.RegistryStr()] = r
		}
	}
	rt := transport.NewUserAgent(transport.NewRetry(inner, transport.WithRetryBackoff(retryBackoff), transport.WithRetryStatusCodes(retryStatus...)), "")
	for host, reg := range regs {
		if _, ecr := o.config.Lookup(host); !ecr {
			return nil, false
		}
		auth, err := o.keychain.Resolve(reg)
		if err != nil {
			return nil, false
		}
		cfg, err := authn.Authorization(ctx, auth)
		if err != nil {
			return nil, false
		}
		basic := cfg.Auth != "" || (cfg.Username != "" && cfg.Password != "") // our keychain gives Auth alone
		if !basic || cfg.IdentityToken != "" || cfg.RegistryToken != "" {
			return nil, false
		}
		// Each layer adds its registry's credentials to requests for that
		// host only, and passes the rest on.
		if rt, err = keychain.BasicFirst(reg, auth, rt); err != nil {
			return nil, false
		}
	}
	return rt, true
}
