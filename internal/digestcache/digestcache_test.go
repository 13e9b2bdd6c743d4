package digestcache

import (
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func digest(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, _, err := v1.SHA256(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRoundTripAndChanged(t *testing.T) {
	c := Load[string](nil)
	if c.Changed() {
		t.Fatal("a new cache is changed")
	}
	a := digest(t, "a")
	c.Put(a, "A")
	c.Put(a, "other") // a digest names one thing: the first stays
	if v, ok := c.Get(a); !ok || v != "A" || !c.Changed() {
		t.Fatalf("Get = %q, %v; changed %v", v, ok, c.Changed())
	}
	again := Load[string](c.Bytes())
	if v, ok := again.Get(a); !ok || v != "A" || again.Changed() {
		t.Fatalf("after a round trip: %q, %v, changed %v", v, ok, again.Changed())
	}
	var none *Map[string]
	none.Put(a, "x")
	if _, ok := none.Get(a); ok || none.Changed() || none.Len() != 0 {
		t.Error("a nil cache kept something")
	}
}

func TestLoadDropsWhatItCannotTrust(t *testing.T) {
	a := digest(t, "a")
	file := fmt.Sprintf(`{%q: "a", %q: "b", "md5:00": "c", "not a digest": "d"}`, a, digest(t, "b"))
	c := Load[string]([]byte(file), Valid(func(h v1.Hash, v string) bool { return digest(t, v) == h && v != "b" }))
	if c.Len() != 1 {
		t.Errorf("kept %d entries; want only the one that checks out", c.Len())
	}
	if Load[string]([]byte("{broken")).Len() != 0 {
		t.Error("a broken file is not an empty cache")
	}
}

func TestBounds(t *testing.T) {
	c := Load[string](nil, MaxEntries[string](3))
	for i := range 10 {
		c.Put(digest(t, fmt.Sprint(i)), fmt.Sprint(i))
	}
	if c.Len() != 3 {
		t.Errorf("%d entries; want at most 3", c.Len())
	}
	b := Load[string](nil, MaxBytes(10, 5, func(s string) int { return len(s) }))
	b.Put(digest(t, "big"), strings.Repeat("x", 6))
	if b.Len() != 0 {
		t.Error("an entry larger than the bound of one was kept")
	}
	for i := range 10 {
		b.Put(digest(t, fmt.Sprint(i)), "1234")
	}
	if b.Len() != 2 {
		t.Errorf("%d entries of 4 bytes under a 10-byte bound; want 2", b.Len())
	}
}
