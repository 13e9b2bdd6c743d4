package mirror

import (
	"encoding/json"
	"testing"
)

// A rerun with the kept manifests reads no index child from the source:
// only each tag's manifest, to see where it points now.
func TestKeptManifestsSpareTheSource(t *testing.T) {
	f := newFixture(t, "api", "writer")
	kept := LoadManifests(nil)
	if _, err := f.copy(t, WithManifests(kept)); err != nil {
		t.Fatal(err)
	}
	if !kept.Changed() {
		t.Fatal("the first copy kept no manifest")
	}
	again := LoadManifests(kept.Bytes())
	f.src.reset()
	res, err := f.copy(t, WithManifests(again))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != Present || r.Digest != f.digests[i].String() || r.SkippedBytes == 0 || len(r.Platforms) != 2 {
			t.Errorf("%s rerun: %+v", r.Name, r)
		}
	}
	if got := f.src.counts["GET"]; got != len(f.images) {
		t.Errorf("rerun read the source %d times; want %d (the tags)", got, len(f.images))
	}
	if again.Changed() {
		t.Error("a rerun that read everything from the cache changed it")
	}
}

// An entry whose bytes do not match its digest is dropped on load.
func TestKeptManifestsAreCheckedOnLoad(t *testing.T) {
	f := newFixture(t, "api")
	kept := LoadManifests(nil)
	if _, err := f.copy(t, WithManifests(kept)); err != nil {
		t.Fatal(err)
	}
	var m map[string]cachedManifest
	if err := json.Unmarshal(kept.Bytes(), &m); err != nil || len(m) != 2 {
		t.Fatalf("kept %d manifests (%v); want the index's 2 children", len(m), err)
	}
	for k, e := range m {
		e.Raw = append(e.Raw, ' ')
		m[k] = e
	}
	b, _ := json.Marshal(m)
	if got := LoadManifests(b); got.Len() != 0 {
		t.Errorf("loaded %d altered manifests", got.Len())
	}
}
