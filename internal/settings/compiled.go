package settings

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/currentsdev/currents/internal/dirs"
)

// The compiled form is the outcome of parsing one exact currents.yaml — its
// settings, or the error the parser gave — marked with the digest of its path
// and bytes. It can never answer for another file: Decompile compares the
// digest of the file as it is now, so an edit, a replaced file or another
// CURRENTS_CONFIG misses and the file is parsed again.
//
// It is a few lines of `key value`, each value a number or a Go-quoted
// string, between a versioned header and an end line: the lean binary reads
// it on every get, and decoding it is a loop over lines where JSON's
// reflection cost a warm get about 4% of its time (its type caches are built
// anew in every process). Anything else — another version's form, a JSON
// one, a key it does not know, a form cut short — is ErrNotCompiled, and the
// AWS binary compiles the file again.
const (
	compiledHeader = "currents-compiled 2"
	compiledEnd    = "end"
)

// Digest names one file's contents at one path.
func Digest(path string, data []byte) string {
	h := sha256.New()
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// compiledField is one setting of the compiled form: its key, and where its
// value lives (one of s, i, d), a string written Go-quoted or a number.
type compiledField struct {
	key string
	s   *string
	i   *int
	d   *time.Duration
}

func (f compiledField) get() string {
	switch {
	case f.s != nil:
		return *f.s
	case f.i != nil:
		return strconv.Itoa(*f.i)
	}
	return strconv.FormatInt(int64(*f.d), 10)
}

func (f compiledField) set(v string) error {
	if f.s != nil {
		*f.s = v
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if f.i != nil {
		*f.i = int(n)
	} else {
		*f.d = time.Duration(n)
	}
	return err
}

func (f compiledField) text() bool { return f.s != nil }

func stringField(key string, p *string) compiledField          { return compiledField{key: key, s: p} }
func intField(key string, p *int) compiledField                { return compiledField{key: key, i: p} }
func durationField(key string, p *time.Duration) compiledField { return compiledField{key: key, d: p} }

// fields are the settings of c the compiled form keeps, besides its entries.
// Path and Found are not kept: they are the file's, set when it is read.
func (c *Config) fields() []compiledField {
	return []compiledField{durationField("timeout", &c.Timeout), stringField("timeout_from", &c.TimeoutFrom)}
}

// fields are every field of e (TestCompiledFormKeepsEverySetting fails on a
// field missing here).
func (e *Entry) fields() []compiledField {
	return []compiledField{
		intField("index", &e.Index), intField("line", &e.Line),
		stringField("host", &e.Host), stringField("account", &e.Account), stringField("region", &e.Region),
		stringField("role_arn", &e.RoleARN), stringField("external_id", &e.ExternalID),
		stringField("session_name", &e.SessionName), durationField("duration", &e.Duration),
		stringField("profile", &e.Profile), stringField("web_identity_token_file", &e.WebIdentityTokenFile),
		stringField("web_identity", &e.WebIdentity), stringField("web_identity_audience", &e.WebIdentityAudience),
	}
}

// Compile is the compiled form of parsing the file at path holding data: c,
// or the parser's error perr.
func Compile(path string, data []byte, c *Config, perr error) []byte {
	b := append([]byte(compiledHeader), '\n')
	line := func(key, value string, text bool) {
		b = append(b, key...)
		b = append(b, ' ')
		if text {
			b = strconv.AppendQuote(b, value)
		} else {
			b = append(b, value...)
		}
		b = append(b, '\n')
	}
	line("digest", Digest(path, data), false)
	if perr != nil {
		line("error", perr.Error(), true)
	} else {
		for _, f := range c.fields() {
			line(f.key, f.get(), f.text())
		}
		for i := range c.Registries {
			b = append(b, "entry\n"...)
			for _, f := range c.Registries[i].fields() {
				line(f.key, f.get(), f.text())
			}
		}
	}
	return append(append(b, compiledEnd...), '\n')
}

// ErrNotCompiled says a compiled form does not answer for the file: it is
// missing, unreadable, or of another file.
var ErrNotCompiled = errors.New("currents.yaml has no compiled form")

// Decompile returns what parsing the file at path holding data gave, from
// its compiled form b: the settings, or the parse error (as its message), or
// ErrNotCompiled.
func Decompile(b []byte, path string, data []byte) (*Config, error) {
	rest, ok := bytes.CutPrefix(b, []byte(compiledHeader+"\n"))
	if !ok {
		return nil, ErrNotCompiled
	}
	key, value, rest := nextLine(rest)
	if key != "digest" || value != Digest(path, data) {
		return nil, ErrNotCompiled
	}
	c := &Config{}
	if key, value, rest = nextLine(rest); key == "error" {
		msg, err := strconv.Unquote(value)
		if err != nil {
			return nil, ErrNotCompiled
		}
		if key, _, rest = nextLine(rest); key != compiledEnd || len(rest) != 0 {
			return nil, ErrNotCompiled
		}
		return nil, compileError(msg)
	}
	// Every field of every section is there, once: Compile writes them all.
	fields, seen := c.fields(), uint64(0)
	complete := func() bool { return seen == 1<<len(fields)-1 }
	for ; key != compiledEnd; key, value, rest = nextLine(rest) {
		if key == "entry" {
			if !complete() {
				return nil, ErrNotCompiled
			}
			c.Registries = append(c.Registries, Entry{})
			fields, seen = c.Registries[len(c.Registries)-1].fields(), 0
			continue
		}
		i := setField(fields, key, value)
		if i < 0 || seen&(1<<i) != 0 {
			return nil, ErrNotCompiled
		}
		seen |= 1 << i
	}
	if len(rest) != 0 || !complete() {
		return nil, ErrNotCompiled
	}
	c.Path, c.Found = path, true
	c.Index()
	return c, nil
}

// nextLine splits the first line of b into its key and value; key is "" at
// the end of b or on a line without a newline (a form cut short).
func nextLine(b []byte) (key, value string, rest []byte) {
	line, rest, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return "", "", nil
	}
	k, v, _ := bytes.Cut(line, []byte{' '})
	return string(k), string(v), rest
}

// setField sets the field key of fields to value and returns its index; -1
// for a key that is not there (another version's form) or a value that does
// not read back.
func setField(fields []compiledField, key, value string) int {
	for i, f := range fields {
		if f.key != key {
			continue
		}
		if f.text() {
			s, err := strconv.Unquote(value)
			if err != nil {
				return -1
			}
			value = s
		}
		if f.set(value) != nil {
			return -1
		}
		return i
	}
	return -1
}

// compileError is a parse error as its message: the lean binary reports it
// as the parser did.
type compileError string

func (e compileError) Error() string { return string(e) }

// FromEnvCompiled loads the settings the environment points at (as
// config.FromEnv does) without parsing YAML: a missing file is an empty
// config, and an existing one is answered by its compiled form, which
// compiled returns, or ErrNotCompiled when that does not answer for the file
// as it is now. CURRENTS_TIMEOUT applies as in config.FromEnv.
func FromEnvCompiled(compiled func() []byte) (*Config, error) {
	c := Empty("")
	if path, err := dirs.Config(); err == nil {
		data, found, err := Read(path)
		switch {
		case err != nil:
			return nil, err
		case !found:
			c = Empty(path)
		default:
			if c, err = Decompile(compiled(), path, data); err != nil {
				return nil, err
			}
		}
	}
	if err := ApplyEnv(c); err != nil {
		return nil, err
	}
	return c, nil
}
