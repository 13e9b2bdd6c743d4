package probe

import (
	"encoding/json"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/currentsdev/currents/internal/tokencache"
)

// Guesses remembers, between checks, which manifest an index reference
// (a tag, usually) listed for a platform last time, so that the HEAD
// proving that manifest still exists goes out with the index's GET instead
// of one round trip after it. A guess never decides anything: the HEAD is
// made afresh at every check (a lifecycle rule may delete the manifest at
// any time), and the index this check reads says which manifest counts. A
// wrong guess (the tag moved) costs one HEAD, once. A nil *Guesses
// remembers nothing.
type Guesses struct {
	mu      sync.Mutex
	m       map[string]string
	changed bool
}

// GuessesFile names the file the check keeps Guesses in, in the token
// cache's directory.
const GuessesFile = "platform-manifests"

// maxGuesses bounds the file; beyond it, new references are not remembered.
const maxGuesses = 4096

// LoadGuesses reads what Bytes wrote; anything unreadable is empty, and an
// entry that is not a sha256 digest is dropped.
func LoadGuesses(b []byte) *Guesses {
	g := &Guesses{m: map[string]string{}}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return g
	}
	for k, v := range m {
		if h, err := v1.NewHash(v); err == nil && h.Algorithm == "sha256" && len(g.m) < maxGuesses {
			g.m[k] = v
		}
	}
	return g
}

// OpenGuesses is the Guesses kept in the token cache's directory, and the
// function that saves them when they changed; nil without a usable cache
// directory.
func OpenGuesses() (*Guesses, func()) { return tokencache.Keep(GuessesFile, LoadGuesses) }

// WithGuesses remembers indexes' platform manifests between checks, so
// their HEADs start with the indexes' GETs.
func WithGuesses(g *Guesses) Option { return func(p *Prober) { p.guesses = g } }

func guessKey(ref, platform string) string { return ref + " " + platform }

// get is the manifest ref's index listed for platform last time.
func (g *Guesses) get(ref, platform string) (string, bool) {
	if g == nil {
		return "", false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d, ok := g.m[guessKey(ref, platform)]
	return d, ok
}

// put records what ref's index lists for platform now.
func (g *Guesses) put(ref, platform, digest string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	k := guessKey(ref, platform)
	if old, ok := g.m[k]; ok && old == digest || !ok && len(g.m) >= maxGuesses {
		return
	}
	g.m[k] = digest
	g.changed = true
}

// Changed says whether the file needs writing.
func (g *Guesses) Changed() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

// Bytes is the file.
func (g *Guesses) Bytes() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, err := json.Marshal(g.m)
	if err != nil { // a map of strings
		panic(err)
	}
	return b
}
