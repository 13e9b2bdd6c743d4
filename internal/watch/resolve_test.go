package watch

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/keychain"
)

// TestPrivateAddressIsResolvedOverHTTPS: docker speaks only HTTPS to a
// registry at a private (RFC 1918) address, so a plain-HTTP registry there
// is one it cannot pull a release from; go-containerregistry fell back to
// plain HTTP and the watch took the release for one it could deploy.
func TestPrivateAddressIsResolvedOverHTTPS(t *testing.T) {
	plain := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(plain.Close)
	local := strings.TrimPrefix(plain.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	loopback, err := name.ParseReference(local + "/vendor/api:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(loopback, img); err != nil {
		t.Fatal(err)
	}
	const private = "10.20.30.40:5000"
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == private {
			addr = local
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	kc := func() *keychain.Keychain { return keychain.New(configfile.New("/test/config.json")) }
	refs := []name.Reference{name.MustParseReference(private + "/vendor/api:1"), loopback}
	got := newResolver(base, kc, 2).resolve(context.Background(), refs)
	if r := got[refs[0].String()]; r.err == nil || !strings.Contains(r.err.Error(), "serves plain HTTP, not HTTPS") {
		t.Errorf("plain HTTP at a private address: %+v", r)
	}
	if r := got[refs[1].String()]; r.err != nil || r.digest == "" {
		t.Errorf("plain HTTP on loopback, as docker allows: %+v", r)
	}
}
