// Package secret holds a token, password, secret key or session token in
// memory so that no way of printing it shows it: fmt verbs, slog and
// encoding/json all yield "[redacted]".
package secret

import (
	"log/slog"
	"strings"
)

// Value holds a token, password, secret key or session token in memory.
// Every way of printing it — fmt verbs, slog, encoding/json — yields "[redacted]",
// so a secret can only leave the process through an explicit Reveal.
type Value struct{ v string }

// Mask is what a secret shows as, wherever it would have been printed: here,
// and in every redacted file, URL and message.
const Mask = "[redacted]"

// New wraps s.
func New(s string) Value { return Value{v: s} }

// Reveal returns the secret itself. Call it only where the value must leave
// the process: the protocol answer, the 0600 cache file, an AWS SDK call.
func (s Value) Reveal() string { return s.v }

// IsZero reports whether no secret is held.
func (s Value) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (s Value) String() string { return Mask }

// GoString covers %#v, which bypasses String.
func (s Value) GoString() string { return Mask }

// LogValue implements slog.LogValuer.
func (s Value) LogValue() slog.Value { return slog.StringValue(Mask) }

// MarshalJSON redacts; the cache file uses its own plain-string struct.
func (s Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Mask + `"`), nil }

// MarshalText redacts for encoders that prefer text (yaml, slog's text handler).
func (s Value) MarshalText() ([]byte, error) { return []byte(Mask), nil }

// KeyID is an AWS access key ID as a report may show it: its last four
// characters, as `aws configure list` shows it. The ID is not the secret
// half, but reports land in files others can read (status's Prometheus
// text is 0644 for node_exporter) and the whole ID names the key to anyone
// who finds its secret half elsewhere.
func KeyID(id string) string {
	if len(id) <= 4 {
		return "****"
	}
	return strings.Repeat("*", len(id)-4) + id[len(id)-4:]
}
