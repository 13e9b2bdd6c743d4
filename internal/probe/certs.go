package probe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/currentsdev/currents/internal/insecure"
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
// the check can reach. Docker reads no certs.d for a registry it takes for
// insecure (a loopback one), whose certificate it does not verify
// (insecure.HTTPSOnly, over whatever this returns, knows that part).
func (p *Prober) transportFor(host string) (http.RoundTripper, error) {
	base, ok := p.transport.(*http.Transport)
	if !ok || p.certsDir == "" || insecure.Default(host) {
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
		who := failedHost(err, host)
		problem := fmt.Sprintf("%s's TLS certificate is not trusted: %v", who, unwrapTLS(err))
		if insecure.Default(host) {
			// Only a loopback registry itself goes unverified (its token
			// server elsewhere does not), and no certs.d is read for it.
			return problem, fmt.Sprintf("add the CA that signed it to this machine's trusted certificates (docker reads no certs.d for %s, a loopback registry)", host), true
		}
		dir := filepath.Join(orDefault(p.certsDir, DefaultCertsDir), host)
		return problem, fmt.Sprintf("put the CA that signed it in %s/ca.crt, where docker (and this check) read a registry's private CA", dir), true
	case insecure.PlainHTTP(err) && !insecure.Default(host):
		// A loopback registry may speak plain HTTP: its https attempt's error
		// is beside the point when the http one failed too.
		return fmt.Sprintf("%s serves plain HTTP, not HTTPS", host), insecure.PlainHTTPFix(host), true
	}
	return "", "", false
}

// failedHost is the host err's request went to (a token server, say), or
// host when err does not say.
func failedHost(err error, host string) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if u, perr := url.Parse(uerr.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	return host
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
