package tokencache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/currentsdev/currents/internal/idtoken"
	"github.com/currentsdev/currents/internal/settings"
)

// Identity is the stable description of the AWS principal that fetches tokens
// for a target. It is computed from currents.yaml and environment variable
// values alone — never from loading AWS configuration or resolving
// credentials — so a warm `get` can find its cache file without touching the SDK.
//
// It never holds a temporary access key: keying on one (as the peer helper
// does) makes every assumed-role `get` a miss.
type Identity struct {
	Kind                 string `json:"kind"` // "role", "web-identity", "profile" or "default-chain"
	Partition            string `json:"partition"`
	RoleARN              string `json:"role_arn,omitempty"`
	ExternalID           string `json:"external_id,omitempty"`
	SessionName          string `json:"session_name,omitempty"`
	Profile              string `json:"profile,omitempty"`
	WebIdentityTokenFile string `json:"web_identity_token_file,omitempty"`
	WebIdentity          string `json:"web_identity,omitempty"`
	Audience             string `json:"audience,omitempty"`
	// ServiceAccount is the Kubernetes service account whose token assumes
	// the role (web_identity: kubernetes): each has its own session.
	ServiceAccount string `json:"service_account,omitempty"`
	// Token is the digest of the very token that assumes the role
	// (idtoken.Digest; web_identity: kubernetes): a session serves only the
	// token AWS accepted it for, never another that claims the same account.
	Token string `json:"token,omitempty"`
	// Job is the CI job whose token assumes the role (web_identity:
	// github-actions or circleci, idtoken.Job): sessions are a job's own.
	Job string            `json:"job,omitempty"`
	Env map[string]string `json:"env,omitempty"`
}

// endpointEnv changes where credentials and tokens come from (tests point them at
// the stand-in), so two values must never share a cache file.
var endpointEnv = []string{
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_ECR_PUBLIC",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
}

// chainEnv selects the principal of the SDK default chain.
var chainEnv = []string{
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
}

// IdentityFor derives the identity serving t. getenv is os.Getenv outside tests.
// The region is not part of it: one principal's file holds a token per region.
func IdentityFor(t settings.Target, getenv func(string) string) Identity {
	id := Identity{Partition: t.Registry.Partition, Env: map[string]string{}}
	pick := func(keys []string) {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				id.Env[k] = v
			}
		}
	}
	pick(endpointEnv)
	e := t.Entry
	switch {
	case e != nil && (e.WebIdentityTokenFile != "" || e.WebIdentity != ""):
		id.Kind = "web-identity"
	case e != nil && e.RoleARN != "":
		id.Kind = "role"
	case e != nil && e.Profile != "":
		id.Kind = "profile"
	default:
		id.Kind = "default-chain"
	}
	if e != nil {
		id.RoleARN, id.ExternalID, id.SessionName = e.RoleARN, e.ExternalID, e.SessionName
		id.Profile, id.WebIdentityTokenFile = e.Profile, e.WebIdentityTokenFile
		// A CI job's sessions are its own (idtoken.Job): a few variables and
		// one hash, so a warm get costs in CI what it costs on a host.
		id.WebIdentity = e.WebIdentity
		id.Job = idtoken.Job(e.WebIdentity, getenv)
		if e.WebIdentity == settings.WebIdentityGitHub {
			id.Audience = e.Audience()
		}
	}
	// Without a role of our own the principal is whoever the source credentials
	// are, which the environment selects.
	if id.Kind == "default-chain" || id.Kind == "profile" {
		pick(chainEnv)
		// A long-term key names its principal; a temporary one changes every
		// hour and would make every lookup a miss, so it is left out.
		if getenv("AWS_SESSION_TOKEN") == "" && id.Profile == "" {
			pick([]string{"AWS_ACCESS_KEY_ID"})
		}
	}
	if len(id.Env) == 0 {
		id.Env = nil
	}
	return id
}

// WithServiceAccount is id for the role sessions of one Kubernetes service
// account (namespace/name, plus its UID so a recreated account starts over),
// assumed with the token whose digest is token: the token's claims are not
// verified here (AWS verifies them), so a session is kept for that token
// alone. The kubelet hands a pod's requests one token until it rotates it, and
// caches the answer per service account, so a new token (one more session)
// comes about once per cacheDuration.
func (id Identity) WithServiceAccount(sa, token string) Identity {
	id.ServiceAccount, id.Token = sa, token
	return id
}

// Key is the identity's file name stem: a hash, so that role names and external
// IDs do not show in a directory listing. An identity of one token is its
// service account's stem, "-", and the token's (Siblings).
func (id Identity) Key() string {
	// The token's digest is not part of the encoding: it follows the stem.
	sum := sha256.Sum256(id.canonical())
	key := hex.EncodeToString(sum[:16])
	if tok := id.Token; tok != "" {
		key += "-" + tok[:min(len(tok), 16)]
	}
	return key
}

// canonical is the identity, its Token left out, exactly as json.Marshal encodes it (fields in
// their order, omitempty honoured, env sorted by name), written field by
// field: marshalling the struct spent a warm get about 40µs on reflecting
// over Identity's fields, in a process that lives 3ms. Every cache file is
// named by this encoding, so it must not change (TestCanonicalIsMarshal).
func (id Identity) canonical() []byte {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	for i, f := range [...]struct {
		name, value string
	}{
		{"kind", id.Kind}, {"partition", id.Partition}, {"role_arn", id.RoleARN}, {"external_id", id.ExternalID},
		{"session_name", id.SessionName}, {"profile", id.Profile}, {"web_identity_token_file", id.WebIdentityTokenFile},
		{"web_identity", id.WebIdentity}, {"audience", id.Audience}, {"service_account", id.ServiceAccount}, {"job", id.Job},
	} {
		if f.value == "" && i >= 2 { // kind and partition have no omitempty
			continue
		}
		b = appendMember(b, f.name, f.value)
	}
	if len(id.Env) > 0 {
		b = append(b, `"env":{`...)
		keys := make([]string, 0, len(id.Env))
		for k := range id.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b = appendMember(b, k, id.Env[k])
		}
		b = append(b[:len(b)-1], "},"...)
	}
	if b[len(b)-1] == ',' {
		b = b[:len(b)-1]
	}
	return append(b, '}')
}

// appendMember appends "name":"value", with both strings escaped by
// encoding/json itself (a string costs it no reflection over fields).
func appendMember(b []byte, name, value string) []byte {
	for _, s := range [2]string{name, value} {
		b = append(appendQuoted(b, s), ':')
	}
	b[len(b)-1] = ','
	return b
}

// appendQuoted appends s as json.Marshal writes it. Names and most values
// are printable ASCII that JSON writes as they are, between quotes, which
// is done here: a warm get computes a key, and json.Marshal's reflection
// cost it more than the hash (FuzzAppendQuoted holds the two equal).
func appendQuoted(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				panic(err) // a string always marshals
			}
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// Describe is the identity without its external ID, for the cache file and logs.
func (id Identity) Describe() map[string]string {
	d := map[string]string{"kind": id.Kind, "partition": id.Partition}
	for k, v := range map[string]string{"role_arn": id.RoleARN, "session_name": id.SessionName, "profile": id.Profile,
		"web_identity_token_file": id.WebIdentityTokenFile, "web_identity": id.WebIdentity, "audience": id.Audience, "service_account": id.ServiceAccount, "job": id.Job} {
		if v != "" {
			d[k] = v
		}
	}
	if id.ExternalID != "" {
		d["external_id"] = "[set]"
	}
	keys := make([]string, 0, len(id.Env))
	for k := range id.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d["env."+k] = id.Env[k]
	}
	return d
}
