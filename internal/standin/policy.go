package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A resource policy (an SQS queue's), evaluated as far as the stand-in's
// callers need: Allow and Deny statements, principals by ARN, account or
// service, actions and resources with wildcards, and the Arn and String
// condition operators (condition, shared with trust policies). An explicit
// Deny wins; no matching Allow denies.

type policyDoc struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Sid       string                           `json:"Sid,omitempty"`
	Effect    string                           `json:"Effect"`
	Principal json.RawMessage                  `json:"Principal"`
	Action    stringList                       `json:"Action"`
	Resource  stringList                       `json:"Resource"`
	Condition map[string]map[string]stringList `json:"Condition,omitempty"`
}

// policyPrincipal is who asks: an IAM principal (ARNs it goes by, and its
// account) or an AWS service.
type policyPrincipal struct {
	arns    []string
	account string
	service string
}

func awsPrincipal(p principal) policyPrincipal {
	arns := []string{p.arn}
	if p.roleARN != "" {
		arns = append(arns, p.roleARN)
	}
	return policyPrincipal{arns: arns, account: p.account}
}

func servicePrincipal(name string) policyPrincipal { return policyPrincipal{service: name} }

func parsePolicy(doc string) (*policyDoc, error) {
	var d policyDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return nil, fmt.Errorf("standin: policy is not valid JSON: %w", err)
	}
	if d.Version != "2012-10-17" && d.Version != "2008-10-17" {
		return nil, fmt.Errorf("standin: policy Version %q: want 2012-10-17", d.Version)
	}
	if len(d.Statement) == 0 {
		return nil, errors.New("standin: policy has no Statement")
	}
	for i, st := range d.Statement {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, fmt.Errorf("standin: policy statement %d: Effect %q", i, st.Effect)
		}
		if len(st.Action) == 0 || len(st.Resource) == 0 || len(st.Principal) == 0 {
			return nil, fmt.Errorf("standin: policy statement %d needs Principal, Action and Resource", i)
		}
	}
	return &d, nil
}

// allows evaluates the policy for one request; ctx holds the condition keys
// the request carries (aws:SourceArn).
func (d *policyDoc) allows(who policyPrincipal, action, resource string, ctx map[string]string) bool {
	allowed := false
	for _, st := range d.Statement {
		if !st.principalMatches(who) || !anyGlob(st.Action, action, true) || !anyGlob(st.Resource, resource, false) || !st.conditionsHold(ctx) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

func (st policyStatement) principalMatches(who policyPrincipal) bool {
	var star string
	if json.Unmarshal(st.Principal, &star) == nil {
		return star == "*"
	}
	var p struct {
		AWS     stringList `json:"AWS"`
		Service stringList `json:"Service"`
	}
	if json.Unmarshal(st.Principal, &p) != nil {
		return false
	}
	if who.service != "" {
		return anyGlob(p.Service, who.service, false)
	}
	for _, a := range p.AWS {
		if a == "*" || a == who.account || a == "arn:aws:iam::"+who.account+":root" {
			return true
		}
		for _, arn := range who.arns {
			if a == arn {
				return true
			}
		}
	}
	return false
}

func (st policyStatement) conditionsHold(ctx map[string]string) bool {
	for op, keys := range st.Condition {
		// The ARN operators compare as the string ones do.
		op = strings.Replace(strings.Replace(op, "ArnEquals", "StringEquals", 1), "ArnLike", "StringLike", 1)
		for key, want := range keys {
			var have []string
			if v, ok := ctx[key]; ok {
				have = []string{v}
			}
			if !condition(op, have, want) {
				return false
			}
		}
	}
	return true
}

// anyGlob matches s against IAM patterns (* and ?); actions compare without
// case, as IAM does.
func anyGlob(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p, s = strings.ToLower(p), strings.ToLower(s)
		}
		if glob(s, p) {
			return true
		}
	}
	return false
}
