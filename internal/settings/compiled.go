package settings

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/currentsdev/currents/internal/dirs"
)

// The compiled form is the outcome of parsing one exact currents.yaml — its
// settings, or the error the parser gave — marked with the digest of its path
// and bytes. It can never answer for another file: Decompile compares the
// digest of the file as it is now, so an edit, a replaced file or another
// CURRENTS_CONFIG misses and the file is parsed again.
type compiled struct {
	Digest string  `json:"digest"`
	Config *Config `json:"config,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Digest names one file's contents at one path.
func Digest(path string, data []byte) string {
	h := sha256.New()
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// Compile is the compiled form of parsing the file at path holding data: c,
// or the parser's error perr.
func Compile(path string, data []byte, c *Config, perr error) []byte {
	cc := compiled{Digest: Digest(path, data)}
	if perr != nil {
		cc.Error = perr.Error()
	} else {
		cc.Config = c
	}
	b, err := json.Marshal(cc)
	if err != nil { // plain strings and numbers cannot fail to marshal
		panic(err)
	}
	return b
}

// ErrNotCompiled says a compiled form does not answer for the file: it is
// missing, unreadable, or of another file.
var ErrNotCompiled = errors.New("currents.yaml has no compiled form")

// Decompile returns what parsing the file at path holding data gave, from
// its compiled form b: the settings, or the parse error (as its message), or
// ErrNotCompiled.
func Decompile(b []byte, path string, data []byte) (*Config, error) {
	var cc compiled
	if len(b) == 0 || json.Unmarshal(b, &cc) != nil || cc.Digest != Digest(path, data) {
		return nil, ErrNotCompiled
	}
	if cc.Error != "" {
		return nil, compileError(cc.Error)
	}
	if cc.Config == nil {
		return nil, ErrNotCompiled
	}
	c := cc.Config
	c.Path, c.Found = path, true
	c.Index()
	return c, nil
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
