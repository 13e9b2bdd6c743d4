package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/currentsdev/currents/internal/insecure"
	"github.com/currentsdev/currents/internal/keychain"
)

// hostState is what one registry needs once per check: the credentials
// docker would send, the advice they give, and the authenticated transport;
// or why none can be had (status, msg, fix), which every image of the
// registry then reports.
type hostState struct {
	cred   keychain.Credential
	advice advice
	rt     http.RoundTripper
	lim    *limiter

	status   Status
	msg, fix string
}

func (h *hostState) failed() bool { return h.status != "" }

// host sets up images[idx]'s registry, once per Prober.
func (p *Prober) host(ctx context.Context, images []Image, idx []int) *hostState {
	reg := images[idx[0]].Ref.Context().Registry
	return p.hosts.do(reg.RegistryStr(), func() *hostState {
		hs := &hostState{}
		p.setUp(ctx, hs, reg, images, idx)
		return hs
	})
}

func (p *Prober) setUp(ctx context.Context, hs *hostState, reg name.Registry, images []Image, idx []int) {
	host := reg.RegistryStr()
	hs.cred = p.creds.Get(host)
	hs.advice = p.credentialAdvice(host, hs.cred)
	if err := hs.cred.Err; err != nil {
		fix := helperFix(hs.cred.Source)
		if errors.Is(err, exec.ErrNotFound) || strings.Contains(err.Error(), "executable file not found") {
			// docker itself would then pull anonymously and fail with
			// "no basic auth credentials".
			fix = fmt.Sprintf("docker-credential-%s is not on PATH: install it (make install), or remove the %s entry from %s", hs.cred.Source.Helper, hs.cred.Source.Kind, hs.cred.Source.ConfigFile)
		}
		hs.status, hs.msg, hs.fix = CredsFailed, err.Error(), fix
		return
	}
	base, err := p.transportFor(host)
	if err != nil {
		hs.status, hs.msg, hs.fix = Failed, fmt.Sprintf("the TLS settings docker reads for %s: %v", host, err), "fix or remove the files in "+filepath.Join(p.certsDir, host)
		return
	}
	hs.lim = newLimiter(p.jobs)
	limited := &limitedTransport{
		// Over HTTPS, as docker speaks to it, unless it is a loopback one.
		inner: insecure.HTTPSOnly(base, host),
		lim:   hs.lim,
		gate:  newConnGate(p.protocols.HTTP1(host), func(h2 bool) { p.protocols.saw(host, h2) }),
	}
	if !insecure.Default(host) {
		limited.https = host
	}
	if hs.advice.ecr && !hs.cred.Anonymous() {
		hs.rt, err = keychain.BasicFirst(reg, hs.cred.Authenticator(), transport.NewUserAgent(limited, ""))
	} else {
		// One ping and one authentication, scoped for every repository of
		// the stack on the registry: the images then need nothing but their
		// own requests.
		var scopes []string
		seen := map[string]bool{}
		for _, i := range idx {
			if s := images[i].Ref.Context().Scope(transport.PullScope); !seen[s] {
				seen[s] = true
				scopes = append(scopes, s)
			}
		}
		hs.rt, err = transport.NewWithContext(ctx, reg, hs.cred.Authenticator(), limited, scopes)
	}
	if err != nil {
		hs.status, hs.msg, hs.fix = p.explain(host, hs.cred, hs.advice, err, nil)
	}
}

// contents resolves each reference once per Prober: services sharing an
// image, and a Check after a Prefetch, cost nothing more.
type contents struct{ onceEach[*content] }

// content is what the registry says about one reference: the digest it
// resolves to and the platforms it serves (an index lists its manifests',
// a single image's config blob names its one).
type content struct {
	digest    v1.Hash
	mediaType types.MediaType
	index     bool
	manifests []platformManifest
	err       error
}

type platformManifest struct {
	platform specs.Platform
	digest   string
}

func (cs *contents) get(ctx context.Context, ref name.Reference, rt http.RoundTripper, cache *Platforms) *content {
	return cs.do(ref.String(), func() *content {
		c := &content{}
		c.fetch(ctx, ref, rt, cache)
		return c
	})
}

// fetch GETs the manifest once — its digest is that of the bytes — and, for
// a single-platform image whose platform is not remembered, its config blob,
// the only place such an image names its platform.
func (c *content) fetch(ctx context.Context, ref name.Reference, rt http.RoundTripper, cache *Platforms) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt)}
	var desc *remote.Descriptor
	c.err = retry(ctx, func() (err error) { desc, err = remote.Get(ref, opts...); return err })
	if c.err != nil {
		return
	}
	c.digest, c.mediaType = desc.Digest, desc.MediaType
	switch {
	case desc.MediaType.IsIndex():
		c.index = true
		im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			c.err = fmt.Errorf("unreadable index %s: %w", ref, err)
			return
		}
		for _, m := range im.Manifests {
			if m.Platform == nil || m.Platform.OS == "unknown" {
				continue // attestations and the like
			}
			c.manifests = append(c.manifests, platformManifest{spec(*m.Platform), m.Digest.String()})
		}
	case desc.MediaType.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			c.err = fmt.Errorf("unreadable manifest %s: %w", ref, err)
			return
		}
		pl, known := cache.Get(m.Config.Digest)
		if !known {
			if pl, c.err = configPlatform(ctx, desc, opts); c.err != nil {
				return
			}
			cache.Put(m.Config.Digest, pl)
		}
		if pl != nil && pl.OS != "" {
			c.manifests = []platformManifest{{spec(*pl), c.digest.String()}}
		}
	default:
		c.err = fmt.Errorf("%s: unsupported manifest type %s", ref, desc.MediaType)
	}
}

// configPlatform reads the platform a single-platform image's config blob
// records (nil: none); ggcr verifies the blob against its digest.
func configPlatform(ctx context.Context, desc *remote.Descriptor, opts []remote.Option) (*v1.Platform, error) {
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	var cf *v1.ConfigFile
	err = retry(ctx, func() (err error) { cf, err = img.ConfigFile(); return err })
	if err != nil {
		return nil, err
	}
	return cf.Platform(), nil
}

// retry runs do again, after a pause, while the registry says it is
// overwhelmed (429, 503): by then the limiter has halved the concurrency.
// Three retries over about 3.5 s, within ctx.
func retry(ctx context.Context, do func() error) error {
	pause := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := do()
		if err == nil || attempt == 3 || !overwhelmedBy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause *= 2
	}
}

func overwhelmedBy(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && overwhelmedStatus(terr.StatusCode)
}

func overwhelmedStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// limitedTransport holds every request to one registry within its limiter,
// from sending until the response body is closed, and tells the limiter
// whether the registry pushed back; over https, its gate first holds a
// burst until the first request has a connection.
type limitedTransport struct {
	inner http.RoundTripper
	lim   *limiter
	gate  *connGate
	// https is the registry when inner speaks HTTPS to it whatever scheme
	// a request names (insecure.HTTPSOnly: go-containerregistry names http
	// for a private address).
	https string
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.gate != nil && (req.URL.Scheme == "https" || req.URL.Host == t.https && t.https != "") {
		lead, err := t.gate.enter(req.Context())
		if err != nil {
			return nil, err
		}
		if lead {
			return t.gate.lead(req, t.send)
		}
	}
	return t.send(req)
}

func (t *limitedTransport) send(req *http.Request) (*http.Response, error) {
	if err := t.lim.acquire(req.Context()); err != nil {
		return nil, err
	}
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		var nerr net.Error
		t.lim.release(errors.As(err, &nerr) && req.Context().Err() == nil)
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { t.lim.release(overwhelmedStatus(resp.StatusCode)) }}
	return resp, nil
}

// releasingBody releases its request's slot once, when closed.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
