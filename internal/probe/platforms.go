package probe

import (
	"encoding/json"
	"sync"

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
	mu      sync.Mutex
	m       map[string]*v1.Platform
	changed bool
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
	p := &Platforms{m: map[string]*v1.Platform{}}
	if len(b) > 0 && json.Unmarshal(b, &p.m) != nil {
		p.m = map[string]*v1.Platform{}
	}
	for k := range p.m {
		if _, err := v1.NewHash(k); err != nil {
			delete(p.m, k)
		}
	}
	return p
}

// Platform implements PlatformCache.
func (p *Platforms) Platform(config v1.Hash) (*v1.Platform, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, ok := p.m[config.String()]
	return pl, ok
}

// Remember implements PlatformCache.
func (p *Platforms) Remember(config v1.Hash, pl *v1.Platform) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[config.String()]; ok {
		return
	}
	for k := range p.m {
		if len(p.m) < maxPlatforms {
			break
		}
		delete(p.m, k)
	}
	p.m[config.String()] = pl
	p.changed = true
}

// Changed says whether Remember added anything since Load.
func (p *Platforms) Changed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Bytes is the cache as a file.
func (p *Platforms) Bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := json.Marshal(p.m)
	if err != nil { // strings only
		panic(err)
	}
	return b
}
