package mirror

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// ecrAliases is a currents.yaml making both test registries ECR aliases.
func (f *fixture) ecrAliases(t *testing.T) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("registries:\n")
	for _, r := range []*testRegistry{f.src, f.dst} {
		fmt.Fprintf(&b, "  - host: %s\n    account: \"513558712013\"\n    region: us-east-1\n", r.host)
	}
	cfg, err := config.Parse("/test/currents.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Between ECR registries (here aliases) a copy sends the credentials with
// the first request to each: no 401 ping on either side, where go-
// containerregistry pings each registry once per repository.
func TestECRCopyPingsNoRegistry(t *testing.T) {
	f := newFixture(t, "api", "director")
	f.dst.reset()
	res, err := f.copy(t, WithConfig(f.ecrAliases(t)))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != Copied || r.Digest != f.digests[i].String() {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	if n := f.src.counts["401"] + f.dst.counts["401"]; n != 0 {
		t.Errorf("%d pings answered 401 (source %d, target %d); want none", n, f.src.counts["401"], f.dst.counts["401"])
	}
	// Without the config the same copy pings: the test tells them apart.
	g := newFixture(t, "api")
	if _, err := g.copy(t); err != nil {
		t.Fatal(err)
	}
	if g.src.counts["401"] == 0 || g.dst.counts["401"] == 0 {
		t.Errorf("a copy between registries not known to be ECR did not ping (source %d, target %d)", g.src.counts["401"], g.dst.counts["401"])
	}
}

// digestSays rewrites (or, when to is "", drops) the digest a registry
// answers manifest PUTs with.
type digestSays struct {
	base http.RoundTripper
	to   string
}

func (d digestSays) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
		resp.Header.Del("Docker-Content-Digest")
		if d.to != "" {
			resp.Header.Set("Docker-Content-Digest", d.to)
		}
	}
	return resp, err
}

// The digest the registry answers the tag's PUT with is checked against the
// source's: a registry that kept another fails the copy; one that does not
// say is asked with a HEAD.
func TestTargetDigestIsVerified(t *testing.T) {
	f := newFixture(t, "api")
	other := "sha256:" + strings.Repeat("0", 64)
	res, err := f.copy(t, WithTransport(digestSays{http.DefaultTransport, other}))
	if err == nil || res[0].Status != Failed || !strings.Contains(res[0].Error, "differs from source digest") {
		t.Errorf("a target that kept another digest: %v %+v", err, res[0])
	}

	g := newFixture(t, "api")
	g.dst.reset()
	res, err = g.copy(t, WithTransport(digestSays{base: http.DefaultTransport}))
	if err != nil || res[0].Status != Copied {
		t.Fatalf("a target that does not say its digest: %v %+v", err, res[0])
	}
	heads := g.dst.counts["HEAD"]

	h := newFixture(t, "api")
	h.dst.reset()
	if _, err := h.copy(t); err != nil {
		t.Fatal(err)
	}
	if h.dst.counts["HEAD"] != heads-1 {
		t.Errorf("HEADs to the target: %d when it says the digest, %d when not; want one more when not", h.dst.counts["HEAD"], heads)
	}
}

// The docker CLI's credentials, through our keychain (which hands go-
// containerregistry the Basic header's encoded part, not a user and
// password), still go with the first request: no ping.
func TestECRCopyWithDockerCredentialsPingsNoRegistry(t *testing.T) {
	f := newFixture(t, "api")
	cf := configfile.New("/test/config.json")
	for host, a := range f.kc {
		cf.AuthConfigs[host] = types.AuthConfig{Username: a.Username, Password: a.Password}
	}
	f.dst.reset()
	res, err := Copy(context.Background(), f.images, WithKeychain(keychain.New(cf)), WithConfig(f.ecrAliases(t)))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != Copied {
		t.Errorf("%+v", res[0])
	}
	if n := f.src.counts["401"] + f.dst.counts["401"]; n != 0 {
		t.Errorf("%d pings answered 401 (source %d, target %d); want none", n, f.src.counts["401"], f.dst.counts["401"])
	}
}

// routeTo dials each "host:port" a request names at the address routes
// gives it (the rest as named), trusting tlsConfig's roots: registries at
// private addresses, served on loopback.
func routeTo(routes map[string]string, tlsConfig *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := routes[addr]; ok {
			addr = to
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	t.TLSClientConfig = tlsConfig
	return t
}

// Docker speaks HTTPS to a registry at a private (RFC 1918) address (only
// loopback ones are insecure by default), so a mirror pushed there over
// plain HTTP is one docker cannot pull from; go-containerregistry would
// push to it over plain HTTP. The copy says the registry serves plain HTTP,
// with the fix, and writes nothing there; a mirror there over HTTPS is
// copied as anywhere else.
func TestPrivateAddressMirrorIsHTTPSAsDockerPullsIt(t *testing.T) {
	f := newFixture(t, "api")
	sw := standintest.New(t, standintest.WithRegistry(), standintest.WithoutUser())
	user, pass, _ := sw.AWS.MintToken("arn:aws:iam::513558712013:user/ops", time.Hour)
	secure := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(secure.Close)
	tc := secure.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tc.ServerName = "127.0.0.1" // the name its certificate has
	const plainAt, secureAt = "10.20.30.40:5000", "10.20.30.41:5000"
	rt := routeTo(map[string]string{plainAt: sw.Registry.Host(), secureAt: strings.TrimPrefix(secure.URL, "https://")}, tc)
	f.kc[plainAt] = authn.AuthConfig{Username: user, Password: pass}

	to := func(host string) []Image {
		dst, err := name.NewTag(host + "/mirror/currents/api:staging")
		if err != nil {
			t.Fatal(err)
		}
		return []Image{{Name: "api", Source: f.images[0].Source, Target: dst}}
	}
	// As an ECR alias the credentials go with the first request, which
	// go-containerregistry sends over plain HTTP at once.
	alias, err := config.Parse("/test/currents.yaml", []byte(fmt.Sprintf("registries:\n  - host: %s\n    account: \"513558712013\"\n    region: us-east-1\n  - host: %s\n    account: \"513558712013\"\n    region: us-east-1\n", plainAt, f.src.host)))
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]Option{nil, {WithConfig(alias)}} {
		sw.Registry.Reset()
		res, err := Copy(context.Background(), to(plainAt), append([]Option{WithKeychain(f.kc), WithTransport(rt)}, opts...)...)
		problem, fx := "", ""
		if err != nil {
			problem, fx = fix.Split(err)
		}
		if err == nil || res[0].Status != Failed || !strings.Contains(problem, plainAt+" serves plain HTTP, not HTTPS") || !strings.Contains(fx, "insecure-registries") {
			t.Errorf("plain HTTP at a private address (%d options): %+v\nproblem %q\nfix %q", len(opts), res, problem, fx)
		}
		if st := sw.Registry.Requests(); st.Uploads != 0 || st.Requests != 0 {
			t.Errorf("the plain-HTTP registry was spoken to over HTTP (%d options): %+v", len(opts), st)
		}
	}

	res, err := Copy(context.Background(), to(secureAt), WithKeychain(f.kc), WithTransport(rt))
	if err != nil || res[0].Status != Copied || res[0].Digest != f.digests[0].String() {
		t.Errorf("HTTPS at a private address: %+v: %v", res, err)
	}
}

// TestLoopbackTLSMirrorIsNotVerified: docker verifies no certificate of a
// loopback registry, so a mirror there with a self-signed certificate is
// one docker pushes to and pulls from; mirror refused it (unknown
// authority) with the default transport.
func TestLoopbackTLSMirrorIsNotVerified(t *testing.T) {
	f := newFixture(t, "api")
	secure := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(secure.Close)
	dst, err := name.NewTag(strings.TrimPrefix(secure.URL, "https://") + "/mirror/currents/api:staging")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Copy(context.Background(), []Image{{Name: "api", Source: f.images[0].Source, Target: dst}}, WithKeychain(f.kc))
	if err != nil || res[0].Status != Copied || res[0].Digest != f.digests[0].String() {
		t.Errorf("a loopback mirror over TLS with a self-signed certificate: %+v: %v", res, err)
	}
}
