package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/currentsdev/currents/internal/fix"
)

// Error is one invalid setting. Its message names the file, the line, the entry
// (position and host), the key, what is wrong and what to write instead.
type Error struct {
	File  string
	Line  int
	Index int    // 1-based entry position; 0 for top-level keys
	Host  string // the entry's host, when known
	Key   string
	Msg   string
	Hint  string
}

func (e *Error) Error() string { return fix.Join(e.Problem(), e.Hint) }

// Problem is the invalid setting without its fix (fix.Fixer).
func (e *Error) Problem() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Index > 0 {
		fmt.Fprintf(&b, "registries entry %d", e.Index)
		if e.Host != "" {
			fmt.Fprintf(&b, " (host %q)", e.Host)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Fix is what to write instead (fix.Fixer).
func (e *Error) Fix() string { return e.Hint }

// Parse validates data as the contents of file. It reports every invalid
// setting at once (joined), so a user fixes the file in one pass.
func Parse(file string, data []byte) (*Config, error) {
	c := empty(file)
	root, err := decode(file, data)
	if err != nil {
		return nil, err
	}
	if root == nil || root.Tag == "!!null" {
		return c, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: root.Line, Msg: "the file must be a mapping with the keys timeout and registries",
			Hint: "start it with `registries:` followed by a list of entries"}
	}
	p := &parser{file: file}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			p.add(&Error{Line: k.Line, Key: k.Value, Msg: "appears twice", Hint: "keep one"})
			continue
		}
		seen[k.Value] = true
		p.topKey(c, k, v)
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// decode reads the one YAML document of a currents.yaml. It returns a nil root,
// and no error, for a file with no document or an empty one. A second document
// is an error: the helper would otherwise ignore it without a word.
func decode(file string, data []byte) (*yaml.Node, error) {
	doc, extra, err := documents(data)
	if err != nil {
		return nil, syntaxError(file, data, err)
	}
	if extra > 0 {
		return nil, &Error{File: file, Line: extra, Msg: "starts a second YAML document, which the helper would ignore",
			Hint: "keep one document: merge its keys into the first and remove the --- line"}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// documents decodes the first YAML document of data and reports the line of a
// second one (0 when there is none).
func documents(data []byte) (doc yaml.Node, extra int, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err = dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return yaml.Node{}, 0, nil
		}
		return yaml.Node{}, 0, err
	}
	var next yaml.Node
	switch err = dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return doc, 0, nil
	case err != nil:
		return doc, 0, err
	}
	return doc, max(next.Line, 1), nil
}

// topKey reads one top-level key.
func (p *parser) topKey(c *Config, k, v *yaml.Node) {
	switch k.Value {
	case "timeout":
		if s, ok := p.scalar(v, 0, "", "timeout", "timeout: 30s"); ok {
			d, err := parseTimeout(s)
			if err != nil {
				p.add(&Error{Line: v.Line, Key: "timeout", Msg: err.Error(), Hint: "write e.g. timeout: 30s"})
			} else {
				c.Timeout, c.TimeoutFrom = d, p.file
			}
		}
	case "registries":
		p.registries(c, v)
	default:
		fix := "the top-level keys are timeout and registries" + suggest(k.Value, topKeys)
		if slices.Contains(entryKeyNames(), k.Value) {
			fix = k.Value + " belongs to an entry: indent it under `- host: ...` in the registries list"
		}
		p.add(&Error{Line: k.Line, Key: k.Value, Msg: "unknown key", Hint: fix})
	}
}

var topKeys = []string{"timeout", "registries"}

type parser struct {
	file string
	errs []error
}

func (p *parser) add(e *Error) {
	e.File = p.file
	p.errs = append(p.errs, e)
}

// scalar returns a node's text when it is a non-empty scalar, and records why not otherwise.
func (p *parser) scalar(n *yaml.Node, index int, host, key, example string) (string, bool) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case n.Kind != yaml.ScalarNode:
		p.add(&Error{Line: n.Line, Index: index, Host: host, Key: key, Msg: "must be a single value, not a " + kindName(n.Kind),
			Hint: "write e.g. " + example})
	case n.Tag == "!!null" || strings.TrimSpace(n.Value) == "":
		p.add(&Error{Line: n.Line, Index: index, Host: host, Key: key, Msg: "is empty", Hint: "write e.g. " + example + ", or remove the key"})
	default:
		return strings.TrimSpace(n.Value), true
	}
	return "", false
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "scalar"
	}
}

func (p *parser) registries(c *Config, v *yaml.Node) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.SequenceNode {
		p.add(&Error{Line: v.Line, Key: "registries", Msg: "must be a list of entries",
			Hint: "write each entry as `- host: 123456789012.dkr.ecr.us-east-1.amazonaws.com` under registries:"})
		return
	}
	firstLine := map[string]int{}
	for i, n := range v.Content {
		e, ok := p.entry(i+1, n)
		if !ok {
			continue
		}
		if line, dup := firstLine[e.Host]; dup {
			p.add(&Error{Line: e.Line, Index: e.Index, Host: e.Host, Key: "host",
				Msg: fmt.Sprintf("duplicates the entry at line %d", line), Hint: "merge the two entries into one"})
			continue
		}
		firstLine[e.Host] = e.Line
		c.Registries = append(c.Registries, e)
	}
	c.Index()
}

// syntaxError turns yaml.v3's "yaml: line N: ..." into file:N, and names the
// usual culprit, a tab in the indentation, which yaml.v3 reports without a line.
func syntaxError(file string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Hint: "check the indentation (spaces, aligned under the line above) and quote values containing : or #"}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				e.Line, msg = line, after
			}
		}
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		if indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]; strings.Contains(indent, "\t") {
			e.Line, e.Hint = n, "this line is indented with a tab; YAML indents with spaces only"
			break
		}
	}
	e.Msg = "not valid YAML: " + msg
	return e
}

// suggest names the closest known key when the user's key is a likely typo.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is Levenshtein distance; keys are short.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
