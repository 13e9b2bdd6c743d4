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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/currentsdev/currents/internal/config"
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
	remote    []remote.Option // tests: retry policy

	// Stack's: see stack.go.
	tag      string
	config   *config.Config
	log      io.Writer
	progress func(names []string) Observer
}

func newOptions(opts []Option) options {
	o := options{keychain: authn.DefaultKeychain, transport: remote.DefaultTransport, jobs: 16, images: 8, observer: nopObserver{}}
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
	// once per repository rather than once per request or per image.
	ropts := []remote.Option{
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithTransport(o.transport),
		remote.WithContext(ctx),
		remote.WithJobs(o.jobs),
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
	c := &copier{o: o, puller: puller, pusher: pusher, blobs: make(chan struct{}, o.jobs), placed: map[string]*placement{}}

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
	o      options
	puller *remote.Puller
	pusher *remote.Pusher
	blobs  chan struct{} // global bound on blob transfers

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

// manifestNode is one manifest of the source tree, children first to push.
type manifestNode struct {
	desc     v1.Descriptor
	raw      []byte
	children []*manifestNode
	blobs    []v1.Descriptor
	platform *v1.Platform
}

func (c *copier) copyOne(ctx context.Context, i int, img Image) Result {
	r := Result{Name: img.Name, Source: img.Source.String(), Target: img.Target.String()}
	fail := func(side Side, ref name.Reference, op string, err error) Result {
		r.Err = &Error{Image: img.Name, Side: side, Ref: ref.String(), Op: op, Err: err}
		return r
	}
	if err := ctx.Err(); err != nil {
		return fail(SideSource, img.Source, "start", err)
	}

	// The source manifest and the target's current digest in one round trip.
	var (
		src     *remote.Descriptor
		srcErr  error
		dst     *v1.Descriptor
		dstErr  error
		twoWays sync.WaitGroup
	)
	twoWays.Add(2)
	go func() { defer twoWays.Done(); src, srcErr = c.puller.Get(ctx, img.Source) }()
	go func() { defer twoWays.Done(); dst, dstErr = c.puller.Head(ctx, img.Target) }()
	twoWays.Wait()
	if srcErr != nil {
		return fail(SideSource, img.Source, "get manifest", srcErr)
	}
	r.SourceDigest = src.Digest.String()
	if dstErr != nil {
		switch {
		case isStatus(dstErr, http.StatusNotFound) && c.o.create != nil && c.repositoryMissing(ctx, img.Target):
			if err := c.o.create(ctx, img.Target.Context()); err != nil {
				return fail(SideTarget, img.Target, "create repository", err)
			}
		case isStatus(dstErr, http.StatusNotFound):
			// Nothing there yet: the normal first-copy case.
		default:
			return fail(SideTarget, img.Target, "check manifest", dstErr)
		}
		dst = nil
	}

	// Alongside the rest, whether the target holds this image by digest.
	byDigest := make(chan bool, 1)
	if dst == nil || dst.Digest != src.Digest {
		go func() {
			_, err := c.puller.Head(ctx, img.Target.Context().Digest(src.Digest.String()))
			byDigest <- err == nil
		}()
	} else {
		byDigest <- false
	}

	root, err := c.walk(ctx, img.Source.Context(), src.Descriptor, src.Manifest, true)
	if err != nil {
		return fail(SideSource, img.Source, "read manifests", err)
	}
	if len(c.o.platforms) > 0 {
		filtered, err := c.filter(ctx, img.Source.Context(), root)
		if err != nil {
			return fail(SideSource, img.Source, "select platforms", err)
		}
		r.Filtered = filtered
	}
	want := root.desc.Digest
	r.Platforms = platformsOf(root)
	blobs := uniqueBlobs(root)
	var total int64
	for _, b := range blobs {
		total += b.Size
	}
	r.Blobs = len(blobs)

	if dst != nil && dst.Digest == want {
		// Already there, and manifests are content-addressed: checking the
		// digest is checking the whole image.
		r.Status = Present
		r.Digest = dst.Digest.String()
		r.SkippedBytes = total
		return r
	}
	c.o.observer.Planned(i, len(blobs), total)

	dstRepo := img.Target.Context()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, b := range blobs {
		g.Go(func() error {
			sb := &sourceBlob{ctx: gctx, puller: c.puller, ref: img.Source.Context().Digest(b.Digest.String()), desc: b,
				streamed: func(n int64) { c.o.observer.Streamed(i, n) }}
			var layer v1.Layer = sb
			if img.Source.Context().RegistryStr() == dstRepo.RegistryStr() {
				// Within one registry the source repository has it.
				layer = &remote.MountableLayer{Layer: sb, Reference: sb.ref}
			} else if p, first := c.place(dstRepo, b.Digest); first {
				defer func() {
					p.repo, p.ok = dstRepo, sb.sent
					close(p.done)
				}()
			} else {
				// Wait holding no transfer slot, so the first upload
				// can always get one.
				select {
				case <-p.done:
				case <-gctx.Done():
					return gctx.Err()
				}
				if p.ok && p.repo.String() != dstRepo.String() {
					layer = &remote.MountableLayer{Layer: sb, Reference: p.repo.Digest(b.Digest.String())}
				}
			}
			select {
			case c.blobs <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-c.blobs }()
			if err := c.pusher.Upload(gctx, dstRepo, layer); err != nil {
				if e := sb.err(); e != nil {
					return &Error{Image: img.Name, Side: SideSource, Ref: sb.ref.String(), Op: "read blob", Err: e}
				}
				return &Error{Image: img.Name, Side: SideTarget, Ref: dstRepo.Digest(b.Digest.String()).String(), Op: "write blob", Err: err}
			}
			sb.sent = true
			copied := sb.opened()
			mu.Lock()
			if copied {
				r.CopiedBlobs++
				r.CopiedBytes += b.Size
			} else {
				r.SkippedBytes += b.Size
			}
			mu.Unlock()
			c.o.observer.Blob(i, b.Size, copied)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		var me *Error
		if errors.As(err, &me) {
			r.Err = me
			return r
		}
		return fail(SideTarget, img.Target, "copy blobs", err)
	}

	// Manifests only now that every blob is there: children by digest, then
	// the tag, which is the one write a reader can see. When the target
	// already holds the image by digest (under another tag, or none after
	// an interrupted copy), a registry accepted it only with everything it
	// references, so the children are there too: only the tag is new.
	if !<-byDigest || r.Filtered {
		n, err := c.putChildren(ctx, dstRepo, root)
		r.Manifests = n
		if err != nil {
			return fail(SideTarget, img.Target, "write manifest", err)
		}
	}
	if err := c.pusher.Put(ctx, img.Target, rawManifest{root.desc, root.raw}); err != nil {
		return fail(SideTarget, img.Target, "write manifest", err)
	}
	r.Manifests++

	got, err := c.puller.Head(ctx, img.Target)
	if err != nil {
		return fail(SideTarget, img.Target, "verify", err)
	}
	if got.Digest != want {
		return fail(SideTarget, img.Target, "verify", fmt.Errorf("target digest %s differs from source digest %s", got.Digest, want))
	}
	r.Status = Copied
	r.Digest = got.Digest.String()
	if dst != nil {
		r.Replaced = dst.Digest.String()
	}
	return r
}

// repositoryMissing tells "no such repository" from "no such tag" after a
// HEAD answered 404, which carries no body to tell them apart. A GET does:
// registries (ECR included) answer NAME_UNKNOWN for the repository and
// MANIFEST_UNKNOWN for the tag. So a new tag in an existing repository costs
// one GET, and never the creator's DescribeRepositories, which a push-only
// role may not be allowed. A 404 without a diagnostic code cannot be told
// apart, and counts as missing so the creator decides.
func (c *copier) repositoryMissing(ctx context.Context, ref name.Reference) bool {
	_, err := c.puller.Get(ctx, ref)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		// Gone or present by now, or another error the copy will meet
		// again and report: nothing to create.
		return false
	}
	if len(te.Errors) == 0 {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

// walk fetches the child manifests of an index, concurrently.
func (c *copier) walk(ctx context.Context, repo name.Repository, desc v1.Descriptor, raw []byte, top bool) (*manifestNode, error) {
	n := &manifestNode{desc: desc, raw: raw}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse index %s: %w", desc.Digest, err)
		}
		n.children = make([]*manifestNode, len(idx.Manifests))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.o.jobs)
		for k, child := range idx.Manifests {
			g.Go(func() error {
				d, err := c.puller.Get(gctx, repo.Digest(child.Digest.String()))
				if err != nil {
					return err
				}
				if d.Digest != child.Digest {
					return fmt.Errorf("manifest %s came back as %s", child.Digest, d.Digest)
				}
				cd := child
				cd.MediaType = d.MediaType
				cn, err := c.walk(gctx, repo, cd, d.Manifest, false)
				if err != nil {
					return err
				}
				cn.platform = child.Platform
				n.children[k] = cn
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	case desc.MediaType.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse manifest %s: %w", desc.Digest, err)
		}
		n.blobs = append(n.blobs, m.Config)
		n.blobs = append(n.blobs, m.Layers...)
	case desc.MediaType.IsSchema1():
		return nil, fmt.Errorf("%s is a schema 1 manifest, which registries no longer accept; rebuild or re-push the image", desc.Digest)
	default:
		// An artifact manifest (signature, SBOM) that is not an image: its
		// blobs are listed like an image's, so copy them the same way.
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("manifest %s has unsupported media type %q", desc.Digest, desc.MediaType)
		}
		n.blobs = append(n.blobs, m.Config)
		n.blobs = append(n.blobs, m.Layers...)
	}
	return n, nil
}

// filter keeps the requested platforms of the top index and rewrites it;
// it reports whether anything was dropped (and so the digest changed).
func (c *copier) filter(ctx context.Context, repo name.Repository, root *manifestNode) (bool, error) {
	if !root.desc.MediaType.IsIndex() {
		// A single-platform image is kept as is, so its digest stays; but
		// one built for none of the requested platforms would fail only
		// later, at `up` on the host that asked for them: say so now.
		return false, c.checkImagePlatform(ctx, repo, root)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(root.raw))
	if err != nil {
		return false, err
	}
	var keep []v1.Descriptor
	var kids []*manifestNode
	for k, d := range idx.Manifests {
		if d.Platform != nil && matchesAny(*d.Platform, c.o.platforms) {
			keep = append(keep, d)
			kids = append(kids, root.children[k])
		}
	}
	if len(keep) == 0 {
		return false, fmt.Errorf("none of the requested platforms (%s) is in the index (it has %s)", platformList(c.o.platforms), strings.Join(platformsOf(root), ", "))
	}
	if len(keep) == len(idx.Manifests) {
		return false, nil
	}
	idx.Manifests = keep
	raw, err := json.Marshal(idx)
	if err != nil {
		return false, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return false, err
	}
	root.raw, root.children = raw, kids
	root.desc.Digest, root.desc.Size = h, size
	return true, nil
}

// checkImagePlatform reads a single-platform image's config (one small
// blob) for the platform it was built for.
func (c *copier) checkImagePlatform(ctx context.Context, repo name.Repository, root *manifestNode) error {
	if !root.desc.MediaType.IsImage() || len(root.blobs) == 0 {
		return nil // an artifact: no platform to match
	}
	l, err := c.puller.Layer(ctx, repo.Digest(root.blobs[0].Digest.String()))
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	cfg, err := v1.ParseConfigFile(rc)
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	p := cfg.Platform()
	if p == nil || p.OS == "" {
		return nil // the config does not say: nothing to check
	}
	if !matchesAny(*p, c.o.platforms) {
		return fmt.Errorf("the image is built for %s only, none of the requested platforms (%s); add %s to --platform, or leave it out", p, platformList(c.o.platforms), p)
	}
	return nil
}

func platformList(ps []v1.Platform) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}

func matchesAny(p v1.Platform, want []v1.Platform) bool {
	for _, w := range want {
		if p.Satisfies(w) {
			return true
		}
	}
	return false
}

func platformsOf(root *manifestNode) []string {
	var out []string
	for _, ch := range root.children {
		if ch.platform != nil && ch.platform.OS != "unknown" {
			out = append(out, ch.platform.String())
		}
	}
	return out
}

// uniqueBlobs lists every blob of the tree once, largest first so the long
// transfers start early and the tail of the copy is short.
func uniqueBlobs(root *manifestNode) []v1.Descriptor {
	seen := map[v1.Hash]bool{}
	var out []v1.Descriptor
	var visit func(n *manifestNode)
	visit = func(n *manifestNode) {
		for _, b := range n.blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				out = append(out, b)
			}
		}
		for _, ch := range n.children {
			visit(ch)
		}
	}
	visit(root)
	sort.SliceStable(out, func(a, b int) bool { return out[a].Size > out[b].Size })
	return out
}

// putChildren writes the child manifests bottom-up, each by digest.
func (c *copier) putChildren(ctx context.Context, repo name.Repository, n *manifestNode) (int, error) {
	var mu sync.Mutex
	count := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for _, ch := range n.children {
		g.Go(func() error {
			k, err := c.putChildren(gctx, repo, ch)
			if err != nil {
				return err
			}
			if err := c.pusher.Put(gctx, repo.Digest(ch.desc.Digest.String()), rawManifest{ch.desc, ch.raw}); err != nil {
				return fmt.Errorf("%s: %w", ch.desc.Digest, err)
			}
			mu.Lock()
			count += k + 1
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	return count, err
}

// rawManifest pushes exactly the source's bytes, so the digest is unchanged.
type rawManifest struct {
	desc v1.Descriptor
	raw  []byte
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.desc.MediaType, nil }
func (m rawManifest) Digest() (v1.Hash, error)            { return m.desc.Digest, nil }
func (m rawManifest) Size() (int64, error)                { return m.desc.Size, nil }

// sourceBlob is a v1.Layer the pusher uploads from: it knows its descriptor
// (so no HEAD is needed for size), opens the source only if the target lacks
// the blob, and remembers whether it was opened and any source-side error.
type sourceBlob struct {
	ctx      context.Context
	puller   *remote.Puller
	ref      name.Digest
	desc     v1.Descriptor
	streamed func(int64)

	mu     sync.Mutex
	open   bool
	read   int64 // bytes reported by the current attempt
	srcErr error
	sent   bool // the target has it; set by the uploading goroutine only
}

func (b *sourceBlob) Digest() (v1.Hash, error) { return b.desc.Digest, nil }
func (b *sourceBlob) DiffID() (v1.Hash, error) {
	return v1.Hash{}, errors.New("diff ID not needed to copy")
}
func (b *sourceBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *sourceBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *sourceBlob) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("copying never decompresses")
}

func (b *sourceBlob) Compressed() (io.ReadCloser, error) {
	b.mu.Lock()
	b.open = true
	// The pusher opens the blob again when it retries an upload: take back
	// what the failed attempt reported, so progress counts each byte once.
	back := b.read
	b.read = 0
	b.mu.Unlock()
	if back > 0 {
		b.streamed(-back)
	}
	l, err := b.puller.Layer(b.ctx, b.ref)
	if err != nil {
		return nil, b.setErr(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, b.setErr(err)
	}
	return &countingReader{rc: rc, b: b}, nil
}

func (b *sourceBlob) setErr(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srcErr == nil {
		b.srcErr = err
	}
	return err
}

func (b *sourceBlob) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srcErr
}

func (b *sourceBlob) opened() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

type countingReader struct {
	rc io.ReadCloser
	b  *sourceBlob
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.b.mu.Lock()
		r.b.read += int64(n)
		r.b.mu.Unlock()
		r.b.streamed(int64(n))
	}
	if err != nil && err != io.EOF {
		r.b.setErr(err)
	}
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }

func isStatus(err error, status int) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == status
}
