// Package kubelet answers the kubelet's image credential provider protocol
// (credentialprovider.kubelet.k8s.io/v1): a CredentialProviderRequest on
// stdin, a CredentialProviderResponse on stdout. It maps the image's
// registry through currents.yaml exactly as a docker `get` does, and answers
// from the same token cache under the same refresh policy.
//
// The lean binary links it: the request is decoded with encoding/json (no
// Kubernetes libraries), and a warm answer reads only currents.yaml and the
// cache. The answer follows what the kubelet's own code
// (k8s.io/kubernetes/pkg/credentialprovider/plugin) does with it:
//
//   - cacheKeyType Registry, auth keyed by the registry host as the image
//     spells it: the kubelet caches it for every image of that registry;
//   - cacheDuration ends at the helper's own refresh point, so the kubelet
//     never holds a token the helper would already have replaced; a token
//     served past that point (AWS failing) gets 0s: the kubelet must not
//     cache it and asks again on the next pull;
//   - a registry the helper does not handle gets an empty auth, not an
//     error: the kubelet logs a plugin error at error level on every pull and
//     caches nothing, while an empty answer simply adds no credentials (the
//     pull goes on anonymously or with another provider's) and is cached for
//     a minute, so a changed currents.yaml is seen within a minute.
package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/idtoken"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/rawfile"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/tokencache"
)

// APIVersion is the GA version of the protocol. The kubelet writes the
// request in the provider's configured apiVersion and refuses an answer in
// another, so the answer always echoes the request's.
const APIVersion = "credentialprovider.kubelet.k8s.io/v1"

// APIVersions are the versions the kubelet may speak.
var APIVersions = []string{APIVersion, "credentialprovider.kubelet.k8s.io/v1beta1", "credentialprovider.kubelet.k8s.io/v1alpha1"}

// Username is what ECR's Basic auth takes.
const Username = "AWS"

// NotOursCacheDuration is how long the kubelet keeps the empty answer for a
// registry the helper does not handle.
const NotOursCacheDuration = time.Minute

// maxRequest bounds what is read from stdin: a request is an image name, a
// token of a few KB and a few annotations.
const maxRequest = 1 << 20

// Request is a CredentialProviderRequest.
type Request struct {
	APIVersion string
	Image      string
	// ServiceAccountToken is the pod's service-account token (KEP-4412),
	// sent when the provider's tokenAttributes ask for one.
	ServiceAccountToken       secret.Value
	ServiceAccountAnnotations map[string]string
}

// ErrRequest marks a request that is not a CredentialProviderRequest.
var ErrRequest = errors.New("not a CredentialProviderRequest")

// ReadRequest reads and checks a request, giving up after timeout: the
// kubelet writes the request and closes stdin at once, so one that has not
// ended by then never will.
func ReadRequest(r io.Reader, timeout time.Duration) (Request, []byte, error) {
	data, err := rawfile.ReadWithin(r, maxRequest, timeout)
	switch {
	case errors.Is(err, rawfile.ErrNoEnd):
		return Request{}, nil, fix.New(fmt.Errorf("%w: stdin did not end within %s", ErrRequest, timeout),
			"the kubelet writes the request and closes stdin at once: run `docker-credential-currents kubelet` only from a CredentialProviderConfig (args: [kubelet])")
	case err != nil && len(data) > maxRequest:
		return Request{}, nil, fmt.Errorf("%w: over %d bytes on stdin", ErrRequest, maxRequest)
	case err != nil:
		return Request{}, nil, fmt.Errorf("reading the request from stdin: %w", err)
	}
	req, err := ParseRequest(data)
	return req, data, err
}

// ParseRequest decodes a request.
func ParseRequest(data []byte) (Request, error) {
	var raw struct {
		APIVersion                string            `json:"apiVersion"`
		Kind                      string            `json:"kind"`
		Image                     string            `json:"image"`
		ServiceAccountToken       string            `json:"serviceAccountToken"`
		ServiceAccountAnnotations map[string]string `json:"serviceAccountAnnotations"`
	}
	hint := "the kubelet writes it on stdin: run `docker-credential-currents kubelet` only from a CredentialProviderConfig (args: [kubelet])"
	if err := json.Unmarshal(data, &raw); err != nil {
		return Request{}, fix.New(fmt.Errorf("%w: stdin is not JSON (%v)", ErrRequest, jsonProblem(err)), hint)
	}
	switch {
	case raw.Kind != "CredentialProviderRequest":
		// Values of the request are never quoted: it may hold a token.
		return Request{}, fix.New(fmt.Errorf("%w: its kind is not CredentialProviderRequest", ErrRequest), hint)
	case !slices.Contains(APIVersions, raw.APIVersion):
		return Request{}, fix.New(fmt.Errorf("%w: its apiVersion is none of %s", ErrRequest, strings.Join(APIVersions, ", ")),
			"set apiVersion: "+APIVersion+" for this provider in the kubelet's CredentialProviderConfig")
	case raw.Image == "":
		return Request{}, fix.New(fmt.Errorf("%w: no image", ErrRequest), hint)
	}
	return Request{APIVersion: raw.APIVersion, Image: raw.Image, ServiceAccountToken: secret.New(raw.ServiceAccountToken),
		ServiceAccountAnnotations: raw.ServiceAccountAnnotations}, nil
}

// jsonProblem describes a decoding error without quoting the input, which
// may hold the service-account token.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s is not a %s", typ.Field, typ.Type)
	}
	return "truncated or malformed"
}

// Registry is the image's registry as the kubelet's cache keys it: the part
// before the first slash. An image without one (busybox) has none here: it
// is Docker Hub's, never ECR's.
func (r Request) Registry() string {
	host, _, ok := strings.Cut(r.Image, "/")
	if !ok {
		return ""
	}
	return host
}

// Auth is one registry's credentials in a response.
type Auth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Response is a CredentialProviderResponse.
type Response struct {
	APIVersion    string          `json:"apiVersion"`
	Kind          string          `json:"kind"`
	CacheKeyType  string          `json:"cacheKeyType"`
	CacheDuration string          `json:"cacheDuration"`
	Auth          map[string]Auth `json:"auth"`
}

// Write encodes the response.
func (r Response) Write(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func response(req Request, d time.Duration, auth map[string]Auth) Response {
	if d < 0 {
		d = 0
	}
	return Response{APIVersion: req.APIVersion, Kind: "CredentialProviderResponse", CacheKeyType: "Registry",
		CacheDuration: d.Truncate(time.Second).String(), Auth: auth}
}

// Answerer answers requests from the cache, refreshing through Refresh.
type Answerer struct {
	Config *settings.Config
	Cache  *tokencache.Cache
	Getenv func(string) string
	Log    *slog.Logger // nil: discard
	// Refresh renews the token of a request the cache cannot answer (the
	// AWS binary's Fetcher); nil means answer from the cache only (Cached).
	Refresh func(ctx context.Context, r refresh.Request) (credential.Token, error)
}

// Target is what the helper serves req's registry with; ok is false for a
// registry it does not handle.
func (a *Answerer) Target(req Request) (refresh.Request, bool, error) {
	if err := a.namedConfig(); err != nil {
		return refresh.Request{}, false, err
	}
	reg := req.Registry()
	if reg == "" {
		return refresh.Request{}, false, nil
	}
	host, err := ecrhost.Normalize(reg)
	if err != nil {
		return refresh.Request{}, false, nil
	}
	t, ok := a.Config.Lookup(host)
	if !ok {
		return refresh.Request{}, false, nil
	}
	id := tokencache.IdentityFor(t, a.Getenv)
	if t.Entry != nil && t.Entry.WebIdentity == settings.WebIdentityKubernetes {
		sa, err := ServiceAccount(req, t, a.Cache.Clock().Now())
		if err != nil {
			return refresh.Request{}, false, err
		}
		id = id.WithServiceAccount(sa, idtoken.Digest(req.ServiceAccountToken))
	}
	return refresh.Request{ServerURL: host, Target: t, Identity: id}, true, nil
}

// namedConfig fails when CURRENTS_CONFIG names a file that does not exist.
// A docker get reads that as an empty configuration and says so, naming the
// file, for the host it cannot serve; the kubelet shows only a failing
// provider's stderr, so a mistyped path in the provider's env would
// otherwise pass in silence: an alias answered "not ours", a real ECR host
// served by whatever the node's default credentials are.
func (a *Answerer) namedConfig() error {
	named := a.Getenv(dirs.EnvConfig)
	if named == "" || a.Config.Found {
		return nil
	}
	return fix.New(fmt.Errorf("%s=%s: no such file", dirs.EnvConfig, named),
		"correct the path in this provider's env in the kubelet's CredentialProviderConfig (then restart the kubelet), or create the file: "+
			product.HelperCommand+" configure --registry HOST --role-arn ARN")
}

// ServiceAccount names the service account whose token req carries, for
// an entry with web_identity: kubernetes: its sessions are its own. Its
// claims are read, not verified (AWS verifies the token when it assumes the
// role), so the cache keys sessions on the token itself too; a token that
// has expired, or never does, is refused before anything is looked up.
func ServiceAccount(req Request, t settings.Target, now time.Time) (string, error) {
	if req.ServiceAccountToken.IsZero() {
		return "", fix.New(fmt.Errorf("%s: web_identity: kubernetes (%s), but the kubelet sent no service-account token", t.Registry.Host, t.Where()),
			"give this provider tokenAttributes (serviceAccountTokenAudience: sts.amazonaws.com, requireServiceAccount: true, cacheType: ServiceAccount) in the kubelet's CredentialProviderConfig, with the KubeletServiceAccountTokenForCredentialProviders feature on (1.34+)")
	}
	c, err := idtoken.Parse(req.ServiceAccountToken)
	if err != nil {
		return "", fmt.Errorf("%s: the service-account token the kubelet sent is not a JWT", t.Registry.Host)
	}
	switch {
	case c.Expires.IsZero():
		return "", fix.New(fmt.Errorf("%s: the service-account token the kubelet sent (sub=%s) has no expiry: not a token the kubelet requests for a credential provider", t.Registry.Host, c.Subject),
			"run the helper only from the kubelet's CredentialProviderConfig (args: [kubelet]), with tokenAttributes")
	case c.Expired(now):
		return "", fix.New(fmt.Errorf("%s: the service-account token the kubelet sent (sub=%s) expired at %s", t.Registry.Host, c.Subject, c.Expires.Format(time.RFC3339)),
			"check this node's clock (timedatectl): the kubelet sends a token it has just requested")
	}
	if c.ServiceAccount != "" {
		return c.ServiceAccount, nil
	}
	return c.Subject, nil
}

// Cached answers from the cache alone: ok is false when the token is
// missing or due for refresh. A registry the helper does not handle is
// answered (empty) here too.
func (a *Answerer) Cached(req Request) (Response, bool, error) {
	r, ours, err := a.Target(req)
	if err != nil {
		return Response{}, false, err
	}
	if !ours {
		return response(req, NotOursCacheDuration, map[string]Auth{}), true, nil
	}
	// Only the token is decoded, as a warm get does.
	tok, hit := a.Cache.LoadToken(r.Identity, tokencache.TokenKey(r.Target.Registry))
	now := a.Cache.Clock().Now()
	if hit && !credential.NeedsRefresh(tok.Issued, tok.Expires, now) {
		return a.answer(req, tok, now), true, nil
	}
	return Response{}, false, nil
}

// Servable is the cached token of req while it may still be handed out
// after a failed refresh (credential.Servable), answered with a cacheDuration
// of 0: the kubelet asks again on the next pull.
func (a *Answerer) Servable(req Request) (Response, bool) {
	r, ours, err := a.Target(req)
	if err != nil || !ours {
		return Response{}, false
	}
	tok, hit := a.Cache.LoadToken(r.Identity, tokencache.TokenKey(r.Target.Registry))
	if !hit || !credential.Servable(tok.Issued, tok.Expires, a.Cache.Clock().Now()) {
		return Response{}, false
	}
	resp := response(req, 0, map[string]Auth{req.Registry(): {Username: tok.Username, Password: tok.Password.Reveal()}})
	return resp, true
}

// Answer answers from the cache, or refreshes.
func (a *Answerer) Answer(ctx context.Context, req Request) (Response, error) {
	if resp, ok, err := a.Cached(req); ok || err != nil {
		return resp, err
	}
	r, _, err := a.Target(req)
	if err != nil {
		return Response{}, err
	}
	if a.Refresh == nil {
		return Response{}, errors.New("no refresher")
	}
	tok, err := a.Refresh(ctx, r)
	if err != nil {
		return Response{}, err
	}
	return a.answer(req, tok, a.Cache.Clock().Now()), nil
}

// answer keys tok by the registry as the image spells it, for as long as
// the helper itself would serve it without refreshing.
func (a *Answerer) answer(req Request, tok credential.Token, now time.Time) Response {
	d := credential.RefreshAt(tok.Issued, tok.Expires).Sub(now)
	return response(req, d, map[string]Auth{req.Registry(): {Username: tok.Username, Password: tok.Password.Reveal()}})
}
