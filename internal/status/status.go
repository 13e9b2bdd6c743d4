// Package status reports how each configured registry's credentials stand —
// who fetches them, when the session and token expire, when the next refresh
// falls due and how the last one went — from the token cache alone: no AWS
// configuration, no network. The lean helper links it, so `status` costs what
// a warm get costs. It renders a table, JSON, or the Prometheus text format
// for node_exporter's textfile collector.
package status

import (
	"time"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/tokencache"
)

// SchemaVersion changes when a JSON field changes meaning.
const SchemaVersion = 1

// Report is the status of every configured registry at one moment.
type Report struct {
	SchemaVersion int        `json:"schemaVersion"`
	Time          time.Time  `json:"time"`
	ConfigFile    string     `json:"configFile"`
	CacheDir      string     `json:"cacheDir"`
	CacheError    string     `json:"cacheError,omitempty"` // why there is no usable cache
	Registries    []Registry `json:"registries"`

	unconfigured string // what the table says when Registries is empty
}

// Registry is one registry's credentials as the cache holds them. Zero times
// are left out of JSON: nothing of that kind is cached or recorded.
type Registry struct {
	Host      string `json:"registry"`
	Principal string `json:"principal"` // where the source credentials come from
	Role      string `json:"role,omitempty"`
	CacheFile string `json:"cacheFile,omitempty"`

	// State is the token's: fresh, due (the next get or refresh renews it),
	// expired, untrusted (issued in the future: the clock stepped back, the
	// next get renews it), or none (nothing cached).
	State string `json:"state"`
	// CacheFileError says what is wrong with CacheFile when it exists but
	// cannot be used (a get replaces it); State is none then.
	CacheFileError string `json:"cacheFileError,omitempty"`
	// Untrusted says why State is untrusted; empty otherwise.
	Untrusted      string    `json:"untrusted,omitempty"`
	SessionExpires time.Time `json:"sessionExpires,omitzero"`
	TokenExpires   time.Time `json:"tokenExpires,omitzero"`
	NextRefresh    time.Time `json:"nextRefresh,omitzero"`

	LastRefresh   time.Time `json:"lastRefresh,omitzero"`
	LastResult    string    `json:"lastResult,omitempty"` // ok or failed; empty when none is recorded
	LastSuccess   time.Time `json:"lastSuccess,omitzero"`
	Failures      int64     `json:"failures"` // failed refreshes recorded in the cache file (a counter)
	LastErrorStep string    `json:"lastErrorStep,omitempty"`
	LastError     string    `json:"lastError,omitempty"`
}

// Token states.
const (
	StateFresh     = "fresh"
	StateDue       = "due"
	StateExpired   = "expired"
	StateUntrusted = "untrusted"
	StateNone      = "none"
)

// untrustedNote is Registry.Untrusted: a get treats such a credential as due
// (credential.NeedsRefresh), its remaining life unknown.
const untrustedNote = "issued in the future: the clock stepped back; the next get refreshes"

// Collect reads cfg's registries' state from cache at now. getenv is
// os.Getenv outside tests: it selects the cache file as a get would.
func Collect(cfg *settings.Config, cache *tokencache.Cache, getenv func(string) string, now time.Time) Report {
	r := Report{SchemaVersion: SchemaVersion, Time: now.UTC(), ConfigFile: cfg.Path, CacheDir: cache.Dir(), Registries: []Registry{}, unconfigured: cfg.Unconfigured()}
	if err := cache.Usable(); err != nil {
		r.CacheError = err.Error()
	}
	for _, host := range cfg.Hosts() {
		t, ok := cfg.Lookup(host)
		if !ok {
			continue
		}
		r.Registries = append(r.Registries, collectOne(t, cache, getenv, now))
	}
	return r
}

func collectOne(t settings.Target, cache *tokencache.Cache, getenv func(string) string, now time.Time) Registry {
	id := tokencache.IdentityFor(t, getenv)
	reg := Registry{Host: t.Registry.Host, Principal: principal(id), Role: id.RoleARN, State: StateNone}
	if reg.Role == "" && id.Env["AWS_ROLE_ARN"] != "" {
		reg.Role = id.Env["AWS_ROLE_ARN"]
	}
	if cache.Usable() != nil {
		return reg
	}
	reg.CacheFile = cache.Path(id)
	e, err := cache.LoadChecked(id)
	if err != nil {
		reg.CacheFileError = err.Error()
	}
	key := tokencache.TokenKey(t.Registry)
	if tok, ok := e.Token(key); ok {
		reg.TokenExpires, reg.NextRefresh = tok.Expires.UTC(), credential.RefreshAt(tok.Issued, tok.Expires).UTC()
		switch {
		case !now.Before(tok.Expires):
			reg.State = StateExpired
		case credential.NeedsRefresh(tok.Issued, tok.Expires, now):
			reg.State = StateDue
		default:
			reg.State = StateFresh
		}
	}
	if s := e.Session; s != nil {
		reg.SessionExpires = s.Expires.UTC()
		if at := credential.RefreshAt(s.Issued, s.Expires).UTC(); reg.NextRefresh.IsZero() || at.Before(reg.NextRefresh) {
			reg.NextRefresh = at
		}
	}
	if future(e, key, now) {
		reg.State, reg.Untrusted, reg.NextRefresh = StateUntrusted, untrustedNote, now.UTC()
	}
	if lr, ok := e.LastRefresh(key); ok {
		reg.LastRefresh, reg.LastSuccess, reg.Failures = lr.At.UTC(), lr.LastSuccess.UTC(), lr.Failures
		reg.LastResult = "failed"
		if lr.OK {
			reg.LastResult = "ok"
		}
		reg.LastErrorStep, reg.LastError = lr.Step, lr.Error
	}
	return reg
}

// future reports whether the token or the session was issued after now:
// times from before a backward clock step, whose remaining life is unknown.
func future(e *tokencache.Entry, key string, now time.Time) bool {
	tok, ok := e.Token(key)
	return ok && tok.Issued.After(now) || e.Session != nil && e.Session.Issued.After(now)
}

// principal says in a few words whose credentials fetch the tokens, from the
// identity alone (the caller's ARN would need AWS: `doctor` prints it).
func principal(id tokencache.Identity) string {
	switch id.Kind {
	case "web-identity":
		return webIdentity(id)
	case "profile":
		return "profile " + id.Profile
	}
	switch {
	case id.Profile != "":
		return "profile " + id.Profile
	case id.Env["AWS_PROFILE"] != "":
		return "profile " + id.Env["AWS_PROFILE"] + " (AWS_PROFILE)"
	case id.Env["AWS_WEB_IDENTITY_TOKEN_FILE"] != "":
		return "web identity token " + id.Env["AWS_WEB_IDENTITY_TOKEN_FILE"] + " (AWS_WEB_IDENTITY_TOKEN_FILE)"
	case id.Env["AWS_ACCESS_KEY_ID"] != "":
		return "access key " + secret.KeyID(id.Env["AWS_ACCESS_KEY_ID"]) + " (AWS_ACCESS_KEY_ID)"
	}
	return "default credential chain"
}

// webIdentity names the OIDC token a web identity entry assumes its role
// with: its file, or where web_identity gets it.
func webIdentity(id tokencache.Identity) string {
	switch id.WebIdentity {
	case settings.WebIdentityGitHub:
		return "GitHub Actions job's OIDC token"
	case settings.WebIdentityCircleCI:
		return "CircleCI job's OIDC token"
	case settings.WebIdentityKubernetes:
		return "Kubernetes service account's token (sent by the kubelet)"
	}
	return "web identity token " + id.WebIdentityTokenFile
}
