package probe

import (
	"encoding/json"
	"sort"
	"sync"

	"github.com/currentsdev/currents/internal/tokencache"
)

// Protocols remembers, between checks, the registries that answered over
// TLS with HTTP/1.1 only. Their requests are not held by the connection
// gate: each needs a connection of its own there, and held, the burst's
// later requests would start their handshakes one handshake late (a
// 300-image check, about 150 ms later at 50 ms round trips). A registry
// seen to speak HTTP/2 is forgotten. A wrong entry only costs time, once:
// every check looks at the protocol again. A nil *Protocols remembers
// nothing.
type Protocols struct {
	mu      sync.Mutex
	http1   map[string]bool
	changed bool
}

// ProtocolsFile names the file the check keeps Protocols in, in the token
// cache's directory.
const ProtocolsFile = "registry-protocols"

// maxProtocols bounds the file; beyond it, a registry is not remembered.
const maxProtocols = 256

type protocolsFile struct {
	HTTP1 []string `json:"http1"`
}

// LoadProtocols reads what Bytes wrote; anything unreadable is empty.
func LoadProtocols(b []byte) *Protocols {
	p := &Protocols{http1: map[string]bool{}}
	var f protocolsFile
	if json.Unmarshal(b, &f) == nil {
		for _, h := range f.HTTP1 {
			if len(p.http1) < maxProtocols {
				p.http1[h] = true
			}
		}
	}
	return p
}

// OpenProtocols is the Protocols kept in the token cache's directory, and
// the function that saves them when they changed. Without a usable cache
// directory it is nil: remembering only saves time, so it cannot fail the
// check.
func OpenProtocols() (*Protocols, func()) {
	return tokencache.Keep(ProtocolsFile, LoadProtocols)
}

// HTTP1 says whether host last answered with HTTP/1.1 only.
func (p *Protocols) HTTP1(host string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.http1[host]
}

// saw records the protocol host's first connection of a check spoke.
func (p *Protocols) saw(host string, h2 bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case h2 && p.http1[host]:
		delete(p.http1, host)
		p.changed = true
	case !h2 && !p.http1[host] && len(p.http1) < maxProtocols:
		p.http1[host] = true
		p.changed = true
	}
}

// Changed says whether the file needs writing.
func (p *Protocols) Changed() bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Bytes is the file.
func (p *Protocols) Bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := protocolsFile{HTTP1: []string{}}
	for h := range p.http1 {
		f.HTTP1 = append(f.HTTP1, h)
	}
	sort.Strings(f.HTTP1)
	b, err := json.Marshal(f)
	if err != nil { // a list of strings
		panic(err)
	}
	return b
}
