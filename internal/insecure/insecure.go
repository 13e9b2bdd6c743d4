// Package insecure knows which registries docker reaches without HTTPS's
// guarantees when daemon.json says nothing: loopback ones only. The check
// and mirror both follow it, so that what they vouch for, or push, is what
// docker can pull.
package insecure

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/currentsdev/currents/internal/fix"
)

// Default reports whether docker treats host as an insecure registry by
// default (moby adds 127.0.0.0/8 and ::1 to the insecure CIDRs): the only
// hosts it may reach over plain HTTP, or over TLS without verifying the
// certificate, without daemon.json saying so.
func Default(host string) bool {
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

// HTTPSOnly sends every request for one of registries that docker speaks
// HTTPS to (all but Default ones) over HTTPS. go-containerregistry also
// takes private (RFC 1918) addresses for plain-HTTP registries: it pings
// https then http and then speaks http to them, or speaks http at once
// when credentials go with the first request. Docker does not, so a
// plain-HTTP registry there is one docker cannot pull from, and an HTTPS
// one must be asked over HTTPS. Other hosts (a token realm elsewhere, a
// blob store a registry redirects to) are asked as named, as docker asks
// them. A registry that answers HTTPS with plain HTTP gets an error that
// says so, with the fix.
//
// A loopback registry answering over TLS has its certificate verified by
// nobody, as docker verifies none (Transport), when inner is an
// *http.Transport to clone.
func HTTPSOnly(inner http.RoundTripper, registries ...string) http.RoundTripper {
	t := httpsOnly{inner: inner, loose: inner}
	if base, ok := inner.(*http.Transport); ok {
		t.loose = Transport(base)
	}
	for _, r := range registries {
		switch {
		case Default(r) && !slices.Contains(t.loopback, r):
			t.loopback = append(t.loopback, r)
		case !Default(r) && !slices.Contains(t.hosts, r):
			t.hosts = append(t.hosts, r)
		}
	}
	return t
}

type httpsOnly struct {
	inner, loose    http.RoundTripper
	hosts, loopback []string
}

func (t httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if slices.Contains(t.loopback, req.URL.Host) {
		return t.loose.RoundTrip(req)
	}
	if !slices.Contains(t.hosts, req.URL.Host) {
		return t.inner.RoundTrip(req)
	}
	if req.URL.Scheme == "http" {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
	}
	resp, err := t.inner.RoundTrip(req)
	if err != nil && PlainHTTP(err) {
		return nil, fix.New(fmt.Errorf("%s serves plain HTTP, not HTTPS: %w", req.URL.Host, err), PlainHTTPFix(req.URL.Host))
	}
	return resp, err
}

// PlainHTTP reports whether err is the answer of a plain-HTTP server to an
// HTTPS request: a transport's TLS record that reads "HTTP/", which
// http.Client calls ErrSchemeMismatch, or that error's text where
// go-containerregistry has joined it with others.
func PlainHTTP(err error) bool {
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) && string(rec.RecordHeader[:]) == "HTTP/" {
		return true
	}
	return errors.Is(err, http.ErrSchemeMismatch) || strings.Contains(err.Error(), http.ErrSchemeMismatch.Error())
}

// PlainHTTPFix is what to do about a registry that serves plain HTTP.
func PlainHTTPFix(host string) string {
	return "serve " + host + " over TLS (docker speaks only HTTPS to it), or list \"" + host +
		"\" in insecure-registries of the engine's daemon.json and restart docker (the check and mirror still speak only HTTPS to it)"
}

// Transport is base for a registry docker takes for insecure (Default):
// over TLS, docker verifies no certificate of it and reads no certs.d for
// it (moby's newTLSConfig), so neither do the check, mirror and doctor.
//
// base's own fields are read by its Clone alone, which first sets base's
// HTTP/2 defaults (its TLS config's protocols) under base's own sync.Once:
// reading base.TLSClientConfig here raced with another goroutine's Clone of
// the same base writing it (watch resolves registries in parallel).
func Transport(base *http.Transport) http.RoundTripper {
	t := base.Clone() // with a TLS config of its own, if base has one
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.InsecureSkipVerify = true // as docker, for a loopback registry only
	return t
}
