//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Each scenario starts from a known state of its own: counters reset, a cold helper cache, no images in the engine,
// the stack down. They run in file order, but none relies on another having run.

// fresh gives a scenario a cold helper cache and an engine without images or containers.
func fresh(t *testing.T) cmdOpt {
	t.Helper()
	composeDown(t)
	mustOK(t, docker(t, "image", "prune", "--all", "--force"))
	if r := docker(t, "image", "ls", "--quiet"); strings.TrimSpace(r.out) != "" {
		t.Fatalf("the engine still holds images after prune:\n%s", r)
	}
	resetCounts(t)
	return cacheDir(filepath.Join(scratchDir(t, "cache"), "currents"))
}

func composeDown(t *testing.T) {
	t.Helper()
	mustOK(t, run(t, "docker", []string{"compose", "down", "--remove-orphans", "--timeout", "3"}, inDir(stackDir)))
}

func TestDockerPullThroughAlias(t *testing.T) {
	cache := fresh(t)
	ref := repoRef(multiPlatform, tag)

	r := mustOK(t, run(t, "docker", []string{"pull", ref}, cache))
	noExpiredToken(t, r)
	helperQuiet(t, r)
	for _, want := range []string{"Digest: " + upstreamDigest(t, multiPlatform), "Downloaded newer image for " + ref} {
		if !strings.Contains(r.out, want) {
			t.Errorf("docker pull did not print %q:\n%s", want, r)
		}
	}
	wantCalls(t, 1, 1)
	wantFrontServed(t)
	// The engine chose this host's entry from the index, as it would from the vendor's multi-platform images.
	inspect := mustOK(t, docker(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{index .Config.Labels \"dev.currents.e2e.service\"}}", ref))
	if got, want := strings.TrimSpace(inspect.out), "linux/"+runtime.GOARCH+" "+multiPlatform; got != want {
		t.Errorf("pulled image is %q, want %q", got, want)
	}

	// A second pull is served from the helper's cache: no AWS call at all.
	r = mustOK(t, run(t, "docker", []string{"pull", ref}, cache))
	if !strings.Contains(r.out, "Image is up to date for "+ref) {
		t.Errorf("second docker pull did not report the image up to date:\n%s", r)
	}
	wantCalls(t, 1, 1)
}

func TestComposePullColdCache(t *testing.T) {
	cache := fresh(t)

	r := mustOK(t, run(t, "docker", []string{"compose", "pull"}, inDir(stackDir), cache))
	noExpiredToken(t, r)
	helperQuiet(t, r)
	for _, svc := range services {
		if !strings.Contains(r.out, svc+" Pulled") {
			t.Errorf("docker compose pull did not report %q:\n%s", svc+" Pulled", r)
		}
	}
	for _, svc := range services {
		mustOK(t, docker(t, "image", "inspect", "--format", "{{.Id}}", repoRef(svc, tag)))
	}
	// Compose pulls the six images in parallel, each asking the helper, on a cold cache: exactly one AssumeRole and
	// one GetAuthorizationToken in all.
	wantCalls(t, 1, 1)
	wantFrontServed(t)
}

func TestCheckThenUp(t *testing.T) {
	cache := fresh(t)
	t.Cleanup(func() { composeDown(t) })

	r := mustOK(t, run(t, "docker", []string{"currents", "check"}, inDir(stackDir), cache))
	wantCheck(t, r, "")
	wantCheckJSON(t, "", cache)
	if !strings.Contains(r.out, "DC_CURRENTS_IMAGE_REPOSITORY=\""+e.alias+"/currents/on-prem/\" from .env") {
		t.Errorf("docker currents check did not say the repository came from .env:\n%s", r)
	}
	// `up` pulls the six images (the engine has none) and compose waits for every healthcheck.
	r = mustOK(t, run(t, "docker", []string{"currents", "up", "-d", "--wait"}, inDir(stackDir), cache))
	noExpiredToken(t, r)
	helperQuiet(t, r)
	for _, svc := range services {
		addr := strings.TrimSpace(mustOK(t, run(t, "docker", []string{"compose", "port", svc, healthPort}, inDir(stackDir))).out)
		got, err := health(addr)
		if err != nil {
			t.Errorf("%s: %v", svc, err)
			continue
		}
		if got != svc {
			t.Errorf("%s's health endpoint at %s answered for %q", svc, addr, got)
		}
	}
	// The check and the pulls behind `up` share one role session and one token.
	wantCalls(t, 1, 1)
}

// health asks healthsvc at addr which service it is.
func health(addr string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	var body struct{ Service, Status string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	return body.Service, nil
}

// tokenLifetime is short enough that the scenario crosses several expiries in well under a minute, and long
// enough that one pull (about a second here) fits inside the quarter of it that the refresh policy keeps in hand.
const tokenLifetime = 8 * time.Second

func TestPullsAcrossTokenExpiry(t *testing.T) {
	cache := fresh(t)
	setTokenLifetime(t, tokenLifetime)
	ref := repoRef("writer", tag)

	// Keep pulling (a single image, and every fourth time the whole stack in parallel) for four lifetimes, and on
	// until the stand-in has issued several tokens, but never past ten lifetimes: a helper that never refreshes
	// must fail the counts below, not hang the tier.
	start := time.Now()
	pulls := 0
	for time.Since(start) < 4*tokenLifetime || (counts(t)[opGetToken] < 4 && time.Since(start) < 10*tokenLifetime) {
		mustOK(t, docker(t, "image", "prune", "--all", "--force"))
		var r result
		if pulls%4 == 3 {
			r = run(t, "docker", []string{"compose", "pull"}, inDir(stackDir), cache)
		} else {
			r = run(t, "docker", []string{"pull", ref}, cache)
		}
		noExpiredToken(t, r)
		mustOK(t, r)
		helperQuiet(t, r)
		pulls++
	}
	elapsed := time.Since(start)
	c := counts(t)
	t.Logf("%d pulls in %s with %s tokens: stand-in counts %v", pulls, elapsed.Round(time.Second), tokenLifetime, c)

	if c[opGetToken] < 4 {
		t.Errorf("GetAuthorizationToken was called %d times in %s of %s tokens: the tokens were never refreshed", c[opGetToken], elapsed, tokenLifetime)
	}
	// The policy (internal/credential.RefreshAt) decides how long a token serves before it is replaced, from the
	// issue and expiry times the helper recorded. The helper reads its clock before it asks ECR and the stand-in
	// mints the expiry after, on the same clock (a difference this small is below the skew the helper corrects
	// for), so the lifetime it records is at least the stand-in's, less the wire's millisecond resolution. Every
	// new token is fetched at or after its predecessor's RefreshAt, so n tokens need (n-1) such intervals.
	seen := tokenLifetime - time.Millisecond
	t0 := time.Unix(0, 0)
	minUse := credential.RefreshAt(t0, t0.Add(seen)).Sub(t0)
	if most := int(elapsed/minUse) + 1; c[opGetToken] > most {
		t.Errorf("GetAuthorizationToken was called %d times in %s: the policy allows at most %d (one per %s)", c[opGetToken], elapsed, most, minUse)
	}
	// The front accepted every request: no token reached it expired.
	wantFrontServed(t)
	// The role session (an hour) outlives every token: refreshing ECR needs no new AssumeRole.
	if c[opAssumeRole] != 1 {
		t.Errorf("AssumeRole was called %d times, want 1: the STS session is not being reused", c[opAssumeRole])
	}
}

func TestComposeShim(t *testing.T) {
	cache := fresh(t)
	cfg := filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")
	before, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	version := mustOK(t, docker(t, "compose", "version")).out

	mustOK(t, docker(t, "currents", "shim", "install"))
	t.Cleanup(func() {
		mustOK(t, docker(t, "currents", "shim", "uninstall"))
		after, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if string(after) != string(before) {
			t.Errorf("shim uninstall did not restore %s:\nbefore: %s\nafter:  %s", cfg, before, after)
		}
		if got := mustOK(t, docker(t, "compose", "version")).out; got != version {
			t.Errorf("docker compose version after uninstall = %q, want %q", got, version)
		}
	})
	mustOK(t, docker(t, "currents", "shim", "status"))

	wantCheck(t, mustOK(t, run(t, "docker", []string{"compose", "currents", "check"}, inDir(stackDir), cache)), "")
	wantCalls(t, 1, 1)
	// Everything else reaches the real compose untouched.
	if got := mustOK(t, docker(t, "compose", "version")).out; got != version {
		t.Errorf("docker compose version with the shim = %q, want %q", got, version)
	}
	mustOK(t, run(t, "docker", []string{"compose", "config", "--services"}, inDir(stackDir)))
	mustOK(t, docker(t, "info", "--format", "{{.ServerVersion}}"))
}

func TestMissingImageBlocksUp(t *testing.T) {
	cache := fresh(t)
	const gone = "scheduler"
	deleteFromUpstream(t, gone)
	t.Cleanup(func() {
		if err := pushService(gone, tag); err != nil {
			t.Errorf("restoring %s: %v", gone, err)
		}
	})

	r := run(t, "docker", []string{"currents", "check"}, inDir(stackDir), cache)
	if r.code != 1 {
		t.Errorf("docker currents check exited %d with %s missing, want 1:\n%s", r.code, gone, r)
	}
	wantCheck(t, r, gone)
	wantCheckJSON(t, gone, cache)

	r = run(t, "docker", []string{"currents", "up", "-d"}, inDir(stackDir), cache)
	if r.code == 0 {
		t.Errorf("docker currents up started the stack although %s is missing:\n%s", gone, r)
	}
	wantCheck(t, r, gone)
	if strings.Contains(r.out, "Pulling") || strings.Contains(r.out, "Started") {
		t.Errorf("docker currents up handed over to compose although the check failed:\n%s", r)
	}
	nothingStarted(t)
	// Two checks and a refused up, one role session and one token between them.
	wantCalls(t, 1, 1)

	// The same through plain `docker compose up`, for users who asked the shim to check before every up.
	mustOK(t, docker(t, "currents", "shim", "install", "--check-before-up"))
	t.Cleanup(func() { mustOK(t, docker(t, "currents", "shim", "uninstall")) })
	r = run(t, "docker", []string{"compose", "up", "-d"}, inDir(stackDir), cache)
	if r.code == 0 {
		t.Errorf("docker compose up through the shim started the stack although %s is missing:\n%s", gone, r)
	}
	if !strings.Contains(r.out, e.alias+"/currents/on-prem/"+gone) {
		t.Errorf("docker compose up through the shim did not name the missing image:\n%s", r)
	}
	nothingStarted(t)
}

// TestDeletedPlatformManifestIsNotPullable is the engine's own verdict on what an ECR lifecycle rule expiring
// untagged images does to a multi-platform image: the index stays, the manifest for this platform goes, and
// docker pull fails. The check must say so (manifest-missing), not ok. The image is one the engine has never
// pulled (a tag of its own, content of its own): an engine that had pulled it keeps the manifest in its content
// store and needs no registry for it.
func TestDeletedPlatformManifestIsNotPullable(t *testing.T) {
	cache := fresh(t)
	lifecycle := fmt.Sprintf("lifecycle-%d", time.Now().UnixNano())
	idx, err := seed.Index([]v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		func(p v1.Platform) (v1.Image, error) {
			return serviceImage(multiPlatform+" "+lifecycle, p.Architecture, binaries[p.Architecture])
		})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(repoRef(multiPlatform, lifecycle))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		t.Fatalf("push %s through the helper: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var child string
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
			child = m.Digest.String()
		}
	}
	upstream, err := name.NewDigest(strings.TrimPrefix(e.upstream, "http://") + "/currents/on-prem/" + multiPlatform + "@" + child)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(upstream); err != nil {
		t.Fatalf("DELETE %s: %v", upstream, err)
	}
	if _, err := remote.Head(upstream); err == nil {
		t.Fatalf("%s still resolves after the delete", upstream)
	}

	if r := run(t, "docker", []string{"pull", ref.String()}, cache); r.code == 0 {
		t.Fatalf("docker pull succeeded without the linux/%s manifest: the scenario proves nothing:\n%s", runtime.GOARCH, r)
	}
	dir := scratchDir(t, "lifecycle")
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  "+multiPlatform+":\n    image: "+ref.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "docker", []string{"currents", "check", "--format", "json"}, inDir(dir), cache)
	var rep struct {
		Services []struct{ Service, Status, PlatformDigest string }
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("docker currents check --format json: %v\n%s", err, r)
	}
	if r.code != 1 || len(rep.Services) != 1 || rep.Services[0].Status != "manifest-missing" || rep.Services[0].PlatformDigest != child {
		t.Errorf("docker currents check exited %d with %+v; want 1, %s manifest-missing at %s:\n%s", r.code, rep.Services, multiPlatform, child, r)
	}
}

// nothingStarted asserts that a refused up left the engine as it found it: no container, no image.
func nothingStarted(t *testing.T) {
	t.Helper()
	ps := mustOK(t, run(t, "docker", []string{"ps", "--all", "--quiet"}))
	if strings.TrimSpace(ps.out) != "" {
		t.Errorf("containers exist after a refused up:\n%s", ps)
	}
	imgs := mustOK(t, docker(t, "image", "ls", "--quiet"))
	if strings.TrimSpace(imgs.out) != "" {
		t.Errorf("a refused up still pulled images:\n%s", imgs)
	}
}

// wantCheck asserts what docker currents check printed for people: a row per service with its status (ok, or
// not-found for the missing one, which is also explained below the table) and the verdict. The table's layout is
// for people and may change; the exact images and digests are asserted on the JSON (wantCheckJSON).
func wantCheck(t *testing.T, r result, missing string) {
	t.Helper()
	for _, svc := range services {
		want := "ok"
		if svc == missing {
			want = "not-found"
		}
		if !hasRow(r.out, svc, want) {
			t.Errorf("no row for %s with status %s:\n%s", svc, want, r)
		}
	}
	verdict := "every image is pullable"
	if missing != "" {
		verdict = "not pullable"
		if !explained(r.out, missing) {
			t.Errorf("the missing %s is not explained below the table:\n%s", missing, r)
		}
	}
	if !strings.Contains(r.out, verdict) {
		t.Errorf("docker currents check did not conclude %q:\n%s", verdict, r)
	}
}

// hasRow reports whether a table line starts with the service and shows the status as a column of its own.
func hasRow(out, service, status string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == service && slices.Contains(f[1:], status) {
			return true
		}
	}
	return false
}

// wantCheckJSON runs docker currents check --format json and asserts, service by service, the image the .env
// resolves, its status and pullability, and the digest the registry itself holds.
func wantCheckJSON(t *testing.T, missing string, opts ...cmdOpt) {
	t.Helper()
	r := run(t, "docker", []string{"currents", "check", "--format", "json"}, append([]cmdOpt{inDir(stackDir)}, opts...)...)
	wantCode := 0
	if missing != "" {
		wantCode = 1
	}
	if r.code != wantCode {
		t.Errorf("docker currents check --format json exited %d, want %d:\n%s", r.code, wantCode, r)
	}
	var rep struct {
		SchemaVersion int
		Pullable      bool
		Services      []struct {
			Service, Image, Status, Digest, Platform string
			Pullable                                 bool
		}
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("docker currents check --format json: %v\n%s", err, r)
	}
	if rep.SchemaVersion != 1 || rep.Pullable != (missing == "") || len(rep.Services) != len(services) {
		t.Errorf("report: schemaVersion %d, pullable %v, %d services; want 1, %v, %d", rep.SchemaVersion, rep.Pullable, len(rep.Services), missing == "", len(services))
	}
	for _, row := range rep.Services {
		switch {
		case row.Image != repoRef(row.Service, tag):
			t.Errorf("%s: image %s, want %s", row.Service, row.Image, repoRef(row.Service, tag))
		case row.Service == missing:
			if row.Status != "not-found" || row.Pullable {
				t.Errorf("%s: status %s pullable %v, want not-found and not pullable", row.Service, row.Status, row.Pullable)
			}
		case row.Status != "ok" || !row.Pullable:
			t.Errorf("%s: status %s pullable %v, want ok", row.Service, row.Status, row.Pullable)
		case row.Digest != upstreamDigest(t, row.Service):
			t.Errorf("%s: digest %s, but the registry holds %s", row.Service, row.Digest, upstreamDigest(t, row.Service))
		case row.Service == multiPlatform && row.Platform != "linux/"+runtime.GOARCH:
			t.Errorf("%s: checked platform %q, want linux/%s from the index", row.Service, row.Platform, runtime.GOARCH)
		}
	}
}

// explained reports whether, below the table, a line starting "service: " says what is wrong with it.
func explained(out, service string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, service+": ") {
			return true
		}
	}
	return false
}

// upstreamDigest is the digest the distribution registry itself holds for a service's tag.
func upstreamDigest(t *testing.T, service string) string {
	t.Helper()
	desc, err := remote.Head(upstreamRef(t, service))
	if err != nil {
		t.Fatalf("HEAD %s: %v", upstreamRef(t, service), err)
	}
	return desc.Digest.String()
}

func upstreamRef(t *testing.T, service string) name.Tag {
	t.Helper()
	ref, err := name.NewTag(strings.TrimPrefix(e.upstream, "http://") + "/currents/on-prem/" + service + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// deleteFromUpstream removes a service's manifest from the distribution registry itself, as a vendor deleting a
// tag from ECR would.
func deleteFromUpstream(t *testing.T, service string) {
	t.Helper()
	ref := upstreamRef(t, service)
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	if err := remote.Delete(ref.Context().Digest(desc.Digest.String())); err != nil {
		t.Fatalf("DELETE %s@%s: %v", ref, desc.Digest, err)
	}
	if _, err := remote.Head(ref); err == nil {
		t.Fatalf("%s still resolves after the delete", ref)
	}
}

func TestRoleRefused(t *testing.T) {
	cache := fresh(t)
	refuseRole(t)
	ref := repoRef("director", tag)

	// docker pull: the CLI drops a credential helper's error (cli/command.ResolveAuthConfig discards it, in 28.x
	// and 29.x alike) and lets the daemon try anonymously, whose "no basic auth credentials" we cannot suppress.
	// What reaches the user is the helper's stderr, so our message must be there, and first.
	r := run(t, "docker", []string{"pull", ref}, cache)
	if r.code == 0 {
		t.Fatalf("docker pull succeeded although the stand-in refuses the role:\n%s", r)
	}
	wantRefusal(t, r)
	if ours, theirs := strings.Index(r.out, e.role), strings.Index(r.out, "no basic auth credentials"); theirs >= 0 && theirs < ours {
		t.Errorf("docker showed \"no basic auth credentials\" before our explanation:\n%s", r)
	}

	// docker compose pull passes the helper's error on as its own: nothing about basic auth at all.
	r = run(t, "docker", []string{"compose", "pull"}, inDir(stackDir), cache)
	if r.code == 0 {
		t.Fatalf("docker compose pull succeeded although the stand-in refuses the role:\n%s", r)
	}
	wantRefusal(t, r)
	if strings.Contains(r.out, "no basic auth credentials") {
		t.Errorf("docker compose pull fell back to an anonymous pull:\n%s", r)
	}

	a := attempts(t)
	t.Logf("stand-in attempts with the role refused: %v", a)
	if a[opAssumeRole] < 1 || a[opGetToken] != 0 {
		t.Errorf("stand-in received AssumeRole=%d GetAuthorizationToken=%d, want at least 1 refused AssumeRole and no token request", a[opAssumeRole], a[opGetToken])
	}
	if f := front(t); f["Authorized"] != 0 {
		t.Errorf("the registry front authorized %d requests while the role was refused: %v", f["Authorized"], f)
	}
}

// wantRefusal asserts that docker's output carries our actionable message: the registry, the role, what AWS said.
func wantRefusal(t *testing.T, r result) {
	t.Helper()
	for _, want := range []string{e.alias, e.role, "AccessDenied"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("what docker printed does not name %q:\n%s", want, r)
		}
	}
}

func TestDoctor(t *testing.T) {
	cache := fresh(t)
	checks := []string{"helper-on-path", "docker-config", "currents-yaml", "source-credentials", "assume-role", "ecr-token", "registry", "cache-dir"}

	// Against the real engine's registry, through the front, every check passes.
	r := mustOK(t, run(t, "docker-credential-currents", []string{"doctor", "--registry", e.alias}, cache))
	for _, c := range checks {
		if !doctorSays(r.out, "PASS", c) {
			t.Errorf("doctor did not pass %s:\n%s", c, r)
		}
	}
	// Doctor really asked AWS (it proves the role and the token, not the cache), once each.
	wantCalls(t, 1, 1)

	// With the role refused, doctor fails at assume-role and says which role.
	refuseRole(t)
	r = run(t, "docker-credential-currents", []string{"doctor", "--registry", e.alias}, cache)
	if r.code != 1 {
		t.Errorf("doctor exited %d with the role refused, want 1:\n%s", r.code, r)
	}
	if !doctorSays(r.out, "FAIL", "assume-role") || !strings.Contains(r.out, e.role) {
		t.Errorf("doctor did not fail assume-role naming %s:\n%s", e.role, r)
	}
}

// doctorSays reports whether doctor's text output has a line "STATUS  check ...".
func doctorSays(out, status, check string) bool {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == status && f[1] == check {
			return true
		}
	}
	return false
}

// A stray `docker login` (the seed's cron job, or habit) must not break the helper: docker hands the credentials to
// our helper's store, which keeps nothing, and config.json gains no static token. `docker logout` runs erase, which
// drops the cached token: the next pull fetches a new one inside the same role session.
func TestStrayDockerLoginAndLogout(t *testing.T) {
	cache := fresh(t)
	cfg := filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")

	user, secret := helperGet(t, cache)
	r := mustOK(t, run(t, "docker", []string{"login", e.alias, "--username", user, "--password-stdin"}, cache, withStdin(secret)))
	if !strings.Contains(r.out, "Login Succeeded") {
		t.Errorf("docker login did not succeed:\n%s", r)
	}
	// docker records that the host has a login (an empty auths entry) and hands the secret to the helper's store.
	after, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Auths       map[string]map[string]any
		CredHelpers map[string]string
	}
	if err := json.Unmarshal(after, &conf); err != nil {
		t.Fatalf("%s: %v", cfg, err)
	}
	if len(conf.Auths[e.alias]) != 0 || strings.Contains(string(after), secret) {
		t.Errorf("docker login left a static token in %s (exactly what the helper replaces): auths[%q] has %d keys", cfg, e.alias, len(conf.Auths[e.alias]))
	}
	if conf.CredHelpers[e.alias] != "currents" {
		t.Errorf("docker login dropped credHelpers[%q] from %s", e.alias, cfg)
	}
	mustOK(t, run(t, "docker", []string{"pull", repoRef("webhooks", tag)}, cache))
	wantCalls(t, 1, 1)

	mustOK(t, run(t, "docker", []string{"logout", e.alias}, cache))
	mustOK(t, docker(t, "image", "prune", "--all", "--force"))
	mustOK(t, run(t, "docker", []string{"pull", repoRef("webhooks", tag)}, cache))
	wantCalls(t, 1, 2)
}

// helperGet asks our helper for the alias's credentials, as docker would, without recording the answer anywhere.
func helperGet(t *testing.T, cache cmdOpt) (user, secret string) {
	t.Helper()
	c := exec.Command("docker-credential-currents", "get")
	c.Env = os.Environ()
	cache(c)
	c.Stdin = strings.NewReader(e.alias)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	// The transcript gets the helper's stderr (its logs, never a secret) but not its answer.
	code := -1
	if c.ProcessState != nil {
		code = c.ProcessState.ExitCode()
	}
	record(t, result{cmd: "docker-credential-currents get (answer withheld)", out: stderr.String(), code: code})
	if err != nil {
		t.Fatalf("docker-credential-currents get %s: %v", e.alias, err)
	}
	var creds struct{ Username, Secret string }
	if err := json.Unmarshal(out, &creds); err != nil || creds.Username == "" || creds.Secret == "" {
		t.Fatalf("docker-credential-currents get %s answered no credentials (%v)", e.alias, err)
	}
	return creds.Username, creds.Secret
}

// The seeds' advice, done by the product: mirror the stack from the vendor's ECR (here the front, through the
// helper) into the customer's own registry (here the plain distribution registry, no auth), rewrite .env, and
// pull on the real engine from the mirror alone.
func TestMirrorThenPullFromMirror(t *testing.T) {
	cache := fresh(t)
	dir := scratchDir(t, "mirror-stack")
	for _, f := range []string{"compose.yaml", "compose.override.yaml", ".env"} {
		b, err := os.ReadFile(filepath.Join(stackDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mirrorHost := strings.TrimPrefix(e.upstream, "http://")
	prefix := mirrorHost + "/mirror/"

	mustOK(t, run(t, "docker", []string{"currents", "mirror", "--to", prefix, "--write-env"}, inDir(dir), cache))
	wantCalls(t, 1, 1)

	images := strings.Fields(mustOK(t, run(t, "docker", []string{"compose", "config", "--images"}, inDir(dir))).out)
	if len(images) != len(services) {
		t.Fatalf("the mirrored stack resolves %d images, want %d: %v", len(images), len(services), images)
	}
	for _, img := range images {
		if !strings.HasPrefix(img, prefix) || !strings.HasSuffix(img, ":"+tag) {
			t.Errorf(".env now resolves %s, not an image under %s with tag %s", img, prefix, tag)
			continue
		}
		// Registry to registry, index and all: the mirror holds the very digest the vendor's registry does.
		ref, err := name.NewTag(img)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(ref)
		if err != nil {
			t.Errorf("HEAD %s: %v", img, err)
			continue
		}
		svc := strings.TrimSuffix(img[strings.LastIndex(img, "/")+1:], ":"+tag)
		if want := upstreamDigest(t, svc); desc.Digest.String() != want {
			t.Errorf("%s: the mirror holds %s, the vendor's registry %s", img, desc.Digest, want)
		}
	}

	// The engine pulls the whole stack from the mirror: no AWS call, not one request to the ECR front.
	resetCounts(t)
	r := mustOK(t, run(t, "docker", []string{"compose", "pull"}, inDir(dir), cache))
	for _, svc := range services {
		if !strings.Contains(r.out, svc+" Pulled") {
			t.Errorf("docker compose pull from the mirror did not report %q:\n%s", svc+" Pulled", r)
		}
	}
	wantCalls(t, 0, 0)
	if f := front(t); f["Requests"] != 0 {
		t.Errorf("pulling from the mirror still sent %d requests to the ECR front: %v", f["Requests"], f)
	}
}
