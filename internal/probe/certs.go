package probe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// DefaultCertsDir is where the Docker engine looks for a registry's private
// CA and client certificates: <dir>/<host[:port]>/*.crt, *.cert + *.key.
const DefaultCertsDir = "/etc/docker/certs.d"

// WithCertsDir sets the certs.d directory read for registries' private CAs
// and client certificates ("" reads none).
func WithCertsDir(dir string) Option { return func(p *Prober) { p.certsDir = dir } }

// transportFor is the base transport for host: the shared one, or, when
// certs.d has a directory for host, a clone trusting its CAs (on top of the
// system's) and presenting its client certificates, as dockerd does
// (moby registry.loadTLSConfig), so a registry docker can pull from is one
// the check can reach.
func (p *Prober) transportFor(host string) (http.RoundTripper, error) {
	base, ok := p.transport.(*http.Transport)
	if ok && loopback(host) {
		return insecureTransport(base), nil
	}
	if !ok || p.certsDir == "" {
		return p.transport, nil
	}
	dir := filepath.Join(p.certsDir, host)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return p.transport, nil
	}
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base.TLSClientConfig != nil {
		cfg = base.TLSClientConfig.Clone()
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch filepath.Ext(name) {
		case ".crt":
			if cfg.RootCAs == nil {
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil {
					return nil, fmt.Errorf("system certificates: %w", err)
				}
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s holds no PEM certificate", path)
			}
		case ".cert":
			key := strings.TrimSuffix(path, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(path, key)
			if err != nil {
				return nil, fmt.Errorf("client certificate %s (key %s): %w", path, key, err)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		}
	}
	t := base.Clone()
	t.TLSClientConfig = cfg
	return t, nil
}

// insecureTransport is base for a registry docker takes for insecure, as a
// loopback one is by default: over TLS, docker verifies no certificate of it
// and reads no certs.d for it (moby's newTLSConfig), so neither does the
// check.
func insecureTransport(base *http.Transport) http.RoundTripper {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base.TLSClientConfig != nil {
		cfg = base.TLSClientConfig.Clone()
	}
	cfg.InsecureSkipVerify = true // as docker, for a loopback registry only
	t := base.Clone()
	t.TLSClientConfig = cfg
	return t
}

// tlsProblem explains a TLS failure the way docker users meet it: a private
// CA docker trusts through certs.d, or a plain-HTTP registry docker reaches
// only as an insecure registry.
func (p *Prober) tlsProblem(host string, err error) (string, string, bool) {
	var verr *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &verr) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci):
		dir := filepath.Join(orDefault(p.certsDir, DefaultCertsDir), host)
		return fmt.Sprintf("%s's TLS certificate is not trusted: %v", host, unwrapTLS(err)),
			fmt.Sprintf("put the CA that signed it in %s/ca.crt, where docker (and this check) read a registry's private CA", dir), true
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") && !loopback(host):
		// A loopback registry may speak plain HTTP: its https attempt's error
		// is beside the point when the http one failed too.
		return fmt.Sprintf("%s serves plain HTTP, not HTTPS", host),
			fmt.Sprintf("serve it over TLS, or list %q in insecure-registries of the engine's daemon.json and restart docker (this check then cannot vouch for it)", host), true
	}
	return "", "", false
}

func unwrapTLS(err error) error {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) && verr.Err != nil {
		return verr.Err
	}
	return err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// loopback reports whether docker treats host as an insecure registry by
// default (moby adds 127.0.0.0/8 and ::1 to the insecure CIDRs): the only
// hosts it may reach over plain HTTP without daemon.json saying so.
func loopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// httpsOnly sends every request for a registry docker speaks HTTPS to over
// HTTPS. go-containerregistry also takes private (RFC 1918) addresses for
// plain-HTTP registries, pinging https then http and asking them over http;
// docker does not, so a plain-HTTP registry there is one docker cannot pull
// from, and an HTTPS one must be asked over HTTPS. Other hosts (a token
// realm elsewhere) are asked as the registry names them, as docker asks.
type httpsOnly struct {
	host  string
	inner http.RoundTripper
}

func (t httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && req.URL.Host == t.host {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
	}
	return t.inner.RoundTrip(req)
}
