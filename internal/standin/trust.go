package standin

import (
	"encoding/json"
	"fmt"
	"strings"
)

// trustPolicy is a role's trust policy (assume-role policy document) as IAM
// reads it: the JSON `docker currents policy ci-trust` writes, or any other.
// Values IAM allows as a string or a list of strings are read as lists.
type trustPolicy struct {
	Statement []trustStatement
}

type trustStatement struct {
	Effect    string
	Action    stringList
	Principal map[string]stringList
	Condition map[string]map[string]stringList
}

type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*l = many
	return nil
}

// parseTrustPolicy reads a policy document; a single statement object is
// accepted in place of a list, as IAM does.
func parseTrustPolicy(doc []byte) (*trustPolicy, error) {
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("trust policy: %w", err)
	}
	p := &trustPolicy{}
	if len(raw.Statement) > 0 && raw.Statement[0] == '{' {
		var one trustStatement
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, fmt.Errorf("trust policy statement: %w", err)
		}
		p.Statement = []trustStatement{one}
		return p, nil
	}
	if err := json.Unmarshal(raw.Statement, &p.Statement); err != nil {
		return nil, fmt.Errorf("trust policy statements: %w", err)
	}
	return p, nil
}

// allowsWebIdentity evaluates the policy for AssumeRoleWithWebIdentity by a
// token of provider (its ARN) with claims: an Allow statement for the action
// naming the provider as Federated principal whose every condition holds,
// and no Deny that matches. Condition keys are ISSUER_HOST:CLAIM, as IAM
// exposes an OIDC token's claims.
func (p *trustPolicy) allowsWebIdentity(provider string, claims map[string]any) bool {
	host := provider[strings.Index(provider, "oidc-provider/")+len("oidc-provider/"):]
	allowed := false
	for _, st := range p.Statement {
		if !st.matches("sts:AssumeRoleWithWebIdentity", provider, host, claims) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func (st trustStatement) matches(action, provider, host string, claims map[string]any) bool {
	if !anyMatch(st.Action, action, strings.EqualFold) {
		return false
	}
	if !anyMatch(st.Principal["Federated"], provider, func(a, b string) bool { return a == b }) {
		return false
	}
	for op, keys := range st.Condition {
		for key, want := range keys {
			if !condition(op, claimValues(key, host, claims), want) {
				return false
			}
		}
	}
	return true
}

func anyMatch(patterns []string, v string, eq func(a, b string) bool) bool {
	for _, p := range patterns {
		if eq(p, v) || glob(strings.ToLower(p), strings.ToLower(v)) && strings.Contains(p, "*") {
			return true
		}
	}
	return false
}

// claimValues is what a condition key reads: host:aud is every audience,
// host:CLAIM a string claim; another issuer's key reads nothing.
func claimValues(key, host string, claims map[string]any) []string {
	name, ok := strings.CutPrefix(key, host+":")
	if !ok {
		return nil
	}
	switch v := claims[name].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// condition applies one IAM string operator. A key with no value fails every
// positive operator, as in IAM; an operator we do not know fails too, so a
// policy the stand-in cannot judge never grants.
func condition(op string, have, want []string) bool {
	var match func(h, w string) bool
	negate := false
	switch op {
	case "StringEquals":
		match = func(h, w string) bool { return h == w }
	case "StringEqualsIgnoreCase":
		match = strings.EqualFold
	case "StringLike":
		match = glob
	case "StringNotEquals":
		match, negate = func(h, w string) bool { return h == w }, true
	case "StringNotLike":
		match, negate = glob, true
	default:
		return false
	}
	hit := false
	for _, h := range have {
		for _, w := range want {
			if match(h, w) {
				hit = true
			}
		}
	}
	if negate {
		return !hit
	}
	return hit
}

// glob matches IAM's StringLike patterns: * any run of characters, ? one.
func glob(s, pattern string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if glob(s[i:], pattern[1:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			s, pattern = s[1:], pattern[1:]
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			s, pattern = s[1:], pattern[1:]
		}
	}
	return s == ""
}

// ValidateTrustPolicy reports why doc cannot serve as RoleSpec.TrustPolicy.
func ValidateTrustPolicy(doc []byte) error {
	p, err := parseTrustPolicy(doc)
	if err == nil && len(p.Statement) == 0 {
		err = fmt.Errorf("trust policy: no statement")
	}
	return err
}
