// Package mirror copies images registry to registry, without a Docker engine:
// the whole multi-platform index by default so digests stay identical, only
// the blobs and manifests the target lacks, streamed with bounded concurrency
// across images and layers. A layer several images share is sent once and
// mounted into the other repositories; an image the target already holds
// under another tag costs one tag write. Order keeps the target consistent if the copy is
// interrupted: every blob first, then child manifests by digest, and the tag
// last, so a tag either points at a complete image or is untouched.
package mirror

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/insecure"
)

// Image is one copy to make.
type Image struct {
	// Name labels the image in progress, results and errors (the service).
	Name   string
	Source name.Reference
	// Target is a tag, or a digest when the source is pinned by digest.
	Target name.Reference
}

// Status is what happened to one image.
type Status string

const (
	// Copied: something was written to the target.
	Copied Status = "copied"
	// Present: the target already had this exact digest; nothing was written.
	Present Status = "present"
	// Failed: see Result.Err.
	Failed Status = "failed"
)

// Result is the outcome for one image. Byte and blob counts cover the
// distributable blobs (configs and layers) the image references.
type Result struct {
	Name         string   `json:"service"`
	Source       string   `json:"source"`
	Target       string   `json:"target"`
	Status       Status   `json:"status"`
	SourceDigest string   `json:"sourceDigest,omitempty"`
	Digest       string   `json:"digest,omitempty"`
	Platforms    []string `json:"platforms,omitempty"`
	Filtered     bool     `json:"platformsFiltered,omitempty"`
	// Replaced is the digest the target tag pointed at before, when the
	// copy moved it (the source tag moved on since the last mirror).
	Replaced     string `json:"replacedDigest,omitempty"`
	Blobs        int    `json:"blobs"`
	CopiedBlobs  int    `json:"copiedBlobs"`
	CopiedBytes  int64  `json:"copiedBytes"`
	SkippedBytes int64  `json:"skippedBytes"`
	Manifests    int    `json:"manifests"`
	Err          error  `json:"-"`
	Error        string `json:"error,omitempty"`
}

// Side says which registry an error came from.
type Side string

const (
	SideSource Side = "source"
	SideTarget Side = "target"
)

// Error names the image, the side and the reference that failed.
type Error struct {
	Image string
	Side  Side
	Ref   string
	Op    string
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s %s: %s: %v", e.Image, e.Side, e.Ref, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Observer receives progress. Calls for one image come from several
// goroutines; index is the image's position in the slice given to Copy.
type Observer interface {
	// Planned: the image needs copying; blobs and bytes are its totals.
	Planned(index int, blobs int, bytes int64)
	// Streamed: n more bytes of a blob went through; negative when a
	// retried upload starts a blob over, so the sum never over-counts.
	Streamed(index int, n int64)
	// Blob: one blob finished, copied or already present.
	Blob(index int, size int64, copied bool)
	// Finished: the image is done, whatever the outcome.
	Finished(index int, r Result)
}

// RepositoryCreator makes sure a target repository exists. It is called only
// when the target says the repository is unknown, so it costs nothing on a
// registry that creates repositories on push.
type RepositoryCreator func(ctx context.Context, repo name.Repository) error

type options struct {
	keychain  authn.Keychain
	transport http.RoundTripper
	jobs      int
	images    int
	platforms []v1.Platform
	observer  Observer
	create    RepositoryCreator
	manifests *Manifests
	remote    []remote.Option // tests: retry policy

	// Stack's: see stack.go.
	tag      string
	config   *config.Config
	log      io.Writer
	progress func(names []string) Observer
}

func newOptions(opts []Option) options {
	o := options{keychain: authn.DefaultKeychain, transport: remote.DefaultTransport, jobs: 32, images: 8, observer: nopObserver{}}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Option configures Copy.
type Option func(*options)

// WithKeychain resolves credentials for both sides.
func WithKeychain(k authn.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithTransport sets the HTTP transport for both sides.
func WithTransport(t http.RoundTripper) Option { return func(o *options) { o.transport = t } }

// WithJobs bounds concurrent blob transfers across all images (default 16).
func WithJobs(n int) Option { return func(o *options) { o.jobs = n } }

// WithImageJobs bounds how many images are in flight at once (default 8).
func WithImageJobs(n int) Option { return func(o *options) { o.images = n } }

// WithPlatforms keeps only these platforms of a multi-platform index. The
// rewritten index has a new digest; nil keeps everything (identical digests).
func WithPlatforms(p []v1.Platform) Option { return func(o *options) { o.platforms = p } }

// WithObserver receives progress events.
func WithObserver(obs Observer) Option { return func(o *options) { o.observer = obs } }

// WithManifests reads and keeps indexes' child manifests in c (CopyPlan's
// default: the file in the token cache's directory).
func WithManifests(c *Manifests) Option { return func(o *options) { o.manifests = c } }

// WithRepositoryCreator is called when the target repository is missing.
func WithRepositoryCreator(c RepositoryCreator) Option { return func(o *options) { o.create = c } }

type nopObserver struct{}

func (nopObserver) Planned(int, int, int64) {}
func (nopObserver) Streamed(int, int64)     {}
func (nopObserver) Blob(int, int64, bool)   {}
func (nopObserver) Finished(int, Result)    {}

// Copy copies every image and returns one Result per image, in order. Images
// fail independently; the error is the first failure, for callers that only
// need to know whether all went well.
func Copy(ctx context.Context, images []Image, opts ...Option) ([]Result, error) {
	o := newOptions(opts)
	if o.jobs < 1 {
		o.jobs = 1
	}
	if o.images < 1 {
		o.images = 1
	}
	// One puller and one pusher for everything: they keep one authenticated
	// transport per repository, so each registry is pinged and authorised
	// once per repository rather than once per request or per image; ECR
	// registries are not pinged at all (basicFirst).
	// Every registry over HTTPS but loopback ones, as docker speaks to
	// them: pushed over plain HTTP to a private address, a mirror is one
	// docker cannot pull from.
	var hosts []string
	for _, img := range images {
		hosts = append(hosts, img.Source.Context().RegistryStr(), img.Target.Context().RegistryStr())
	}
	digests := &putDigests{inner: insecure.HTTPSOnly(o.transport, hosts...), m: map[string]v1.Hash{}}
	ropts := []remote.Option{
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithTransport(digests),
		remote.WithContext(ctx),
		remote.WithJobs(o.jobs),
	}
	if rt, ok := basicFirst(ctx, o, images, digests); ok {
		ropts[1] = remote.WithTransport(rt)
	}
	ropts = append(ropts, o.remote...)
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return nil, err
	}
	c := &copier{o: o, puller: puller, pusher: pusher, digests: digests, blobs: make(chan struct{}, o.jobs), placed: map[string]*placement{}}

	results := make([]Result, len(images))
	sem := make(chan struct{}, o.images)
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			r := c.copyOne(ctx, i, img)
			if r.Err != nil {
				r.Status = Failed
				r.Error = r.Err.Error()
			}
			results[i] = r
			o.observer.Finished(i, r)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.Err != nil {
			return results, r.Err
		}
	}
	return results, nil
}

type copier struct {
	o       options
	puller  *remote.Puller
	pusher  *remote.Pusher
	digests *putDigests
	blobs   chan struct{} // global bound on blob transfers

	mu     sync.Mutex
	placed map[string]*placement // by target registry and blob digest
}

// placement is the first upload of a blob into a target registry. Images
// of one stack share base layers, but each lives in its own repository, and
// a registry that keeps blobs per repository (ECR, distribution) would take
// each copy in full. So later uploads wait for the first and then ask the
// registry to mount the blob from the repository that has it: no bytes move.
// A registry that cannot mount answers with a normal upload.
type placement struct {
	done chan struct{}
	repo name.Repository // set with ok before done closes
	ok   bool
}

// place returns the blob's placement in repo's registry and whether the
// caller is the first to send it there (and must settle it).
func (c *copier) place(repo name.Repository, d v1.Hash) (*placement, bool) {
	key := repo.RegistryStr() + "@" + d.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.placed[key]; ok {
		return p, false
	}
	p := &placement{done: make(chan struct{})}
	c.placed[key] = p
	return p, true
}
