package probe

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/keychain"
)

// A registry with a private CA is reached, as dockerd reaches it, once its
// CA is in certs.d/<host>/; before that the check says where to put it.
func TestPrivateCAFromCertsDir(t *testing.T) {
	// A name, not 127.0.0.1: docker verifies no loopback registry's
	// certificate. The test server's client dials it for example.com names.
	srv, ref := tlsRegistryWithImage(t, func(string) string { return tlsHost })
	host := tlsHost
	certs := t.TempDir()
	check := func() Result {
		base := http.DefaultTransport.(*http.Transport).Clone()
		base.DialContext = srv.Client().Transport.(*http.Transport).DialContext
		return New(keychain.New(configfile.New("/test/config.json")), WithCertsDir(certs), WithTransport(base)).Check(context.Background(), []Image{{ID: "app", Ref: ref}})[0]
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

// dialAllTo is a transport that reaches addr whatever host a request names:
// a registry at a private address, without one on this machine.
func dialAllTo(addr string, tlsConfig *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	t.TLSClientConfig = tlsConfig
	return t
}

// Docker treats only loopback registries as insecure by default: it speaks
// HTTPS to a registry at a private (RFC 1918) address, which
// go-containerregistry would reach over plain HTTP. A plain-HTTP registry
// there is not pullable (docker says "server gave HTTP response to HTTPS
// client"), and an HTTPS one is, also as an ECR alias, whose first request
// carries its credentials.
func TestPrivateAddressIsHTTPSAsDockerSpeaksIt(t *testing.T) {
	plain := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(secure.Close)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*httptest.Server{plain, secure} {
		ref, err := name.ParseReference(strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")+"/vendor/app:1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithTransport(srv.Client().Transport)); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := name.ParseReference("10.20.30.40:5000/vendor/app:1")
	if err != nil {
		t.Fatal(err)
	}
	check := func(srv *httptest.Server, opts ...Option) Result {
		var tc *tls.Config
		if srv.TLS != nil {
			tc = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			tc.ServerName = "127.0.0.1" // the name its certificate has
		}
		opts = append(opts, WithTransport(dialAllTo(srv.Listener.Addr().String(), tc)), WithCertsDir(""))
		return New(keychain.New(configfile.New("/test/config.json")), opts...).Check(context.Background(), []Image{{ID: "app", Ref: ref}})[0]
	}
	if r := check(plain); r.Pullable() || !strings.Contains(r.Message, "serves plain HTTP, not HTTPS") || !strings.Contains(r.Fix, "insecure-registries") {
		t.Errorf("plain HTTP at a private address: %s %q fix %q", r.Status, r.Message, r.Fix)
	}
	isECR := WithECR(func(string) bool { return true })
	if r := check(plain, isECR); r.Pullable() {
		t.Errorf("plain HTTP at a private address, as an ECR alias: %s %q", r.Status, r.Message)
	}
	if r := check(secure); !r.Pullable() {
		t.Errorf("HTTPS at a private address: %s %q fix %q", r.Status, r.Message, r.Fix)
	}
	if r := check(secure, isECR); !r.Pullable() {
		t.Errorf("HTTPS at a private address, as an ECR alias: %s %q fix %q", r.Status, r.Message, r.Fix)
	}
}

// Docker treats a loopback registry as insecure: over TLS it does not verify
// its certificate (moby's newTLSConfig, InsecureSkipVerify for an insecure
// index) and reads no certs.d for it. A registry on 127.0.0.1 with a
// certificate no one signed is pullable, so the check must not say "not
// trusted"; a certs.d entry for it, even a broken one, is not read.
func TestLoopbackTLSIsNotVerifiedAsDockerDoesNot(t *testing.T) {
	_, ref := tlsRegistryWithImage(t, func(addr string) string { return addr })
	host := ref.Context().RegistryStr()
	certs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(certs, host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, host, "client.cert"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := New(keychain.New(configfile.New("/test/config.json")), WithCertsDir(certs)).Check(context.Background(), []Image{{ID: "app", Ref: ref}})[0]
	if r.Status != OK || r.Digest == "" {
		t.Errorf("loopback registry over TLS with an unsigned certificate: %s %q fix %q", r.Status, r.Message, r.Fix)
	}
}

// A loopback registry may speak plain HTTP (docker takes it for insecure):
// when its /v2/ answers 503, go-containerregistry's ping fails over both
// schemes, and the https attempt's "HTTP response to HTTPS client" is not the
// problem to report.
func TestLoopbackPlainHTTPFailingPingIsNotTakenForPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/vendor/app:1")
	if err != nil {
		t.Fatal(err)
	}
	r := New(keychain.New(configfile.New("/test/config.json")), WithCertsDir("")).Check(context.Background(), []Image{{ID: "app", Ref: ref}})[0]
	if r.Pullable() || strings.Contains(r.Message, "plain HTTP") || strings.Contains(r.Fix, "insecure-registries") || !strings.Contains(r.Message, "503") {
		t.Errorf("%s %q fix %q", r.Status, r.Message, r.Fix)
	}
}

// tlsRegistryWithImage serves a registry over TLS, with a certificate no
// one signed, holding one image at host(its address)/vendor/app:1.
func tlsRegistryWithImage(t *testing.T, host func(addr string) string) (*httptest.Server, name.Reference) {
	t.Helper()
	srv := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(host(strings.TrimPrefix(srv.URL, "https://")) + "/vendor/app:1")
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
	return srv, ref
}

// Only the loopback registry itself is spoken to without verifying its
// certificate (insecure.HTTPSOnly, as mirror and watch speak to it): its
// token server elsewhere is verified before the credentials go to it. The
// probe verified nothing for a loopback registry, so a docker login's
// password went to whoever answered for the token server.
func TestLoopbackRegistrysTokenServerIsVerified(t *testing.T) {
	var tokenRequests atomic.Int32
	tokens := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tokenRequests.Add(1)
		io.WriteString(w, `{"token":"t"}`)
	}))
	t.Cleanup(tokens.Close)
	const realm = "auth.example.com"
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://`+realm+`/token",service="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	ref, err := name.ParseReference(host + "/vendor/app:1")
	if err != nil {
		t.Fatal(err)
	}

	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, realm+":") {
			addr = tokens.Listener.Addr().String()
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	cf := configfile.New("/test/config.json")
	cf.AuthConfigs = map[string]types.AuthConfig{host: {Username: "ops", Password: "hunter2"}}
	r := New(keychain.New(cf), WithCertsDir(""), WithTransport(base)).Check(context.Background(), []Image{{ID: "app", Ref: ref}})[0]
	if r.Pullable() || !strings.HasPrefix(r.Message, realm+"'s TLS certificate is not trusted") || !strings.Contains(r.Fix, "trusted certificates") {
		t.Errorf("a loopback registry whose token server has a certificate no one signed: %s %q fix %q", r.Status, r.Message, r.Fix)
	}
	if n := tokenRequests.Load(); n != 0 {
		t.Errorf("the token server with an unverified certificate was sent %d requests, credentials with them", n)
	}
}
