package probe

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/keychain"
)

// A registry with a private CA is reached, as dockerd reaches it, once its
// CA is in certs.d/<host>/; before that the check says where to put it.
func TestPrivateCAFromCertsDir(t *testing.T) {
	srv := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	ref, err := name.ParseReference(host + "/vendor/app:1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	check := func() Result {
		return New(keychain.New(configfile.New("/test/config.json")), WithCertsDir(certs)).Check(context.Background(), []Image{{ID: "app", Ref: ref}})[0]
	}

	r := check()
	wantFix := "put the CA that signed it in " + filepath.Join(certs, host, "ca.crt")
	if r.Status != Unreachable || !strings.HasPrefix(r.Message, host+"'s TLS certificate is not trusted") || !strings.HasPrefix(r.Fix, wantFix) {
		t.Errorf("untrusted: %s %q fix %q", r.Status, r.Message, r.Fix)
	}

	if err := os.MkdirAll(filepath.Join(certs, host), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(certs, host, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := check(); r.Status != OK || r.Digest == "" {
		t.Errorf("with certs.d: %s %q", r.Status, r.Message)
	}

	// A broken certs.d entry is named, not ignored.
	if err := os.WriteFile(filepath.Join(certs, host, "client.cert"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := check(); r.Status != Failed || !strings.Contains(r.Message, "client.cert") {
		t.Errorf("broken client certificate: %s %q", r.Status, r.Message)
	}
}

func TestPlainHTTPRegistry(t *testing.T) {
	p := New(keychain.New(nil))
	if _, _, ok := p.tlsProblem("r.example", errString("connection reset by peer")); ok {
		t.Error("a network error taken for TLS")
	}
	msg, fix, ok := p.tlsProblem("r.example", errString(`Get "https://r.example/v2/": http: server gave HTTP response to HTTPS client`))
	if !ok || msg != "r.example serves plain HTTP, not HTTPS" || !strings.Contains(fix, "insecure-registries") {
		t.Errorf("%v %q %q", ok, msg, fix)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
