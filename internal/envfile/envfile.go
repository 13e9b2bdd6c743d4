// Package envfile reads and edits .env files as compose reads them:
// compose-go's own dotenv parser decides what every file defines and what
// each value is, so a value means here what it means to compose. Edits
// change one variable's lines and nothing else, and are proved by parsing
// the result again before anything is written.
package envfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/dotenv"

	"github.com/currentsdev/currents/internal/atomicfile"
)

// Parse reads an env file's bytes as compose does, with no environment:
// a reference to an OS variable expands to nothing, the same before and
// after an edit.
func Parse(b []byte) (map[string]string, error) {
	return dotenv.UnmarshalBytesWithLookup(b, func(string) (string, bool) { return "", false })
}

// File is an env file as compose reads it.
type File struct {
	// Values are the variables it defines, references to the OS
	// environment expanded as compose expands them.
	Values map[string]string
	lines  []string
	at     map[string]int // variable → index of its last assignment line
}

// Read reads the env file at path.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values, err := dotenv.UnmarshalBytesWithLookup(b, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &File{Values: values, lines: strings.SplitAfter(string(b), "\n"), at: map[string]int{}}
	for i := range f.lines {
		if m := assignment().FindStringSubmatch(strings.TrimSuffix(f.lines[i], "\n")); m != nil && statementStarts(f.lines, i) {
			f.at[m[2]] = i // the last assignment wins
		}
	}
	return f, nil
}

// Line is the 1-based line where the file assigns key (the last
// assignment, the one compose uses) and that line's text; 0 when the file
// does not define key.
func (f *File) Line(key string) (int, string) {
	if _, ok := f.Values[key]; !ok {
		return 0, ""
	}
	i, ok := f.at[key]
	if !ok {
		return 0, ""
	}
	return i + 1, strings.TrimRight(f.lines[i], "\r\n")
}

// assignment is one line `KEY=value` (or compose's `KEY: value`) in
// compose's dotenv grammar: optional leading space, optional `export`, a
// key of letters, digits and _ . - [ ], spaces around the separator.
var assignment = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\s*(?:export\s+)?)([\p{L}\p{N}_.\-\[\]]+)(\s*[=:]\s*)(.*?)(\r?)$`)
})

// keyName is a whole key as assignment reads it.
var keyName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\p{L}\p{N}_.\-\[\]]+$`) })

// statementStarts reports whether line i starts a statement rather than
// continuing a quoted value that spans lines: everything before it parses.
func statementStarts(lines []string, i int) bool {
	if i == 0 {
		return true
	}
	_, err := Parse([]byte(strings.Join(lines[:i], "")))
	return err == nil
}

// Edit is what SetFile did.
type Edit struct {
	Changed bool
	Backup  string // the previous file, when Changed
	// Replaced are the old values as written, quotes and references such as
	// ${DC_CURRENTS_REGISTRY:-…} included, so a caller can say what an
	// interpolated value turned into.
	Replaced []string
}

// SetFile sets key=value in the env file at path and changes nothing else
// (see Set). The file is replaced atomically, keeping its mode and owner
// (root editing a user's .env leaves it the user's), its previous version
// kept as path+".bak"; it holds the file's lock (atomicfile.Lock, a
// .env.lock beside it) from the read to the rename, and refuses a file
// changed meanwhile by a writer that takes none. A symlinked env file (a .env pointing at a shared file) is
// edited where it points, so the link stays a link.
func SetFile(path, key, value string) (Edit, error) {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return Edit{}, err
	}
	// Two edits of one file (two mirrors pointing two variables at their
	// copies) queue instead of one replacing the other's work.
	unlock, err := atomicfile.Lock(path)
	if err != nil {
		return Edit{}, err
	}
	defer unlock()
	old, err := os.ReadFile(path)
	if err != nil {
		return Edit{}, err
	}
	updated, replaced, err := Set(old, key, value)
	if err != nil {
		return Edit{}, fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(old, updated) {
		return Edit{}, nil
	}
	backup, err := atomicfile.Replace(path, old, true, updated, 0o600)
	if err != nil {
		return Edit{}, err
	}
	return Edit{Changed: true, Backup: backup, Replaced: replaced}, nil
}

// Set returns data with key=value: every assignment of key is rewritten
// (compose reads the last one; an earlier stale copy would only mislead a
// reader), keeping comments, order, blank lines, line endings and quoting
// style; with none, one line is appended. The result must parse, as compose
// parses it, to exactly the old values plus the new one, else it is an
// error and nothing changes. replaced are the old values as written.
func Set(data []byte, key, value string) (out []byte, replaced []string, err error) {
	if !keyName().MatchString(key) {
		return nil, nil, fmt.Errorf("%q is not a variable name compose reads", key)
	}
	if strings.ContainsAny(value, "\n\r") {
		return nil, nil, fmt.Errorf("value for %s contains a newline", key)
	}
	lines := strings.SplitAfter(string(data), "\n")
	found := false
	for i, ln := range lines {
		body, nl := strings.CutSuffix(ln, "\n")
		m := assignment().FindStringSubmatch(body)
		if m == nil || m[2] != key || !statementStarts(lines, i) {
			continue
		}
		found = true
		val, comment := splitComment(m[4])
		if requote(val, value) != val {
			replaced = append(replaced, val)
		}
		lines[i] = m[1] + m[2] + m[3] + requote(val, value) + comment + m[5]
		if nl {
			lines[i] += "\n"
		}
	}
	out = []byte(strings.Join(lines, ""))
	if !found {
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		out = append(out, key+"="+requote("", value)+"\n"...)
	}
	if bytes.Equal(out, data) {
		return out, nil, nil
	}
	return out, replaced, verify(data, out, key, value)
}

// verify proves an edit changed key to value and nothing else.
func verify(before, after []byte, key, value string) error {
	old, err := Parse(before)
	if err != nil {
		return fmt.Errorf("cannot parse it as an env file, so it is left alone: %w", err)
	}
	got, err := Parse(after)
	if err != nil {
		return fmt.Errorf("the edit would not parse (%v); nothing written", err)
	}
	old[key] = value
	if len(old) != len(got) {
		return fmt.Errorf("the edit would change other variables; nothing written")
	}
	for k, v := range old {
		if got[k] != v {
			return fmt.Errorf("the edit would change %s; nothing written", k)
		}
	}
	return nil
}

// splitComment separates an unquoted value from an inline " # comment",
// which compose drops; quoted values keep everything inside the quotes.
func splitComment(v string) (val, comment string) {
	if v == "" {
		return "", ""
	}
	if q := v[0]; q == '"' || q == '\'' {
		for i := 1; i < len(v); i++ {
			switch {
			case q == '"' && v[i] == '\\':
				i++ // an escaped character, \" included, does not close the value
			case v[i] == q:
				return v[:i+1], v[i+1:]
			}
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
	quoted := len(old) >= 2 && (old[0] == '"' || old[0] == '\'')
	switch {
	case quoted && old[0] == '\'' && !strings.Contains(value, "'"):
		return "'" + value + "'" // single quotes take everything literally
	case quoted || strings.ContainsAny(value, " #'\"$\\"):
		// Inside double quotes compose reads \\, \" and \$ as the character.
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`).Replace(value) + `"`
	}
	return value
}
