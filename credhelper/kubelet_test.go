package credhelper_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/standin"
)

type kubeletResponse struct {
	APIVersion    string `json:"apiVersion"`
	Kind          string `json:"kind"`
	CacheKeyType  string `json:"cacheKeyType"`
	CacheDuration string `json:"cacheDuration"`
	Auth          map[string]struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auth"`
}

func kubeletRequest(image string, extra ...string) string {
	s := `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"` + image + `"`
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// kubelet runs the lean binary's kubelet mode as the kubelet does.
func (w *world) kubelet(t *testing.T, request string, extra map[string]string) (kubeletResponse, string, int) {
	t.Helper()
	mark := w.logs()
	out, code := w.run(bin.lean, request, extra, "kubelet")
	var r kubeletResponse
	if code == 0 {
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("answer is not JSON: %v\n%s", err, out)
		}
	}
	return r, strings.TrimPrefix(w.logs(), mark), code
}

func TestKubeletColdWarmAndNotOurs(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	image := w.reg.Host() + "/currents/on-prem/api:staging"
	r, stderr, code := w.kubelet(t, kubeletRequest(image), nil)
	if code != 0 {
		t.Fatalf("cold: exit %d\n%s", code, stderr)
	}
	auth, ok := r.Auth[w.reg.Host()]
	if r.Kind != "CredentialProviderResponse" || r.APIVersion != "credentialprovider.kubelet.k8s.io/v1" || r.CacheKeyType != "Registry" || !ok || len(r.Auth) != 1 {
		t.Fatalf("answer %+v", r)
	}
	w.prove(&credentials.Credentials{Username: auth.Username, Secret: auth.Password})
	// The cache duration ends at the helper's refresh point: 12h tokens are
	// refreshed 3h before expiry.
	d, err := time.ParseDuration(r.CacheDuration)
	if err != nil || d > 9*time.Hour || d < 9*time.Hour-time.Minute {
		t.Errorf("cacheDuration %q, want just under 9h", r.CacheDuration)
	}
	if n := w.aws.Counts(); n.AssumeRole != 1 || n.GetAuthorizationToken != 1 {
		t.Errorf("cold: %+v", n)
	}

	// Warm: the same cache as get; the AWS binary does not start.
	trip, mark := w.tripwire()
	r2, _, code := w.kubelet(t, kubeletRequest(w.reg.Host()+"/currents/on-prem/writer@sha256:"+strings.Repeat("a", 64)), map[string]string{"CURRENTS_AWS_HELPER": trip})
	if code != 0 || r2.Auth[w.reg.Host()].Password != auth.Password {
		t.Fatalf("warm: exit %d %+v", code, r2)
	}
	if c := w.mustGet(w.reg.Host(), map[string]string{"CURRENTS_AWS_HELPER": trip}); c.Secret != auth.Password {
		t.Error("get and kubelet do not share the cache")
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("a warm kubelet request spawned the AWS helper")
	}
	if n := w.aws.Counts(); n.AssumeRole != 1 || n.GetAuthorizationToken != 1 {
		t.Errorf("warm requests called AWS: %+v", n)
	}
}

// TestKubeletEchoesVersionAndLeavesOtherRegistries: the answer's apiVersion is
// the request's, as the kubelet requires; a registry the helper does not
// handle gets an empty auth the kubelet caches briefly, and no error.
func TestKubeletEchoesVersionAndLeavesOtherRegistries(t *testing.T) {
	w := newWorld(t)
	image := w.reg.Host() + "/currents/on-prem/api:staging"
	trip, _ := w.tripwire()
	// Another API version is echoed, as the kubelet requires.
	r3, _, _ := w.kubelet(t, strings.Replace(kubeletRequest(image), "/v1\"", "/v1beta1\"", 1), nil)
	if r3.APIVersion != "credentialprovider.kubelet.k8s.io/v1beta1" {
		t.Errorf("apiVersion %q", r3.APIVersion)
	}

	// Registries it does not handle: an empty auth the kubelet caches briefly, no error.
	for _, img := range []string{"busybox:latest", "docker.io/library/nginx:1", "ghcr.io/o/r:1", "127.0.0.1:9/x"} {
		r, stderr, code := w.kubelet(t, kubeletRequest(img), map[string]string{"CURRENTS_AWS_HELPER": trip})
		if code != 0 || len(r.Auth) != 0 || r.Auth == nil || r.CacheKeyType != "Registry" || r.CacheDuration != "1m0s" || stderr != "" {
			t.Errorf("%s: exit %d %+v %q", img, code, r, stderr)
		}
	}
}

func TestKubeletErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for name, c := range map[string]struct{ request, want string }{
		"not JSON":        {"{\"kind\":", "not a CredentialProviderRequest: stdin is not JSON"},
		"wrong kind":      {`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"Pod","image":"x/y"}`, "its kind is not CredentialProviderRequest"},
		"unknown version": {`{"apiVersion":"credentialprovider.kubelet.k8s.io/v2","kind":"CredentialProviderRequest","image":"x/y"}`, "apiVersion: credentialprovider.kubelet.k8s.io/v1"},
	} {
		out, code := w.run(bin.lean, c.request, nil, "kubelet")
		if code != 1 || out != "" || !strings.Contains(w.logs(), c.want) {
			t.Errorf("%s: exit %d out %q; stderr lacks %q", name, code, out, c.want)
		}
	}
	// A refused role: get's words on stderr, nothing on stdout.
	w.aws.RefuseRole(w.role, true)
	_, stderr, code := w.kubelet(t, kubeletRequest(w.reg.Host()+"/a/b:1"), nil)
	if code != 1 || !strings.Contains(stderr, "docker-credential-currents: ") || !strings.Contains(stderr, "AccessDenied") || !strings.Contains(stderr, w.role) ||
		strings.Count(stderr, "AccessDenied: User") != 1 {
		t.Errorf("refused role: exit %d\n%s", code, stderr)
	}
}

// TestKubeletParallelColdRequests: the kubelet pulls a pod's images at once;
// 64 cold requests across two registries of one principal cost one
// AssumeRole and one GetAuthorizationToken, and start the AWS binary once:
// the lean binary waits for the principal's lock as get does.
func TestKubeletParallelColdRequests(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const n = 64
	aws := w.awsCounter()
	codes := make([]int, n)
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			outs[i], codes[i] = w.run(bin.lean, kubeletRequest(fmt.Sprintf("%s/currents/svc-%d:1", w.reg.Host(), i)), aws.env(), "kubelet")
		})
	}
	wg.Wait()
	for i := range n {
		var r kubeletResponse
		if codes[i] != 0 || json.Unmarshal([]byte(outs[i]), &r) != nil || r.Auth[w.reg.Host()].Password == "" {
			t.Fatalf("request %d: exit %d %q\n%s", i, codes[i], outs[i], w.logs())
		}
	}
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		t.Errorf("%d parallel cold kubelet requests made %d AssumeRole and %d GetAuthorizationToken; want 1 and 1", n, c.AssumeRole, c.GetAuthorizationToken)
	}
	if got := aws.Starts(); got != 1 {
		t.Errorf("%d parallel cold kubelet requests started the AWS binary %d times; want 1", n, got)
	}
}

// cluster makes issuer a cluster's OIDC provider in the world's account, a
// role pod-pull that trusts its tokens under condition (a trust policy's
// Condition members, %[1]s standing for the provider's host), and the
// registry's entry one that assumes that role with the kubelet's
// service-account token. It returns the provider's host.
func (w *world) cluster(issuer, condition string) string {
	host := strings.TrimPrefix(issuer, "https://")
	w.aws.AddOIDCProvider(w.aws.Account(), issuer, "sts.amazonaws.com")
	role := "arn:aws:iam::" + w.aws.Account() + ":role/pod-pull"
	w.aws.AddRole(role, standin.RoleSpec{TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::` + w.aws.Account() + `:oidc-provider/` + host + `"},"Action":"sts:AssumeRoleWithWebIdentity",
		"Condition":{` + fmt.Sprintf(condition, host) + `}}]}`)})
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    web_identity: kubernetes\n",
		w.reg.Host(), w.reg.Account(), w.reg.Region(), role))
	return host
}

// TestKubeletServiceAccountTokens: with web_identity: kubernetes the role is
// assumed with the pod's service-account token, one session per service
// account; a request without a token says how to configure the kubelet.
func TestKubeletServiceAccountTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/CLUSTER1"
	host := w.cluster(issuer, `"StringEquals":{"%[1]s:aud":"sts.amazonaws.com"},"StringLike":{"%[1]s:sub":"system:serviceaccount:shop:*"}`)
	sa := func(ns, name string) string {
		tok := w.aws.SignIDToken(issuer, "sts.amazonaws.com", "system:serviceaccount:"+ns+":"+name, map[string]any{
			"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": name, "uid": ns + "-" + name + "-uid"}}})
		return `"serviceAccountToken":"` + tok + `","serviceAccountAnnotations":{}`
	}
	image := w.reg.Host() + "/shop/web:1"
	env := map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""} // a node needs no keys
	web := sa("shop", "web")                                                       // the kubelet's token manager hands a pod's requests one token until it rotates
	for i, token := range []string{web, web, sa("shop", "worker")} {
		r, stderr, code := w.kubelet(t, kubeletRequest(image, token), env)
		if code != 0 {
			t.Fatalf("request %d: exit %d\n%s", i, code, stderr)
		}
		a := r.Auth[w.reg.Host()]
		w.prove(&credentials.Credentials{Username: a.Username, Secret: a.Password})
	}
	if n := w.aws.Counts(); n.AssumeRoleWithWebIdentity != 2 || n.AssumeRole != 0 {
		t.Errorf("two service accounts, three requests: %+v; want 2 AssumeRoleWithWebIdentity", n)
	}
	_, stderr, code := w.kubelet(t, kubeletRequest(image, sa("billing", "web")), env)
	if code != 1 || !strings.Contains(stderr, "sub=system:serviceaccount:billing:web") || !strings.Contains(stderr, host+":sub") {
		t.Errorf("a service account the role does not trust: exit %d\n%s", code, stderr)
	}
	_, stderr, code = w.kubelet(t, kubeletRequest(image), env)
	if code != 1 || !strings.Contains(stderr, "sent no service-account token") || !strings.Contains(stderr, "tokenAttributes") {
		t.Errorf("no token: exit %d\n%s", code, stderr)
	}
}

// Harden, defect 8: the kubelet mode keyed its cache on the token's claims, unchecked: an unsigned token
// (alg none) claiming a service account's subject, or one that expired long ago, got that account's cached
// credentials without an AWS call. A cached session serves only the token AWS accepted it for; an expired
// token is refused before AWS is asked.
func TestKubeletServesCachedCredentialsOnlyToTheTokenAWSAccepted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/CLUSTER2"
	w.cluster(issuer, `"StringEquals":{"%[1]s:aud":"sts.amazonaws.com","%[1]s:sub":"system:serviceaccount:prod:a"}`)
	claims := map[string]any{"iss": issuer, "aud": "sts.amazonaws.com", "sub": "system:serviceaccount:prod:a",
		"kubernetes.io": map[string]any{"namespace": "prod", "serviceaccount": map[string]any{"name": "a", "uid": "prod-a-uid"}}}
	field := func(tok string) string { return `"serviceAccountToken":"` + tok + `","serviceAccountAnnotations":{}` }
	image := w.reg.Host() + "/prod/a:1"
	env := map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
	good := w.aws.SignIDToken(issuer, "sts.amazonaws.com", "system:serviceaccount:prod:a", claims)
	r, stderr, code := w.kubelet(t, kubeletRequest(image, field(good)), env)
	if code != 0 {
		t.Fatalf("the account's own token: exit %d\n%s", code, stderr)
	}
	password := r.Auth[w.reg.Host()].Password
	w.aws.Reset()
	if r, _, code := w.kubelet(t, kubeletRequest(image, field(good)), env); code != 0 || r.Auth[w.reg.Host()].Password != password || w.aws.Attempts().AssumeRoleWithWebIdentity != 0 {
		t.Fatalf("the same token again: exit %d, %+v; want the cached token", code, w.aws.Attempts())
	}
	unsigned := func(extra map[string]any) string {
		c := map[string]any{"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
		for k, v := range claims {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		payload, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	for name, c := range map[string]struct {
		token   string
		says    string
		asksAWS bool
	}{
		"unsigned, claiming the account":  {unsigned(nil), "AWS said", true},
		"signed, but expired":             {w.aws.SignIDToken(issuer, "sts.amazonaws.com", "system:serviceaccount:prod:a", merge(claims, map[string]any{"exp": 1000})), "expired", false},
		"unsigned and expired":            {unsigned(map[string]any{"exp": 1000}), "expired", false},
		"unsigned, with no expiry at all": {unsigned(map[string]any{"exp": nil}), "no expiry", false},
	} {
		w.aws.Reset()
		r, stderr, code := w.kubelet(t, kubeletRequest(image, field(c.token)), env)
		if code != 1 || r.Auth[w.reg.Host()].Password == password || !strings.Contains(stderr, c.says) {
			t.Errorf("%s: exit %d, the account's password: %v\n%s", name, code, r.Auth[w.reg.Host()].Password == password, stderr)
		}
		if asked := w.aws.Attempts().AssumeRoleWithWebIdentity > 0; asked != c.asksAWS {
			t.Errorf("%s: AWS asked: %v, want %v", name, asked, c.asksAWS)
		}
	}
	// The kubelet's next token for the account (rotated): a session of its own, once AWS accepts it.
	w.aws.Reset()
	rotated := w.aws.SignIDToken(issuer, "sts.amazonaws.com", "system:serviceaccount:prod:a", claims)
	if r, stderr, code := w.kubelet(t, kubeletRequest(image, field(rotated)), env); code != 0 || w.aws.Counts().AssumeRoleWithWebIdentity != 1 {
		t.Errorf("a rotated token: exit %d, %+v\n%s", code, w.aws.Counts(), stderr)
	} else {
		a := r.Auth[w.reg.Host()]
		w.prove(&credentials.Credentials{Username: a.Username, Secret: a.Password})
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestKubeletMistypedConfigIsSaid: CURRENTS_CONFIG in the provider's env
// naming no file failed no request and said nothing; the kubelet now logs
// the provider's one line naming the variable, the path and the fix.
func TestKubeletMistypedConfigIsSaid(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	missing := filepath.Join(t.TempDir(), "currnets.yaml")
	trip, _ := w.tripwire()
	out, code := w.run(bin.lean, kubeletRequest(w.reg.Host()+"/a/b:1"), map[string]string{"CURRENTS_CONFIG": missing, "CURRENTS_AWS_HELPER": trip}, "kubelet")
	want := "docker-credential-currents: CURRENTS_CONFIG=" + missing + ": no such file; correct the path in this provider's env in the kubelet's CredentialProviderConfig"
	if code != 1 || out != "" || !strings.Contains(w.logs(), want) {
		t.Errorf("exit %d out %q; stderr lacks %q:\n%s", code, out, want, w.logs())
	}
}
