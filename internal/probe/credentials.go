package probe

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/google/go-containerregistry/pkg/authn"

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
}

// Anonymous reports whether no credentials were found.
func (c Credential) Anonymous() bool {
	return c.auth.Username == "" && c.auth.Password == "" && c.auth.IdentityToken == "" && c.auth.RegistryToken == ""
}

// Authenticator returns the credentials for go-containerregistry.
func (c Credential) Authenticator() authn.Authenticator {
	if c.Anonymous() {
		return authn.Anonymous
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

// NewKeychain reads credentials through cf, the docker CLI's own config
// (plugin: dockerCli.ConfigFile(), which honours --config and DOCKER_CONFIG).
func NewKeychain(cf *configfile.ConfigFile) *Keychain {
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
	ac, err := k.cf.GetAuthConfig(authKey(host))
	if err != nil {
		return Credential{Source: src, Err: fmt.Errorf("credentials for %s from %s: %w", host, src, err)}
	}
	if src.Kind != FromCredHelper && src.Expiry.IsZero() && ac.Username == "AWS" {
		// A docker login kept by a credsStore (or DOCKER_AUTH_CONFIG)
		// ages just like one in auths.
		src.Expiry = dockerconfig.ECRTokenExpiry(ac.Password)
	}
	return Credential{Source: src, auth: authn.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		Auth:          ac.Auth,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	}}
}

// Source reports which configuration entry docker would take host's
// credentials from, following the CLI's precedence without running any
// helper.
func (k *Keychain) Source(host string) Source {
	key := authKey(host)
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
	if akey, ac, ok := staticAuth(k.cf, key); ok {
		src.Kind, src.Key = FromAuths, akey
		if ac.Username == "AWS" {
			src.Expiry = dockerconfig.ECRTokenExpiry(ac.Password)
		}
		return src
	}
	src.Kind = FromNowhere
	return src
}

// staticAuth mirrors the docker CLI's file store lookup: the exact key, else
// any legacy key ("https://host/v1/") that reduces to it.
func staticAuth(cf *configfile.ConfigFile, key string) (string, authConfig, bool) {
	auths := cf.GetAuthConfigs()
	if ac, ok := auths[key]; ok {
		return key, authConfig{ac.Username, ac.Password}, ac.Username != "" || ac.Password != "" || ac.IdentityToken != ""
	}
	for k, ac := range auths {
		if credentials.ConvertToHostname(k) == key {
			return k, authConfig{ac.Username, ac.Password}, ac.Username != "" || ac.Password != "" || ac.IdentityToken != ""
		}
	}
	return "", authConfig{}, false
}

type authConfig struct{ Username, Password string }

// authKey is the config key docker uses for a registry: Docker Hub has its
// historical URL, everything else its host.
func authKey(host string) string {
	if host == "docker.io" || host == "index.docker.io" {
		return "https://index.docker.io/v1/"
	}
	return host
}
