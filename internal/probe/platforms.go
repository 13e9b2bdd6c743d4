package probe

import (
	"github.com/currentsdev/currents/internal/digestcache"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PlatformCache remembers the platform a single-platform image's config
// records, by the config's digest. The digest names the config's bytes, so
// an entry can never go stale: it saves the config request, never changes a
// verdict.
type PlatformCache interface {
	// Platform is the remembered platform (nil: the config records none).
	Platform(config v1.Hash) (pl *v1.Platform, known bool)
	Remember(config v1.Hash, pl *v1.Platform)
}

// Platforms is a PlatformCache kept between checks as a small JSON file:
// Load what Bytes gave the last time, Bytes again when Changed.
type Platforms struct {
	*digestcache.Map[*v1.Platform]
}

// PlatformsFile names the file the check keeps Platforms in, in the token
// cache's directory.
const PlatformsFile = "image-platforms"

// maxPlatforms bounds the file: beyond it, entries are forgotten (a check
// of a forgotten image fetches its config again).
const maxPlatforms = 4096

// LoadPlatforms reads a cache Bytes wrote; anything unreadable is an empty
// cache.
func LoadPlatforms(b []byte) *Platforms {
	return &Platforms{digestcache.Load(b, digestcache.MaxEntries[*v1.Platform](maxPlatforms))}
}

// Platform implements PlatformCache.
func (p *Platforms) Platform(config v1.Hash) (*v1.Platform, bool) { return p.Get(config) }

// Remember implements PlatformCache.
func (p *Platforms) Remember(config v1.Hash, pl *v1.Platform) { p.Put(config, pl) }
