package standin_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

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
	dir := t.TempDir()
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
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	ready := false
	for i := 0; i < 200 && !ready; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
		if !ready {
			time.Sleep(25 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatal("docker-registry did not come up")
	}

	s, _ := newAWS(t)
	reg := standin.NewRegistry(s, standin.WithUpstream("http://"+addr))
	t.Cleanup(reg.Close)
	img, err := random.Image(8192, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(reg.Host() + "/currents/on-prem/scheduler:staging")
	user, pass, _ := s.MintToken("arn:aws:iam::513558712013:root", time.Minute)
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push through the front to distribution: %v", err)
	}
	got, err := remote.Image(ref, auth)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled %s, pushed %s", d, want)
	}
}
