//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/envfile"
)

// stackDir is the tier's copy of testdata/stack, whose .env points the repository at the alias host.
var (
	stackDir string
	tag      string
)

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

func setup(m *testing.M) int {
	var err error
	if e, err = loadEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if stackDir, tag, err = prepareStack(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: preparing the stack:", err)
		return 1
	}
	// Pushing goes through the helper too, but with a cache of its own, so that every scenario still starts cold.
	os.Setenv("CURRENTS_CACHE_DIR", filepath.Join(e.tmp, "cache-push"))
	start := time.Now()
	if err := pushImages(tag); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building and pushing the images:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built and pushed %d images through the helper in %s\n", len(services), time.Since(start).Round(100*time.Millisecond))
	// The pushes must have been authorized by tokens the helper fetched, once, and not by anything else.
	if err := checkPushAuth(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: pushing the images:", err)
		return 1
	}
	os.Unsetenv("CURRENTS_CACHE_DIR")
	return m.Run()
}

func checkPushAuth() error {
	c, err := getStandin("counts")
	if err != nil {
		return err
	}
	f, err := getStandin("registry")
	if err != nil {
		return err
	}
	if c[opAssumeRole] != 1 || c[opGetToken] != 1 || f["Uploads"] == 0 || f["Authorized"] == 0 {
		return fmt.Errorf("want 1 AssumeRole, 1 GetAuthorizationToken and authorized uploads; stand-in counted %v, front saw %v", c, f)
	}
	return nil
}

// prepareStack copies testdata/stack and changes one thing, as a customer pointing the stack at a mirror would: the
// repository line of .env now names the alias host. Everything else (the compose file, the tag, the .env mechanism)
// is the fixture's. compose.override.yaml, which compose loads by default, publishes each service's health port on
// loopback and gives it a healthcheck, since the vendor's ports belong to the vendor's binaries, not to healthsvc.
func prepareStack() (dir, tag string, err error) {
	src := filepath.Join(e.root, "testdata", "stack")
	dir = filepath.Join(e.tmp, "stack")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	for _, f := range []string{"compose.yaml", ".env"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return "", "", fmt.Errorf("the tier needs the seed's stack: %w", err)
		}
		if f == ".env" {
			vars, err := envfile.Parse(b)
			if err != nil {
				return "", "", fmt.Errorf("%s: %w", filepath.Join(src, f), err)
			}
			if tag = vars["DC_CURRENTS_IMAGE_TAG"]; tag == "" {
				return "", "", fmt.Errorf("%s sets no DC_CURRENTS_IMAGE_TAG", filepath.Join(src, f))
			}
			if b, _, err = envfile.Set(b, "DC_CURRENTS_IMAGE_REPOSITORY", e.alias+"/currents/on-prem/"); err != nil {
				return "", "", fmt.Errorf("%s: %w", filepath.Join(src, f), err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return "", "", err
		}
	}
	var o strings.Builder
	o.WriteString("# Written by the e2e tier: publish healthsvc on loopback and let compose wait for it.\nservices:\n")
	for _, svc := range services {
		fmt.Fprintf(&o, "  %s:\n    ports: !override [\"127.0.0.1::%s\"]\n", svc, healthPort)
		fmt.Fprintf(&o, "    healthcheck:\n      test: [\"CMD\", \"/healthsvc\", \"-probe\", \"http://127.0.0.1:%s/healthz\"]\n", healthPort)
		o.WriteString("      interval: 1s\n      timeout: 3s\n      retries: 30\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.override.yaml"), []byte(o.String()), 0o644); err != nil {
		return "", "", err
	}
	// The real compose is the judge of what the .env resolves to: every image must now sit on the alias host.
	cfg := exec.Command("docker", "compose", "config", "--images")
	cfg.Dir = dir
	out, err := cfg.CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("docker compose config --images: %v\n%s", err, out)
	}
	images := strings.Fields(string(out))
	if len(images) != len(services) {
		return "", "", fmt.Errorf("docker compose config --images gave %d images, want %d:\n%s", len(images), len(services), out)
	}
	for _, img := range images {
		if !strings.HasPrefix(img, e.alias+"/currents/on-prem/") || !strings.HasSuffix(img, ":"+tag) {
			return "", "", fmt.Errorf("the stack's .env resolved %s, not an image on %s with tag %s", img, e.alias, tag)
		}
	}
	return dir, tag, nil
}
