package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/currentsdev/currents/internal/keychain"
)

// Answers the stand-in registry does not give are mapped from the errors
// go-containerregistry returns for them.
func TestExplain(t *testing.T) {
	ref, _ := name.ParseReference("123456789012.dkr.ecr.us-east-1.amazonaws.com/currents/api:1")
	host := ref.Context().RegistryStr()
	helper := keychain.Credential{Source: keychain.Source{Kind: keychain.FromCredHelper, Helper: "currents", Key: host}}
	p := New(keychain.New(nil))
	cases := []struct {
		err    error
		status Status
		says   string
	}{
		{&transport.Error{StatusCode: http.StatusForbidden, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode, Message: "not authorized to perform: ecr:BatchGetImage"}}},
			Denied, "ecr:BatchGetImage"},
		{&transport.Error{StatusCode: http.StatusForbidden, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode, Message: "Your authorization token has expired. Reauthenticate and try again."}}},
			Expired, "docker-credential-currents doctor"},
		{&transport.Error{StatusCode: http.StatusUnauthorized}, Unauthorized, "docker-credential-currents doctor"},
		{&transport.Error{StatusCode: http.StatusNotFound, Errors: []transport.Diagnostic{{Code: transport.NameUnknownErrorCode}}}, NotFound, "does not exist"},
		{&transport.Error{StatusCode: http.StatusTooManyRequests}, Failed, "--jobs"},
		{context.DeadlineExceeded, Unreachable, "CURRENTS_TIMEOUT"},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), Unreachable, "network"},
		{fmt.Errorf("Get %q: %w; Get %q: %w", "https://h/v2/", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, "http://h/v2/", errors.New("x")),
			Unreachable, "cannot reach " + host + ": connect: connection refused check"},
		{&net.DNSError{Err: "no such host", Name: "h", IsNotFound: true}, Unreachable, "cannot reach " + host + ": no such host check"},
		// Reached, but it gave no answer: not the host in the reference to check.
		{&url.Error{Op: "Get", URL: "https://h/v2/currents/api/manifests/1", Err: io.EOF}, Unreachable, host + " closed the connection before answering"},
		{&url.Error{Op: "Get", URL: "https://h/v2/currents/api/manifests/1", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}, Unreachable, host + " closed the connection before answering"},
		// Served other bytes than the digest asked for names (go-containerregistry's check).
		{fmt.Errorf("manifest digest: %q does not match requested digest: %q for %q", "sha256:4bc2", "sha256:30fc", "h/x@sha256:30fc"), Failed,
			"served a manifest that is not the digest asked for: sha256:4bc2 instead of sha256:30fc"},
		// Still unavailable after the retries.
		{&transport.Error{StatusCode: http.StatusServiceUnavailable}, Failed, "unavailable (503) run the check again later"},
	}
	for _, c := range cases {
		st, msg, fix := p.explain(host, helper, advice{ecr: true}, c.err, ref)
		if st != c.status || !strings.Contains(msg+" "+fix, c.says) {
			t.Errorf("%v: %s %q %q, want %s mentioning %q", c.err, st, msg, fix, c.status, c.says)
		}
	}
}

// The matching is docker's own (containerd's platforms.Only, as the engine
// uses for pulls): a variant defaults to the architecture's, older variants
// and 32-bit siblings run, aliases such as x86_64 are normalised.
func TestPlatformMatching(t *testing.T) {
	pl := func(s string) v1.Platform {
		p, err := v1.ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		return *p
	}
	p := New(keychain.New(nil))
	cases := []struct {
		have, want string
		ok         bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/amd64", "x86_64", true},
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm64/v8", "linux/aarch64", true},
		{"linux/arm64/v8", "linux/arm64/v8", true},
		{"linux/arm/v7", "linux/arm", true},
		{"linux/arm/v6", "linux/arm/v7", true},
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/386", "linux/amd64", true},
		{"linux/arm64", "linux/amd64", false},
		{"linux/amd64", "linux/arm64", false},
		{"windows/amd64", "linux/amd64", false},
	}
	for _, c := range cases {
		want, err := p.want(c.want)
		if err != nil {
			t.Fatal(err)
		}
		if got := platforms.Only(want).Match(spec(pl(c.have))); got != c.ok {
			t.Errorf("%s serves %s = %v, want %v", c.have, c.want, got, c.ok)
		}
	}
	if _, err := p.want("linux//amd64"); err == nil {
		t.Error("an invalid platform: is accepted")
	}
}
