package probe

import (
	"slices"
	"testing"
)

// FuzzLoadProtocols: registry-protocols is a file in the cache directory,
// which a crash (its writes are not synced), a hand edit or another user's
// tool may leave as anything. Any bytes load without a panic, within the
// bound, and what loads is written back and read again unchanged.
func FuzzLoadProtocols(f *testing.F) {
	f.Add([]byte(`{"http1":["registry.example.com","111122223333.dkr.ecr.eu-west-1.amazonaws.com"]}`))
	f.Add([]byte(`{"http1":[]}`))
	f.Add([]byte(`{"http1":["a","a",""]}`))
	f.Add([]byte(`{"http1":null,"HTTP1":["b"]}`))
	f.Add([]byte("{\"http1\":[\"a\"]\x00\x00\x00"))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := LoadProtocols(b)
		if p.Changed() {
			t.Fatal("a loaded file counts as changed")
		}
		if len(p.http1) > maxProtocols {
			t.Fatalf("%d registries loaded, bound %d", len(p.http1), maxProtocols)
		}
		again := LoadProtocols(p.Bytes())
		var hosts, hostsAgain []string
		for h := range p.http1 {
			hosts = append(hosts, h)
			if !again.HTTP1(h) {
				t.Errorf("%q lost in a round trip", h)
			}
		}
		for h := range again.http1 {
			hostsAgain = append(hostsAgain, h)
		}
		slices.Sort(hosts)
		slices.Sort(hostsAgain)
		if !slices.Equal(hosts, hostsAgain) {
			t.Errorf("round trip %q → %q", hosts, hostsAgain)
		}
	})
}
