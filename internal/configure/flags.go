package configure

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/fix"
)

// flagOf names the flag that sets each key of the entry configure writes.
var flagOf = map[string]string{
	"host":                    "--registry",
	"account":                 "--account",
	"region":                  "--region",
	"role_arn":                "--role-arn",
	"external_id":             "--external-id-file",
	"session_name":            "--session-name",
	"duration":                "--duration",
	"profile":                 "--profile",
	"web_identity_token_file": "--web-identity-token-file",
	"web_identity":            "--web-identity",
	"web_identity_audience":   "--web-identity-audience",
}

// keySyntax matches the currents.yaml spellings in a fix ("account: \"1234\"", "remove region", a bare
// role_arn), to say them as flags; keys that are plain words ("account", "region") only with their colon.
// Compiled on first use: the AWS binary links this package, and every cold get would compile it at start.
var keySyntax = sync.OnceValue(func() *regexp.Regexp {
	keys := make([]string, 0, len(flagOf))
	for k := range flagOf {
		keys = append(keys, regexp.QuoteMeta(k))
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) }) // web_identity_audience before web_identity
	return regexp.MustCompile(`\b(` + strings.Join(keys, "|") + `)(?::(?: "([^"]*)"| ([^\s,;"]+))?|\b)`)
})

// flagErrors turns what Parse says about the entry configure writes, which names lines of a file that was
// never written, into errors that name the flag to change. Problems with other entries of an existing
// currents.yaml keep their file and line: those are the file's to fix.
func flagErrors(err error, host string) error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, flagError(e, host))
		}
		return errors.Join(out...)
	}
	return flagError(err, host)
}

func flagError(err error, host string) error {
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Index == 0 {
		return err
	}
	if h, herr := ecrhost.Normalize(ce.Host); herr != nil || h != host {
		return err
	}
	flag, ok := flagOf[ce.Key]
	if !ok {
		return err
	}
	return fix.New(fmt.Errorf("%s: %s", flag, asFlags(ce.Msg)), asFlags(ce.Hint))
}

// asFlags says currents.yaml's keys in text as the flags that set them.
func asFlags(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range keySyntax().FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		last = m[1]
		whole, key := s[m[0]:m[1]], s[m[2]:m[3]]
		value := ""
		for _, g := range [][2]int{{m[4], m[5]}, {m[6], m[7]}} {
			if g[0] >= 0 {
				value = s[g[0]:g[1]]
			}
		}
		switch {
		case !strings.Contains(key, "_") && !strings.Contains(whole, ":"):
			b.WriteString(whole) // a plain word ("the account ID"), not the key
		case value != "" && !strings.HasSuffix(s[:m[0]], "remove "):
			b.WriteString(flagOf[key] + " " + value)
		default: // a bare key, or "remove region: it is taken from the host", where the colon is the sentence's
			b.WriteString(flagOf[key])
			if strings.Contains(whole, ":") {
				b.WriteString(":")
			}
			if value != "" {
				b.WriteString(" " + value)
			}
		}
	}
	b.WriteString(s[last:])
	return b.String()
}
