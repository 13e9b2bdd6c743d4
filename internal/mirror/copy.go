package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
)

// copyJob is the copy of one image.
type copyJob struct {
	c   *copier
	i   int // the image's index, for the observer
	img Image
	r   Result
}

// fail records the first error of the copy, naming the side and reference.
func (j *copyJob) fail(side Side, ref name.Reference, op string, err error) Result {
	j.r.Err = &Error{Image: j.img.Name, Side: side, Ref: ref.String(), Op: op, Err: err}
	return j.r
}

func (c *copier) copyOne(ctx context.Context, i int, img Image) Result {
	j := &copyJob{c: c, i: i, img: img, r: Result{Name: img.Name, Source: img.Source.String(), Target: img.Target.String()}}
	if err := ctx.Err(); err != nil {
		return j.fail(SideSource, img.Source, "start", err)
	}
	src, dst, failed := j.resolve(ctx)
	if failed {
		return j.r
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
		return j.fail(SideSource, img.Source, "read manifests", err)
	}
	if len(c.o.platforms) > 0 {
		if j.r.Filtered, err = c.filter(ctx, img.Source.Context(), root); err != nil {
			return j.fail(SideSource, img.Source, "select platforms", err)
		}
	}
	j.r.Platforms = platformsOf(root)
	blobs := uniqueBlobs(root)
	var total int64
	for _, b := range blobs {
		total += b.Size
	}
	j.r.Blobs = len(blobs)
	if dst != nil && dst.Digest == root.desc.Digest {
		// Already there, and manifests are content-addressed: checking the
		// digest is checking the whole image.
		j.r.Status, j.r.Digest, j.r.SkippedBytes = Present, dst.Digest.String(), total
		return j.r
	}
	c.o.observer.Planned(i, len(blobs), total)
	if err := j.sendBlobs(ctx, blobs); err != nil {
		var me *Error
		if errors.As(err, &me) {
			j.r.Err = me
			return j.r
		}
		return j.fail(SideTarget, img.Target, "copy blobs", err)
	}
	return j.finish(ctx, root, dst, <-byDigest)
}

// resolve gets the source manifest and the target's current one in one
// round trip; dst is nil when the target has nothing there yet (its
// repository created first when it is missing and a creator is set). The
// target's is a GET, not a HEAD: a 404's body tells a missing repository
// from a missing tag (registries, ECR included, answer NAME_UNKNOWN and
// MANIFEST_UNKNOWN), with no second request, and never the creator's
// DescribeRepositories, which a push-only role may not be allowed.
func (j *copyJob) resolve(ctx context.Context) (src *remote.Descriptor, dst *v1.Descriptor, failed bool) {
	var (
		srcErr, dstErr error
		target         *remote.Descriptor
		twoWays        sync.WaitGroup
	)
	twoWays.Add(2)
	go func() { defer twoWays.Done(); src, srcErr = j.c.puller.Get(ctx, j.img.Source) }()
	go func() { defer twoWays.Done(); target, dstErr = j.c.puller.Get(ctx, j.img.Target) }()
	twoWays.Wait()
	if srcErr != nil {
		j.fail(SideSource, j.img.Source, "get manifest", srcErr)
		return nil, nil, true
	}
	j.r.SourceDigest = src.Digest.String()
	if dstErr == nil {
		return src, &target.Descriptor, false
	}
	switch {
	case isStatus(dstErr, http.StatusNotFound) && j.c.o.create != nil && repositoryMissing(dstErr):
		if err := j.c.o.create(ctx, j.img.Target.Context()); err != nil {
			j.fail(SideTarget, j.img.Target, "create repository", err)
			return nil, nil, true
		}
	case isStatus(dstErr, http.StatusNotFound):
		// Nothing there yet: the normal first-copy case.
	default:
		j.fail(SideTarget, j.img.Target, "check manifest", dstErr)
		return nil, nil, true
	}
	return src, nil, false
}

// sendBlobs uploads every blob the target lacks, bounded across all images.
func (j *copyJob) sendBlobs(ctx context.Context, blobs []v1.Descriptor) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, b := range blobs {
		g.Go(func() error {
			copied, err := j.sendBlob(gctx, b)
			if err != nil {
				return err
			}
			mu.Lock()
			if copied {
				j.r.CopiedBlobs++
				j.r.CopiedBytes += b.Size
			} else {
				j.r.SkippedBytes += b.Size
			}
			mu.Unlock()
			j.c.o.observer.Blob(j.i, b.Size, copied)
			return nil
		})
	}
	return g.Wait()
}

// sendBlob uploads one blob, or mounts it from a repository of the target
// registry that has it; copied says whether bytes moved.
func (j *copyJob) sendBlob(ctx context.Context, b v1.Descriptor) (copied bool, err error) {
	c, srcRepo, dstRepo := j.c, j.img.Source.Context(), j.img.Target.Context()
	sb := &sourceBlob{ctx: ctx, puller: c.puller, ref: srcRepo.Digest(b.Digest.String()), desc: b,
		streamed: func(n int64) { c.o.observer.Streamed(j.i, n) }}
	var layer v1.Layer = sb
	if srcRepo.RegistryStr() == dstRepo.RegistryStr() {
		// Within one registry the source repository has it.
		layer = &remote.MountableLayer{Layer: sb, Reference: sb.ref}
	} else if p, first := c.place(dstRepo, b.Digest); first {
		defer func() {
			p.repo, p.ok = dstRepo, sb.sent
			close(p.done)
		}()
	} else {
		// Wait holding no transfer slot, so the first upload can always
		// get one.
		select {
		case <-p.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if p.ok && p.repo.String() != dstRepo.String() {
			layer = &remote.MountableLayer{Layer: sb, Reference: p.repo.Digest(b.Digest.String())}
		}
	}
	select {
	case c.blobs <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-c.blobs }()
	if err := c.pusher.Upload(ctx, dstRepo, layer); err != nil {
		if e := sb.err(); e != nil {
			return false, &Error{Image: j.img.Name, Side: SideSource, Ref: sb.ref.String(), Op: "read blob", Err: e}
		}
		return false, &Error{Image: j.img.Name, Side: SideTarget, Ref: dstRepo.Digest(b.Digest.String()).String(), Op: "write blob", Err: err}
	}
	sb.sent = true
	return sb.opened(), nil
}

// finish writes the manifests, only now that every blob is there: children
// by digest, then the tag, which is the one write a reader can see. When
// the target already holds the image by digest (under another tag, or none
// after an interrupted copy), a registry accepted it only with everything it
// references, so the children are there too: only the tag is new. The
// digest the registry answers the tag's PUT with must be the source's (a
// registry that rewrote the manifest would break every digest pin); one
// that does not say is asked with a HEAD.
func (j *copyJob) finish(ctx context.Context, root *manifestNode, dst *v1.Descriptor, byDigest bool) Result {
	c, target := j.c, j.img.Target
	if !byDigest || j.r.Filtered {
		n, err := c.putChildren(ctx, target.Context(), root)
		j.r.Manifests = n
		if err != nil {
			return j.fail(SideTarget, target, "write manifest", err)
		}
	}
	if err := c.pusher.Put(ctx, target, rawManifest{root.desc, root.raw}); err != nil {
		return j.fail(SideTarget, target, "write manifest", err)
	}
	j.r.Manifests++

	got, said := c.digests.take(target)
	if !said {
		d, err := c.puller.Head(ctx, target)
		if err != nil {
			return j.fail(SideTarget, target, "verify", err)
		}
		got = d.Digest
	}
	if want := root.desc.Digest; got != want {
		return j.fail(SideTarget, target, "verify", fmt.Errorf("target digest %s differs from source digest %s", got, want))
	}
	j.r.Status, j.r.Digest = Copied, got.String()
	if dst != nil {
		j.r.Replaced = dst.Digest.String()
	}
	return j.r
}

// repositoryMissing tells "no such repository" from "no such tag" by the
// codes of a GET's 404. A 404 without a diagnostic code cannot be told
// apart, and counts as missing so the creator decides.
func repositoryMissing(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
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

func isStatus(err error, status int) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == status
}
