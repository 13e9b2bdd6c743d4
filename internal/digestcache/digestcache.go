// Package digestcache keeps small values by the content digest that names
// them, between runs, as one JSON file in the token cache's directory: the
// manifests mirror has read and the platforms check has found. A digest names
// bytes that never change, so an entry can never go stale; it only spares a
// request.
package digestcache

import (
	"encoding/json"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/currentsdev/currents/internal/tokencache"
)

// Map is the cache of values of type V by digest. Its zero value is not
// usable; Load makes one. A nil *Map is an empty cache that keeps nothing.
type Map[V any] struct {
	mu      sync.Mutex
	m       map[string]V
	bytes   int
	changed bool
	o       options[V]
}

type options[V any] struct {
	valid      func(v1.Hash, V) bool
	size       func(V) int
	maxEntries int
	maxBytes   int
	maxEach    int
}

// Option bounds or checks a Map.
type Option[V any] func(*options[V])

// Valid drops, on Load, an entry fn refuses (e.g. bytes that do not match
// their digest): a file someone edited must not answer for a digest.
func Valid[V any](fn func(v1.Hash, V) bool) Option[V] {
	return func(o *options[V]) { o.valid = fn }
}

// MaxEntries bounds how many entries are kept.
func MaxEntries[V any](n int) Option[V] { return func(o *options[V]) { o.maxEntries = n } }

// MaxBytes bounds the sum of size(v) over the entries to total, and each
// entry to each.
func MaxBytes[V any](total, each int, size func(V) int) Option[V] {
	return func(o *options[V]) { o.maxBytes, o.maxEach, o.size = total, min(each, total), size }
}

// Load reads what Bytes wrote; an unreadable file is an empty cache, and an
// entry whose key is not a sha256 digest (or that Valid refuses) is dropped.
func Load[V any](b []byte, opts ...Option[V]) *Map[V] {
	c := &Map[V]{m: map[string]V{}}
	for _, opt := range opts {
		opt(&c.o)
	}
	var m map[string]V
	if len(b) == 0 || json.Unmarshal(b, &m) != nil {
		return c
	}
	for k, v := range m {
		h, err := v1.NewHash(k)
		if err != nil || h.Algorithm != "sha256" || (c.o.valid != nil && !c.o.valid(h, v)) {
			continue
		}
		c.add(k, v)
	}
	return c
}

// Open loads the Map kept in the token cache's file name; save writes it
// back when it changed. Without a usable cache directory it is a nil Map,
// which keeps nothing, and save does nothing: a cache only spares requests,
// so neither reading nor writing it can fail the command.
func Open[V any](name string, opts ...Option[V]) (m *Map[V], save func()) {
	return tokencache.Keep(name, func(b []byte) *Map[V] { return Load(b, opts...) })
}

// add keeps v under k when the bounds allow; when full, other entries are
// forgotten to make room (a forgotten one costs a request next time).
func (c *Map[V]) add(k string, v V) bool {
	if _, ok := c.m[k]; ok {
		return false
	}
	n := 0
	if c.o.size != nil {
		if n = c.o.size(v); n > c.o.maxEach {
			return false
		}
	}
	for old, ov := range c.m {
		if (c.o.maxEntries == 0 || len(c.m) < c.o.maxEntries) && (c.o.size == nil || c.bytes+n <= c.o.maxBytes) {
			break
		}
		if c.o.size != nil {
			c.bytes -= c.o.size(ov)
		}
		delete(c.m, old)
	}
	c.m[k] = v
	c.bytes += n
	return true
}

// Get is the value kept for d.
func (c *Map[V]) Get(d v1.Hash) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[d.String()]
	return v, ok
}

// Put keeps v for d (which the caller has checked names it).
func (c *Map[V]) Put(d v1.Hash, v V) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.add(d.String(), v) {
		c.changed = true
	}
}

// Len is how many entries are kept.
func (c *Map[V]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Changed says whether Put added anything since Load, so the file needs
// writing.
func (c *Map[V]) Changed() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Bytes is the cache as a file.
func (c *Map[V]) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := json.Marshal(c.m)
	if err != nil { // the values are plain data
		panic(err)
	}
	return b
}
