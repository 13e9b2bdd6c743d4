package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// manifestNode is one manifest of the source tree, children first to push.
type manifestNode struct {
	desc     v1.Descriptor
	raw      []byte
	children []*manifestNode
	blobs    []v1.Descriptor
	platform *v1.Platform
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
				cd := child
				got, ok := c.o.manifests.Get(child.Digest)
				if !ok {
					d, err := c.puller.Get(gctx, repo.Digest(child.Digest.String()))
					if err != nil {
						return err
					}
					if d.Digest != child.Digest {
						return fmt.Errorf("manifest %s came back as %s", child.Digest, d.Digest)
					}
					got = cachedManifest{d.MediaType, d.Manifest}
					c.o.manifests.Put(d.Digest, got)
				}
				cd.MediaType = got.MediaType
				cn, err := c.walk(gctx, repo, cd, got.Raw, false)
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
