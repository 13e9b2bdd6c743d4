// Package keychain finds a registry's credentials exactly as the docker CLI
// does (DOCKER_AUTH_CONFIG, then credHelpers, then credsStore, then auths),
// through the docker CLI's own config and credential-store code, and says
// which of those supplied them. check's probe and mirror read registries
// through it.
package keychain

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/currentsdev/currents/internal/dockerconfig"
)

// SourceKind names where docker finds a registry's credentials, in the order
// docker consults them.
type SourceKind string

const (
	FromAuthConfigEnv SourceKind = "DOCKER_AUTH_CONFIG"
	FromCredHelper    SourceKind = "credHelpers"
	FromCredsStore    SourceKind = "credsStore"
	FromAuths         SourceKind = "auths"
	FromNowhere       SourceKind = "none"
)

// Source says which part of the docker configuration supplies a registry's
// credentials, without carrying them.
type Source struct {
	Kind SourceKind `json:"kind"`
	// Helper is the credential helper's name ("currents" runs
	// docker-credential-currents) for credHelpers and credsStore.
	Helper string `json:"helper,omitempty"`
	// Key is the config key docker looks the registry up by.
	Key string `json:"key"`
	// ConfigFile is the config.json consulted.
	ConfigFile string `json:"configFile"`
	// Expiry is when a static ECR token (from docker login, in auths or a
	// credsStore) stops working; zero when the credentials are not an ECR
	// token or come from a credHelpers entry, which refreshes them.
	Expiry time.Time `json:"expiry,omitzero"`
}

func (s Source) String() string {
	switch s.Kind {
	case FromCredHelper:
		return fmt.Sprintf("credHelpers[%q] = %q (docker-credential-%s)", s.Key, s.Helper, s.Helper)
	case FromCredsStore:
		return fmt.Sprintf("credsStore %q (docker-credential-%s)", s.Helper, s.Helper)
	case FromAuths:
		return fmt.Sprintf("auths[%q] in %s (a static docker login)", s.Key, s.ConfigFile)
	case FromAuthConfigEnv:
		return "the DOCKER_AUTH_CONFIG environment variable"
	default:
		return "none (anonymous)"
	}
}

// Credential is what docker would send to one registry.
type Credential struct {
	Source Source
	// Err is the helper's failure, if running it failed.
	Err  error
	auth authn.AuthConfig
	// basic is what go-containerregistry gets for a user and password: the
	// Basic header's encoded part, made once. From a user and password it
	// would format, copy and encode them again for every request (16 KB
	// allocated for an ECR token's 3.6 KB header, 4.6 MB a 300-image
	// check); from Auth alone it only prefixes "Basic ".
	basic authn.Authenticator
}

// Anonymous reports whether no credentials were found.
func (c Credential) Anonymous() bool {
	return c.auth.Username == "" && c.auth.Password == "" && c.auth.IdentityToken == "" && c.auth.RegistryToken == ""
}

// Authenticator returns the credentials for go-containerregistry.
func (c Credential) Authenticator() authn.Authenticator {
	switch {
	case c.Anonymous():
		return authn.Anonymous
	case c.basic != nil:
		return c.basic
	}
	return authn.FromConfig(c.auth)
}

// Keychain finds registry credentials exactly as the docker CLI does
// (DOCKER_AUTH_CONFIG, then credHelpers, then credsStore, then auths), runs
// the helper the same way, and remembers the answer per registry so a stack
// of many images runs each helper once. It is safe for concurrent use and
// implements authn.Keychain.
type Keychain struct {
	cf *configfile.ConfigFile

	mu    sync.Mutex
	hosts map[string]*lookup
}

type lookup struct {
	once sync.Once
	cred Credential
}

// New reads credentials through cf, the docker CLI's own config (plugin:
// dockerCli.ConfigFile(), which honours --config and DOCKER_CONFIG).
func New(cf *configfile.ConfigFile) *Keychain {
	return &Keychain{cf: cf, hosts: map[string]*lookup{}}
}

// Get returns the credentials for a registry host ("index.docker.io",
// "127.0.0.1:5000", "123456789012.dkr.ecr.us-east-1.amazonaws.com").
func (k *Keychain) Get(host string) Credential {
	k.mu.Lock()
	l, ok := k.hosts[host]
	if !ok {
		l = &lookup{}
		k.hosts[host] = l
	}
	k.mu.Unlock()
	l.once.Do(func() { l.cred = k.fetch(host) })
	return l.cred
}

// Resolve implements authn.Keychain, for callers using
// remote.WithAuthFromKeychain.
func (k *Keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	c := k.Get(r.RegistryStr())
	if c.Err != nil {
		return nil, c.Err
	}
	return c.Authenticator(), nil
}

func (k *Keychain) fetch(host string) Credential {
	src := k.Source(host)
	// The docker CLI's own lookup: its key for the host, its store.
	ac, err := k.cf.GetAuthConfig(host)
	if err != nil {
		return Credential{Source: src, Err: fmt.Errorf("credentials for %s from %s: %w", host, src, err)}
	}
	if src.Kind != FromCredHelper && src.Expiry.IsZero() && ac.Username == "AWS" {
		// A docker login kept by a credsStore (or DOCKER_AUTH_CONFIG)
		// ages just like one in auths.
		src.Expiry = dockerconfig.ECRTokenExpiry(ac.Password)
	}
	c := Credential{Source: src, auth: authn.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		Auth:          ac.Auth,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	}}
	if ac.Username != "" && ac.Password != "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		// The encoding of docker's "auth" field and of the Basic header.
		c.basic = authn.FromConfig(authn.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte(ac.Username + ":" + ac.Password))})
	}
	return c
}

// Source reports which configuration entry docker would take host's
// credentials from, following the CLI's precedence without running any
// helper.
func (k *Keychain) Source(host string) Source {
	key := configKey(host)
	src := Source{Key: key, ConfigFile: k.cf.Filename}
	if keys, _ := dockerconfig.EnvAuthKeys(os.Getenv(dockerconfig.EnvAuthConfig), credentials.ConvertToHostname(key)); len(keys) > 0 {
		src.Kind = FromAuthConfigEnv
		return src
	}
	if h, ok := k.cf.CredentialHelpers[key]; ok && h != "" {
		src.Kind, src.Helper = FromCredHelper, h
		return src
	}
	if k.cf.CredentialsStore != "" {
		src.Kind, src.Helper = FromCredsStore, k.cf.CredentialsStore
		return src
	}
	// The docker CLI's file store: the exact key, else a legacy key
	// ("https://host/v1/") that reduces to it.
	ac, err := credentials.NewFileStore(k.cf).Get(key)
	if err != nil || (ac.Username == "" && ac.Password == "" && ac.IdentityToken == "") {
		src.Kind = FromNowhere
		return src
	}
	src.Kind = FromAuths
	if ac.ServerAddress != "" {
		src.Key = ac.ServerAddress // the key the entry is written under
	}
	if ac.Username == "AWS" {
		src.Expiry = dockerconfig.ECRTokenExpiry(ac.Password)
	}
	return src
}

// configKey is the docker CLI's key for a registry's credentials
// (configfile's getAuthConfigKey, unexported there): Docker Hub keeps its
// historical URL, every other registry its host. A test holds it to what
// the CLI's own GetAuthConfig picks.
func configKey(host string) string {
	if host == "docker.io" || host == "index.docker.io" {
		return "https://index.docker.io/v1/"
	}
	return host
}

// BasicFirst is a transport to reg that sends auth's Basic credentials with
// the first request and pings nothing: an ECR registry (a real host or a
// configured alias) answers every request with a Basic challenge, so this
// spares the round trip docker spends on its first 401. Requests to other
// hosts pass through to inner untouched.
func BasicFirst(reg name.Registry, auth authn.Authenticator, inner http.RoundTripper) (http.RoundTripper, error) {
	return transport.FromToken(reg, auth, inner, &transport.Challenge{Scheme: "basic"}, nil)
}
