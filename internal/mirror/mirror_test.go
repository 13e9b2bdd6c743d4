package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testRegistry is go-containerregistry's in-memory registry on loopback,
// behind Basic auth as ECR answers, counting requests by method.
type testRegistry struct {
	srv      *httptest.Server
	host     string
	user     string
	password string
	mu       sync.Mutex
	counts   map[string]int
	// fail, when set, may refuse a request (to cut the network mid-copy).
	fail atomic.Pointer[func(*http.Request) bool]
	// scoped makes blobs belong to repositories, as in ECR and distribution
	// (go-containerregistry's registry shares them registry-wide), with
	// cross-repository mounts; set before use.
	scoped bool
	blobs  map[string]bool // repo@digest, when scoped
	mounts int
	// redirect, when set, answers blob GETs with a redirect there, as ECR
	// sends layer downloads to presigned S3 URLs; set before use.
	redirect string
}

// scope answers blob requests per repository; it reports whether it answered.
func (r *testRegistry) scope(w http.ResponseWriter, req *http.Request) bool {
	i := strings.Index(req.URL.Path, "/blobs/")
	if !r.scoped || !strings.HasPrefix(req.URL.Path, "/v2/") || i < 0 {
		return false
	}
	repo, rest := req.URL.Path[len("/v2/"):i], req.URL.Path[i+len("/blobs/"):]
	q := req.URL.Query()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case (req.Method == http.MethodHead || req.Method == http.MethodGet) && strings.HasPrefix(rest, "sha256:"):
		if !r.blobs[repo+"@"+rest] {
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to repository"}]}`, http.StatusNotFound)
			return true
		}
	case req.Method == http.MethodPost && q.Get("mount") != "":
		if d, from := q.Get("mount"), q.Get("from"); from != "" && r.blobs[from+"@"+d] {
			r.blobs[repo+"@"+d] = true
			r.mounts++
			w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d)
			w.Header().Set("Docker-Content-Digest", d)
			w.WriteHeader(http.StatusCreated)
			return true
		}
		q.Del("mount")
		q.Del("from")
		req.URL.RawQuery = q.Encode()
	case req.Method == http.MethodPut && q.Get("digest") != "":
		r.blobs[repo+"@"+q.Get("digest")] = true
	}
	return false
}

func newTestRegistry(t *testing.T, password string) *testRegistry {
	t.Helper()
	r := &testRegistry{user: "AWS", password: password, counts: map[string]int{}, blobs: map[string]bool{}}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		if !ok || u != r.user || p != r.password {
			r.mu.Lock()
			r.counts["401"]++
			r.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"auth required"}]}`, http.StatusUnauthorized)
			return
		}
		if f := r.fail.Load(); f != nil && (*f)(req) {
			// Drop the connection as a cut network would.
			hj, ok := w.(http.Hijacker)
			if ok {
				c, _, _ := hj.Hijack()
				c.Close()
				return
			}
		}
		r.mu.Lock()
		r.counts[req.Method]++
		r.mu.Unlock()
		if r.scope(w, req) {
			return
		}
		if r.redirect != "" && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			http.Redirect(w, req, r.redirect, http.StatusTemporaryRedirect)
			return
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *testRegistry) writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts["POST"] + r.counts["PUT"] + r.counts["PATCH"]
}

func (r *testRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts = map[string]int{}
}

// hostKeychain answers Basic credentials per registry host, as a docker config
// with one `auths` entry per registry would.
type hostKeychain map[string]authn.AuthConfig

func (k hostKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if c, ok := k[res.RegistryStr()]; ok {
		return authn.FromConfig(c), nil
	}
	return authn.Anonymous, nil
}

func (r *testRegistry) auth() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: r.user, Password: r.password})
}

// pushIndex pushes a two-platform index (plus shared base layer) to repo:tag.
func pushIndex(t *testing.T, r *testRegistry, repo, tag string, base v1.Layer) (name.Tag, v1.Hash) {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := random.Image(2048, 2)
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.AppendLayers(img, base)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	ref, err := name.NewTag(r.host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, r.auth()); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref, d
}

type recorder struct {
	mu       sync.Mutex
	planned  map[int]int
	streamed map[int]int64
	copied   map[int]int
	skipped  map[int]int
	finished map[int]Result
}

func newRecorder() *recorder {
	return &recorder{planned: map[int]int{}, streamed: map[int]int64{}, copied: map[int]int{}, skipped: map[int]int{}, finished: map[int]Result{}}
}
func (r *recorder) Planned(i, blobs int, _ int64) { r.mu.Lock(); r.planned[i] = blobs; r.mu.Unlock() }
func (r *recorder) Streamed(i int, n int64)       { r.mu.Lock(); r.streamed[i] += n; r.mu.Unlock() }
func (r *recorder) Blob(i int, _ int64, copied bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if copied {
		r.copied[i]++
	} else {
		r.skipped[i]++
	}
}
func (r *recorder) Finished(i int, res Result) { r.mu.Lock(); r.finished[i] = res; r.mu.Unlock() }

type fixture struct {
	src, dst *testRegistry
	images   []Image
	digests  []v1.Hash
	kc       hostKeychain
}

func newFixture(t *testing.T, services ...string) *fixture {
	t.Helper()
	f := &fixture{src: newTestRegistry(t, "source-secret-value"), dst: newTestRegistry(t, "target-secret-value")}
	f.kc = hostKeychain{
		f.src.host: {Username: f.src.user, Password: f.src.password},
		f.dst.host: {Username: f.dst.user, Password: f.dst.password},
	}
	base, err := random.Layer(4096, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		ref, d := pushIndex(t, f.src, "currents/on-prem/"+s, "staging", base)
		dst, err := name.NewTag(f.dst.host + "/mirror/currents/" + s + ":staging")
		if err != nil {
			t.Fatal(err)
		}
		f.images = append(f.images, Image{Name: s, Source: ref, Target: dst})
		f.digests = append(f.digests, d)
	}
	f.src.reset()
	return f
}

func (f *fixture) copy(t *testing.T, opts ...Option) ([]Result, error) {
	t.Helper()
	return Copy(context.Background(), f.images, append([]Option{WithKeychain(f.kc)}, opts...)...)
}

func TestCopyKeepsDigestsThenOnlyChecks(t *testing.T) {
	f := newFixture(t, "api", "director", "writer")
	rec := newRecorder()
	res, err := f.copy(t, WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	copiedTotal := 0
	for i, r := range res {
		f.checkFirstCopy(t, i, r, rec)
		copiedTotal += r.CopiedBlobs
	}
	if copiedTotal < 19 {
		t.Errorf("copied %d blobs in all, want at least the 19 distinct ones", copiedTotal)
	}

	f.dst.reset()
	f.src.reset()
	res, err = f.copy(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != Present || r.CopiedBytes != 0 || r.SkippedBytes == 0 {
			t.Errorf("%s rerun: %+v", r.Name, r)
		}
	}
	if w := f.dst.writes(); w != 0 {
		t.Errorf("no-op rerun wrote %d times to the target", w)
	}
	if f.src.counts["GET"] == 0 {
		t.Error("rerun did not read the source at all")
	}
}

// checkFirstCopy: image i was copied whole, digest kept, its blobs and
// manifests counted as the observer saw them, and the target serves it.
func (f *fixture) checkFirstCopy(t *testing.T, i int, r Result, rec *recorder) {
	t.Helper()
	if r.Status != Copied || r.Digest != f.digests[i].String() || r.SourceDigest != r.Digest {
		t.Errorf("%s: %+v, want copied with digest %s", r.Name, r, f.digests[i])
	}
	// 2 configs + 2×2 random layers + 1 base layer shared by all images.
	// go-containerregistry's registry keeps blobs registry-wide, so an
	// image may find the base already uploaded by another: skipped.
	if r.Blobs != 7 || r.CopiedBlobs < 6 || r.CopiedBytes == 0 || (r.CopiedBlobs == 7) != (r.SkippedBytes == 0) {
		t.Errorf("%s: blobs %d copied %d bytes %d/%d", r.Name, r.Blobs, r.CopiedBlobs, r.CopiedBytes, r.SkippedBytes)
	}
	if r.Manifests != 3 {
		t.Errorf("%s: manifests = %d, want 3 (index + 2 images)", r.Name, r.Manifests)
	}
	if rec.copied[i] != r.CopiedBlobs || rec.copied[i]+rec.skipped[i] != 7 || rec.streamed[i] != r.CopiedBytes || rec.finished[i].Status != Copied {
		t.Errorf("%s: observer saw copied=%d streamed=%d finished=%v", r.Name, rec.copied[i], rec.streamed[i], rec.finished[i].Status)
	}
	// The target really serves the same index.
	d, err := remote.Head(f.images[i].Target, f.dst.auth())
	if err != nil || d.Digest != f.digests[i] {
		t.Errorf("%s: target HEAD = %v, %v", r.Name, d, err)
	}
}

// TestMovedSourceTagMovesTheMirrorAndSaysFromWhat: after the vendor
// re-tags staging, the next mirror moves the target tag and reports the
// digest it replaced; an unchanged image reports none.
func TestMovedSourceTagMovesTheMirrorAndSaysFromWhat(t *testing.T) {
	f := newFixture(t, "api", "writer")
	if _, err := f.copy(t); err != nil {
		t.Fatal(err)
	}
	base, err := random.Layer(512, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	_, moved := pushIndex(t, f.src, "currents/on-prem/api", "staging", base)
	res, err := f.copy(t)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Status != Copied || r.Digest != moved.String() || r.Replaced != f.digests[0].String() {
		t.Errorf("moved api: %+v", r)
	}
	if r := res[1]; r.Status != Present || r.Replaced != "" {
		t.Errorf("unchanged writer: %+v", r)
	}
	var buf strings.Builder
	if err := WriteTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	if want := "note: " + f.images[0].Target.String() + " moved from " + short(f.digests[0].String()) + " to " + short(moved.String()); !strings.Contains(buf.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, buf.String())
	}
}

// TestSharedLayerMovesOnceIntoAPerRepositoryRegistry: three images share a
// base layer; in a registry that keeps blobs per repository it is sent once
// and mounted into the other two repositories, and every image is complete.
func TestSharedLayerMovesOnceIntoAPerRepositoryRegistry(t *testing.T) {
	f := newFixture(t, "api", "director", "writer")
	f.dst.scoped = true
	res, err := f.copy(t)
	if err != nil {
		t.Fatal(err)
	}
	notCopied := 0
	for _, r := range res {
		notCopied += r.Blobs - r.CopiedBlobs
	}
	if notCopied != 2 || f.dst.mounts != 2 {
		t.Errorf("shared base: %d blobs not copied, %d mounts; want 2 and 2", notCopied, f.dst.mounts)
	}
	for _, im := range f.images {
		idx, err := remote.Index(im.Target, f.dst.auth())
		if err != nil {
			t.Fatal(err)
		}
		if err := readAll(idx); err != nil {
			t.Errorf("%s incomplete in its repository: %v", im.Name, err)
		}
	}
}

// TestMirrorWithinOneRegistryMountsEverything: a mirror prefix in the
// source's own registry moves no blob bytes at all.
func TestMirrorWithinOneRegistryMountsEverything(t *testing.T) {
	reg := newTestRegistry(t, "one-secret-value")
	reg.scoped = true
	base, err := random.Layer(4096, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	src, digest := pushIndex(t, reg, "currents/on-prem/api", "staging", base)
	dst, err := name.NewTag(reg.host + "/mirror/api:staging")
	if err != nil {
		t.Fatal(err)
	}
	kc := hostKeychain{reg.host: {Username: reg.user, Password: reg.password}}
	res, err := Copy(context.Background(), []Image{{Name: "api", Source: src, Target: dst}}, WithKeychain(kc))
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Digest != digest.String() || r.CopiedBlobs != 0 || r.CopiedBytes != 0 || reg.mounts != r.Blobs {
		t.Errorf("%+v, %d mounts", r, reg.mounts)
	}
}

// readAll reads every config and layer of an index's images.
func readAll(idx v1.ImageIndex) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		if _, err := img.RawConfigFile(); err != nil {
			return err
		}
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// TestNewTagOfAnImageTheTargetHasWritesOnlyTheTag: the same content under
// a new tag (a release promoted from staging) moves no blob and no child
// manifest: one PUT per image, of the tag.
func TestNewTagOfAnImageTheTargetHasWritesOnlyTheTag(t *testing.T) {
	f := newFixture(t, "api", "writer")
	if _, err := f.copy(t); err != nil {
		t.Fatal(err)
	}
	for k := range f.images {
		f.images[k].Target = f.images[k].Target.Context().Tag("2024.11")
	}
	f.dst.reset()
	res, err := f.copy(t)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != Copied || r.Digest != f.digests[i].String() || r.CopiedBytes != 0 || r.CopiedBlobs != 0 || r.Manifests != 1 {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	if w := f.dst.writes(); w != len(f.images) {
		t.Errorf("%d writes to the target, want %d (the tags)", w, len(f.images))
	}
}

func TestCopySkipsBlobsTargetHas(t *testing.T) {
	f := newFixture(t, "api")
	// Put one of the image's layers in the target repository beforehand.
	idx, err := remote.Index(f.images[0].Source, f.src.auth())
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	pre := layers[0]
	if err := remote.WriteLayer(f.images[0].Target.Context(), pre, f.dst.auth()); err != nil {
		t.Fatal(err)
	}
	size, err := pre.Size()
	if err != nil {
		t.Fatal(err)
	}

	res, err := f.copy(t)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.Status != Copied || r.CopiedBlobs != r.Blobs-1 || r.SkippedBytes != size {
		t.Errorf("got %+v, want one blob (%d bytes) skipped", r, size)
	}
}

func TestInterruptedCopyLeavesTargetConsistentAndResumes(t *testing.T) {
	f := newFixture(t, "api")
	// Cut the network after three blob uploads have been committed.
	var committed atomic.Int32
	cut := func(req *http.Request) bool {
		if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/blobs/uploads/") {
			return committed.Add(1) > 3
		}
		return false
	}
	f.dst.fail.Store(&cut)
	res, err := f.copy(t, WithJobs(1), noRetry)
	var me *Error
	if !errors.As(err, &me) || me.Side != SideTarget || me.Image != "api" {
		t.Fatalf("err = %v, want a target-side error naming api", err)
	}
	if res[0].Status != Failed || !strings.Contains(res[0].Error, "api: target") {
		t.Errorf("result = %+v", res[0])
	}
	// The tag was never written: readers see nothing rather than a partial image.
	if _, err := remote.Head(f.images[0].Target, f.dst.auth()); err == nil {
		t.Error("target tag exists after an interrupted copy")
	}

	f.dst.fail.Store(nil)
	res, err = f.copy(t)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.Status != Copied || r.Digest != f.digests[0].String() {
		t.Fatalf("resume: %+v", r)
	}
	if r.CopiedBlobs != r.Blobs-3 {
		t.Errorf("resume copied %d of %d blobs, want the 3 already there skipped", r.CopiedBlobs, r.Blobs)
	}
}

func TestPlatformSubsetChangesDigest(t *testing.T) {
	f := newFixture(t, "api")
	res, err := f.copy(t, WithPlatforms([]v1.Platform{{OS: "linux", Architecture: "arm64"}}))
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if !r.Filtered || r.Digest == r.SourceDigest || len(r.Platforms) != 1 || r.Platforms[0] != "linux/arm64" {
		t.Fatalf("got %+v", r)
	}
	idx, err := remote.Index(f.images[0].Target, f.dst.auth())
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform.Architecture != "arm64" {
		t.Errorf("target index = %+v", im.Manifests)
	}
	if _, err := f.copy(t, WithPlatforms([]v1.Platform{{OS: "windows", Architecture: "amd64"}})); err == nil || !strings.Contains(err.Error(), "none of the requested platforms") {
		t.Errorf("absent platform: %v", err)
	}
}

// TestPlatformOfASinglePlatformImage: a single-platform image is copied as
// is when it is one of the requested platforms, and refused (source side)
// when it is not, rather than mirrored for a host that cannot run it.
func TestPlatformOfASinglePlatformImage(t *testing.T) {
	f := newFixture(t)
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := name.NewTag(f.src.host + "/currents/on-prem/writer:staging")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(src, img, f.src.auth()); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(f.dst.host + "/mirror/currents/writer:staging")
	if err != nil {
		t.Fatal(err)
	}
	f.images = []Image{{Name: "writer", Source: src, Target: dst}}

	res, err := f.copy(t, WithPlatforms([]v1.Platform{{OS: "linux", Architecture: "arm64"}}))
	var me *Error
	if err == nil || !errors.As(err, &me) || me.Side != SideSource || !strings.Contains(err.Error(), "built for linux/amd64 only") {
		t.Fatalf("arm64 from an amd64 image: %v", err)
	}
	if res[0].Status != Failed {
		t.Errorf("%+v", res[0])
	}
	res, err = f.copy(t, WithPlatforms([]v1.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}}))
	if err != nil || res[0].Digest != want.String() || res[0].Filtered {
		t.Errorf("amd64 kept: %v %+v", err, res[0])
	}
}

func TestSourceErrorsNameImageAndSide(t *testing.T) {
	f := newFixture(t, "api")
	missing, err := name.NewTag(f.src.host + "/currents/on-prem/api:never-pushed")
	if err != nil {
		t.Fatal(err)
	}
	f.images[0].Source = missing
	_, err = f.copy(t)
	var me *Error
	if !errors.As(err, &me) || me.Side != SideSource || me.Image != "api" || !strings.Contains(err.Error(), "never-pushed") {
		t.Fatalf("err = %v", err)
	}
	// Wrong target credentials: a target-side error, and no password in it.
	f = newFixture(t, "api")
	f.kc[f.dst.host] = authn.AuthConfig{Username: "AWS", Password: "wrong-password-value"}
	_, err = f.copy(t)
	if !errors.As(err, &me) || me.Side != SideTarget {
		t.Fatalf("err = %v", err)
	}
	for _, secret := range []string{"wrong-password-value", "source-secret-value", "target-secret-value"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks a password: %v", err)
		}
	}
}

// TestRedirectedBlobErrorHidesTheSignedURL: ECR answers a blob GET with a
// redirect to a presigned S3 URL whose query carries a session token and a
// signature. When that download fails, the error names the image and the
// side but not the token.
func TestRedirectedBlobErrorHidesTheSignedURL(t *testing.T) {
	f := newFixture(t, "api")
	const token = "FwoGZXIvYXdzEXAMPLESESSIONTOKENVALUE"
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hj, ok := w.(http.Hijacker); ok {
			c, _, _ := hj.Hijack()
			c.Close() // the download is cut
		}
	}))
	defer s3.Close()
	f.src.redirect = s3.URL + "/layer?X-Amz-Security-Token=" + token + "&X-Amz-Signature=abcdef0123"
	res, err := f.copy(t, noRetry)
	var me *Error
	if !errors.As(err, &me) || me.Side != SideSource || me.Op != "read blob" {
		t.Fatalf("err = %v", err)
	}
	for _, text := range []string{err.Error(), res[0].Error} {
		if strings.Contains(text, token) || strings.Contains(text, "abcdef0123") {
			t.Errorf("error leaks the presigned URL: %s", text)
		}
	}
}

func TestRepositoryCreatorOnlyWhenUnknown(t *testing.T) {
	f := newFixture(t, "api", "writer")
	var mu sync.Mutex
	var created []string
	creator := func(_ context.Context, repo name.Repository) error {
		mu.Lock()
		defer mu.Unlock()
		created = append(created, repo.RepositoryStr())
		if strings.HasSuffix(repo.RepositoryStr(), "writer") {
			return fmt.Errorf("missing permission ecr:CreateRepository")
		}
		return nil
	}
	res, err := f.copy(t, WithRepositoryCreator(creator))
	if err == nil || res[0].Status != Copied || res[1].Status != Failed || !strings.Contains(res[1].Error, "create repository") {
		t.Fatalf("err %v, results %+v", err, res)
	}
	if len(created) != 2 {
		t.Errorf("creator called for %v", created)
	}
	created = nil
	if _, err := f.copy(t, WithRepositoryCreator(func(context.Context, name.Repository) error { created = append(created, "x"); return nil })); err != nil {
		t.Fatal(err)
	}
	if len(created) != 1 {
		t.Errorf("second run: creator called %d times, want once (writer only)", len(created))
	}

	// A new tag in repositories that exist is not a missing repository:
	// the creator (DescribeRepositories on ECR, which a push-only role may
	// lack) is not asked.
	created = nil
	for k := range f.images {
		f.images[k].Target = f.images[k].Target.Context().Tag("v2")
	}
	if _, err := f.copy(t, WithRepositoryCreator(func(_ context.Context, r name.Repository) error {
		created = append(created, r.RepositoryStr())
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if len(created) != 0 {
		t.Errorf("new tag in existing repositories: creator called for %v", created)
	}
}

// TestRetriedUploadCountsBytesOnce: the target drops the first upload after
// reading all of it; the pusher retries, and progress must not count the
// blob's bytes twice.
func TestRetriedUploadCountsBytesOnce(t *testing.T) {
	f := newFixture(t, "api")
	var dropped atomic.Bool
	drop := func(req *http.Request) bool {
		if req.Method != http.MethodPatch || !dropped.CompareAndSwap(false, true) {
			return false
		}
		_, _ = io.Copy(io.Discard, req.Body) // the whole blob went out
		return true
	}
	f.dst.fail.Store(&drop)
	rec := newRecorder()
	fastRetry := func(o *options) {
		o.remote = append(o.remote, remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 3}))
	}
	res, err := f.copy(t, WithObserver(rec), WithJobs(1), fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	if !dropped.Load() {
		t.Fatal("no upload was dropped; nothing was tested")
	}
	if got, want := rec.streamed[0], res[0].CopiedBytes; got != want || want == 0 {
		t.Errorf("progress streamed %d bytes, copied %d", got, want)
	}
}

// noRetry keeps a cut network from costing the retry backoff in tests.
var noRetry Option = func(o *options) { o.remote = append(o.remote, remote.WithRetryBackoff(remote.Backoff{Steps: 1})) }

// cancelAfterFirstBlob cancels the copy as soon as one blob has landed, as
// Ctrl-C or a kill would.
type cancelAfterFirstBlob struct {
	nopObserver
	once   sync.Once
	cancel context.CancelFunc
}

func (c *cancelAfterFirstBlob) Blob(int, int64, bool) { c.once.Do(c.cancel) }

func TestCancelledCopyWritesNoTagAndResumes(t *testing.T) {
	// One image: no blob is shared with another, so every skip on resume
	// is a blob the cancelled run left behind.
	f := newFixture(t, "api")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Copy(ctx, f.images, WithKeychain(f.kc), WithJobs(1), WithObserver(&cancelAfterFirstBlob{cancel: cancel}), noRetry)
	if err == nil {
		t.Fatal("cancelled copy reported success")
	}
	for _, im := range f.images {
		if _, err := remote.Head(im.Target, f.dst.auth()); err == nil {
			t.Errorf("%s: tag written by a cancelled copy", im.Name)
		}
	}
	res, err := f.copy(t)
	if err != nil {
		t.Fatal(err)
	}
	skipped := 0
	for i, r := range res {
		if r.Status != Copied || r.Digest != f.digests[i].String() {
			t.Errorf("resume %s: %+v", r.Name, r)
		}
		skipped += r.Blobs - r.CopiedBlobs
	}
	if skipped == 0 {
		t.Error("resume copied everything again")
	}
}

func TestPlatformsCoveringTheWholeIndexKeepTheDigest(t *testing.T) {
	f := newFixture(t, "api")
	res, err := f.copy(t, WithPlatforms([]v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}))
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Filtered || r.Digest != f.digests[0].String() {
		t.Errorf("%+v", r)
	}
}
