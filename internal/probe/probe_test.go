package probe

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

const prefix = "currents/on-prem"

type fixture struct {
	aws     *standin.Server
	reg     *standin.Registry
	digests map[string]v1.Hash
}

func newFixture(t testing.TB, opts ...standin.Option) *fixture {
	t.Helper()
	w := standintest.New(t, standintest.WithRegistry(opts...), standintest.WithoutUser())
	aws, reg := w.AWS, w.Registry
	digests, err := seed.Stack(context.Background(), reg, prefix, "staging")
	if err != nil {
		t.Fatal(err)
	}
	reg.Reset()
	return &fixture{aws: aws, reg: reg, digests: digests}
}

// images are the six services as references on the fixture's registry.
func (f *fixture) images(t testing.TB, tag string) []Image {
	var out []Image
	for _, s := range seed.Services {
		ref, err := name.ParseReference(fmt.Sprintf("%s/%s/%s:%s", f.reg.Host(), prefix, s, tag))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Image{ID: s, Ref: ref})
	}
	return out
}

// staticLogin is what `docker login` leaves in config.json.
func (f *fixture) staticLogin(lifetime time.Duration) *configfile.ConfigFile {
	user, pass, _ := f.aws.MintToken("arn:aws:iam::513558712013:user/ops", lifetime)
	cf := configfile.New("/test/config.json")
	cf.AuthConfigs[f.reg.Host()] = types.AuthConfig{Username: user, Password: pass}
	return cf
}

func isECRAlias(f *fixture) Option {
	return WithECR(func(h string) bool { return h == f.reg.Host() })
}

func byID(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Image.ID] = r
	}
	return m
}

func TestStackPullableWithOneAuthPerRegistry(t *testing.T) {
	f := newFixture(t)
	p := New(keychain.New(f.staticLogin(time.Hour)), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	res := byID(p.Check(context.Background(), f.images(t, "staging")))
	for _, s := range seed.Services {
		r := res[s]
		if r.Status != OK || r.Digest != f.digests[s].String() {
			t.Errorf("%s: status %s digest %s (want %s): %s", s, r.Status, r.Digest, f.digests[s], r.Message)
		}
		if r.Credentials.Kind != keychain.FromAuths {
			t.Errorf("%s: credentials from %s", s, r.Credentials.Kind)
		}
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "static ECR token") {
			t.Errorf("%s: warnings %q", s, r.Warnings)
		}
	}
	if api := res[seed.MultiPlatformService]; api.Platform != "linux/amd64" || api.PlatformDigest == "" {
		t.Errorf("api platform %q digest %q", api.Platform, api.PlatformDigest)
	}
	// One ping for the registry; per image one GET of its manifest; the
	// five single-platform images' config blobs; a HEAD of the manifest
	// api's index lists for linux/amd64.
	st := f.reg.Requests()
	if st.Requests != 1+6+5+1 || st.Unauthorized != 1 || st.BlobGets != 5 || st.Heads != 1 {
		t.Errorf("requests %+v, want 13 with one 401 ping, 6 manifests, 5 config blobs and 1 HEAD", st)
	}
}

// An ECR registry (here an alias) gets the credentials with the first
// request: no ping. With a platform cache, a second check of the same
// images needs their manifests only, and judges them alike.
func TestECRNeedsNoPingAndRemembersPlatforms(t *testing.T) {
	f := newFixture(t)
	cache := LoadPlatforms(nil)
	check := func() map[string]Result {
		p := New(keychain.New(f.staticLogin(time.Hour)), isECRAlias(f), WithPlatformCache(cache), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
		f.reg.Reset()
		return byID(p.Check(context.Background(), f.images(t, "staging")))
	}
	first := check()
	if st := f.reg.Requests(); st.Requests != 6+5+1 || st.Unauthorized != 0 || st.BlobGets != 5 || st.Heads != 1 {
		t.Errorf("first check: requests %+v, want 6 manifests, 5 config blobs and api's HEAD, no 401", st)
	}
	again := LoadPlatforms(cache.Bytes())
	if !cache.Changed() || again.Changed() {
		t.Errorf("Changed: %v after remembering, %v after loading", cache.Changed(), again.Changed())
	}
	cache = again
	second := check()
	if st := f.reg.Requests(); st.Requests != 6+1 || st.BlobGets != 0 || st.Heads != 1 {
		t.Errorf("second check: requests %+v, want the 6 manifests and api's HEAD only", st)
	}
	for _, s := range seed.Services {
		a, b := first[s], second[s]
		if a.Status != OK || a.Status != b.Status || a.Digest != b.Digest || a.Platform != b.Platform || a.PlatformDigest != b.PlatformDigest {
			t.Errorf("%s: first %+v, second %+v", s, a, b)
		}
	}
	// A remembered platform is one the config records: a single-platform
	// image for another platform is still told apart.
	p := New(keychain.New(f.staticLogin(time.Hour)), isECRAlias(f), WithPlatformCache(cache), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if r := byID(p.Check(context.Background(), f.images(t, "staging")))["writer"]; r.Status != NoPlatform {
		t.Errorf("writer for linux/arm64 from the cache: %s %s", r.Status, r.Message)
	}
}

// fakeHelper installs docker-credential-<name> on PATH answering every get
// with a token of the given lifetime and logging each call; it returns the
// log's path.
func fakeHelper(t *testing.T, f *fixture, name string, lifetime time.Duration) string {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	user, pass, _ := f.aws.MintToken("arn:aws:iam::513558712013:user/ops", lifetime)
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\necho \"$host\" >> %s\nprintf '{\"ServerURL\":\"%%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}' \"$host\"\n", calls, user, pass)
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

func TestHelperRunsOncePerRegistry(t *testing.T) {
	f := newFixture(t)
	calls := fakeHelper(t, f, "fake", time.Hour)
	cf := configfile.New("/test/config.json")
	cf.CredentialHelpers = map[string]string{f.reg.Host(): "fake"}

	res := New(keychain.New(cf), isECRAlias(f)).Check(context.Background(), f.images(t, "staging"))
	for _, r := range res {
		if r.Status != OK || r.Credentials.Kind != keychain.FromCredHelper || r.Credentials.Helper != "fake" || len(r.Warnings) != 0 {
			t.Errorf("%s: %s from %+v, warnings %q: %s", r.Image.ID, r.Status, r.Credentials, r.Warnings, r.Message)
		}
	}
	got, _ := os.ReadFile(calls)
	if string(got) != f.reg.Host()+"\n" {
		t.Errorf("helper calls = %q, want exactly one for %s", got, f.reg.Host())
	}
}

func TestExpiredTokenInCredsStore(t *testing.T) {
	f := newFixture(t)
	fakeHelper(t, f, "store", -time.Hour)
	cf := configfile.New("/test/config.json")
	cf.CredentialsStore = "store"
	r := New(keychain.New(cf), isECRAlias(f)).Check(context.Background(), f.images(t, "staging")[:1])[0]
	if r.Status != Expired || !strings.Contains(r.Message, `from credsStore "store"`) || r.Credentials.Expiry.IsZero() {
		t.Errorf("%s %q %+v", r.Status, r.Message, r.Credentials)
	}
}

func TestMissingTag(t *testing.T) {
	f := newFixture(t)
	res := New(keychain.New(f.staticLogin(time.Hour))).Check(context.Background(), f.images(t, "never-mirrored"))
	for _, r := range res {
		if r.Status != NotFound || r.Missing != MissingTag || !strings.Contains(r.Message, "tag never-mirrored is not in") || !strings.Contains(r.Fix, "mirror") {
			t.Errorf("%s: %s %q fix %q", r.Image.ID, r.Status, r.Message, r.Fix)
		}
	}
}

// A digest the repository lacks is said to be a digest, not a tag, and the
// fix does not offer to mirror "that tag": mirror copies from a source that
// has the image, and none has it here.
func TestMissingDigest(t *testing.T) {
	f := newFixture(t)
	ref, err := name.ParseReference(f.reg.Host() + "/" + prefix + "/api@sha256:" + strings.Repeat("1", 64))
	if err != nil {
		t.Fatal(err)
	}
	r := New(keychain.New(f.staticLogin(time.Hour))).Check(context.Background(), []Image{{ID: "api", Ref: ref}})[0]
	if r.Status != NotFound || r.Missing != MissingDigest || !strings.HasPrefix(r.Message, "digest sha256:1111") ||
		strings.Contains(r.Message, "tag") || strings.Contains(r.Fix, "tag there") {
		t.Errorf("%s missing %q: %q fix %q", r.Status, r.Missing, r.Message, r.Fix)
	}
}

func TestMissingRepository(t *testing.T) {
	f := newFixture(t)
	ref, err := name.ParseReference(f.reg.Host() + "/currents/on-premapi:staging")
	if err != nil {
		t.Fatal(err)
	}
	r := New(keychain.New(f.staticLogin(time.Hour))).Check(context.Background(), []Image{{ID: "api", Ref: ref}})[0]
	if r.Status != NotFound || r.Missing != MissingRepository || !strings.Contains(r.Message, "repository currents/on-premapi does not exist") {
		t.Errorf("%s %q", r.Status, r.Message)
	}
}

func TestWrongPlatform(t *testing.T) {
	f := newFixture(t)
	imgs := f.images(t, "staging")
	imgs[0].Platform = "linux/s390x" // api, the multi-platform index
	r := New(keychain.New(f.staticLogin(time.Hour))).Check(context.Background(), imgs[:1])[0]
	if r.Status != NoPlatform || !strings.Contains(r.Message, "no image for linux/s390x") ||
		!strings.Contains(r.Message, "(its index has: linux/amd64, linux/arm64)") {
		t.Errorf("%s %q", r.Status, r.Message)
	}

	// Without a service platform, the host's is wanted.
	imgs[0].Platform = ""
	r = New(keychain.New(f.staticLogin(time.Hour)), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "ppc64le"})).Check(context.Background(), imgs[:1])[0]
	if r.Status != NoPlatform || !strings.Contains(r.Fix, "linux/ppc64le") {
		t.Errorf("host platform: %s %q %q", r.Status, r.Message, r.Fix)
	}
	r = New(keychain.New(f.staticLogin(time.Hour)), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})).Check(context.Background(), imgs[:1])[0]
	if r.Status != OK {
		t.Errorf("arm64 host: %s %q", r.Status, r.Message)
	}
}

func TestStaleStaticToken(t *testing.T) {
	f := newFixture(t)
	cf := f.staticLogin(-3 * time.Hour)
	res := New(keychain.New(cf), isECRAlias(f)).Check(context.Background(), f.images(t, "staging"))
	for _, r := range res {
		if r.Status != Expired || !strings.Contains(r.Message, "expired at") ||
			!strings.Contains(r.Fix, "docker-credential-currents configure --registry "+f.reg.Host()+" --role-arn") ||
			!strings.Contains(r.Fix, "docker logout "+f.reg.Host()) {
			t.Errorf("%s: %s %q fix %q", r.Image.ID, r.Status, r.Message, r.Fix)
		}
		if r.Credentials.Expiry.IsZero() || r.Credentials.Expiry.After(time.Now()) {
			t.Errorf("expiry %v", r.Credentials.Expiry)
		}
	}
}

func TestExpiredTokenFromTheRegistry(t *testing.T) {
	// The registry's own "token has expired" answer is recognised even
	// when the token's expiry cannot be read locally (a helper's answer).
	f := newFixture(t)
	cf := f.staticLogin(-time.Minute)
	clock := func() time.Time { return time.Now().Add(-time.Hour) } // local view: still valid
	r := New(keychain.New(cf), WithClock(clock)).Check(context.Background(), f.images(t, "staging")[:1])[0]
	if r.Status != Expired || r.Message != f.reg.Host()+` says the authorization token from auths["`+f.reg.Host()+`"] in /test/config.json (a static docker login) has expired` {
		t.Errorf("%s %q", r.Status, r.Message)
	}
}

func TestNoHelperRegistered(t *testing.T) {
	f := newFixture(t)
	cf := configfile.New("/test/config.json")
	res := New(keychain.New(cf), isECRAlias(f)).Check(context.Background(), f.images(t, "staging"))
	for _, r := range res {
		if r.Status != Unauthorized || !strings.Contains(r.Message, "no credential helper is registered for it in /test/config.json") ||
			!strings.Contains(r.Fix, "docker-credential-currents configure --registry "+f.reg.Host()+" --role-arn") {
			t.Errorf("%s: %s %q fix %q", r.Image.ID, r.Status, r.Message, r.Fix)
		}
	}
	if st := f.reg.Requests(); st.Requests > 1+6+6 {
		t.Errorf("requests %+v", st)
	}
	// When currents.yaml already has the host, only config.json lacks the
	// entry: the fix is that entry, and says where the host is configured.
	configured := WithConfigured(func(h string) string { return "/home/u/.docker/currents.yaml:3" })
	r := New(keychain.New(cf), isECRAlias(f), configured).Check(context.Background(), f.images(t, "staging")[:1])[0]
	want := fmt.Sprintf(`add {"credHelpers": {%q: "currents"}} to /test/config.json (currents.yaml already configures %s at /home/u/.docker/currents.yaml:3)`, f.reg.Host(), f.reg.Host())
	if !strings.HasSuffix(r.Fix, want) {
		t.Errorf("configured host: fix %q, want it to end in %q", r.Fix, want)
	}

}

func TestHelperFailure(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'assume role: AccessDenied' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-broken"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cf := configfile.New("/test/config.json")
	cf.CredentialHelpers = map[string]string{f.reg.Host(): "broken"}
	res := New(keychain.New(cf)).Check(context.Background(), f.images(t, "staging"))
	for _, r := range res {
		if r.Status != CredsFailed || !strings.Contains(r.Message, "docker-credential-broken") {
			t.Errorf("%s: %s %q", r.Image.ID, r.Status, r.Message)
		}
	}
	if st := f.reg.Requests(); st.Requests != 0 {
		t.Errorf("a failed helper must stop before the registry: %+v", st)
	}
}

// The commonest wrong platform is a single-platform image built for
// another architecture: its platform is only in the config blob.
func TestSinglePlatformImageForAnotherArchitecture(t *testing.T) {
	f := newFixture(t)
	arm := v1.Platform{OS: "linux", Architecture: "arm64"}
	res := byID(New(keychain.New(f.staticLogin(time.Hour)), WithHostPlatform(arm)).Check(context.Background(), f.images(t, "staging")))
	for _, s := range seed.Services {
		r := res[s]
		if s == seed.MultiPlatformService {
			if r.Status != OK || r.Platform != "linux/arm64" || r.PlatformDigest == "" || r.PlatformDigest == r.Digest {
				t.Errorf("%s: %s platform %s digest %s: %s", s, r.Status, r.Platform, r.PlatformDigest, r.Message)
			}
			continue
		}
		if r.Status != NoPlatform || r.Digest != f.digests[s].String() ||
			!strings.HasSuffix(r.Message, "is a single-platform image for linux/amd64, not linux/arm64; docker would pull it, but its containers would fail with \"exec format error\"") ||
			!strings.Contains(r.Message, "exec format error") || !strings.Contains(r.Fix, "--platform linux/arm64") {
			t.Errorf("%s: %s %q fix %q", s, r.Status, r.Message, r.Fix)
		}
	}

	// On the image's own platform the same images pass, and the manifest
	// docker pulls is the image itself.
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	r := New(keychain.New(f.staticLogin(time.Hour)), WithHostPlatform(amd)).Check(context.Background(), f.images(t, "staging")[1:2])[0]
	if r.Status != OK || r.PlatformDigest != r.Digest || r.Platform != "linux/amd64" {
		t.Errorf("amd64 host: %s %+v", r.Status, r)
	}
}

func TestSinglePlatformImageAndServicePlatform(t *testing.T) {
	f := newFixture(t)
	imgs := f.images(t, "staging")[1:2] // a single-platform linux/amd64 image
	imgs[0].Platform = "linux/arm64/v8"
	r := New(keychain.New(f.staticLogin(time.Hour))).Check(context.Background(), imgs)[0]
	if r.Status != NoPlatform || !strings.Contains(r.Fix, "service's platform:") || strings.Contains(r.Message, "exec format error") {
		t.Errorf("%s %q fix %q", r.Status, r.Message, r.Fix)
	}

	// DOCKER_DEFAULT_PLATFORM, which compose passes to every pull, is named
	// in the fix.
	imgs[0].Platform = ""
	r = New(keychain.New(f.staticLogin(time.Hour)), WithDefaultPlatform("linux/arm64", "DOCKER_DEFAULT_PLATFORM")).Check(context.Background(), imgs)[0]
	if r.Status != NoPlatform || !strings.Contains(r.Fix, "DOCKER_DEFAULT_PLATFORM") {
		t.Errorf("default platform: %s %q fix %q", r.Status, r.Message, r.Fix)
	}
}

// Services sharing an image read its manifest and config once.
func TestSharedImageFetchedOnce(t *testing.T) {
	f := newFixture(t)
	img := f.images(t, "staging")[1]
	imgs := []Image{img, img, img}
	imgs[1].ID, imgs[2].ID = "b", "c"
	for _, r := range New(keychain.New(f.staticLogin(time.Hour))).Check(context.Background(), imgs) {
		if r.Status != OK {
			t.Errorf("%s: %s %s", r.Image.ID, r.Status, r.Message)
		}
	}
	if st := f.reg.Requests(); st.BlobGets != 1 || st.Requests != 1+1+1 {
		t.Errorf("requests %+v, want a ping, one manifest and one config", st)
	}
}

// movingTag answers a GET of …/manifests/staging with another tag's
// manifest, as if the tag had moved just before the request.
type movingTag struct{ base http.RoundTripper }

func (m movingTag) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/staging") {
		r = r.Clone(r.Context())
		r.URL.Path = strings.TrimSuffix(r.URL.Path, "staging") + "moved"
	}
	return m.base.RoundTrip(r)
}

// The digest reported and the platforms checked are those of the same
// manifest, the one the single GET returned, whatever the tag said before.
func TestDigestIsOfTheManifestChecked(t *testing.T) {
	f := newFixture(t)
	moved, err := seed.Push(context.Background(), f.reg, prefix+"/api:moved") // a single-platform image
	if err != nil {
		t.Fatal(err)
	}
	f.reg.Reset()
	api := f.images(t, "staging")[:1]
	r := New(keychain.New(f.staticLogin(time.Hour)), WithTransport(movingTag{http.DefaultTransport})).Check(context.Background(), api)[0]
	if r.Status != OK || r.Digest != moved.String() || ggcrtypes.MediaType(r.MediaType).IsIndex() || r.PlatformDigest != r.Digest {
		t.Errorf("%s digest %s (want %s) media %s platform digest %s: %s", r.Status, r.Digest, moved, r.MediaType, r.PlatformDigest, r.Message)
	}
	// ping, GET (moved), its config.
	if st := f.reg.Requests(); st.Requests != 3 {
		t.Errorf("requests %+v", st)
	}
}

// A registered helper missing from PATH is named, with both ways out.
func TestHelperNotOnPath(t *testing.T) {
	f := newFixture(t)
	t.Setenv("PATH", t.TempDir())
	cf := configfile.New("/test/config.json")
	cf.CredentialHelpers = map[string]string{f.reg.Host(): "currents"}
	r := New(keychain.New(cf)).Check(context.Background(), f.images(t, "staging")[:1])[0]
	if r.Status != CredsFailed || r.Fix != "docker-credential-currents is not on PATH: install it (make install), or remove the credHelpers entry from /test/config.json" {
		t.Errorf("%s %q fix %q", r.Status, r.Message, r.Fix)
	}
}
