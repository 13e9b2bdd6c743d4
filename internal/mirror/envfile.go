package mirror

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"

	"github.com/currentsdev/currents/internal/atomicfile"
)

// SetEnv sets key=value in the env file at path and changes nothing else:
// comments, order, blank lines, line endings, quoting style and every other
// byte stay. Every assignment of key is rewritten (compose reads the last
// one; leaving an earlier stale copy would only mislead a reader); when there
// is none, one line is appended. The result is re-read with compose's own dotenv parser and must
// hold exactly the old values plus the new one, else nothing is written.
// The old file is kept as path+".bak"; the write is atomic.
//
// A symlinked env file (a .env pointing at a shared file) is edited where it
// points, so the link stays a link.
func SetEnv(path, key, value string) (EnvEdit, error) {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return EnvEdit{}, err
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return EnvEdit{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return EnvEdit{}, err
	}
	updated, replaced, err := setEnvBytes(old, key, value)
	if err != nil {
		return EnvEdit{}, fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(old, updated) {
		return EnvEdit{}, nil
	}
	before, err := parseEnv(old)
	if err != nil {
		return EnvEdit{}, fmt.Errorf("%s: cannot parse it as an env file, so it is left alone: %w", path, err)
	}
	after, err := parseEnv(updated)
	if err != nil {
		return EnvEdit{}, fmt.Errorf("%s: the edit would not parse (%v); nothing written", path, err)
	}
	before[key] = value
	if len(before) != len(after) {
		return EnvEdit{}, fmt.Errorf("%s: the edit would change other variables; nothing written", path)
	}
	for k, v := range before {
		if after[k] != v {
			return EnvEdit{}, fmt.Errorf("%s: the edit would change %s; nothing written", path, k)
		}
	}
	backup := path + ".bak"
	if err := atomicfile.WriteFile(backup, old, st.Mode().Perm()); err != nil {
		return EnvEdit{}, fmt.Errorf("backup %s: %w", backup, err)
	}
	if err := atomicfile.WriteFile(path, updated, st.Mode().Perm()); err != nil {
		return EnvEdit{}, err
	}
	return EnvEdit{Changed: true, Backup: backup, Replaced: replaced}, nil
}

// EnvEdit is what SetEnv did.
type EnvEdit struct {
	Changed bool
	Backup  string // the previous file, when Changed
	// Replaced are the old values as written, quotes and references such as
	// ${DC_CURRENTS_REGISTRY:-…} included, so a caller can say what an
	// interpolated value turned into.
	Replaced []string
}

// parseEnv reads an env file as compose does. Lookups see nothing, so a
// reference to the OS environment expands the same way before and after.
func parseEnv(b []byte) (map[string]string, error) {
	return dotenv.UnmarshalBytesWithLookup(b, func(string) (string, bool) { return "", false })
}

// assignment matches `KEY=…` the way compose's dotenv does: optional leading space,
// optional `export`, spaces around `=`.
var assignment = regexp.MustCompile(`^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_.]*)(\s*=\s*)(.*?)(\r?)$`)

func setEnvBytes(data []byte, key, value string) (out []byte, replaced []string, err error) {
	if strings.ContainsAny(value, "\n\r") {
		return nil, nil, fmt.Errorf("value for %s contains a newline", key)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	found := false
	for i, ln := range lines {
		body, nl := ln, []byte(nil)
		if bytes.HasSuffix(body, []byte("\n")) {
			body, nl = body[:len(body)-1], []byte("\n")
		}
		m := assignment.FindSubmatch(body)
		if m == nil || string(m[2]) != key {
			continue
		}
		found = true
		val, comment := splitComment(string(m[4]))
		if requote(val, value) != val {
			replaced = append(replaced, val)
		}
		var out bytes.Buffer
		out.Write(m[1])
		out.Write(m[2])
		out.Write(m[3])
		out.WriteString(requote(val, value))
		out.WriteString(comment)
		out.Write(m[5])
		out.Write(nl)
		lines[i] = out.Bytes()
	}
	out = bytes.Join(lines, nil)
	if !found {
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		out = append(out, []byte(key+"="+requote("", value)+"\n")...)
	}
	return out, replaced, nil
}

// splitComment separates an unquoted value from an inline " # comment",
// which godotenv drops; quoted values keep everything inside the quotes.
func splitComment(v string) (val, comment string) {
	if v == "" {
		return "", ""
	}
	if q := v[0]; q == '"' || q == '\'' {
		if end := strings.IndexByte(v[1:], q); end >= 0 {
			return v[:end+2], v[end+2:]
		}
		return v, ""
	}
	if i := strings.Index(v, " #"); i >= 0 {
		j := i
		for j > 0 && (v[j-1] == ' ' || v[j-1] == '\t') {
			j--
		}
		return v[:j], v[j:]
	}
	return v, ""
}

// requote writes value in the quoting style of the old value. Registry
// prefixes hold no quotes, '#', '$' or spaces, so a bare value is exact.
func requote(old, value string) string {
	if len(old) >= 2 && (old[0] == '"' || old[0] == '\'') {
		return string(old[0]) + value + string(old[0])
	}
	if strings.ContainsAny(value, " #'\"$\\") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`).Replace(value) + `"`
	}
	return value
}
