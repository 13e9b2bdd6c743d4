package config

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/currentsdev/currents/internal/ecrhost"
)

// EntrySpec is one registries entry as `configure` writes it. Every field maps to the key of the same name;
// an empty field means the key is absent.
type EntrySpec struct {
	Host                 string
	Account              string
	Region               string
	RoleARN              string
	ExternalID           string
	SessionName          string
	Duration             string
	Profile              string
	WebIdentityTokenFile string
	WebIdentity          string
	WebIdentityAudience  string
}

func (s EntrySpec) pairs() [][2]string {
	return [][2]string{
		{"host", s.Host}, {"account", s.Account}, {"region", s.Region}, {"role_arn", s.RoleARN},
		{"external_id", s.ExternalID}, {"session_name", s.SessionName}, {"duration", s.Duration},
		{"profile", s.Profile}, {"web_identity_token_file", s.WebIdentityTokenFile},
		{"web_identity", s.WebIdentity}, {"web_identity_audience", s.WebIdentityAudience},
	}
}

// newFileComment heads a currents.yaml that configure creates, so a reader finds the documentation.
const newFileComment = "currents.yaml: which IAM role docker-credential-currents assumes for which registry.\n" +
	"Written by `docker-credential-currents configure`; edit freely. Keys: see README.md."

// Upsert returns data (the contents of currents.yaml at path, empty for a new file) with the entry for
// spec.Host made exactly what spec says: keys with a value are set, keys without one are removed. Other
// entries, other keys and comments stay. The result must pass Parse, so a bad value is reported with the
// same message `get` would give, before anything is written. An entry that already matches is returned
// byte for byte unchanged.
func Upsert(data []byte, path string, spec EntrySpec) ([]byte, error) {
	host, err := ecrhost.Normalize(spec.Host)
	if err != nil {
		return nil, fmt.Errorf("--registry %q: %v", spec.Host, err)
	}
	spec.Host = host

	doc, extra, err := documents(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %v; fix it or move it aside (nothing was changed)", path, err)
	}
	if extra > 0 {
		// Writing back only the first document would drop the second.
		_, err := Parse(path, data)
		return nil, err
	}
	regs, err := registriesOf(&doc, path, data)
	if err != nil {
		return nil, err
	}
	entry := entryFor(regs, host)
	if matches(entry, spec) {
		// Unchanged, but only a file Parse accepts is "done".
		if _, err := Parse(path, data); err != nil {
			return nil, err
		}
		return data, nil
	}
	entry.Style = 0
	for _, kv := range spec.pairs() {
		setKey(entry, kv[0], kv[1])
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	enc.Close()
	out := buf.Bytes()
	if _, err := Parse(path, out); err != nil {
		return nil, err
	}
	return out, nil
}

// registriesOf returns the registries list of a decoded currents.yaml, creating
// the document, the mapping or the list when absent. A file of another shape is
// refused with Parse's explanation.
func registriesOf(doc *yaml.Node, path string, data []byte) (*yaml.Node, error) {
	if doc.Kind == 0 {
		*doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: newFileComment}}}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		*root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: root.HeadComment}
	}
	if root.Kind != yaml.MappingNode {
		_, err := Parse(path, data)
		return nil, err
	}
	regs := valueOf(root, "registries")
	if regs == nil {
		regs = &yaml.Node{}
		root.Content = append(root.Content, scalar("registries"), regs)
	}
	if regs.Tag == "!!null" || regs.Kind == 0 {
		*regs = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", HeadComment: regs.HeadComment, LineComment: regs.LineComment}
	}
	if regs.Kind != yaml.SequenceNode {
		_, err := Parse(path, data)
		return nil, err
	}
	regs.Style = 0 // block style: one key per line reads best and diffs best
	return regs, nil
}

// entryFor returns the entry of regs for host (normalised), appending an empty one when there is none.
func entryFor(regs *yaml.Node, host string) *yaml.Node {
	for _, n := range regs.Content {
		if n.Kind != yaml.MappingNode {
			continue
		}
		if h := valueOf(n, "host"); h != nil && h.Kind == yaml.ScalarNode {
			if nh, err := ecrhost.Normalize(h.Value); err == nil && nh == host {
				return n
			}
		}
	}
	entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	regs.Content = append(regs.Content, entry)
	return entry
}

// matches reports whether entry already holds exactly spec's keys and values.
func matches(entry *yaml.Node, spec EntrySpec) bool {
	want := map[string]string{}
	for _, kv := range spec.pairs() {
		if kv[1] != "" {
			want[kv[0]] = kv[1]
		}
	}
	if len(entry.Content) != 2*len(want) {
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(entry.Content); i += 2 {
		k, v := entry.Content[i].Value, entry.Content[i+1]
		w, ok := want[k]
		if !ok || seen[k] || v.Kind != yaml.ScalarNode {
			return false
		}
		seen[k] = true
		if k == "host" {
			if nh, err := ecrhost.Normalize(v.Value); err != nil || nh != w {
				return false
			}
		} else if v.Value != w {
			return false
		}
	}
	return true
}

// setKey sets key to value in a mapping, keeping the key's place and comments; an empty value removes it.
func setKey(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != key {
			continue
		}
		if value == "" {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
		v := m.Content[i+1]
		if v.Kind == yaml.ScalarNode && v.Value == value {
			return
		}
		n := scalar(value)
		n.HeadComment, n.LineComment, n.FootComment = v.HeadComment, v.LineComment, v.FootComment
		if key == "account" {
			n.Style = yaml.DoubleQuotedStyle // a 12-digit ID with a leading zero is not a number
		}
		m.Content[i+1] = n
		return
	}
	if value == "" {
		return
	}
	n := scalar(value)
	if key == "account" {
		n.Style = yaml.DoubleQuotedStyle
	}
	m.Content = append(m.Content, scalar(key), n)
}

func valueOf(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
