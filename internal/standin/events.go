package standin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// EventBridge, as far as ECR push events reach SQS: the default event bus of
// each account and region, rules with an event pattern and SQS targets, and
// the queue policy a delivery must pass. ECR emits an "ECR Image Action"
// event for every image pushed by tag; a rule matching it sends the event
// JSON itself as the message body to each target queue whose policy lets
// events.amazonaws.com call sqs:SendMessage for that rule (aws:SourceArn).
// A queue of another account is reached only through the target's execution
// role (AWS's cross-account targets): a role of the rule's account that
// trusts events.amazonaws.com, which the queue's policy lets send. A delivery
// refused is skipped and counted, as EventBridge counts FailedInvocations.
// PutTargets refuses what EventBridge refuses: a sixth target, an SQS queue
// in another Region, an execution role of another account.

// ECREvent is an "ECR Image Action" event as EventBridge delivers it (field
// order as in the ECR user guide's example).
type ECREvent struct {
	Version    string         `json:"version"`
	ID         string         `json:"id"`
	DetailType string         `json:"detail-type"`
	Source     string         `json:"source"`
	Account    string         `json:"account"`
	Time       string         `json:"time"`
	Region     string         `json:"region"`
	Resources  []string       `json:"resources"`
	Detail     ECREventDetail `json:"detail"`
}

// ECREventDetail is the event's detail.
type ECREventDetail struct {
	Result            string `json:"result"`
	RepositoryName    string `json:"repository-name"`
	ImageDigest       string `json:"image-digest"`
	ActionType        string `json:"action-type"`
	ImageTag          string `json:"image-tag"`
	ManifestMediaType string `json:"manifest-media-type,omitempty"`
	ArtifactMediaType string `json:"artifact-media-type,omitempty"`
}

type rule struct {
	name, account, region string
	pattern               map[string]any
	targets               []target
}

// target is a rule's SQS queue, and the execution role EventBridge sends to
// it as ("" sends as the service itself).
type target struct{ queue, role string }

// maxTargets is EventBridge's limit of targets per rule.
const maxTargets = 5

func (r *rule) arn() string {
	return "arn:aws:events:" + r.region + ":" + r.account + ":rule/" + r.name
}

// PutRule creates or replaces a rule on the default bus of account (default:
// the server's) in the server's region, and returns its ARN. The pattern is
// validated as EventBridge does (InvalidEventPatternException).
func (s *Server) PutRule(account, name, pattern string) (string, error) {
	p, err := parsePattern(pattern)
	if err != nil {
		return "", err
	}
	if account == "" {
		account = s.set.account
	}
	r := &rule{name: name, account: account, region: s.set.region, pattern: p}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.rules[r.arn()]; ok {
		r.targets = old.targets
	}
	s.rules[r.arn()] = r
	return r.arn(), nil
}

// PutTargets adds SQS queues (by ARN) as targets of a rule.
func (s *Server) PutTargets(ruleARN string, queueARNs ...string) error {
	for _, a := range queueARNs {
		if err := s.PutTarget(ruleARN, a, ""); err != nil {
			return err
		}
	}
	return nil
}

// PutTarget adds (or updates) one SQS queue target of a rule, sent to as
// roleARN ("" for none), refusing what EventBridge refuses.
func (s *Server) PutTarget(ruleARN, queueARN, roleARN string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rules[ruleARN]
	if !ok {
		return fmt.Errorf("standin: no rule %s", ruleARN)
	}
	parts := strings.SplitN(queueARN, ":", 6)
	if len(parts) != 6 || parts[2] != "sqs" {
		return fmt.Errorf("standin: PutTargets: %q is not an SQS queue ARN", queueARN)
	}
	if parts[3] != r.region {
		return fmt.Errorf("standin: PutTargets: queue %s is in %s, rule %s in %s: EventBridge sends to SQS queues in the rule's Region only", queueARN, parts[3], ruleARN, r.region)
	}
	if roleARN != "" && !strings.HasPrefix(roleARN, "arn:aws:iam::"+r.account+":role/") {
		return fmt.Errorf("standin: PutTargets: execution role %s is not of the rule's account %s", roleARN, r.account)
	}
	for i, t := range r.targets {
		if t.queue == queueARN {
			r.targets[i].role = roleARN
			return nil
		}
	}
	if len(r.targets) >= maxTargets {
		return fmt.Errorf("standin: PutTargets: LimitExceededException: rule %s has %d targets already, the most a rule may have", ruleARN, maxTargets)
	}
	r.targets = append(r.targets, target{queue: queueARN, role: roleARN})
	return nil
}

// RouteECREvents is the usual set-up in one call: a rule in the server's
// account matching every ECR image action, with the queue as its target and a
// queue policy letting that rule deliver. It returns the rule's ARN.
func (s *Server) RouteECREvents(queueURL string) (string, error) {
	arn := s.QueueARN(queueURL)
	if arn == "" {
		return "", fmt.Errorf("standin: no queue %s", queueURL)
	}
	name := "standin-ecr-" + arn[strings.LastIndex(arn, ":")+1:]
	ruleARN, err := s.PutRule("", name, `{"source":["aws.ecr"],"detail-type":["ECR Image Action"]}`)
	if err != nil {
		return "", err
	}
	if queueAccount := strings.SplitN(arn, ":", 6)[4]; queueAccount == s.set.account {
		if err := s.PutTargets(ruleARN, arn); err != nil {
			return "", err
		}
		return ruleARN, s.SetQueuePolicy(queueURL, EventsQueuePolicy(arn, ruleARN))
	}
	// Another account's queue: through an execution role of the rule's.
	role := "arn:aws:iam::" + s.set.account + ":role/" + name
	s.AddRole(role, RoleSpec{Trust: []string{eventsService}})
	if err := s.PutTarget(ruleARN, arn, role); err != nil {
		return "", err
	}
	return ruleARN, s.SetQueuePolicy(queueURL, RoleQueuePolicy(arn, role))
}

// EventsQueuePolicy is the queue policy EventBridge needs to deliver a rule's
// events to a queue of the rule's account.
func EventsQueuePolicy(queueARN string, ruleARNs ...string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": eventsService},
			"Action":    "sqs:SendMessage",
			"Resource":  queueARN,
			"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": ruleARNs}},
		}},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// RoleQueuePolicy is the queue policy that lets a rule's execution role
// deliver to a queue of another account.
func RoleQueuePolicy(queueARN, roleARN string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]string{"AWS": roleARN},
			"Action":    "sqs:SendMessage",
			"Resource":  queueARN,
		}},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// eventsService is EventBridge's service principal.
const eventsService = "events.amazonaws.com"

// FailedInvocations is how many deliveries a queue policy refused.
func (s *Server) FailedInvocations() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failedInvocations
}

// PutECREvent puts an ECR event on the default bus of its account and
// region, as ECR does after a push or delete: every matching rule delivers it
// to its targets. It returns how many queues received it.
func (s *Server) PutECREvent(ev ECREvent) int {
	if ev.Version == "" {
		ev.Version = "0"
	}
	if ev.ID == "" {
		ev.ID = uuid()
	}
	if ev.DetailType == "" {
		ev.DetailType = "ECR Image Action"
	}
	if ev.Source == "" {
		ev.Source = "aws.ecr"
	}
	now := s.Now()
	if ev.Time == "" {
		ev.Time = now.UTC().Format(time.RFC3339)
	}
	if ev.Resources == nil {
		ev.Resources = []string{}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return 0
	}
	var generic map[string]any
	_ = json.Unmarshal(body, &generic)
	s.mu.Lock()
	defer s.mu.Unlock()
	delivered := 0
	for _, r := range s.rules {
		if r.account != ev.Account || r.region != ev.Region || !matches(r.pattern, generic) {
			continue
		}
		for _, t := range r.targets {
			q := s.queueByARNLocked(t.queue)
			if q == nil || !s.eventsMaySendLocked(q, r, t) {
				s.failedInvocations++
				continue
			}
			s.enqueueLocked(q, string(body), eventsSenderID, q.seconds("DelaySeconds", 0), now)
			delivered++
		}
	}
	return delivered
}

// eventsSenderID is the SenderId SQS shows for messages EventBridge sends.
const eventsSenderID = "AIDAIE6VAXUQU2DKHA7DK"

// eventsMaySendLocked is whether EventBridge's delivery of rule r's event
// to q passes IAM: as the service, by the queue's policy for that rule
// (same account only); or as the target's execution role, which must trust
// the service, not be denied sqs:SendMessage, and, for another account's
// queue, be let send by the queue's policy.
func (s *Server) eventsMaySendLocked(q *queue, r *rule, t target) bool {
	doc, err := parsePolicy(q.attrs["Policy"])
	if t.role == "" {
		return q.account == r.account && err == nil &&
			doc.allows(servicePrincipal(eventsService), "sqs:SendMessage", q.arn(), map[string]string{"aws:SourceArn": r.arn()})
	}
	role, ok := s.roles[t.role]
	if !ok || !slices.Contains(role.spec.Trust, eventsService) || s.denials[t.role]["sqs:SendMessage"] {
		return false
	}
	if q.account == r.account {
		return true // the role's own permissions suffice in its account
	}
	return err == nil && doc.allows(policyPrincipal{arns: []string{t.role}, account: r.account}, "sqs:SendMessage", q.arn(), nil)
}

// Event patterns: a JSON object whose leaves are arrays of allowed values
// (strings, numbers, booleans, null) or of content filters ({"prefix"},
// {"suffix"}, {"anything-but"}, {"exists"}); nested objects match nested
// fields. That is the subset ECR rules use; others are refused.

var errPattern = errors.New("InvalidEventPatternException: Event pattern is not valid")

func parsePattern(pattern string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(pattern))
	dec.UseNumber()
	var p map[string]any
	if err := dec.Decode(&p); err != nil || len(p) == 0 {
		return nil, fmt.Errorf("%w: it must be a non-empty JSON object", errPattern)
	}
	return p, validatePattern(p, "")
}

func validatePattern(p map[string]any, path string) error {
	for k, v := range p {
		switch v := v.(type) {
		case map[string]any:
			if err := validatePattern(v, path+k+"."); err != nil {
				return err
			}
		case []any:
			if len(v) == 0 {
				return fmt.Errorf("%w: %s%s: an empty array matches nothing", errPattern, path, k)
			}
			for _, e := range v {
				if f, ok := e.(map[string]any); ok {
					if err := validateFilter(f); err != nil {
						return fmt.Errorf("%w: %s%s: %v", errPattern, path, k, err)
					}
				}
			}
		default:
			return fmt.Errorf("%w: %s%s: match values must be in an array", errPattern, path, k)
		}
	}
	return nil
}

func validateFilter(f map[string]any) error {
	if len(f) != 1 {
		return errors.New("a content filter has exactly one key")
	}
	for k := range f {
		if !slices.Contains([]string{"prefix", "suffix", "anything-but", "exists"}, k) {
			return fmt.Errorf("unsupported content filter %q", k)
		}
	}
	return nil
}

// matches reports whether an event (decoded JSON) matches a pattern: every
// key of the pattern must match.
func matches(pattern, event map[string]any) bool {
	for k, want := range pattern {
		got, present := event[k]
		switch want := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok || !matches(want, sub) {
				return false
			}
		case []any:
			if !matchesAny(want, got, present) {
				return false
			}
		}
	}
	return true
}

func matchesAny(allowed []any, got any, present bool) bool {
	values := []any{got}
	if arr, ok := got.([]any); ok {
		values = arr // an array field matches when any element does
	}
	for _, a := range allowed {
		f, isFilter := a.(map[string]any)
		if isFilter && matchesFilter(f, values, present) {
			return true
		}
		if !isFilter && present && slices.ContainsFunc(values, func(v any) bool { return sameValue(a, v) }) {
			return true
		}
	}
	return false
}

func matchesFilter(f map[string]any, values []any, present bool) bool {
	for op, arg := range f {
		switch op {
		case "exists":
			want, _ := arg.(bool)
			return want == present
		case "prefix", "suffix":
			s, _ := arg.(string)
			for _, v := range values {
				if str, ok := v.(string); ok && (op == "prefix" && strings.HasPrefix(str, s) || op == "suffix" && strings.HasSuffix(str, s)) {
					return true
				}
			}
		case "anything-but":
			excluded, ok := arg.([]any)
			if !ok {
				excluded = []any{arg}
			}
			return present && !slices.ContainsFunc(values, func(v any) bool {
				return slices.ContainsFunc(excluded, func(x any) bool { return sameValue(x, v) })
			})
		}
	}
	return false
}

func sameValue(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}
