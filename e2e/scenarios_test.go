//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
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
	for _, want := range []string{"Digest: sha256:", "Downloaded newer image for " + ref} {
		if !strings.Contains(r.out, want) {
			t.Errorf("docker pull did not print %q:\n%s", want, r)
		}
	}
	wantCalls(t, 1, 1)
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
	for _, svc := range services {
		if !strings.Contains(r.out, svc+" Pulled") {
			t.Errorf("docker compose pull did not report %q:\n%s", svc+" Pulled", r)
		}
	}
	for _, svc := range services {
		mustOK(t, docker(t, "image", "inspect", "--format", "{{.Id}}", repoRef(svc, tag)))
	}
	// Six parallel pulls, six helper runs on a cold cache: exactly one AssumeRole and one GetAuthorizationToken.
	wantCalls(t, 1, 1)
}

func TestCheckThenUp(t *testing.T) {
	cache := fresh(t)
	t.Cleanup(func() { composeDown(t) })

	r := mustOK(t, run(t, "docker", []string{"currents", "check"}, inDir(stackDir), cache))
	for _, svc := range services {
		if !strings.Contains(r.out, repoRef(svc, tag)) {
			t.Errorf("docker currents check did not report %s:\n%s", repoRef(svc, tag), r)
		}
	}
	// `up` pulls the six images (the engine has none) and compose waits for every healthcheck.
	r = mustOK(t, run(t, "docker", []string{"currents", "up", "-d", "--wait"}, inDir(stackDir), cache))
	noExpiredToken(t, r)
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
		pulls++
	}
	elapsed := time.Since(start)
	c := counts(t)
	t.Logf("%d pulls in %s with %s tokens: stand-in counts %v", pulls, elapsed.Round(time.Second), tokenLifetime, c)

	if c[opGetToken] < 4 {
		t.Errorf("GetAuthorizationToken was called %d times in %s of %s tokens: the tokens were never refreshed", c[opGetToken], elapsed, tokenLifetime)
	}
	// internal/tokencache refreshes once a quarter of the lifetime is left, so each token serves at least 3/4 of
	// its lifetime. One second less absorbs the whole-second rounding of expiresAt.
	minUse := (tokenLifetime - time.Second) * 3 / 4
	if most := int(elapsed/minUse) + 1; c[opGetToken] > most {
		t.Errorf("GetAuthorizationToken was called %d times in %s: the policy allows at most %d (one per %s)", c[opGetToken], elapsed, most, minUse)
	}
	// The role session (an hour) outlives every token: refreshing ECR needs no new AssumeRole.
	if c[opAssumeRole] != 1 {
		t.Errorf("AssumeRole was called %d times, want 1: the STS session is not being reused", c[opAssumeRole])
	}
}

func TestComposeShim(t *testing.T) {
	fresh(t)
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

	r := mustOK(t, run(t, "docker", []string{"compose", "currents", "check"}, inDir(stackDir)))
	for _, svc := range services {
		if !strings.Contains(r.out, repoRef(svc, tag)) {
			t.Errorf("docker compose currents check did not report %s:\n%s", repoRef(svc, tag), r)
		}
	}
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
	if !strings.Contains(r.out, repoRef(gone, tag)) {
		t.Errorf("docker currents check did not name the missing image %s:\n%s", repoRef(gone, tag), r)
	}

	r = run(t, "docker", []string{"currents", "up", "-d"}, inDir(stackDir), cache)
	if r.code == 0 {
		t.Errorf("docker currents up started the stack although %s is missing:\n%s", gone, r)
	}
	if !strings.Contains(r.out, gone) {
		t.Errorf("docker currents up did not say which service blocked it:\n%s", r)
	}
	ps := mustOK(t, run(t, "docker", []string{"ps", "--all", "--quiet"}))
	if strings.TrimSpace(ps.out) != "" {
		t.Errorf("containers exist after a refused up:\n%s", ps)
	}
	imgs := mustOK(t, docker(t, "image", "ls", "--quiet"))
	if strings.TrimSpace(imgs.out) != "" {
		t.Errorf("a refused up still pulled images:\n%s", imgs)
	}
}

// deleteFromUpstream removes a service's manifest from the distribution registry itself, as a vendor deleting a
// tag from ECR would.
func deleteFromUpstream(t *testing.T, service string) {
	t.Helper()
	host := strings.TrimPrefix(e.upstream, "http://")
	ref, err := name.NewTag(host + "/currents/on-prem/" + service + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
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

	r := run(t, "docker", []string{"pull", ref}, cache)
	if r.code == 0 {
		t.Fatalf("docker pull succeeded although the stand-in refuses the role:\n%s", r)
	}
	if strings.Contains(r.out, "no basic auth credentials") {
		t.Errorf("docker fell back to an anonymous pull instead of showing the helper's error:\n%s", r)
	}
	for _, want := range []string{e.alias, e.role} {
		if !strings.Contains(r.out, want) {
			t.Errorf("the error docker printed does not name %q:\n%s", want, r)
		}
	}
	if a := attempts(t); a[opAssumeRole] < 1 || a[opGetToken] != 0 {
		t.Errorf("stand-in received AssumeRole=%d GetAuthorizationToken=%d, want at least 1 refused AssumeRole and no token request", a[opAssumeRole], a[opGetToken])
	}
}
