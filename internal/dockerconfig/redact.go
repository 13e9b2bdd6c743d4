package dockerconfig

import (
	"sort"
	"strings"

	"github.com/currentsdev/currents/internal/secret"
	"github.com/tidwall/gjson"
)

// loginSecrets are the fields of an "auths" entry that hold a credential. docker decodes config.json with
// encoding/json, which matches keys whatever their case, so these are compared that way too.
var loginSecrets = []string{"auth", "password", "identitytoken", "registrytoken"}

// RedactText is config.json's text with every credential masked where it is written — the logins in
// "auths" and the values of "HttpHeaders", which may carry tokens — found by parsing the JSON, whatever its
// layout (one line, several values on a line, escapes). values are the secrets as parsed and as written, to
// mask wherever else they appear. Text that is not a JSON object comes back as a note.
func RedactText(data []byte) (masked []byte, values []string) {
	if validate("config.json", data) != nil {
		return []byte("(not shown: not valid JSON, so its secrets cannot be found)\n"), nil
	}
	var spans [][2]int
	add := func(v gjson.Result) {
		if v.Type != gjson.String || v.Index <= 0 {
			return
		}
		spans = append(spans, [2]int{v.Index, v.Index + len(v.Raw)})
		values = append(values, v.Str, strings.Trim(v.Raw, `"`))
	}
	gjson.ParseBytes(data).ForEach(func(k, top gjson.Result) bool {
		switch {
		case strings.EqualFold(k.Str, keyAuths):
			top.ForEach(func(_, entry gjson.Result) bool {
				entry.ForEach(func(field, v gjson.Result) bool {
					for _, s := range loginSecrets {
						if strings.EqualFold(field.Str, s) {
							add(v)
						}
					}
					return true
				})
				return true
			})
		case strings.EqualFold(k.Str, "HttpHeaders"):
			top.ForEach(func(_, v gjson.Result) bool { add(v); return true })
		}
		return true
	})
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] > spans[j][0] })
	out := string(data)
	for _, s := range spans {
		out = out[:s[0]] + `"` + secret.Mask + `"` + out[s[1]:]
	}
	return []byte(out), values
}
