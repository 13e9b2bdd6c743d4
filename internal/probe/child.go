package probe

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// children are the platform manifests of indexes, each asked once per
// Prober with a HEAD: the index's GET proves the index is there, not the
// manifest docker then pulls for its platform. Lifecycle rules that expire
// untagged images delete those (they carry no tag of their own) and leave
// the index, so docker's pull fails where the index alone says ok. Nothing
// is kept between checks: a rule may delete one at any time.
type children struct{ onceEach[error] }

// head asks once whether repo has the manifest digest; services sharing it,
// and a Check after a Prefetch that guessed the same platform, share the
// answer.
func (cs *children) head(ctx context.Context, repo name.Repository, digest string, rt http.RoundTripper) error {
	return cs.do(repo.String()+"@"+digest, func() error {
		opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt)}
		// go-containerregistry checks the answer's Docker-Content-Digest
		// against the digest asked.
		return retry(ctx, func() error { _, err := remote.Head(repo.Digest(digest), opts...); return err })
	})
}

// matchPlatform is the manifest of c docker pulls for want, and the
// platforms c has otherwise.
func matchPlatform(c *content, want specs.Platform) (platformManifest, []string, bool) {
	match := platforms.Only(want)
	var have []string
	for _, m := range c.manifests {
		if match.Match(m.platform) {
			return m, nil, true
		}
		have = append(have, platforms.Format(m.platform))
	}
	return platformManifest{}, have, false
}

// prefetch resolves img as Prefetch does: with its manifest, the HEAD of
// the manifest an index lists for the platform img will most likely be
// checked for (its own, else the one known now), started at once when the
// last check saw which, else as soon as the index says; a Check then needs
// no second round trip for it.
func (p *Prober) prefetch(ctx context.Context, img Image, rt http.RoundTripper) {
	p.mu.Lock()
	want, err := p.want(img.Platform)
	p.mu.Unlock()
	if err == nil {
		p.guessChild(ctx, img.Ref, platforms.Format(want), rt)
	}
	c := p.fetched.get(ctx, img.Ref, rt, p.platforms)
	if err != nil || c.err != nil || !c.index {
		return
	}
	if m, _, ok := matchPlatform(c, want); ok {
		_ = p.children.head(ctx, img.Ref.Context(), m.digest, rt)
	}
}

// guessChild starts the HEAD of the manifest ref's index listed for
// platform at the last check, alongside the index's GET.
func (p *Prober) guessChild(ctx context.Context, ref name.Reference, platform string, rt http.RoundTripper) {
	if d, ok := p.guesses.get(ref.String(), platform); ok {
		go func() { _ = p.children.head(ctx, ref.Context(), d, rt) }()
	}
}

// checkChild confirms an index's manifest for r's platform exists (r's
// PlatformDigest), as docker's pull needs it to.
func (p *Prober) checkChild(ctx context.Context, hs *hostState, r *Result) {
	ref := r.Image.Ref
	p.guesses.put(ref.String(), r.Platform, r.PlatformDigest)
	err := p.children.head(ctx, ref.Context(), r.PlatformDigest, hs.rt)
	if err == nil {
		return
	}
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		r.Status = ManifestMissing
		r.Message = fmt.Sprintf("%s's index lists %s for %s, but %s no longer has that manifest: docker pull fails", ref, r.PlatformDigest, r.Platform, ref.Context().RegistryStr())
		r.Fix = fmt.Sprintf("a lifecycle policy that expires untagged images most likely deleted it (an index's platform manifests have no tag of their own): "+
			"push the image again (its multi-platform build, or docker currents mirror from a source that has it), and change the rule so that it stops expiring them "+
			"(on ECR: aws ecr get-lifecycle-policy --repository-name %s)", ref.Context().RepositoryStr())
		return
	}
	r.Status, r.Message, r.Fix = p.explain(ref.Context().RegistryStr(), hs.cred, hs.advice, err, ref.Context().Digest(r.PlatformDigest))
}
