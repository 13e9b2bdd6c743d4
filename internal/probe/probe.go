// Package probe proves that images are pullable without pulling them: it
// finds each registry's credentials as docker does, authenticates once per
// registry (an ECR registry with no ping at all), GETs every manifest
// concurrently within a per-registry limit that adapts to what the registry
// accepts, checks that the wanted platform is served (an index's entries,
// and with a HEAD the manifest it lists for the platform, which lifecycle
// rules may have deleted; or a single image's config, remembered by digest)
// and explains each failure in terms of what to do.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is one image to prove pullable.
type Image struct {
	// ID names the image in results (the compose service name).
	ID  string
	Ref name.Reference
	// Platform is the wanted platform ("linux/arm64"); empty means the host's.
	Platform string
}

// Status is the verdict on one image.
type Status string

const (
	OK           Status = "ok"
	NotFound     Status = "not-found"
	Unauthorized Status = "unauthorized"
	Denied       Status = "denied"
	Expired      Status = "expired"
	NoPlatform   Status = "no-platform"
	// ManifestMissing: the manifest an index lists for the wanted platform
	// is gone (deleted, as lifecycle rules expiring untagged images do).
	ManifestMissing Status = "manifest-missing"
	CredsFailed     Status = "credentials-failed"
	Unreachable     Status = "unreachable"
	Failed          Status = "error"
)

// Result is what the probe found for one image.
type Result struct {
	Image  Image
	Status Status
	// Digest is the manifest (or index) digest the tag resolves to now.
	Digest    string
	MediaType string
	// Platform is the platform checked in an index, and PlatformDigest the
	// manifest docker would pull for it.
	Platform       string
	PlatformDigest string
	Credentials    keychain.Source
	// Missing is what a NotFound image lacks: MissingRepository,
	// MissingTag or MissingDigest.
	Missing string
	// Message says what is wrong and Fix what to do; empty when OK.
	Message string
	Fix     string
	// Warnings hold advice about an image that is pullable today.
	Warnings []string
}

// What a NotFound image lacks.
const (
	MissingRepository = "repository"
	MissingTag        = "tag"
	MissingDigest     = "digest"
)

// Pullable reports whether docker would be able to pull the image.
func (r Result) Pullable() bool { return r.Status == OK }

// Prober checks images. Create one with New; it is safe for concurrent use.
type Prober struct {
	creds     *keychain.Keychain
	transport http.RoundTripper
	jobs      int
	platform  specs.Platform
	// platformFrom names what chose platform when it is not the host's
	// (DOCKER_DEFAULT_PLATFORM), for the fix.
	platformFrom string
	isECR        func(host string) bool
	configured   func(host string) string
	now          func() time.Time
	certsDir     string
	platforms    *Platforms
	protocols    *Protocols
	guesses      *Guesses

	// What the registries said, shared by Prefetch and Check.
	mu       sync.Mutex
	hosts    onceEach[*hostState]
	fetched  contents
	children children
}

// Option configures a Prober.
type Option func(*Prober)

// WithTransport sets the base HTTP transport (tests count requests with it).
func WithTransport(t http.RoundTripper) Option { return func(p *Prober) { p.transport = t } }

// WithJobs bounds the requests in flight to one registry (and so its
// connections, over HTTP/1.1); within it the concurrency adapts (limiter).
func WithJobs(n int) Option {
	return func(p *Prober) {
		if n > 0 {
			p.jobs = n
		}
	}
}

// WithHostPlatform sets the platform wanted when a service names none: the
// Docker engine's, which may not be this machine's (docker --context).
func WithHostPlatform(pl v1.Platform) Option {
	return func(p *Prober) { p.platform, p.platformFrom = spec(pl), "" }
}

// WithDefaultPlatform sets the platform wanted when a service names none
// because a setting chose it (from names it, e.g. DOCKER_DEFAULT_PLATFORM,
// which compose passes to every pull).
func WithDefaultPlatform(pl, from string) Option {
	return func(p *Prober) {
		if s, err := platforms.Parse(pl); err == nil {
			p.platform, p.platformFrom = platforms.Normalize(s), from
		}
	}
}

// WithECR says which hosts are ECR registries (real ones and configured
// aliases), for the credential-helper advice.
func WithECR(isECR func(host string) bool) Option { return func(p *Prober) { p.isECR = isECR } }

// WithConfigured says where currents.yaml configures the helper for a host
// ("" when it does not), so the fix for a missing registration is exact.
func WithConfigured(where func(host string) string) Option {
	return func(p *Prober) { p.configured = where }
}

// WithPlatformCache remembers single-platform images' platforms by config
// digest, so a check of an image seen before needs only its manifest.
func WithPlatformCache(c *Platforms) Option { return func(p *Prober) { p.platforms = c } }

// WithProtocols remembers which registries speak HTTP/1.1 only over TLS,
// so their requests are not held for a shared connection next time.
func WithProtocols(p *Protocols) Option { return func(pr *Prober) { pr.protocols = p } }

// WithClock sets the clock used to judge static token expiry.
func WithClock(now func() time.Time) Option { return func(p *Prober) { p.now = now } }

// DefaultJobs bounds the requests in flight to one registry. A check costs
// one small request per image (its manifest; a single-platform image's
// config too, the first time its digest is seen), so latency, not
// bandwidth, is what costs: 256 lets a 250-image stack go in one round trip,
// over at most 256 connections to one registry (one, over HTTP/2).
const DefaultJobs = 256

// HostPlatform is the platform a Linux Docker engine on this machine pulls
// by default (containerd's detection, variant included).
func HostPlatform() v1.Platform {
	d := platforms.DefaultSpec()
	return v1.Platform{OS: "linux", Architecture: d.Architecture, Variant: d.Variant}
}

// New returns a Prober reading credentials through kc.
func New(kc *keychain.Keychain, opts ...Option) *Prober {
	p := &Prober{
		creds:      kc,
		jobs:       DefaultJobs,
		platform:   spec(HostPlatform()),
		isECR:      func(string) bool { return false },
		configured: func(string) string { return "" },
		now:        time.Now,
		certsDir:   DefaultCertsDir,
	}
	for _, o := range opts {
		o(p)
	}
	if p.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = p.jobs
		t.MaxConnsPerHost = p.jobs
		p.transport = t
	}
	return p
}

// Configure applies options after New: the platform, once the engine or the
// project has said which (Prefetch needs none). Call it before Check, not
// while one runs.
func (p *Prober) Configure(opts ...Option) {
	// A Prefetch under way reads the platform to guess with.
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range opts {
		o(p)
	}
}

// Check probes every image and returns one result per image, in input order.
// Images of one registry share one credential lookup and one authentication
// (no ping at all for an ECR registry, which takes Basic credentials); what
// Prefetch already asked is not asked again.
func (p *Prober) Check(ctx context.Context, images []Image) []Result {
	results := make([]Result, len(images))
	hosts, byRegistry := byHost(images)
	for i, img := range images {
		results[i] = Result{Image: img}
	}
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func(idx []int) {
			defer wg.Done()
			p.checkRegistry(ctx, images, idx, results)
		}(byRegistry[h])
	}
	wg.Wait()
	return results
}

// Prefetch starts asking the registries for images' manifests (and what
// judging their platforms needs: an index's manifest for the image's
// platform, else the one known now) without waiting: a later Check of the same
// images finds the answers, or waits for those still on their way. The
// check starts it as soon as the project's image list is known, while the
// project is still being validated.
func (p *Prober) Prefetch(ctx context.Context, images []Image) {
	hosts, byRegistry := byHost(images)
	for _, h := range hosts {
		idx := byRegistry[h]
		go func() {
			hs := p.host(ctx, images, idx)
			if hs.failed() {
				return
			}
			for _, i := range idx {
				go p.prefetch(ctx, images[i], hs.rt)
			}
		}()
	}
}

// byHost groups images by registry, hosts sorted.
func byHost(images []Image) (hosts []string, byRegistry map[string][]int) {
	byRegistry = map[string][]int{}
	for i, img := range images {
		h := img.Ref.Context().RegistryStr()
		if _, ok := byRegistry[h]; !ok {
			hosts = append(hosts, h)
		}
		byRegistry[h] = append(byRegistry[h], i)
	}
	sort.Strings(hosts)
	return hosts, byRegistry
}

func (p *Prober) checkRegistry(ctx context.Context, images []Image, idx []int, results []Result) {
	hs := p.host(ctx, images, idx)
	for _, i := range idx {
		results[i].Credentials = hs.cred.Source
		results[i].Warnings = append(results[i].Warnings, hs.advice.warnings...)
	}
	if hs.failed() {
		for _, i := range idx {
			results[i].Status, results[i].Message, results[i].Fix = hs.status, hs.msg, hs.fix
		}
		return
	}
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p.checkImage(ctx, hs, &results[i])
		}(i)
	}
	wg.Wait()
}

func (p *Prober) checkImage(ctx context.Context, hs *hostState, r *Result) {
	cred, advice := hs.cred, hs.advice
	ref := r.Image.Ref
	host := ref.Context().RegistryStr()

	want, err := p.want(r.Image.Platform)
	if err != nil {
		r.Status, r.Message, r.Fix = Failed, err.Error(), "write platform: as os/arch[/variant], e.g. linux/amd64"
		return
	}
	r.Platform = platforms.Format(want)

	p.guessChild(ctx, ref, r.Platform, hs.rt)
	c := p.fetched.get(ctx, ref, hs.rt, p.platforms)
	if c.err != nil {
		r.Status, r.Message, r.Fix = p.explain(host, cred, advice, c.err, ref)
		if r.Status == NotFound {
			r.Missing = MissingTag
			if _, ok := ref.(name.Digest); ok {
				r.Missing = MissingDigest
			}
			var terr *transport.Error
			if errors.As(c.err, &terr) && hasCode(terr, transport.NameUnknownErrorCode) {
				r.Missing = MissingRepository
			}
		}
		return
	}
	r.Digest, r.MediaType = c.digest.String(), string(c.mediaType)
	if !c.index && len(c.manifests) == 0 {
		r.Status = OK
		r.Warnings = append(r.Warnings, "the image's config records no platform, so docker cannot tell whether it runs on "+r.Platform)
		return
	}
	m, have, ok := matchPlatform(c, want)
	if ok {
		r.PlatformDigest, r.Status = m.digest, OK
		if c.index {
			p.checkChild(ctx, hs, r)
		}
		return
	}
	r.Status = NoPlatform
	if c.index {
		r.Message = fmt.Sprintf("%s has no image for %s (its index has: %s)", ref, r.Platform, orNone(have))
	} else {
		r.Message = fmt.Sprintf("%s is a single-platform image for %s, not %s", ref, orNone(have), r.Platform)
	}
	if !c.index && r.Image.Platform == "" && p.platformFrom == "" {
		// Without a requested platform docker pulls it with a warning;
		// the container then dies with "exec format error".
		r.Message += "; docker would pull it, but its containers would fail with \"exec format error\""
	}
	fix := "push the image for " + r.Platform + " (docker buildx build --platform " + r.Platform + ")"
	switch {
	case r.Image.Platform != "":
		fix += ", or set the service's platform: to one it has"
	case p.platformFrom != "":
		fix += ", or unset " + p.platformFrom + ", or set the service's platform: to one it has"
	default:
		fix += ", or run it on a host of a platform it has"
	}
	r.Fix = fix
}

// Platform is the platform checked for images without one of their own.
func (p *Prober) Platform() string { return platforms.Format(p.platform) }

// want is the platform docker pulls for a service: its platform:, else the
// host's, normalised as docker normalises it (x86_64 is amd64, arm64 is v8).
func (p *Prober) want(service string) (specs.Platform, error) {
	if service == "" {
		return platforms.Normalize(p.platform), nil
	}
	pl, err := platforms.Parse(service)
	if err != nil {
		return specs.Platform{}, fmt.Errorf("platform %q is not a valid platform: %v", service, err)
	}
	return platforms.Normalize(pl), nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no platform recorded"
	}
	return strings.Join(s, ", ")
}

func spec(p v1.Platform) specs.Platform {
	return platforms.Normalize(specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion})
}
