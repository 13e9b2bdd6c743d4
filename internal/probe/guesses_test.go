package probe

import (
	"maps"
	"testing"
)

// FuzzLoadGuesses: platform-manifests is a file in the cache directory,
// which a crash, a hand edit or another user's tool may leave as anything.
// Any bytes load without a panic, within the bound, holding only sha256
// digests, and what loads is written back and read again unchanged.
func FuzzLoadGuesses(f *testing.F) {
	d := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add([]byte(`{"r.example/a:1 linux/amd64":"` + d + `"}`))
	f.Add([]byte(`{"r.example/a:1 linux/amd64":"sha512:00","b":"` + d + `x"}`))
	f.Add([]byte(`{"":""}`))
	f.Add([]byte(`[]`))
	f.Add([]byte("{\"a\":\"" + d + "\"\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		g := LoadGuesses(b)
		if g.Changed() {
			t.Fatal("a loaded file counts as changed")
		}
		if len(g.m) > maxGuesses {
			t.Fatalf("%d guesses loaded, bound %d", len(g.m), maxGuesses)
		}
		for k, v := range g.m {
			if len(v) != len(d) || v[:7] != "sha256:" {
				t.Errorf("%q loaded as %q, not a sha256 digest", k, v)
			}
		}
		if again := LoadGuesses(g.Bytes()); !maps.Equal(g.m, again.m) {
			t.Errorf("round trip %q → %q", g.m, again.m)
		}
	})
}
