package mirror

import (
	"bytes"
	"encoding/json"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Manifests remembers the child manifests of indexes by digest, kept between
// mirrors as a small JSON file (ManifestsFile in the token cache's
// directory): a rerun, or the next tag of an image sharing them, reads them
// from here rather than asking the source again. A digest names the bytes,
// and an entry whose bytes do not match its digest is dropped on load, so an
// entry can never go stale.
type Manifests struct {
	mu      sync.Mutex
	m       map[string]cachedManifest
	size    int
	changed bool
}

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
func LoadManifests(b []byte) *Manifests {
	c := &Manifests{m: map[string]cachedManifest{}}
	var m map[string]cachedManifest
	if len(b) == 0 || json.Unmarshal(b, &m) != nil {
		return c
	}
	for k, e := range m {
		h, err := v1.NewHash(k)
		if err != nil || h.Algorithm != "sha256" {
			continue
		}
		if got, _, err := v1.SHA256(bytesReader(e.Raw)); err != nil || got != h {
			continue
		}
		c.add(k, e)
	}
	return c
}

func (c *Manifests) add(k string, e cachedManifest) {
	if len(e.Raw) > maxCachedManifest || c.size+len(e.Raw) > maxCachedManifests {
		return
	}
	if _, ok := c.m[k]; !ok {
		c.m[k] = e
		c.size += len(e.Raw)
	}
}

func (c *Manifests) get(d v1.Hash) (cachedManifest, bool) {
	if c == nil {
		return cachedManifest{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[d.String()]
	return e, ok
}

// put remembers raw, already checked against d (the puller verifies it).
func (c *Manifests) put(d v1.Hash, mt types.MediaType, raw []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[d.String()]; ok {
		return
	}
	before := c.size
	c.add(d.String(), cachedManifest{mt, raw})
	c.changed = c.changed || c.size != before
}

// Changed says whether anything was added since Load.
func (c *Manifests) Changed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Bytes is the cache as a file.
func (c *Manifests) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := json.Marshal(c.m)
	if err != nil { // strings and bytes only
		panic(err)
	}
	return b
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
