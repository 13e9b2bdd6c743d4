package config

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/currentsdev/currents/internal/secret"
	"gopkg.in/yaml.v3"
)

// secretKeys are the keys whose values are confidential.
var secretKeys = []string{"external_id"}

// RedactText is currents.yaml's text with every external ID masked where it
// is written — a block or flow mapping, a quoted key, an anchor its aliases
// point at, a quoted, escaped or multi-line scalar — found by parsing the
// file, not by the shape of its lines. values are the secrets as parsed and
// as written, to mask wherever else they appear. Text that is not YAML comes
// back as a note: its secrets cannot be found.
func RedactText(data []byte) (masked []byte, values []string) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return []byte("(not shown: not valid YAML, so its secrets cannot be found)\n"), nil
		}
		docs = append(docs, &doc)
	}
	lines := strings.SplitAfter(string(data), "\n")
	var starts []int // the line of every node: a secret's continuation lines end at the next
	type secret struct {
		node *yaml.Node
		flow bool // in a flow collection, where , ] and } end a plain scalar
	}
	var secrets []secret
	found := map[*yaml.Node]bool{}
	for _, d := range docs {
		walkNodes(d, map[*yaml.Node]bool{}, func(n *yaml.Node) {
			starts = append(starts, n.Line)
			if n.Kind != yaml.MappingNode {
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Kind == yaml.ScalarNode && slices.Contains(secretKeys, k.Value) {
					v := n.Content[i+1]
					if v.Kind == yaml.AliasNode && v.Alias != nil {
						v = v.Alias // masked where the anchor is
					}
					flow := n.Style&yaml.FlowStyle != 0 || v.Kind != yaml.ScalarNode
					walkNodes(v, map[*yaml.Node]bool{}, func(v *yaml.Node) {
						if v.Kind == yaml.ScalarNode && !found[v] {
							found[v] = true
							secrets = append(secrets, secret{v, flow})
						}
					})
				}
			}
		})
	}
	slices.Sort(starts)
	// Right to left on a line: masking one must not move the next.
	slices.SortFunc(secrets, func(a, b secret) int {
		if a.node.Line != b.node.Line {
			return a.node.Line - b.node.Line
		}
		return b.node.Column - a.node.Column
	})
	for _, s := range secrets {
		values = append(values, secretValues(s.node.Value)...)
		values = append(values, maskScalar(lines, s.node, s.flow, starts)...)
	}
	return []byte(strings.Join(lines, "")), values
}

// walkNodes calls fn on n and every node below it, an alias's anchor once.
func walkNodes(n *yaml.Node, seen map[*yaml.Node]bool, fn func(*yaml.Node)) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	if n.Kind == yaml.AliasNode {
		walkNodes(n.Alias, seen, fn)
		return
	}
	fn(n)
	for _, c := range n.Content {
		walkNodes(c, seen, fn)
	}
}

// secretValues is a secret as parsed, and each line of it.
func secretValues(v string) []string {
	out := []string{v}
	for _, l := range strings.Split(v, "\n") {
		if l = strings.TrimSpace(l); l != "" && l != v {
			out = append(out, l)
		}
	}
	return out
}

// maskScalar masks the scalar s in lines: from where it starts to where its
// token ends on that line, and every line after it up to the next node's (a
// multi-line scalar's continuation). It returns what it masked.
func maskScalar(lines []string, s *yaml.Node, flow bool, starts []int) []string {
	if s.Line < 1 || s.Line > len(lines) {
		return nil
	}
	var masked []string
	line := lines[s.Line-1]
	from := byteColumn(line, s.Column)
	if to := tokenEnd(line, from, s.Style, flow); to > from {
		masked = append(masked, line[from:to])
		lines[s.Line-1] = line[:from] + secret.Mask + line[to:]
	}
	next := len(lines) + 1
	if i, _ := slices.BinarySearch(starts, s.Line+1); i < len(starts) {
		next = starts[i]
	}
	for l := s.Line + 1; l < next && l <= len(lines); l++ {
		text := strings.TrimRight(lines[l-1], "\r\n")
		body := strings.TrimLeft(text, " \t")
		if body == "" {
			continue
		}
		masked = append(masked, body)
		lines[l-1] = text[:len(text)-len(body)] + secret.Mask + lines[l-1][len(text):]
	}
	return masked
}

// byteColumn is the byte offset of the 1-based character column col.
func byteColumn(line string, col int) int {
	off := 0
	for i := 1; i < col && off < len(line); i++ {
		_, size := utf8.DecodeRuneInString(line[off:])
		off += size
	}
	return off
}

// tokenEnd is where the scalar starting at from ends on its line: its
// closing quote, or for a plain one a comment, a flow indicator or the end
// of the line. A block scalar's first line holds only its indicator.
func tokenEnd(line string, from int, style yaml.Style, flow bool) int {
	end := len(strings.TrimRight(line, "\r\n"))
	switch {
	case style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return from
	case style&yaml.DoubleQuotedStyle != 0:
		for i := from + 1; i < end; i++ {
			switch line[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
	case style&yaml.SingleQuotedStyle != 0:
		for i := from + 1; i < end; i++ {
			if line[i] == '\'' {
				if i+1 < end && line[i+1] == '\'' {
					i++
					continue
				}
				return i + 1
			}
		}
	default:
		if i := strings.Index(line[from:end], " #"); i >= 0 {
			end = from + i
		}
		if i := strings.IndexAny(line[from:end], ",]}"); flow && i >= 0 {
			end = from + i
		}
		return from + len(strings.TrimRight(line[from:end], " \t"))
	}
	return end
}
