package tokencache

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
)

// FuzzDecode: a cache file of any content is a miss or a complete entry, never
// a panic; an entry read is written back and read again unchanged.
func FuzzDecode(f *testing.F) {
	id := IdentityFor(target(&config.Entry{RoleARN: "arn:aws:iam::111122223333:role/pull"}), env(nil))
	e := sampleEntry()
	e.SetFailure("eu-west-1", Failure{At: t0.Add(time.Hour), Message: "failed in the future", Settings: "timeout=5s"})
	e.RecordFailure("eu-west-1", t0, "token", "AccessDenied")
	good, err := encode(id, e)
	if err != nil {
		f.Fatal(err)
	}
	// Issue 10's 15 corrupt caches, in kind.
	for _, s := range [][]byte{
		good, good[:len(good)/2], {}, []byte("null"), []byte("[]"), []byte(`{"version":1}`), []byte(`{"version":7}`),
		bytes.Replace(good, []byte(`"password": "pw"`), []byte(`"password": ""`), 1),
		bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 1e400`), 1),
		bytes.Replace(good, []byte(`2026-01-01T12:00:00Z`), []byte(`0001-01-01T00:00:00Z`), 1),
		bytes.Replace(good, []byte(`2026-01-01T12:00:00Z`), []byte(`9999-12-31T23:59:59Z`), 1),
		[]byte(`{"version":1,"tokens":{"":{"username":"AWS","password":"x","issued":"2026-01-01T00:00:00Z","expires":"2026-01-01T01:00:00Z"}}}`),
		[]byte(`{"version":1,"tokens":{"us-east-1":null}}`), []byte(`{"version":1,"session":{}}`), []byte("\xef\xbb\xbf{}"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decode(data)
		if err != nil {
			return
		}
		for k, tok := range e.Tokens {
			if k == "" || tok.Username == "" || tok.Password.IsZero() || !tok.Expires.After(tok.Issued) {
				t.Errorf("incomplete token %q accepted: %+v", k, tok)
			}
		}
		if s := e.Session; s != nil && (s.AccessKeyID == "" || s.SecretAccessKey.IsZero() || !s.Expires.After(s.Issued)) {
			t.Errorf("incomplete session accepted: %+v", s)
		}
		out, err := encode(id, e)
		if err != nil {
			t.Fatalf("an entry read cannot be written: %v", err)
		}
		back, err := decode(out)
		if err != nil {
			t.Fatalf("an entry written cannot be read: %v\n%s", err, out)
		}
		again, _ := encode(id, back)
		if !bytes.Equal(out, again) {
			t.Errorf("round trip changed the file:\n%s\n---\n%s", out, again)
		}
		// The policy's decisions on whatever times were read must not panic.
		now := t0.Add(time.Hour)
		for _, tok := range e.Tokens {
			credential.NeedsRefresh(tok.Issued, tok.Expires, now)
			credential.Servable(tok.Issued, tok.Expires, now)
		}
		e.Remembered("us-east-1", now, now, "")
	})
}

// FuzzCanonical: an identity's canonical encoding, which names its cache
// files, is json.Marshal's byte for byte, for any field values (HTML
// characters, U+2028, invalid UTF-8, control bytes) and any set of variables;
// so Key is what it was when it marshalled the struct, and no cache file moves.
func FuzzCanonical(f *testing.F) {
	f.Add("role", "aws", "arn:aws:iam::111122223333:role/pull", "x<&>y", "", "host", "", "", "", "", "", "AWS_PROFILE", "a\u2028b")
	f.Add("default-chain", "aws-cn", "", "", "s", "", "/t\x00k", "github-actions", "sts.amazonaws.com", "ns/sa/uid", "job", "", "")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "\xff", "\"\\\t")
	f.Fuzz(func(t *testing.T, kind, partition, role, external, session, profile, tokenFile, web, audience, sa, job, envKey, envValue string) {
		id := Identity{Kind: kind, Partition: partition, RoleARN: role, ExternalID: external, SessionName: session,
			Profile: profile, WebIdentityTokenFile: tokenFile, WebIdentity: web, Audience: audience, ServiceAccount: sa, Job: job}
		if envKey != "" || envValue != "" {
			id.Env = map[string]string{envKey: envValue, "AWS_CONFIG_FILE": envValue + "/config", "AWS_ENDPOINT_URL": role}
		}
		want, err := json.Marshal(id)
		if err != nil {
			t.Fatal(err)
		}
		if got := id.canonical(); !bytes.Equal(got, want) {
			t.Fatalf("canonical:\n%s\njson.Marshal:\n%s", got, want)
		}
		if id.Env != nil {
			id.Env = map[string]string{} // omitempty: an empty map is left out too
			want, _ = json.Marshal(id)
			if got := id.canonical(); !bytes.Equal(got, want) {
				t.Fatalf("empty env: canonical %s, json.Marshal %s", got, want)
			}
		}
	})
}

// FuzzAppendQuoted: the cache key's members are quoted exactly as
// json.Marshal quotes them, so keys (and the files they name) stay those
// of every earlier version.
func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{"", "kind", "arn:aws:iam::111122223333:role/pull", "a\"b", `a\b`, "<>&", "\x7f", "\x00\n", "é", "\u2028", "\xff", "AWS_ENDPOINT_URL_STS"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendQuoted([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: %s, json.Marshal %s", s, got[1:], want)
		}
	})
}
