package mirror

import (
	"bytes"

	"github.com/currentsdev/currents/internal/digestcache"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Manifests remembers the child manifests of indexes by digest, kept between
// mirrors as a small JSON file (ManifestsFile in the token cache's
// directory): a rerun, or the next tag of an image sharing them, reads them
// from here rather than asking the source again. An entry whose bytes do not
// match its digest is dropped on load, so an entry can never go stale.
type Manifests = digestcache.Map[cachedManifest]

type cachedManifest struct {
	MediaType types.MediaType `json:"mediaType"`
	Raw       []byte          `json:"raw"`
}

// ManifestsFile names the file mirror keeps Manifests in.
const ManifestsFile = "mirror-manifests"

// Bounds: manifests are a few kilobytes; an index's children, a few.
const (
	maxCachedManifest  = 64 << 10
	maxCachedManifests = 1 << 20
)

// LoadManifests reads what Bytes wrote; anything unreadable is an empty
// cache.
func LoadManifests(b []byte) *Manifests { return digestcache.Load(b, manifestChecks...) }

// OpenManifests is the Manifests kept in the token cache's directory, and
// the function that saves them (digestcache.Open).
func OpenManifests() (*Manifests, func()) { return digestcache.Open(ManifestsFile, manifestChecks...) }

// manifestChecks drop, on load, an entry whose bytes are not its digest's,
// and bound the file.
var manifestChecks = []digestcache.Option[cachedManifest]{
	digestcache.Valid(func(d v1.Hash, e cachedManifest) bool {
		got, _, err := v1.SHA256(bytes.NewReader(e.Raw))
		return err == nil && got == d
	}),
	digestcache.MaxBytes(maxCachedManifests, maxCachedManifest, func(e cachedManifest) int { return len(e.Raw) }),
}
