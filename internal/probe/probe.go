// Package probe proves that images are pullable without pulling them: it
// finds each registry's credentials as docker does, authenticates once per
// registry, HEADs (and reads) every manifest concurrently, checks that the
// wanted platform is served (an index's entries, or a single image's config)
// and explains each failure in terms of what to do.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
	CredsFailed  Status = "credentials-failed"
	Unreachable  Status = "unreachable"
	Failed       Status = "error"
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
	// Missing is what a NotFound image lacks: MissingRepository or
	// MissingTag.
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
}

// Option configures a Prober.
type Option func(*Prober)

// WithTransport sets the base HTTP transport (tests count requests with it).
func WithTransport(t http.RoundTripper) Option { return func(p *Prober) { p.transport = t } }

// WithJobs bounds how many images are resolved at once; each has at most
// two small requests in flight (its HEAD and GET, then its config blob).
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

// WithClock sets the clock used to judge static token expiry.
func WithClock(now func() time.Time) Option { return func(p *Prober) { p.now = now } }

// DefaultJobs bounds the images resolved at once. Each costs two round
// trips of tiny requests (HEAD and GET together, then a single image's
// config blob), so latency, not bandwidth, is what costs: 64 lets a
// 60-image stack go in one wave.
const DefaultJobs = 64

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
		p.transport = t
	}
	return p
}

// Check probes every image and returns one result per image, in input order.
// Images of one registry share one credential lookup and one ping; all
// manifest requests share one concurrency bound.
func (p *Prober) Check(ctx context.Context, images []Image) []Result {
	results := make([]Result, len(images))
	byRegistry := map[string][]int{}
	var hosts []string
	for i, img := range images {
		results[i] = Result{Image: img}
		h := img.Ref.Context().RegistryStr()
		if _, ok := byRegistry[h]; !ok {
			hosts = append(hosts, h)
		}
		byRegistry[h] = append(byRegistry[h], i)
	}
	sort.Strings(hosts)

	sem := make(chan struct{}, p.jobs)
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func(idx []int) {
			defer wg.Done()
			p.checkRegistry(ctx, images, idx, results, sem)
		}(byRegistry[h])
	}
	wg.Wait()
	return results
}

func (p *Prober) checkRegistry(ctx context.Context, images []Image, idx []int, results []Result, sem chan struct{}) {
	reg := images[idx[0]].Ref.Context().Registry
	host := reg.RegistryStr()
	cred := p.creds.Get(host)
	advice := p.credentialAdvice(host, cred)
	for _, i := range idx {
		results[i].Credentials = cred.Source
		results[i].Warnings = append(results[i].Warnings, advice.warnings...)
	}
	fail := func(st Status, msg, fix string) {
		for _, i := range idx {
			results[i].Status, results[i].Message, results[i].Fix = st, msg, fix
		}
	}
	if cred.Err != nil {
		fix := helperFix(cred.Source)
		if errors.Is(cred.Err, exec.ErrNotFound) || strings.Contains(cred.Err.Error(), "executable file not found") {
			// docker itself would then pull anonymously and fail with
			// "no basic auth credentials".
			fix = fmt.Sprintf("docker-credential-%s is not on PATH: install it (make install), or remove the %s entry from %s", cred.Source.Helper, cred.Source.Kind, cred.Source.ConfigFile)
		}
		fail(CredsFailed, cred.Err.Error(), fix)
		return
	}

	// One ping and one authenticated transport per registry, scoped for
	// every repository of the stack on it: the images then need nothing but
	// their own manifest request.
	var scopes []string
	seen := map[string]bool{}
	for _, i := range idx {
		s := images[i].Ref.Context().Scope(transport.PullScope)
		if !seen[s] {
			seen[s] = true
			scopes = append(scopes, s)
		}
	}
	base, err := p.transportFor(host)
	if err != nil {
		fail(Failed, fmt.Sprintf("the TLS settings docker reads for %s: %v", host, err), "fix or remove the files in "+filepath.Join(p.certsDir, host))
		return
	}
	sem <- struct{}{}
	rt, err := transport.NewWithContext(ctx, reg, cred.Authenticator(), base, scopes)
	<-sem
	if err != nil {
		st, msg, fix := p.explain(host, cred, advice, err, nil)
		fail(st, msg, fix)
		return
	}

	var (
		wg      sync.WaitGroup
		fetched contents
	)
	for _, i := range idx {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p.checkImage(ctx, rt, cred, advice, &results[i], &fetched)
		}(i)
	}
	wg.Wait()
}

func (p *Prober) checkImage(ctx context.Context, rt http.RoundTripper, cred keychain.Credential, advice advice, r *Result, seen *contents) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt)}
	ref := r.Image.Ref
	host := ref.Context().RegistryStr()

	want, err := p.want(r.Image.Platform)
	if err != nil {
		r.Status, r.Message, r.Fix = Failed, err.Error(), "write platform: as os/arch[/variant], e.g. linux/amd64"
		return
	}
	r.Platform = platforms.Format(want)

	c := seen.get(ref, opts)
	if c.err != nil {
		r.Status, r.Message, r.Fix = p.explain(host, cred, advice, c.err, ref)
		if r.Status == NotFound {
			r.Missing = MissingTag
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
	match := platforms.Only(want)
	var have []string
	for _, m := range c.manifests {
		if match.Match(m.platform) {
			r.PlatformDigest, r.Status = m.digest, OK
			return
		}
		have = append(have, platforms.Format(m.platform))
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

// contents resolves each reference once per check: services sharing an
// image cost nothing more.
type contents struct {
	mu sync.Mutex
	m  map[string]*content
}

// content is what the registry says about one reference: the digest it
// resolves to and the platforms it serves (an index lists its manifests',
// a single image's config blob names its one).
type content struct {
	once      sync.Once
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

func (cs *contents) get(ref name.Reference, opts []remote.Option) *content {
	cs.mu.Lock()
	if cs.m == nil {
		cs.m = map[string]*content{}
	}
	c, ok := cs.m[ref.String()]
	if !ok {
		c = &content{}
		cs.m[ref.String()] = c
	}
	cs.mu.Unlock()
	c.once.Do(func() { c.fetch(ref, opts) })
	return c
}

// fetch HEADs the manifest (the digest docker would pull, without counting
// as a pull) and GETs it at the same time, since its platforms are needed
// anyway: one round trip, then one more for a single image's config blob.
func (c *content) fetch(ref name.Reference, opts []remote.Option) {
	type got struct {
		desc *remote.Descriptor
		err  error
	}
	getc := make(chan got, 1)
	go func() {
		d, err := remote.Get(ref, opts...)
		getc <- got{d, err}
	}()
	head, herr := remote.Head(ref, opts...)
	g := <-getc
	switch {
	case herr != nil && g.err != nil:
		// A HEAD answer has no body, yet the body is where ECR says
		// "token has expired" and where a 404 tells a missing repository
		// from a missing tag: explain with the GET's error.
		c.err = g.err
		var terr *transport.Error
		if !errors.As(g.err, &terr) {
			c.err = herr
		}
		return
	case herr != nil:
		// A registry that does not answer HEAD: the GET tells the digest.
		head = &g.desc.Descriptor
	case g.err != nil:
		c.err = g.err
		return
	case g.desc.Digest != head.Digest:
		// The tag moved between the two requests: read the digest HEAD
		// reported, so the platforms are those of the digest reported.
		if g.desc, c.err = remote.Get(ref.Context().Digest(head.Digest.String()), opts...); c.err != nil {
			return
		}
	}
	c.digest, c.mediaType = head.Digest, head.MediaType
	desc := g.desc
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
		img, err := desc.Image()
		if err != nil {
			c.err = err
			return
		}
		// The config blob is the only place a single-platform image names
		// its platform; ggcr verifies it against its digest.
		cf, err := img.ConfigFile()
		if err != nil {
			c.err = err
			return
		}
		if pl := cf.Platform(); pl != nil && pl.OS != "" {
			c.manifests = []platformManifest{{spec(*pl), c.digest.String()}}
		}
	default:
		c.err = fmt.Errorf("%s: unsupported manifest type %s", ref, desc.MediaType)
	}
}

func spec(p v1.Platform) specs.Platform {
	return platforms.Normalize(specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion})
}
