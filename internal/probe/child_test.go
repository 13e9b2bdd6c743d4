package probe

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/standin/seed"
)

// deleteChild deletes the manifest the api index lists for pl, as an ECR
// lifecycle rule expiring untagged images does, and returns its digest.
func (f *fixture) deleteChild(t *testing.T, pl string) string {
	t.Helper()
	user, pass, _ := f.aws.MintToken("arn:aws:iam::513558712013:user/ops", time.Hour)
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	ref, err := name.ParseReference(f.reg.Host() + "/" + prefix + "/api:staging")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, auth)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.OS+"/"+m.Platform.Architecture == pl {
			if err := remote.Delete(ref.Context().Digest(m.Digest.String()), auth); err != nil {
				t.Fatal(err)
			}
			f.reg.Reset()
			return m.Digest.String()
		}
	}
	t.Fatalf("the api index lists no %s", pl)
	return ""
}

// An index whose manifest for the wanted platform was deleted (an ECR
// lifecycle rule expiring untagged images deletes an index's platform
// manifests, which have no tag) is one docker cannot pull: the check HEADs
// the manifest docker would pull, and says it is gone, why it likely is, and
// what to do. Another platform of the same index is still pullable.
func TestDeletedPlatformManifestIsNotPullable(t *testing.T) {
	f := newFixture(t)
	gone := f.deleteChild(t, "linux/amd64")
	imgs := f.images(t, "staging")[:1] // api, the multi-platform index
	amd := New(keychain.New(f.staticLogin(time.Hour)), isECRAlias(f), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	r := amd.Check(context.Background(), imgs)[0]
	if r.Pullable() || r.Status != ManifestMissing || r.PlatformDigest != gone || r.Digest != f.digests["api"].String() ||
		!strings.Contains(r.Message, "linux/amd64") || !strings.Contains(r.Message, "no longer has") ||
		!strings.Contains(r.Fix, "lifecycle policy") || !strings.Contains(r.Fix, "untagged") || !strings.Contains(r.Fix, "push the image again") {
		t.Errorf("%s digest %s platform digest %s (want %s): %q fix %q", r.Status, r.Digest, r.PlatformDigest, gone, r.Message, r.Fix)
	}
	arm := New(keychain.New(f.staticLogin(time.Hour)), isECRAlias(f), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if r := arm.Check(context.Background(), imgs)[0]; r.Status != OK || r.PlatformDigest == gone || r.PlatformDigest == "" {
		t.Errorf("arm64, still there: %s %s %q", r.Status, r.PlatformDigest, r.Message)
	}
}

// The manifest docker would pull is asked once per distinct digest (a HEAD),
// whatever the number of services sharing it; a single-platform image, whose
// manifest is the one docker pulls, costs no request more. Nothing of it is
// remembered between checks: a lifecycle rule may delete it at any time.
func TestPlatformManifestHeadedOncePerDigest(t *testing.T) {
	f := newFixture(t)
	cache := LoadPlatforms(nil)
	api := f.images(t, "staging")[0]
	writer := f.images(t, "staging")[1]
	imgs := []Image{api, api, writer}
	imgs[1].ID = "api2"
	check := func() []Result {
		f.reg.Reset()
		p := New(keychain.New(f.staticLogin(time.Hour)), isECRAlias(f), WithPlatformCache(cache), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
		return p.Check(context.Background(), imgs)
	}
	for _, r := range check() {
		if r.Status != OK {
			t.Errorf("%s: %s %q", r.Image.ID, r.Status, r.Message)
		}
	}
	// Two manifests, the writer's config, one HEAD of api's amd64 manifest.
	if st := f.reg.Requests(); st.Requests != 2+1+1 || st.Heads != 1 {
		t.Errorf("first check: requests %+v, want 2 manifests, 1 config, 1 HEAD", st)
	}
	check()
	if st := f.reg.Requests(); st.Requests != 2+1 || st.Heads != 1 {
		t.Errorf("second check: requests %+v, want 2 manifests and the HEAD again", st)
	}
	f.reg.Reset()
	single := New(keychain.New(f.staticLogin(time.Hour)), isECRAlias(f), WithPlatformCache(cache))
	if r := single.Check(context.Background(), []Image{writer})[0]; r.Status != OK {
		t.Errorf("writer: %s %q", r.Status, r.Message)
	}
	if st := f.reg.Requests(); st.Requests != 1 || st.Heads != 0 {
		t.Errorf("single-platform image: requests %+v, want its manifest alone", st)
	}
}

// holdIndex holds the GET of api's tag until a HEAD of a manifest in its
// repository has gone out: a check that sends that HEAD only after the
// index's answer never gets there.
type holdIndex struct {
	base  http.RoundTripper
	head  chan struct{}
	once  sync.Once
	timed atomic.Bool
}

func (h *holdIndex) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/api/manifests/sha256:"):
		h.once.Do(func() { close(h.head) })
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/api/manifests/staging"):
		select {
		case <-h.head:
		case <-time.After(5 * time.Second):
			h.timed.Store(true)
		}
	}
	return h.base.RoundTrip(r)
}

// With what the last check saw kept (Guesses), the HEAD of the platform
// manifest goes out with the index's GET, not a round trip after it. A
// guess never decides: a manifest deleted since is said to be missing, and
// a guess the moved tag made wrong costs one HEAD more, no verdict.
func TestPlatformManifestGuessGoesWithTheIndex(t *testing.T) {
	f := newFixture(t)
	guesses := LoadGuesses(nil)
	api := f.images(t, "staging")[:1]
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	check := func(rt http.RoundTripper) Result {
		f.reg.Reset()
		opts := []Option{isECRAlias(f), WithGuesses(guesses), WithHostPlatform(amd)}
		if rt != nil {
			opts = append(opts, WithTransport(rt))
		}
		return New(keychain.New(f.staticLogin(time.Hour)), opts...).Check(context.Background(), api)[0]
	}
	if r := check(nil); r.Status != OK {
		t.Fatalf("first check: %s %q", r.Status, r.Message)
	}
	again := LoadGuesses(guesses.Bytes())
	if !guesses.Changed() || again.Changed() {
		t.Errorf("Changed: %v after a check, %v after loading", guesses.Changed(), again.Changed())
	}
	guesses = again
	hold := &holdIndex{base: http.DefaultTransport, head: make(chan struct{})}
	if r := check(hold); r.Status != OK || hold.timed.Load() {
		t.Errorf("second check: %s %q; HEAD before the index's answer: %v", r.Status, r.Message, !hold.timed.Load())
	}
	if st := f.reg.Requests(); st.Requests != 2 || st.Heads != 1 {
		t.Errorf("second check: requests %+v, want the index and one HEAD", st)
	}

	gone := f.deleteChild(t, "linux/amd64")
	if r := check(nil); r.Status != ManifestMissing || r.PlatformDigest != gone {
		t.Errorf("deleted since the guess: %s %s %q", r.Status, r.PlatformDigest, r.Message)
	}

	moved, err := seed.Push(context.Background(), f.reg, prefix+"/api:staging", seed.MultiPlatform())
	if err != nil {
		t.Fatal(err)
	}
	r := check(nil)
	if r.Status != OK || r.Digest != moved.String() || r.PlatformDigest == gone {
		t.Errorf("moved tag: %s digest %s (want %s) platform digest %s: %q", r.Status, r.Digest, moved, r.PlatformDigest, r.Message)
	}
	// The stale guess's HEAD is not waited for: it may still be on its way.
	for deadline := time.Now().Add(5 * time.Second); f.reg.Requests().Heads < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if st := f.reg.Requests(); st.Requests != 1+2 || st.Heads != 2 {
		t.Errorf("moved tag: requests %+v, want the index, the stale guess's HEAD and the new manifest's", st)
	}
	if d, _ := guesses.get(api[0].Ref.String(), "linux/amd64"); d != r.PlatformDigest {
		t.Errorf("guess after the move: %s, want %s", d, r.PlatformDigest)
	}
}
