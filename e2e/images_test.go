//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/currentsdev/currents/internal/standin/seed"
)

// services are the six services of the vendor's stack, each an image of its own: the same list the stand-in's
// seeding and the demo use.
var services = seed.Services

// multiPlatform is the service whose image is an index (linux/amd64 + linux/arm64), as the vendor's are.
const multiPlatform = seed.MultiPlatformService

// healthPort is where healthsvc listens inside every container.
const healthPort = "8080"

// buildHealthsvc compiles e2e/healthsvc statically for one architecture.
func buildHealthsvc(arch, out string) error {
	c := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./e2e/healthsvc")
	c.Dir = e.root
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("go build healthsvc for %s: %v\n%s", arch, err, b)
	}
	return nil
}

// fileLayer is a layer holding one file. Headers carry no times, so the same content gives the same digest on every
// run and every machine.
func fileLayer(path string, data []byte, mode int64) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: path, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// serviceImage is a FROM scratch image: one layer with the healthsvc binary (shared by every service of that
// architecture, as base layers are in the vendor's images) and one small layer naming the service, so each image
// has content of its own.
func serviceImage(service, arch string, binary []byte) (v1.Image, error) {
	bin, err := fileLayer("healthsvc", binary, 0o755)
	if err != nil {
		return nil, err
	}
	own, err := fileLayer("etc/currents-service", []byte(service+"\n"), 0o644)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, bin, own)
	if err != nil {
		return nil, err
	}
	return seed.Configure(img, func(cf *v1.ConfigFile) {
		cf.OS, cf.Architecture = "linux", arch
		cf.Config.Entrypoint = []string{"/healthsvc"}
		cf.Config.Env = []string{"SERVICE=" + service, "HEALTH_ADDR=:" + healthPort}
		cf.Config.ExposedPorts = map[string]struct{}{healthPort + "/tcp": {}}
		cf.Config.Labels = map[string]string{"dev.currents.e2e.service": service}
	})
}

// binaries holds healthsvc compiled for this machine's architecture and the other one of the index.
var binaries = map[string][]byte{}

// pushImages builds the six images and pushes them to the alias host through the helper.
func pushImages(tag string) error {
	for _, arch := range []string{runtime.GOARCH, otherArch()} {
		out := filepath.Join(e.tmp, "healthsvc-"+arch)
		if err := buildHealthsvc(arch, out); err != nil {
			return err
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		binaries[arch] = b
	}
	t0 := time.Now()
	for _, svc := range services {
		if err := pushService(svc, tag); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: pushes took %s\n", time.Since(t0).Round(100*time.Millisecond))
	return nil
}

// pushService pushes one service's image through authn.DefaultKeychain, which reads DOCKER_CONFIG's credHelpers
// and so runs our credential helper exactly as docker push would.
func pushService(svc, tag string) error {
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	ref, err := name.NewTag(repoRef(svc, tag))
	if err != nil {
		return err
	}
	if svc != multiPlatform {
		img, err := serviceImage(svc, runtime.GOARCH, binaries[runtime.GOARCH])
		if err != nil {
			return err
		}
		if err := remote.Write(ref, img, auth); err != nil {
			return fmt.Errorf("push %s through the helper: %w", ref, err)
		}
		return nil
	}
	idx, err := seed.Index([]v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		func(p v1.Platform) (v1.Image, error) {
			return serviceImage(svc, p.Architecture, binaries[p.Architecture])
		})
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, idx, auth); err != nil {
		return fmt.Errorf("push index %s through the helper: %w", ref, err)
	}
	return nil
}

// otherArch is the second architecture of the multi-platform image: the one this machine is not.
func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}
