package insecure

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/currentsdev/currents/internal/fix"
)

func TestDefault(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost:5000": true, "registry.localhost": true, "127.0.0.1:5000": true, "127.1.2.3": true, "[::1]:5000": true,
		"10.20.30.40:5000": false, "192.168.1.2": false, "172.16.0.1:443": false, "registry.example.com": false,
		"513558712013.dkr.ecr.us-east-1.amazonaws.com": false, "localhost.example.com": false,
	} {
		if got := Default(host); got != want {
			t.Errorf("Default(%q) = %v, want %v", host, got, want)
		}
	}
}

// dialTo reaches addr whatever host a request names.
func dialTo(addr string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return t
}

// A plain-HTTP server named as a registry at a private address is asked
// over HTTPS, and its answer is said to be plain HTTP, with the fix; the
// same server named as a loopback registry is asked over plain HTTP.
func TestHTTPSOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	rt := HTTPSOnly(dialTo(addr), "10.20.30.40:5000", addr)

	req, _ := http.NewRequest(http.MethodGet, "http://10.20.30.40:5000/v2/", nil)
	_, err := rt.RoundTrip(req)
	problem, fx := "", ""
	if err != nil {
		problem, fx = fix.Split(err)
	}
	if !strings.Contains(problem, "10.20.30.40:5000 serves plain HTTP, not HTTPS") || !strings.Contains(fx, `"10.20.30.40:5000" in insecure-registries`) {
		t.Errorf("plain HTTP at a private address: %v (problem %q, fix %q)", err, problem, fx)
	}

	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("loopback over plain HTTP: %v", err)
	}
	resp.Body.Close()
}

// TestTransportOfOneBaseInParallel: the watch resolves registries in
// parallel, each making its transport from one shared base. Transport must
// read the base only through its Clone (run with -race: it raced before).
func TestTransportOfOneBaseInParallel(t *testing.T) {
	for _, base := range []*http.Transport{{}, {TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, ServerName: "kept"}}} {
		own := base.TLSClientConfig // nil for the first: its Clone gives it one (HTTP/2's protocols)
		var wg sync.WaitGroup
		got := make([]http.RoundTripper, 8)
		for i := range got {
			wg.Go(func() { got[i] = Transport(base) })
		}
		wg.Wait()
		for _, rt := range got {
			cfg := rt.(*http.Transport).TLSClientConfig
			if !cfg.InsecureSkipVerify || cfg == base.TLSClientConfig || base.TLSClientConfig.InsecureSkipVerify {
				t.Fatalf("transport's TLS config %+v: want a copy of the base's, verifying no certificate (the base's still verifying)", cfg)
			}
			if own != nil && (cfg.ServerName != "kept" || cfg.MinVersion != tls.VersionTLS13) {
				t.Fatalf("the base's TLS settings were not kept, or the base's were changed: %+v", cfg)
			}
		}
	}
}
