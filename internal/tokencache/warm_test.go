package tokencache

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
)

// unmarshalToken is what LoadToken decided with encoding/json, which
// warmToken must match on every input.
func unmarshalToken(data []byte, key string) (fileToken, bool) {
	var fe struct {
		Version int                  `json:"version"`
		Tokens  map[string]fileToken `json:"tokens,omitempty"`
	}
	if err := json.Unmarshal(data, &fe); err != nil || fe.Version != fileVersion {
		return fileToken{}, false
	}
	t, ok := fe.Tokens[key]
	if !ok || !t.complete() {
		return fileToken{}, false
	}
	return t, true
}

// warmSeeds are files that part the two readers where a careless one would:
// every corrupt cache FuzzDecode knows, names in other cases and in Unicode
// folds, repeated names, nulls, escapes and surrogates, numbers that are not
// ints, nesting at and past encoding/json's limit.
func warmSeeds(t testing.TB) [][]byte {
	id := IdentityFor(target(&config.Entry{RoleARN: "arn:aws:iam::111122223333:role/pull"}), env(nil))
	e := sampleEntry()
	e.SetFailure("eu-west-1", Failure{At: t0.Add(time.Hour), Message: "failed", Settings: "timeout=5s"})
	good, err := encode(id, e)
	if err != nil {
		t.Fatal(err)
	}
	tok := `{"username":"AWS","password":"pw","issued":"2026-01-01T00:00:00Z","expires":"2026-01-01T01:00:00Z"}`
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	seeds := [][]byte{good, good[:len(good)/2], good[:len(good)-1], append(append([]byte{}, good...), " \n\t\r"...), append(append([]byte{}, good...), 'x')}
	for _, s := range []string{
		"", " ", "null", "[]", "{}", `{"version":1}`, `{"version":7}`, "\xef\xbb\xbf{}",
		`{"version":1,"tokens":{"us-east-1":` + tok + `}}`,
		`{"VERSION":1,"Tokens":{"us-east-1":` + tok + `}}`,
		`{"version":1,"toKens":{"us-east-1":` + tok + `}}`, // Kelvin sign
		`{"version":1,"tokenſ":{"us-east-1":` + tok + `}}`, // long s
		`{"versİon":1,"tokens":{"us-east-1":` + tok + `}}`, // dotted capital I: no fold to i
		`{"version":1,"tokens":{"US-EAST-1":` + tok + `}}`, // map keys are exact
		`{"ver\u0073ion":1,"tokens":{"us-east-1":` + tok + `}}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"tokens":null}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"tokens":{}}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `,"us-east-1":{"username":"AWS"}}}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `,"eu-west-1":5}}`,
		`{"version":1,"tokens":{"us-east-1":null}}`,
		`{"version":1,"version":null,"tokens":{"us-east-1":` + tok + `}}`,
		`{"version":"1","tokens":{"us-east-1":` + tok + `}}`,
		`{"version":1.0,"tokens":{"us-east-1":` + tok + `}}`,
		`{"version":1e0,"tokens":{"us-east-1":` + tok + `}}`,
		`{"version":-0,"tokens":{}}`, `{"version":01}`, `{"version":1,}`, `{"version":1 "tokens":{}}`,
		`{"version":99999999999999999999,"tokens":{}}`,
		`{"version":1,"tokens":[]}`, `{"version":1,"tokens":"x"}`, `{"version":1,"tokens":true}`,
		`{"version":1,"tokens":{"us-east-1":{"username":"AWS","password":"p\u00e9\ud83d\ude00\ud800x\\\"\/\b\f\n\r\t","issued":"2026-01-01T00:00:00Z","expires":"2026-01-01T01:00:00Z"}}}`,
		`{"version":1,"tokens":{"us-east-1":{"username":"AWS","password":"\xff\xfe","issued":"2026-01-01T00:00:00Z","expires":"2026-01-01T01:00:00Z"}}}`,
		`{"version":1,"tokens":{"us-east-1":{"username":"AWS","password":"pw","issued":"2026-01-01T00:00:00Z","expires":null,"expires":"2026-01-01T01:00:00Z"}}}`,
		`{"version":1,"tokens":{"us-east-1":{"username":"AWS","password":"pw","issued":"2026-01-01T00:00:00Z","expires":"2026-01-01T01:00:00Z","password":null}}}`,
		`{"version":1,"tokens":{"us-east-1":{"username":"AWS","password":"pw","issued":"2026-01-01T00:00:00Z","expires":"2026-01-01T01:00:00\u005a"}}}`,
		`{"version":1,"tokens":{"us-east-1":{"username":"AWS","password":"pw","issued":"2026-01-01T00:00:00Z","expires":{}}}}`,
		`{"version":1,"tokens":{"us-east-1":{"username":5,"password":"pw","issued":"2026-01-01T00:00:00Z","expires":"2026-01-01T01:00:00Z"}}}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"x":` + deep(9999) + `}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"x":` + deep(10000) + `}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"x":[1,-2.5e+3,true,false,null,"s",{"a":[]}]}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"x":"\u00"}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"x":"` + "\x01" + `"}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"x":tru}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"x":1.}`,
		`{"version":1,"tokens":{"us-east-1":` + tok + `},"x":-}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// TestWarmTokenIsUnmarshal: on every seed the one-pass reader answers as
// json.Unmarshal did, for the key of the file's token and for another.
func TestWarmTokenIsUnmarshal(t *testing.T) {
	for _, data := range warmSeeds(t) {
		for _, key := range []string{"us-east-1", "eu-west-1", ""} {
			checkWarm(t, data, key)
		}
	}
	// The seeds hit both answers.
	if _, ok := warmToken(warmSeeds(t)[0], "us-east-1"); !ok {
		t.Error("a file encode wrote: no token")
	}
}

func checkWarm(t *testing.T, data []byte, key string) {
	t.Helper()
	want, wantOK := unmarshalToken(data, key)
	got, ok := warmToken(data, key)
	if ok != wantOK || got.Username != want.Username || got.Password != want.Password || !got.Issued.Equal(want.Issued) || !got.Expires.Equal(want.Expires) ||
		got.Issued.Location().String() != want.Issued.Location().String() {
		t.Fatalf("%q under %q: got %+v %v, encoding/json %+v %v", truncate(data), key, got, ok, want, wantOK)
	}
}

func truncate(b []byte) []byte {
	if len(b) > 300 {
		return append(append([]byte{}, b[:300]...), "…"...)
	}
	return b
}

// FuzzWarmTokenIsUnmarshal: on any file, and any key, the warm path's reader
// answers as json.Unmarshal does: the same token, or a miss where it fails.
func FuzzWarmTokenIsUnmarshal(f *testing.F) {
	for _, s := range warmSeeds(f) {
		f.Add(s, "us-east-1")
	}
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		checkWarm(t, data, key)
		if i := bytes.IndexByte(data, '{'); i >= 0 {
			checkWarm(t, data[i:], key)
		}
	})
}
