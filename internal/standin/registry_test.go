package standin_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/currentsdev/currents/internal/standin"
)

func TestRegistryFront(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
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
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %v", err)
	}
	resp, err := http.Get(reg.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("WWW-Authenticate"), `Basic realm="https://`+reg.Host()+`/",service="ecr.amazonaws.com"`; got != want {
		t.Errorf("challenge %q, want %q", got, want)
	}

	// A forged password is refused like no credentials.
	_, err = remote.Head(ref, remote.WithAuth(&authn.Basic{Username: "AWS", Password: "bm9wZQ=="}))
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged: %v", err)
	}

	// Expired: ECR's exact 403 DENIED.
	clk.Advance(time.Minute)
	req, _ := http.NewRequest(http.MethodGet, reg.URL()+"/v2/", nil)
	req.SetBasicAuth(user, pass)
	resp, err = http.DefaultClient.Do(req)
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
	_, err = remote.Image(ref, auth)
	if err == nil || !strings.Contains(err.Error(), "Your authorization token has expired") {
		t.Fatalf("pull with expired token: %v", err)
	}
	st := reg.Requests()
	if st.Expired < 2 || st.Unauthorized < 3 || st.Authorized == 0 || st.BytesIn == 0 || st.BytesOut == 0 {
		t.Errorf("stats %+v", st)
	}
}
