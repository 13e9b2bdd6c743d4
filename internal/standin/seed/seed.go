// Package seed fills a stand-in registry with small random images, the way a
// vendor's CI would push them, for tests and the demo. It lives apart from
// package standin so nothing that serves credentials links image building.
package seed

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/currentsdev/currents/internal/standin"
)

// Services are the six services of the vendor's stack, as the seeds name them.
var Services = []string{"api", "director", "change-streams", "scheduler", "writer", "webhooks"}

// MultiPlatformService is the service Stack pushes as a multi-platform index.
const MultiPlatformService = "api"

// Platforms are those of a multi-platform image.
var Platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64", Variant: "v8"},
}

type options struct {
	multi  bool
	size   int64
	layers int64
}

// Option tunes Push.
type Option func(*options)

// MultiPlatform pushes an index of linux/amd64 and linux/arm64 images.
func MultiPlatform() Option { return func(o *options) { o.multi = true } }

// Size sets the bytes per layer and the number of layers (default 1 KiB, 2).
func Size(bytesPerLayer, layers int64) Option {
	return func(o *options) { o.size, o.layers = bytesPerLayer, layers }
}

// Push pushes a fresh random image to ref ("currents/on-prem/api:staging", on
// reg's host unless ref names it) with valid ECR credentials minted by reg's
// server, creating the repository in the stand-in first. It returns the
// pushed digest.
func Push(ctx context.Context, reg *standin.Registry, ref string, opts ...Option) (v1.Hash, error) {
	o := options{size: 1024, layers: 2}
	for _, fn := range opts {
		fn(&o)
	}
	if !strings.HasPrefix(ref, reg.Host()+"/") {
		ref = reg.Host() + "/" + ref
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("seed: %w", err)
	}
	reg.Server().CreateRepository(reg.Account(), reg.Region(), r.Context().RepositoryStr())
	user, pass, _ := reg.Server().MintToken(fmt.Sprintf("arn:aws:iam::%s:root", reg.Account()), time.Hour)
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: user, Password: pass})}

	if !o.multi {
		img, err := image(Platforms[0], o)
		if err != nil {
			return v1.Hash{}, err
		}
		if err := remote.Write(r, img, ropts...); err != nil {
			return v1.Hash{}, fmt.Errorf("seed: push %s: %w", ref, err)
		}
		return img.Digest()
	}
	idx, err := Index(Platforms, func(p v1.Platform) (v1.Image, error) { return image(p, o) })
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.WriteIndex(r, idx, ropts...); err != nil {
		return v1.Hash{}, fmt.Errorf("seed: push %s: %w", ref, err)
	}
	return idx.Digest()
}

// image is a random image whose config names its platform, so platform
// checks see a real answer.
func image(p v1.Platform, o options) (v1.Image, error) {
	img, err := random.Image(o.size, o.layers)
	if err != nil {
		return nil, err
	}
	return Configure(img, func(cf *v1.ConfigFile) { cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant })
}

// Configure is img with its config file changed by edit (on a copy).
func Configure(img v1.Image, edit func(*v1.ConfigFile)) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	edit(cf)
	return mutate.ConfigFile(img, cf)
}

// Index is a multi-platform image as vendors push them: a docker manifest
// list of one image per platform, each made by image.
func Index(platforms []v1.Platform, image func(v1.Platform) (v1.Image, error)) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	for _, p := range platforms {
		img, err := image(p)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx, nil
}

// Stack pushes the six services as <prefix>/<service>:<tag>, with
// MultiPlatformService as a multi-platform index. It returns the digests by
// service.
func Stack(ctx context.Context, reg *standin.Registry, prefix, tag string, opts ...Option) (map[string]v1.Hash, error) {
	out := map[string]v1.Hash{}
	for _, svc := range Services {
		o := opts
		if svc == MultiPlatformService {
			o = append(append([]Option{}, opts...), MultiPlatform())
		}
		d, err := Push(ctx, reg, strings.TrimSuffix(prefix, "/")+"/"+svc+":"+tag, o...)
		if err != nil {
			return nil, err
		}
		out[svc] = d
	}
	return out, nil
}
