package standin_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/standin"
)

// TestDistributionUpstream runs the front before Debian's distribution
// registry, the e2e tier's pairing. It is skipped (visibly) where the
// docker-registry package is not installed.
func TestDistributionUpstream(t *testing.T) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry (Debian package docker-registry) not installed")
	}
	addr := startDistribution(t, bin, t.TempDir())
	s, _ := newAWS(t)
	reg := standin.NewRegistry(s, standin.WithUpstream("http://"+addr))
	t.Cleanup(reg.Close)
	pushAndPull(t, s, reg, "currents/on-prem/scheduler:staging", 8192, 3)
}

// startDistribution runs docker-registry on a free loopback port and returns
// its address once it answers /v2/. It waits for the answer or the process's
// end, not for a time: a loaded machine starts it slowly, and a port taken
// between choosing it and the registry's bind ends the process, which is
// then started again on another port.
func startDistribution(t *testing.T, bin, dir string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "serve", cfgPath)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { cancel(); <-exited })
		failsafe := time.After(2 * time.Minute) // a hung registry, not a slow one
		for {
			if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return addr
				}
			}
			select {
			case err := <-exited:
				exited <- err // for the cleanup
				if attempt < 3 && strings.Contains(stderr.String(), "address already in use") {
					t.Logf("docker-registry lost %s to another process; again on another port", addr)
					break
				}
				t.Fatalf("docker-registry ended before it answered: %v\n%s", err, stderr.String())
			case <-failsafe:
				t.Fatalf("docker-registry did not answer /v2/ within 2 minutes\n%s", stderr.String())
			case <-time.After(25 * time.Millisecond):
				continue
			}
			break
		}
	}
}
