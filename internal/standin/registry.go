package standin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is an ECR-style registry front: every /v2/ request must carry
// Basic credentials "AWS:<token>" minted by its Server, exactly as with a
// real ECR registry, before it reaches the registry behind.
type Registry struct {
	aws      *Server
	srv      *httptest.Server
	upstream http.Handler
	set      settings

	mu      sync.Mutex
	latency time.Duration
	stats   RegistryStats
}

// RegistryStats counts what the front saw since start or Reset.
type RegistryStats struct {
	Requests     int64 // every request
	Authorized   int64 // passed the token check and went upstream
	Unauthorized int64 // no, malformed or foreign credentials: 401
	Expired      int64 // an expired token: 403 DENIED
	ManifestGets int64 // GET or HEAD of a manifest
	BlobGets     int64 // GET or HEAD of a blob
	Uploads      int64 // blob upload and manifest PUT requests
	Gets         int64 // GET requests, of anything
	Heads        int64 // HEAD requests, of anything
	BytesIn      int64 // request bodies passed upstream
	BytesOut     int64 // response bodies returned
}

// NewRegistry starts a registry front checking tokens from aws. It panics if
// it cannot listen, as httptest does. Options: WithAddr, WithLatency,
// WithUpstream, WithRegion, WithAccount, WithRequireRepositories.
func NewRegistry(aws *Server, opts ...Option) *Registry {
	r, err := StartRegistry(aws, opts...)
	if err != nil {
		panic(err)
	}
	return r
}

// StartRegistry is NewRegistry returning errors instead of panicking.
func StartRegistry(aws *Server, opts ...Option) (*Registry, error) {
	set := settings{account: aws.set.account, region: aws.set.region, addr: "127.0.0.1:0"}
	for _, o := range opts {
		o(&set)
	}
	r := &Registry{aws: aws, set: set, latency: set.latency}
	if set.upstream != "" {
		u, err := url.Parse(set.upstream)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("standin: registry upstream %q is not a URL", set.upstream)
		}
		proxy := httputil.NewSingleHostReverseProxy(u)
		// The upstream builds Location headers from Host, which must stay
		// the front's so clients keep coming through it.
		proxy.ErrorLog = log.New(io.Discard, "", 0)
		r.upstream = proxy
	} else {
		r.upstream = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	}
	srv, err := serve(set.addr, r)
	if err != nil {
		return nil, err
	}
	r.srv = srv
	aws.attach(r)
	return r, nil
}

// Host is host:port, the registry part of image references.
func (r *Registry) Host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// URL is the front's base URL.
func (r *Registry) URL() string { return r.srv.URL }

// Server is the stand-in whose tokens the front accepts.
func (r *Registry) Server() *Server { return r.aws }

// Account is the account whose registry the front plays.
func (r *Registry) Account() string { return r.set.account }

// Region is the region whose tokens the front accepts.
func (r *Registry) Region() string { return r.set.region }

// Close stops the front.
func (r *Registry) Close() { r.srv.Close() }

// SetLatency delays every following request by d.
func (r *Registry) SetLatency(d time.Duration) {
	r.mu.Lock()
	r.latency = d
	r.mu.Unlock()
}

// arrived counts a request and returns what serving it needs.
func (r *Registry) arrived(req *http.Request) (time.Duration, http.Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Requests++
	switch req.Method {
	case http.MethodGet:
		r.stats.Gets++
	case http.MethodHead:
		r.stats.Heads++
	}
	return r.latency, r.upstream
}

// Wipe empties the in-memory registry behind the front (not an upstream
// given with WithUpstream), so the next copy into it is a first one.
func (r *Registry) Wipe() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set.upstream == "" {
		r.upstream = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	}
}

// Requests returns the counters.
func (r *Registry) Requests() RegistryStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Reset zeroes the counters.
func (r *Registry) Reset() {
	r.mu.Lock()
	r.stats = RegistryStats{}
	r.mu.Unlock()
}

func (r *Registry) bump(f func(*RegistryStats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

type registryError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeRegistryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]registryError{"errors": {{code, msg}}})
}

func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	latency, upstream := r.arrived(req)
	if latency > 0 {
		time.Sleep(latency)
	}
	if !strings.HasPrefix(req.URL.Path, "/v2") {
		http.NotFound(w, req)
		return
	}
	user, pass, ok := req.BasicAuth()
	var err error
	var tok Token
	if ok {
		tok, err = r.aws.Verify(user, pass)
		if err == nil && tok.Region != r.set.region {
			err = ErrTokenInvalid // ECR tokens are per region
		}
	}
	switch {
	case ok && errors.Is(err, ErrTokenExpired):
		r.bump(func(s *RegistryStats) { s.Expired++ })
		writeRegistryError(w, http.StatusForbidden, "DENIED", "Your authorization token has expired. Reauthenticate and try again.")
		return
	case !ok || err != nil:
		r.bump(func(s *RegistryStats) { s.Unauthorized++ })
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="https://%s/",service="ecr.amazonaws.com"`, req.Host))
		writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Not Authorized")
		return
	}
	if r.set.requireRepos && isPush(req) {
		if name := repoFromPath(req.URL.Path); name != "" && !r.aws.HasRepository(r.set.account, r.set.region, name) {
			writeRegistryError(w, http.StatusNotFound, "NAME_UNKNOWN", fmt.Sprintf(
				"The repository with name '%s' does not exist in the registry with id '%s'", name, r.set.account))
			return
		}
	}
	r.bump(func(s *RegistryStats) {
		s.Authorized++
		switch kind := pathKind(req.URL.Path); {
		case isPush(req):
			s.Uploads++
		case kind == "manifests":
			s.ManifestGets++
		case kind == "blobs":
			s.BlobGets++
		}
	})
	// Credentials stop here: the registry behind has no business with them.
	req.Header.Del("Authorization")
	in := &countingReader{r: req.Body}
	push := manifestPush(req)
	if push != nil {
		in.keep = true
	}
	req.Body = in
	out := &countingWriter{ResponseWriter: w}
	upstream.ServeHTTP(out, req)
	r.bump(func(s *RegistryStats) { s.BytesIn += in.n.Load(); s.BytesOut += out.n })
	if push != nil && out.status == http.StatusCreated {
		r.announce(*push, in.kept.Bytes())
	}
}

func isPush(req *http.Request) bool {
	return req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch
}

// pathKind returns "manifests", "blobs" or "" for /v2/<name>/<kind>/<ref>.
func pathKind(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) >= 4 {
		switch k := parts[len(parts)-2]; k {
		case "manifests", "blobs":
			return k
		}
		if len(parts) >= 5 && parts[len(parts)-3] == "blobs" && parts[len(parts)-2] == "uploads" {
			return "uploads"
		}
	}
	return ""
}

// repoFromPath extracts the repository name from /v2/<name>/(manifests|blobs|tags)/...
func repoFromPath(p string) string {
	rest := strings.TrimPrefix(p, "/v2/")
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.Index(rest, sep); i > 0 {
			return rest[:i]
		}
	}
	return ""
}

type countingReader struct {
	r    io.ReadCloser
	n    atomic.Int64
	keep bool         // keep a copy of what was read (a manifest, for its event)
	kept bytes.Buffer // what was read, when keep
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if c.keep {
		c.kept.Write(p[:n])
	}
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (c *countingWriter) WriteHeader(status int) {
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// Flush lets streamed responses through the reverse proxy.
func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
