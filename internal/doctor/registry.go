package doctor

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/insecure"
	"github.com/currentsdev/currents/internal/secret"
)

func (r *run) checkRegistry() {
	if !r.haveTok {
		r.add(CheckRegistry, Skip, "not run: needs the ECR token from the checks above", "")
		return
	}
	// Docker treats only loopback registries as insecure by default; go-containerregistry would also pick
	// plain HTTP for RFC 1918 addresses, so the scheme is decided here, and HTTPSOnly below holds to it.
	var opts []name.Option
	if insecure.Default(r.host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(r.host, opts...)
	if err != nil {
		r.add(CheckRegistry, Fail, fmt.Sprintf("%q is not a registry host: %v", r.host, err), "write the host as in image references")
		return
	}
	scheme := "https"
	if insecure.Default(r.host) {
		scheme = reg.Scheme()
	}
	url := scheme + "://" + reg.RegistryStr() + "/v2/"
	base := r.d.transport
	if base == nil {
		base = http.DefaultTransport
	}
	// As docker pulls: HTTPS only, but for a loopback registry, whose
	// certificate nobody verifies.
	base = insecure.HTTPSOnly(base, r.host)
	ctx, cancel := r.timeout()
	defer cancel()
	secret := r.token.Password.Reveal()
	// The handshake answers the registry's challenge as docker does: Basic for private ECR, a Bearer token
	// fetched with the ECR credentials for ECR Public.
	auth := authn.FromConfig(authn.AuthConfig{Username: r.token.Username, Password: secret})
	rt, err := transport.NewWithContext(ctx, reg, auth, base, []string{reg.Scope(transport.PullScope)})
	var resp *http.Response
	if err == nil {
		var req *http.Request
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, url, nil); err == nil {
			resp, err = (&http.Client{Transport: rt}).Do(req)
		}
	}
	if err != nil {
		var terr *transport.Error
		var op *net.OpError
		switch {
		case errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden):
			r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s: the registry refused the token: %s", url, scrub(err.Error(), secret)), refusedFix(r.target))
		case insecure.PlainHTTP(err):
			// ggcr's error repeats the answer once per scheme it pinged, each with the fix.
			r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s: %s serves plain HTTP, not HTTPS", url, r.host), insecure.PlainHTTPFix(r.host))
		case errors.As(err, &op) && op.Op == "dial":
			r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s: %s", url, scrub(err.Error(), secret)),
				"nothing answers at "+r.host+": check the host and port, and that the registry (or its VPC endpoint) is up")
		default:
			r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s: %s", url, scrub(err.Error(), secret)),
				"check that the registry is reachable from this host (DNS, firewall, HTTPS_PROXY/NO_PROXY)")
		}
		return
	}
	defer resp.Body.Close()
	if resp.Request != nil {
		// The scheme the registry answered on: a loopback one is tried
		// over HTTPS first, as docker tries it.
		url = resp.Request.URL.Scheme + "://" + reg.RegistryStr() + "/v2/"
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		r.add(CheckRegistry, Pass, fmt.Sprintf("GET %s with the token: %s", url, resp.Status), "")
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s with the token: %s (the registry refused the token)", url, resp.Status), refusedFix(r.target))
	default:
		r.add(CheckRegistry, Fail, fmt.Sprintf("GET %s with the token: %s", url, resp.Status), "this does not look like an OCI registry: check the host")
	}
}

func refusedFix(t config.Target) string {
	return "the token is for account " + t.Registry.Account + " in " + t.Registry.Region +
		": check that the entry's account and region are the registry's, and that the role may call ecr:GetAuthorizationToken there"
}

// scrub removes a secret from text that may echo a request (a URL with credentials, a proxy error).
func scrub(s, value string) string {
	if value == "" {
		return s
	}
	return strings.ReplaceAll(s, value, secret.Mask)
}
