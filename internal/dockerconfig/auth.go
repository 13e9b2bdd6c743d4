package dockerconfig

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/currentsdev/currents/internal/ecrhost"
)

// StaticAuth describes an "auths" entry (what `docker login` leaves) without carrying its secret.
type StaticAuth struct {
	Key      string // the key as written, e.g. "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
	Username string // "AWS" for an ECR login
	// HasSecret is true when the entry itself holds a password, an auth string or an identity token. An entry
	// without one means docker keeps the secret in credsStore.
	HasSecret bool
	// Expiry is when the ECR token in the entry stops working, when the password is an ECR authorization
	// token whose expiry can be read; zero otherwise.
	Expiry time.Time
}

// SameHost reports whether two config.json keys or server URLs name the same registry, by ecrhost.Normalize:
// the one rule currents.yaml and the cache use ("https://Host:443/v1/" is "host").
func SameHost(a, b string) bool {
	na, err := ecrhost.Normalize(a)
	if err != nil {
		return false
	}
	nb, err := ecrhost.Normalize(b)
	return err == nil && na == nb
}

// StaticAuths returns the auths entries docker would use for host.
func (f *File) StaticAuths(host string) []StaticAuth {
	keys, values := f.membersOf(keyAuths, func(k, _ gjson.Result) bool { return SameHost(k.Str, host) })
	var out []StaticAuth
	for i, k := range keys {
		out = append(out, describe(k, values[i]))
	}
	return out
}

// RemoveAuth deletes every auths entry for host. An emptied "auths" stays as {} — the shape docker writes.
// Save's backup leaves them out too.
func (f *File) RemoveAuth(host string) error {
	found := f.StaticAuths(host)
	for _, a := range found {
		if err := f.sjsonDelete(keyAuths + "." + escapePath(a.Key)); err != nil {
			return err
		}
	}
	if len(found) > 0 {
		f.removed = append(f.removed, host)
	}
	return nil
}

func describe(key string, v gjson.Result) StaticAuth {
	a := StaticAuth{Key: key, Username: v.Get("username").String()}
	password := v.Get("password").String()
	if enc := v.Get("auth").String(); enc != "" {
		if raw, err := base64.StdEncoding.DecodeString(enc); err == nil {
			if user, pass, ok := strings.Cut(string(raw), ":"); ok {
				a.Username, password = user, pass
			}
		}
		a.HasSecret = true
	}
	if password != "" || v.Get("identitytoken").String() != "" || v.Get("registrytoken").String() != "" {
		a.HasSecret = true
	}
	if a.Username == "AWS" {
		a.Expiry = ECRTokenExpiry(password)
	}
	return a
}

// ECRTokenExpiry reads the expiry out of the password half of an ECR authorization token: base64 of a JSON
// envelope whose "expiration" is Unix seconds. It returns zero for anything else.
func ECRTokenExpiry(password string) time.Time {
	raw, err := base64.StdEncoding.DecodeString(password)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(password); err != nil {
			return time.Time{}
		}
	}
	var env struct {
		Expiration json.Number `json:"expiration"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return time.Time{}
	}
	secs, err := env.Expiration.Int64()
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(secs, 0).UTC()
}

// EnvAuthConfig is the variable newer docker CLIs read credentials from before config.json: a JSON document
// {"auths": {HOST: {"auth": BASE64}}} whose entries win over credHelpers.
const EnvAuthConfig = "DOCKER_AUTH_CONFIG"

// EnvAuthKeys returns the keys of value's "auths" that name host (value is DOCKER_AUTH_CONFIG's content).
func EnvAuthKeys(value, host string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var doc struct {
		Auths map[string]json.RawMessage `json:"auths"`
	}
	if err := json.Unmarshal([]byte(value), &doc); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", EnvAuthConfig, err)
	}
	var keys []string
	for k := range doc.Auths {
		if SameHost(k, host) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}
