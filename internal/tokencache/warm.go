package tokencache

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// warmToken is what json.Unmarshal of a cache file into
//
//	struct {
//		Version int                  `json:"version"`
//		Tokens  map[string]fileToken `json:"tokens"`
//	}
//
// gives for the token under key, read in one pass over the bytes: ok is false
// wherever that Unmarshal fails (a syntax error anywhere, a value of the wrong
// type), the version is not fileVersion, or the token is missing or
// incomplete. Every warm get reads this file, and encoding/json cost it about
// 100 µs, a twentieth of the whole get: it scans the file twice a byte at a
// time (once to validate, once to decode) and builds its reflection caches
// anew in every process. FuzzWarmTokenIsUnmarshal holds the two to the same
// answer, key matching included (case-insensitive as encoding/json's).
func warmToken(data []byte, key string) (fileToken, bool) {
	d := warmDecoder{data: data}
	var (
		version int
		tok     fileToken
		found   bool
	)
	d.space()
	if d.peek() != '{' {
		return fileToken{}, false // null leaves the version 0; anything else is not the struct
	}
	ok := d.object(func(name string) bool {
		switch {
		case fieldIs(name, "version"):
			return d.int(&version)
		case fieldIs(name, "tokens"):
			return d.tokens(key, &tok, &found)
		}
		return d.skip()
	})
	d.space()
	if !ok || d.err || d.pos != len(d.data) || version != fileVersion || !found || !tok.complete() {
		return fileToken{}, false
	}
	return tok, true
}

// warmDecoder reads JSON strictly (as encoding/json's scanner accepts it).
// err is set at the first byte it does not accept.
type warmDecoder struct {
	data  []byte
	pos   int
	depth int
	err   bool
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

func (d *warmDecoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *warmDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// expect consumes c (after white space) or fails.
func (d *warmDecoder) expect(c byte) bool {
	d.space()
	if d.peek() != c {
		d.err = true
		return false
	}
	d.pos++
	return true
}

// object reads an object, calling member for each name with the position at
// its value; member reads the value and reports whether it was accepted.
func (d *warmDecoder) object(member func(name string) bool) bool {
	return d.sequence('{', '}', func() bool {
		raw, ok := d.str()
		if !ok || !d.expect(':') {
			return false
		}
		d.space()
		return member(unquote(raw))
	})
}

// sequence reads an object or an array: open, then items separated by
// commas, then end. item reads one (it starts past white space).
func (d *warmDecoder) sequence(open, end byte, item func() bool) bool {
	if !d.expect(open) || !d.enter() {
		return false
	}
	d.space()
	if d.peek() == end {
		d.pos++
		d.depth--
		return true
	}
	for {
		d.space()
		if !item() {
			return false
		}
		d.space()
		switch d.peek() {
		case ',':
			d.pos++
		case end:
			d.pos++
			d.depth--
			return true
		default:
			d.err = true
			return false
		}
	}
}

func (d *warmDecoder) enter() bool {
	if d.depth++; d.depth > maxDepth {
		d.err = true
		return false
	}
	return true
}

// str reads a string, returning it as written, quotes included.
func (d *warmDecoder) str() ([]byte, bool) {
	if d.peek() != '"' {
		d.err = true
		return nil, false
	}
	start := d.pos
	d.pos++
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return d.data[start:d.pos], true
		case c < ' ':
			d.err = true
			return nil, false
		case c == '\\':
			if !d.escape() {
				return nil, false
			}
		default:
			d.pos++
		}
	}
	d.err = true
	return nil, false
}

func (d *warmDecoder) escape() bool {
	d.pos++ // the backslash
	switch d.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		d.pos++
		return true
	case 'u':
		d.pos++
		for range 4 {
			if !isHex(d.peek()) {
				d.err = true
				return false
			}
			d.pos++
		}
		return true
	}
	d.err = true
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number reads a number as JSON writes them, returning it as written.
func (d *warmDecoder) number() ([]byte, bool) {
	start := d.pos
	if d.peek() == '-' {
		d.pos++
	}
	switch c := d.peek(); {
	case c == '0':
		d.pos++
	case '1' <= c && c <= '9':
		d.digits()
	default:
		d.err = true
		return nil, false
	}
	if d.peek() == '.' {
		d.pos++
		if !d.digits() {
			return nil, false
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.pos++
		if c := d.peek(); c == '+' || c == '-' {
			d.pos++
		}
		if !d.digits() {
			return nil, false
		}
	}
	return d.data[start:d.pos], true
}

// digits reads one digit or more.
func (d *warmDecoder) digits() bool {
	start := d.pos
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
	}
	if d.pos == start {
		d.err = true
		return false
	}
	return true
}

func (d *warmDecoder) literal(word string) bool {
	if !bytes.HasPrefix(d.data[d.pos:], []byte(word)) {
		d.err = true
		return false
	}
	d.pos += len(word)
	return true
}

// skip reads any value.
func (d *warmDecoder) skip() bool {
	switch c := d.peek(); {
	case c == '{':
		return d.object(func(string) bool { return d.skip() })
	case c == '[':
		return d.sequence('[', ']', d.skip)
	case c == '"':
		_, ok := d.str()
		return ok
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	}
	_, ok := d.number()
	return ok
}

// int reads a value into an int as encoding/json does: null leaves it, a
// number must be a whole one within range, anything else is a type error.
func (d *warmDecoder) int(v *int) bool {
	switch c := d.peek(); {
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		raw, ok := d.number()
		if !ok {
			return false
		}
		n, err := strconv.ParseInt(string(raw), 10, 0)
		*v = int(n)
		return err == nil
	}
	d.skip()
	return false
}

// string reads a value into a string as encoding/json does: null leaves it.
func (d *warmDecoder) string(v *string) bool {
	switch d.peek() {
	case 'n':
		return d.literal("null")
	case '"':
		raw, ok := d.str()
		if ok {
			*v = unquote(raw)
		}
		return ok
	}
	d.skip()
	return false
}

// tokens reads the tokens map, keeping the token under key: a later entry
// under the same key replaces it, null empties the map, as json.Unmarshal
// into a map does. Every entry must decode, as there.
func (d *warmDecoder) tokens(key string, tok *fileToken, found *bool) bool {
	switch d.peek() {
	case 'n':
		*tok, *found = fileToken{}, false
		return d.literal("null")
	case '{':
		return d.object(func(region string) bool {
			var t fileToken
			if !d.token(&t) {
				return false
			}
			if region == key {
				*tok, *found = t, true
			}
			return true
		})
	}
	d.skip()
	return false
}

// token reads one fileToken: null is a zero one.
func (d *warmDecoder) token(t *fileToken) bool {
	switch d.peek() {
	case 'n':
		return d.literal("null")
	case '{':
		return d.object(func(name string) bool {
			switch {
			case fieldIs(name, "username"):
				return d.string(&t.Username)
			case fieldIs(name, "password"):
				return d.string(&t.Password)
			case fieldIs(name, "issued"), fieldIs(name, "expires"):
				start := d.pos
				if !d.skip() {
					return false
				}
				at := &t.Issued
				if fieldIs(name, "expires") {
					at = &t.Expires
				}
				return at.UnmarshalJSON(d.data[start:d.pos]) == nil
			}
			return d.skip()
		})
	}
	d.skip()
	return false
}

// unquote is a string's value as encoding/json decodes it: escapes
// resolved, invalid UTF-8 and unpaired surrogates as U+FFFD. raw is a string
// str accepted.
func unquote(raw []byte) string {
	s := raw[1 : len(raw)-1]
	plain := true
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(s)
	}
	b := make([]byte, 0, len(s))
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r+2:])
				r += 6
				if utf16.IsSurrogate(rr) && r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
					if dec := utf16.DecodeRune(rr, hex4(s[r+2:])); dec != unicode.ReplacementChar {
						b = utf8.AppendRune(b, dec)
						r += 6
						continue
					}
				}
				if utf16.IsSurrogate(rr) {
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // " \ /
				b = append(b, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			b = utf8.AppendRune(b, rr)
			r += size
		}
	}
	return string(b)
}

func hex4(s []byte) rune {
	n, _ := strconv.ParseUint(string(s[:4]), 16, 32)
	return rune(n)
}

// fieldIs reports whether an object's name selects the struct field tagged
// tag, as encoding/json matches them: exactly, or else under its case
// folding (so "Tokens" and "TOKENS" are tokens, and "ſ" is an s).
func fieldIs(name, tag string) bool {
	if name == tag {
		return true
	}
	for i := range len(name) {
		if name[i] >= utf8.RuneSelf {
			return foldName(name) == foldName(tag)
		}
	}
	// ASCII folds as ASCII: tags are ASCII.
	return strings.EqualFold(name, tag)
}

// foldName is encoding/json's: ASCII letters upper-cased, any other rune
// the smallest of its simple case folding orbit.
func foldName(in string) string {
	out := make([]byte, 0, len(in))
	for _, r := range in {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, byte(r))
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}
