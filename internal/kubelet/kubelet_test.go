package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/tokencache"
)

const host = "513558712013.dkr.ecr.us-east-1.amazonaws.com"

func request(image string) Request { return Request{APIVersion: APIVersion, Image: image} }

func setup(t *testing.T) (*Answerer, *standintest.Clock, *int) {
	clock := standintest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cache, err := tokencache.Open(tokencache.WithDir(filepath.Join(t.TempDir(), "c")), tokencache.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Parse("c.yaml", []byte("registries:\n  - host: "+host+"\n    role_arn: arn:aws:iam::513558712013:role/r\n"))
	calls := new(int)
	a := &Answerer{Config: cfg, Cache: cache, Getenv: func(string) string { return "" }}
	a.Refresh = func(ctx context.Context, r refresh.Request) (credential.Token, error) {
		*calls++
		now := clock.Now()
		tok := credential.Token{Username: "AWS", Password: secret.New("pw"), Issued: now, Expires: now.Add(12 * time.Hour)}
		e := cache.Load(r.Identity)
		e.SetToken(tokencache.TokenKey(r.Target.Registry), tok)
		return tok, cache.Store(r.Identity, e)
	}
	return a, clock, calls
}

func TestAnswer(t *testing.T) {
	a, clock, calls := setup(t)
	r, err := a.Answer(context.Background(), request(host+"/currents/api:1"))
	if err != nil || r.CacheDuration != "9h0m0s" || r.Auth[host].Password != "pw" || r.CacheKeyType != "Registry" || *calls != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	clock.Advance(8*time.Hour + 30*time.Minute + 500*time.Millisecond)
	if r, ok, _ := a.Cached(request(host + "/x:1")); !ok || r.CacheDuration != "29m59s" {
		t.Errorf("warm, later: %+v %v", r, ok)
	}
	// Past the refresh point the cache cannot answer; a failed refresh still
	// serves a safe token, uncached by the kubelet.
	clock.Advance(time.Hour)
	if _, ok, _ := a.Cached(request(host + "/x:1")); ok {
		t.Error("answered past the refresh point")
	}
	if r, ok := a.Servable(request(host + "/x:1")); !ok || r.CacheDuration != "0s" {
		t.Errorf("servable: %+v %v", r, ok)
	}
	var b bytes.Buffer
	r.Write(&b)
	if !strings.Contains(b.String(), `"kind":"CredentialProviderResponse"`) {
		t.Error(b.String())
	}
}

func TestRegistryAndParse(t *testing.T) {
	for image, want := range map[string]string{"busybox": "", "a.b/c": "a.b", "h:5000/x/y:1": "h:5000", "x/y@sha256:aa": "x"} {
		if got := request(image).Registry(); got != want {
			t.Errorf("%s: %q, want %q", image, got, want)
		}
	}
	r, err := ParseRequest([]byte(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"a/b","serviceAccountToken":"t.o.k","serviceAccountAnnotations":{"k":"v"}}`))
	if err != nil || r.ServiceAccountToken.Reveal() != "t.o.k" || r.ServiceAccountAnnotations["k"] != "v" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{``, `[]`, `{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}`,
		`{"kind":"CredentialProviderRequest","apiVersion":"v1","image":"a"}`, `{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a","serviceAccountToken":7}`} {
		if _, err := ParseRequest([]byte(bad)); !errors.Is(err, ErrRequest) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"a/b","serviceAccountToken":"secret-token"}`))
	f.Add([]byte(`{"kind":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest(data)
		if err != nil {
			// No error quotes the request's token.
			var raw struct {
				Token string `json:"serviceAccountToken"`
			}
			if json.Unmarshal(data, &raw) == nil && len(raw.Token) >= 8 && strings.Contains(err.Error(), raw.Token) {
				t.Fatalf("error quotes the token: %v", err)
			}
			return
		}
		if r.Image == "" || r.APIVersion == "" {
			t.Fatalf("accepted %q without image or apiVersion", data)
		}
		_ = r.Registry()
	})
}

// TestMistypedConfigVariableFails: CURRENTS_CONFIG naming a file that does
// not exist is a mistake in the provider's env, not an empty configuration:
// every request fails, naming the variable and the path and what to do
// (with no file, an alias was "not ours" and an ECR host went to the default
// credential chain, silently). Unset, a missing default file is still an
// empty configuration: real ECR hosts are served without one.
func TestMistypedConfigVariableFails(t *testing.T) {
	a, _, calls := setup(t)
	missing := filepath.Join(t.TempDir(), "etc", "currnets.yaml")
	cfg, _ := config.Parse(missing, nil)
	cfg.Found = false
	a.Config = cfg
	a.Getenv = func(k string) string {
		if k == "CURRENTS_CONFIG" {
			return missing
		}
		return ""
	}
	for _, image := range []string{host + "/currents/api:1", "registry.example.com/currents/api:1"} {
		_, err := a.Answer(context.Background(), request(image))
		if err == nil || !strings.Contains(err.Error(), "CURRENTS_CONFIG") || !strings.Contains(err.Error(), missing) ||
			!strings.Contains(err.Error(), "CredentialProviderConfig") {
			t.Errorf("%s: %v, want an error naming CURRENTS_CONFIG, %s and the fix", image, err, missing)
		}
		if _, ok := a.Servable(request(image)); ok {
			t.Errorf("%s: servable with the configuration missing", image)
		}
	}
	if *calls != 0 {
		t.Errorf("%d refreshes with the named configuration missing", *calls)
	}
	a.Getenv = func(string) string { return "" }
	if r, err := a.Answer(context.Background(), request(host+"/currents/api:1")); err != nil || r.Auth[host].Password != "pw" {
		t.Errorf("no CURRENTS_CONFIG, no file: %+v %v, want the ECR host served", r, err)
	}
}
