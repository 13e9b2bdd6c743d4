package probe

import (
	"github.com/currentsdev/currents/internal/digestcache"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Platforms remembers the platform a single-platform image's config records
// (nil: it records none), by the config's digest. The digest names the
// config's bytes, so an entry can never go stale: it saves the config
// request, never changes a verdict. A nil *Platforms remembers nothing.
type Platforms = digestcache.Map[*v1.Platform]

// PlatformsFile names the file the check keeps Platforms in, in the token
// cache's directory.
const PlatformsFile = "image-platforms"

// maxPlatforms bounds the file: beyond it, entries are forgotten (a check
// of a forgotten image fetches its config again).
const maxPlatforms = 4096

// platformBounds are the file's bounds, for Load and Open.
var platformBounds = digestcache.MaxEntries[*v1.Platform](maxPlatforms)

// LoadPlatforms reads a cache Bytes wrote; anything unreadable is an empty
// cache.
func LoadPlatforms(b []byte) *Platforms { return digestcache.Load(b, platformBounds) }

// OpenPlatforms is the Platforms kept in the token cache's directory, and
// the function that saves them (digestcache.Open).
func OpenPlatforms() (*Platforms, func()) { return digestcache.Open(PlatformsFile, platformBounds) }
