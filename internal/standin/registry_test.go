package standin_test

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

func TestRegistryFront(t *testing.T) {
	clk := standintest.NewClock(time.Now())
	s, _ := newAWS(t, standin.WithClock(clk.Now))
	reg := standin.NewRegistry(s)
	t.Cleanup(reg.Close)

	ref, err := name.ParseReference(reg.Host() + "/currents/on-prem/api:staging")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := s.MintToken("arn:aws:iam::513558712013:root", time.Minute)
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push with a valid token: %v", err)
	}
	if _, err := remote.Image(ref, auth); err != nil {
		t.Fatalf("pull with a valid token: %v", err)
	}

	// No credentials: ECR's Basic challenge.
	_, err = remote.Head(ref)
	wantStatus(t, "anonymous", err, http.StatusUnauthorized)
	checkChallenge(t, reg)

	// A forged password is refused like no credentials.
	_, err = remote.Head(ref, remote.WithAuth(&authn.Basic{Username: "AWS", Password: "bm9wZQ=="}))
	wantStatus(t, "forged", err, http.StatusUnauthorized)

	// Expired: ECR's exact 403 DENIED.
	clk.Advance(time.Minute)
	checkExpiredDenied(t, reg, user, pass)
	_, err = remote.Image(ref, auth)
	if err == nil || !strings.Contains(err.Error(), "Your authorization token has expired") {
		t.Fatalf("pull with expired token: %v", err)
	}
	st := reg.Requests()
	if st.Expired < 2 || st.Unauthorized < 3 || st.Authorized == 0 || st.BytesIn == 0 || st.BytesOut == 0 {
		t.Errorf("stats %+v", st)
	}
}

func wantStatus(t *testing.T, what string, err error, code int) {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != code {
		t.Fatalf("%s: %v, want HTTP %d", what, err, code)
	}
}

// checkChallenge: /v2/ without credentials answers with ECR's Basic challenge.
func checkChallenge(t *testing.T, reg *standin.Registry) {
	t.Helper()
	resp, err := http.Get(reg.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("WWW-Authenticate"), `Basic realm="https://`+reg.Host()+`/",service="ecr.amazonaws.com"`; got != want {
		t.Errorf("challenge %q, want %q", got, want)
	}
}

// checkExpiredDenied: an expired token gets ECR's exact 403 DENIED.
func checkExpiredDenied(t *testing.T, reg *standin.Registry, user, pass string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, reg.URL()+"/v2/", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Errors []struct{ Code, Message string }
	}
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal(body, &got) != nil || len(got.Errors) != 1 ||
		got.Errors[0].Code != "DENIED" || got.Errors[0].Message != "Your authorization token has expired. Reauthenticate and try again." {
		t.Fatalf("expired token: %d %s", resp.StatusCode, body)
	}
}

// TestRegistryUpstream puts the front before a separate registry server, as
// the e2e tier does with Debian's distribution registry: pushes (whose upload
// Locations the upstream builds from Host) and pulls go through the front.
func TestRegistryUpstream(t *testing.T) {
	up := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	s, _ := newAWS(t)
	reg := standin.NewRegistry(s, standin.WithUpstream(up.URL))
	t.Cleanup(reg.Close)

	ref, want := pushAndPull(t, s, reg, "currents/on-prem/writer:staging", 4096, 2)
	// The image really is upstream.
	direct, _ := name.ParseReference(strings.TrimPrefix(up.URL, "http://") + "/currents/on-prem/writer:staging")
	if d, err := remote.Head(direct); err != nil || d.Digest != want {
		t.Fatalf("upstream has %v, %v; want %s", d, err, want)
	}
	if _, err := remote.Head(ref); err == nil {
		t.Fatal("front let an anonymous request through to the upstream")
	}
}

// rootAuth is the registry login of the stand-in account's root, with a
// fresh ECR token.
func rootAuth(s *standin.Server) remote.Option {
	user, pass, _ := s.MintToken("arn:aws:iam::513558712013:root", time.Minute)
	return remote.WithAuth(&authn.Basic{Username: user, Password: pass})
}

// pushAndPull pushes a random image to repoTag through the front as the
// account's root, then pulls it back whole (its config too) and checks its
// digest; it returns the reference and that digest.
func pushAndPull(t *testing.T, s *standin.Server, reg *standin.Registry, repoTag string, size, layers int64) (name.Reference, v1.Hash) {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Host() + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	auth := rootAuth(s)
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push through the front: %v", err)
	}
	got, err := remote.Image(ref, auth)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled %s, pushed %s", d, want)
	}
	return ref, want
}

// TestRequireRepositories: like ECR, a push to a repository nobody created
// fails with NAME_UNKNOWN, and succeeds once CreateRepository ran.
func TestRequireRepositories(t *testing.T) {
	s, _ := newAWS(t)
	reg := standin.NewRegistry(s, standin.WithRequireRepositories())
	t.Cleanup(reg.Close)
	img, _ := random.Image(64, 1)
	ref, _ := name.ParseReference(reg.Host() + "/mirror/api:1")
	auth := rootAuth(s)
	err := remote.Write(ref, img, auth)
	if err == nil || !strings.Contains(err.Error(), "The repository with name 'mirror/api' does not exist in the registry with id '513558712013'") {
		t.Fatalf("push to a missing repository: %v", err)
	}
	s.CreateRepository(reg.Account(), reg.Region(), "mirror/api")
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatal(err)
	}
}
