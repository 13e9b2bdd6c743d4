package keychain

import (
	"net/http"
	"strings"
	"testing"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/name"
)

// ecrPassword is as long as an ECR authorization token's password, which
// makes a Basic header of about 3.6 KB.
var ecrPassword = strings.Repeat("eyJwYXlsb2FkIjoi", 170)

const ecrHost = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// captured records the Authorization header of each request.
type captured []string

func (c *captured) RoundTrip(r *http.Request) (*http.Response, error) {
	*c = append(*c, r.Header.Get("Authorization"))
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
}

func basicFirstTo(t testing.TB, inner http.RoundTripper) http.RoundTripper {
	cf := configfile.New("/test/config.json")
	cf.AuthConfigs[ecrHost] = types.AuthConfig{Username: "AWS", Password: ecrPassword}
	c := New(cf).Get(ecrHost)
	if c.Anonymous() || c.Err != nil {
		t.Fatalf("credentials: anonymous %v, %v", c.Anonymous(), c.Err)
	}
	reg, err := name.NewRegistry(ecrHost)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := BasicFirst(reg, c.Authenticator(), inner)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// The header go-containerregistry sends from the precomputed credentials is
// the one net/http makes from the user and password, to the registry only.
func TestBasicHeaderIsTheUsersAndPasswords(t *testing.T) {
	var got captured
	rt := basicFirstTo(t, &got)
	want, _ := http.NewRequest(http.MethodGet, "https://"+ecrHost+"/v2/", nil)
	want.SetBasicAuth("AWS", ecrPassword)
	for _, u := range []string{"https://" + ecrHost + "/v2/app/manifests/1", "https://prod-us-east-1-starport-layer-bucket.s3.amazonaws.com/blob"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != want.Header.Get("Authorization") || got[1] != "" {
		t.Errorf("headers sent: registry %.40q…, elsewhere %q", got[0], got[1])
	}
}

// BenchmarkBasicFirstRequest is one request's cost of the credentials:
// go-containerregistry builds the Basic header from the AuthConfig on every
// request.
func BenchmarkBasicFirstRequest(b *testing.B) {
	var got captured
	rt := basicFirstTo(b, &got)
	b.ReportAllocs()
	for b.Loop() {
		got = got[:0]
		req, _ := http.NewRequest(http.MethodGet, "https://"+ecrHost+"/v2/app/manifests/1", nil)
		if _, err := rt.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}
