package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/partition"
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
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(file, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 { // empty file
		return c, nil
	}
	root := doc.Content[0]
	p := &parser{file: file}
	if root.Kind != yaml.MappingNode {
		if root.Tag == "!!null" {
			return c, nil
		}
		return nil, &Error{File: file, Line: root.Line, Msg: "the file must be a mapping with the keys timeout and registries",
			Hint: "start it with `registries:` followed by a list of entries"}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			p.add(&Error{Line: k.Line, Key: k.Value, Msg: "appears twice", Hint: "keep one"})
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "timeout":
			if s, ok := p.scalar(v, 0, "", "timeout", "timeout: 30s"); ok {
				d, err := parseTimeout(s)
				if err != nil {
					p.add(&Error{Line: v.Line, Key: "timeout", Msg: err.Error(), Hint: "write e.g. timeout: 30s"})
				} else {
					c.Timeout, c.TimeoutFrom = d, file
				}
			}
		case "registries":
			p.registries(c, v)
		default:
			fix := "the top-level keys are timeout and registries" + suggest(k.Value, topKeys)
			if slices.Contains(entryKeys, k.Value) {
				fix = k.Value + " belongs to an entry: indent it under `- host: ...` in the registries list"
			}
			p.add(&Error{Line: k.Line, Key: k.Value, Msg: "unknown key", Hint: fix})
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

var (
	topKeys   = []string{"timeout", "registries"}
	entryKeys = []string{"host", "account", "region", "role_arn", "external_id", "session_name", "duration", "profile", "web_identity_token_file"}
)

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
	for i := range c.Registries {
		c.byHost[c.Registries[i].Host] = &c.Registries[i]
	}
}

func (p *parser) entry(index int, n *yaml.Node) (Entry, bool) {
	e := Entry{Index: index, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.add(&Error{Line: n.Line, Index: index, Msg: "must be a mapping of keys such as host and role_arn, not a " + kindName(n.Kind),
			Hint: "write `- host: ...` with the other keys indented under it"})
		return e, false
	}
	before := len(p.errs)
	vals := map[string]*yaml.Node{}
	keyLine := map[string]int{}
	// The host is found first so every other error can name it.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "host" {
			if s, ok := p.scalar(n.Content[i+1], index, "", "host", "host: 123456789012.dkr.ecr.us-east-1.amazonaws.com"); ok {
				h, err := ecrhost.Normalize(s)
				if err != nil {
					p.add(&Error{Line: n.Content[i+1].Line, Index: index, Key: "host", Msg: err.Error(),
						Hint: "write the registry host as in an image reference, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com"})
				} else {
					e.Host = h
				}
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := vals[k.Value]; dup {
			p.add(&Error{Line: k.Line, Index: index, Host: e.Host, Key: k.Value, Msg: "appears twice in this entry", Hint: "keep one"})
			continue
		}
		if !slices.Contains(entryKeys, k.Value) {
			fix := "an entry's keys are " + strings.Join(entryKeys, ", ") + suggest(k.Value, entryKeys)
			if slices.Contains(topKeys, k.Value) {
				fix = k.Value + " is a top-level key: move it out of the entry, unindented, e.g. above registries:"
			}
			p.add(&Error{Line: k.Line, Index: index, Host: e.Host, Key: k.Value, Msg: "unknown key", Hint: fix})
			continue
		}
		vals[k.Value] = v
		keyLine[k.Value] = k.Line
	}
	if _, ok := vals["host"]; !ok {
		p.add(&Error{Line: n.Line, Index: index, Key: "host", Msg: "is missing",
			Hint: "every entry starts with the registry host, e.g. `- host: 123456789012.dkr.ecr.us-east-1.amazonaws.com`"})
	}
	get := func(key, example string) (string, int, bool) {
		v, ok := vals[key]
		if !ok {
			return "", 0, false
		}
		s, ok := p.scalar(v, index, e.Host, key, example)
		return s, v.Line, ok
	}
	bad := func(line int, key, msg, fix string) {
		p.add(&Error{Line: line, Index: index, Host: e.Host, Key: key, Msg: msg, Hint: fix})
	}

	parsed, isECR := ecrhost.Parse(e.Host)
	if s, line, ok := get("account", `account: "123456789012"`); ok {
		switch {
		case isECR && parsed.Public:
			bad(line, "account", "ECR Public (public.ecr.aws) has no account", "remove account")
		case !partition.IsAccount(s):
			bad(line, "account", fmt.Sprintf("%q is not a 12-digit AWS account ID", s), `write the ID in quotes, e.g. account: "012345678901"`)
		case isECR && s != parsed.Account:
			bad(line, "account", fmt.Sprintf("%s differs from the account %s in the host", s, parsed.Account), "remove account: it is taken from the host")
		default:
			e.Account = s
		}
	}
	if s, line, ok := get("region", "region: us-east-1"); ok {
		switch {
		case !partition.IsRegion(s) || partition.OfRegion(s) == "":
			bad(line, "region", fmt.Sprintf("%q is not an AWS region", s), "write a region code such as us-east-1 or eu-west-1")
		case isECR && s != parsed.Region:
			bad(line, "region", fmt.Sprintf("%s differs from the region %s in the host", s, parsed.Region), "remove region: it is taken from the host")
		default:
			e.Region = s
		}
	}
	if isECR {
		e.Account, e.Region = parsed.Account, parsed.Region
	} else if e.Host != "" {
		for _, k := range []struct{ key, val, example string }{{"account", e.Account, `account: "123456789012"`}, {"region", e.Region, "region: us-east-1"}} {
			if _, given := vals[k.key]; !given {
				bad(n.Line, k.key, fmt.Sprintf("is required: %s is not an ECR hostname, so the entry must say which ECR registry it stands for", e.Host),
					"add "+k.example)
			}
		}
	}
	var s string
	var line int
	var ok bool
	if s, line, ok = get("role_arn", "role_arn: arn:aws:iam::123456789012:role/ecr-pull"); ok {
		if msg := checkRoleARN(s); msg != "" {
			bad(line, "role_arn", msg, "write the role's ARN, e.g. arn:aws:iam::123456789012:role/ecr-pull")
		} else {
			e.RoleARN = s
		}
	}
	if s, line, ok = get("external_id", "external_id: your-external-id"); ok {
		if !validChars(s, "+=,.@:/-_") || len(s) < 2 || len(s) > 1224 {
			bad(line, "external_id", "must be 2 to 1224 characters of letters, digits and +=,.@:/-_", "copy the external ID exactly as the vendor gave it")
		} else {
			e.ExternalID = s
		}
	}
	if s, line, ok = get("session_name", "session_name: currents-myhost"); ok {
		if !validChars(s, "+=,.@-_") || len(s) < 2 || len(s) > 64 {
			bad(line, "session_name", fmt.Sprintf("%q must be 2 to 64 characters of letters, digits and +=,.@-_", s), "write e.g. session_name: currents-myhost, or remove it")
		} else {
			e.SessionName = s
		}
	}
	if s, line, ok = get("duration", "duration: 1h"); ok {
		d, err := parseDuration(s)
		switch {
		case err != nil:
			bad(line, "duration", err.Error(), "write e.g. duration: 1h (15m to 12h)")
		case d < MinDuration || d > MaxDuration:
			bad(line, "duration", fmt.Sprintf("%s is outside what AWS allows (15m to 12h)", d), "write e.g. duration: 1h")
		default:
			e.Duration = d
		}
	}
	if s, _, ok = get("profile", "profile: vendor-source"); ok {
		e.Profile = s
	}
	if s, line, ok = get("web_identity_token_file", "web_identity_token_file: /var/run/secrets/token"); ok {
		if !filepath.IsAbs(s) {
			// Docker runs the helper from whatever directory docker was run in.
			bad(line, "web_identity_token_file", fmt.Sprintf("%q is not an absolute path", s), "write the full path, e.g. web_identity_token_file: /var/run/secrets/token")
		} else {
			e.WebIdentityTokenFile = s
		}
	}
	if _, given := vals["role_arn"]; !given {
		for _, k := range []string{"external_id", "session_name", "duration", "web_identity_token_file"} {
			if _, has := vals[k]; has {
				bad(keyLine[k], k, "only applies when the entry assumes a role", "add role_arn, or remove "+k)
			}
		}
	}
	if vals["profile"] != nil && vals["web_identity_token_file"] != nil {
		bad(keyLine["web_identity_token_file"], "web_identity_token_file",
			"cannot be combined with profile: web identity needs no source credentials", "remove one of profile and web_identity_token_file")
	}
	return e, len(p.errs) == before
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

func checkRoleARN(s string) string {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" {
		return fmt.Sprintf("%q is not an IAM role ARN", s)
	}
	if !partition.Known(parts[1]) {
		return fmt.Sprintf("%q has an unknown partition %q", s, parts[1])
	}
	if !partition.IsAccount(parts[4]) {
		return fmt.Sprintf("%q does not hold a 12-digit account ID", s)
	}
	name, ok := strings.CutPrefix(parts[5], "role/")
	if !ok || name == "" || strings.HasSuffix(name, "/") || !validChars(name, "+=,.@-_/") {
		return fmt.Sprintf("%q does not name a role (want role/<name>)", s)
	}
	return ""
}

func validChars(s, extra string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
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
