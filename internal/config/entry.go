package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"gopkg.in/yaml.v3"

	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/partition"
)

// entryKey is one key a registries entry may hold: how to check its value and
// where to keep it. Adding a key to currents.yaml is adding a row to entryKeys.
type entryKey struct {
	name    string
	example string // a valid line, shown when the value is missing or not a scalar
	// set checks s and stores it in ep.e; it returns nil or what is wrong.
	set func(ep *entryParser, s string) *problem
	// needsRole: the key only means something when the entry assumes a role.
	needsRole bool
}

// problem is what is wrong with a value, and what to write instead.
type problem struct{ msg, fix string }

func bad(msg, fix string) *problem { return &problem{msg, fix} }

// entryKeys lists an entry's keys in the order the README documents them and
// errors are reported. host comes first: every other error names it.
var entryKeys = []entryKey{
	{name: "host", example: "host: 123456789012.dkr.ecr.us-east-1.amazonaws.com", set: setHost},
	{name: "account", example: `account: "123456789012"`, set: setAccount},
	{name: "region", example: "region: us-east-1", set: setRegion},
	{name: "role_arn", example: "role_arn: arn:aws:iam::123456789012:role/ecr-pull", set: setRoleARN},
	{name: "external_id", example: "external_id: your-external-id", set: setExternalID, needsRole: true},
	{name: "session_name", example: "session_name: currents-myhost", set: setSessionName, needsRole: true},
	{name: "duration", example: "duration: 1h", set: setDuration, needsRole: true},
	{name: "profile", example: "profile: vendor-source", set: func(ep *entryParser, s string) *problem { ep.e.Profile = s; return nil }},
	{name: "web_identity_token_file", example: "web_identity_token_file: /var/run/secrets/token", set: setWebIdentityTokenFile, needsRole: true},
	{name: "web_identity", example: "web_identity: github-actions", set: setWebIdentity, needsRole: true},
	{name: "web_identity_audience", example: "web_identity_audience: sts.amazonaws.com", set: setWebIdentityAudience, needsRole: true},
}

// exclusive lists pairs of keys one entry cannot hold together: the second is
// reported, with why.
var exclusive = []struct{ a, b, why string }{
	{"profile", "web_identity_token_file", "web identity needs no source credentials"},
	{"profile", "web_identity", "web identity needs no source credentials"},
	{"web_identity_token_file", "web_identity", "both name where the OIDC token comes from"},
	{"external_id", "web_identity", "AssumeRoleWithWebIdentity takes no external ID; the trust policy checks the token's claims instead"},
	{"external_id", "web_identity_token_file", "AssumeRoleWithWebIdentity takes no external ID; the trust policy checks the token's claims instead"},
}

func entryKeyNames() []string {
	names := make([]string, len(entryKeys))
	for i, k := range entryKeys {
		names[i] = k.name
	}
	return names
}

// entryParser reads one registries entry.
type entryParser struct {
	*parser
	e     Entry
	vals  map[string]*yaml.Node // the entry's known keys, each at most once
	keys  map[string]int        // their lines
	ecr   ecrhost.Registry      // the host parsed as an ECR hostname, when it is one
	isECR bool
}

func (ep *entryParser) bad(line int, key string, pr *problem) {
	ep.add(&Error{Line: line, Index: ep.e.Index, Host: ep.e.Host, Key: key, Msg: pr.msg, Hint: pr.fix})
}

func (p *parser) entry(index int, n *yaml.Node) (Entry, bool) {
	ep := &entryParser{parser: p, e: Entry{Index: index, Line: n.Line}, vals: map[string]*yaml.Node{}, keys: map[string]int{}}
	if n.Kind != yaml.MappingNode {
		p.add(&Error{Line: n.Line, Index: index, Msg: "must be a mapping of keys such as host and role_arn, not a " + kindName(n.Kind),
			Hint: "write `- host: ...` with the other keys indented under it"})
		return ep.e, false
	}
	before := len(p.errs)
	ep.host(n)
	ep.collect(n)
	if _, ok := ep.vals["host"]; !ok {
		p.add(&Error{Line: n.Line, Index: index, Key: "host", Msg: "is missing",
			Hint: "every entry starts with the registry host, e.g. `- host: 123456789012.dkr.ecr.us-east-1.amazonaws.com`"})
	}
	ep.ecr, ep.isECR = ecrhost.Parse(ep.e.Host)
	for _, k := range entryKeys[1:] {
		if v, ok := ep.vals[k.name]; ok {
			if s, ok := p.scalar(v, index, ep.e.Host, k.name, k.example); ok {
				if pr := k.set(ep, s); pr != nil {
					ep.bad(v.Line, k.name, pr)
				}
			}
		}
	}
	ep.resolveRegistry(n.Line)
	ep.crossKeys()
	ep.audience()
	return ep.e, len(p.errs) == before
}

// host reads the host first, wherever it stands, so every other error can name it.
func (ep *entryParser) host(n *yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "host" {
			continue
		}
		v := n.Content[i+1]
		if s, ok := ep.scalar(v, ep.e.Index, "", "host", entryKeys[0].example); ok {
			if pr := setHost(ep, s); pr != nil {
				ep.bad(v.Line, "host", pr)
			}
		}
	}
}

// collect records the entry's keys, reporting duplicates and unknown keys.
func (ep *entryParser) collect(n *yaml.Node) {
	names := entryKeyNames()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := ep.vals[k.Value]; dup {
			ep.bad(k.Line, k.Value, bad("appears twice in this entry", "keep one"))
			continue
		}
		if !slices.Contains(names, k.Value) {
			fix := "an entry's keys are " + strings.Join(names, ", ") + suggest(k.Value, names)
			if slices.Contains(topKeys, k.Value) {
				fix = k.Value + " is a top-level key: move it out of the entry, unindented, e.g. above registries:"
			}
			ep.bad(k.Line, k.Value, bad("unknown key", fix))
			continue
		}
		ep.vals[k.Value] = v
		ep.keys[k.Value] = k.Line
	}
}

// resolveRegistry takes account and region from an ECR hostname, and requires
// them of an alias.
func (ep *entryParser) resolveRegistry(line int) {
	if ep.isECR {
		ep.e.Account, ep.e.Region = ep.ecr.Account, ep.ecr.Region
		return
	}
	if ep.e.Host == "" {
		return
	}
	for _, key := range []string{"account", "region"} {
		if _, given := ep.vals[key]; !given {
			ep.bad(line, key, bad(fmt.Sprintf("is required: %s is not an ECR hostname, so the entry must say which ECR registry it stands for", ep.e.Host),
				"add "+exampleOf(key)))
		}
	}
}

// crossKeys checks the rules between keys: role-only keys without a role, and
// keys that exclude each other.
func (ep *entryParser) crossKeys() {
	if _, given := ep.vals["role_arn"]; !given {
		for _, k := range entryKeys {
			if _, has := ep.vals[k.name]; has && k.needsRole {
				ep.bad(ep.keys[k.name], k.name, bad("only applies when the entry assumes a role", "add role_arn, or remove "+k.name))
			}
		}
	}
	for _, x := range exclusive {
		if ep.vals[x.a] != nil && ep.vals[x.b] != nil {
			ep.bad(ep.keys[x.b], x.b, bad("cannot be combined with "+x.a+": "+x.why, "remove one of "+x.a+" and "+x.b))
		}
	}
}

func exampleOf(key string) string {
	for _, k := range entryKeys {
		if k.name == key {
			return k.example
		}
	}
	return key + ": ..."
}

func setHost(ep *entryParser, s string) *problem {
	h, err := ecrhost.Normalize(s)
	if err != nil {
		return bad(err.Error(), "write the registry host as in an image reference, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com")
	}
	ep.e.Host = h
	return nil
}

func setAccount(ep *entryParser, s string) *problem {
	switch {
	case ep.isECR && ep.ecr.Public:
		return bad("ECR Public (public.ecr.aws) has no account", "remove account")
	case !partition.IsAccount(s):
		return bad(fmt.Sprintf("%q is not a 12-digit AWS account ID", s), `write the ID in quotes, e.g. account: "012345678901"`)
	case ep.isECR && s != ep.ecr.Account:
		return bad(fmt.Sprintf("%s differs from the account %s in the host", s, ep.ecr.Account), "remove account: it is taken from the host")
	}
	ep.e.Account = s
	return nil
}

func setRegion(ep *entryParser, s string) *problem {
	switch {
	case !partition.IsRegion(s) || partition.OfRegion(s) == "":
		return bad(fmt.Sprintf("%q is not an AWS region", s), "write a region code such as us-east-1 or eu-west-1")
	case ep.isECR && s != ep.ecr.Region:
		return bad(fmt.Sprintf("%s differs from the region %s in the host", s, ep.ecr.Region), "remove region: it is taken from the host")
	}
	ep.e.Region = s
	return nil
}

func setRoleARN(ep *entryParser, s string) *problem {
	if msg := checkRoleARN(s); msg != "" {
		return bad(msg, "write the role's ARN, e.g. arn:aws:iam::123456789012:role/ecr-pull")
	}
	ep.e.RoleARN = s
	return nil
}

func setExternalID(ep *entryParser, s string) *problem {
	if !validChars(s, "+=,.@:/-_") || len(s) < 2 || len(s) > 1224 {
		return bad("must be 2 to 1224 characters of letters, digits and +=,.@:/-_", "copy the external ID exactly as the vendor gave it")
	}
	ep.e.ExternalID = s
	return nil
}

func setSessionName(ep *entryParser, s string) *problem {
	if !validChars(s, "+=,.@-_") || len(s) < 2 || len(s) > 64 {
		return bad(fmt.Sprintf("%q must be 2 to 64 characters of letters, digits and +=,.@-_", s), "write e.g. session_name: currents-myhost, or remove it")
	}
	ep.e.SessionName = s
	return nil
}

func setDuration(ep *entryParser, s string) *problem {
	d, shown, err := parseDuration(s)
	switch {
	case err != nil:
		return bad(err.Error(), "write e.g. duration: 1h (15m to 12h)")
	case d < MinDuration || d > MaxDuration:
		return bad(fmt.Sprintf("%s is outside what AWS allows (15m to 12h)", shown), "write e.g. duration: 1h")
	}
	ep.e.Duration = d
	return nil
}

func setWebIdentityTokenFile(ep *entryParser, s string) *problem {
	if !filepath.IsAbs(s) {
		// Docker runs the helper from whatever directory docker was run in.
		return bad(fmt.Sprintf("%q is not an absolute path", s), "write the full path, e.g. web_identity_token_file: /var/run/secrets/token")
	}
	ep.e.WebIdentityTokenFile = s
	return nil
}

// checkRoleARN says what is wrong with an IAM role ARN, or "".
func checkRoleARN(s string) string {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "iam" || a.Region != "" {
		return fmt.Sprintf("%q is not an IAM role ARN", s)
	}
	if !partition.Known(a.Partition) {
		return fmt.Sprintf("%q has an unknown partition %q", s, a.Partition)
	}
	if !partition.IsAccount(a.AccountID) {
		return fmt.Sprintf("%q does not hold a 12-digit account ID", s)
	}
	name, ok := strings.CutPrefix(a.Resource, "role/")
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

func setWebIdentity(ep *entryParser, s string) *problem {
	if !slices.Contains(WebIdentities, s) {
		return bad(fmt.Sprintf("%q is not a web identity this helper knows", s),
			"write one of "+strings.Join(WebIdentities, ", ")+suggest(s, WebIdentities))
	}
	ep.e.WebIdentity = s
	return nil
}

func setWebIdentityAudience(ep *entryParser, s string) *problem {
	if len(s) > 255 || strings.ContainsAny(s, " \t&#") {
		return bad(fmt.Sprintf("%q is not an audience (at most 255 characters, no spaces, & or #)", s), "write the audience the role's IAM OIDC provider lists, e.g. sts.amazonaws.com")
	}
	ep.e.WebIdentityAudience = s
	return nil
}

// audience: only GitHub's token request takes an audience; CircleCI's token
// carries the organization ID and the kubelet's the audience its
// tokenAttributes name.
func (ep *entryParser) audience() {
	if ep.vals["web_identity_audience"] == nil || ep.e.WebIdentity == WebIdentityGitHub {
		return
	}
	fix := "add web_identity: github-actions, or remove web_identity_audience"
	switch ep.e.WebIdentity {
	case WebIdentityCircleCI:
		fix = "remove web_identity_audience: CircleCI's token always has the organization ID as audience, which the trust policy checks"
	case WebIdentityKubernetes:
		fix = "remove web_identity_audience and set the audience in the kubelet's CredentialProviderConfig (tokenAttributes.serviceAccountTokenAudience)"
	}
	ep.bad(ep.keys["web_identity_audience"], "web_identity_audience", bad("only applies to web_identity: "+WebIdentityGitHub, fix))
}
