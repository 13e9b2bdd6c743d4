package iampolicy

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/currentsdev/currents/internal/fix"
)

// Queue is an SQS queue, named by its ARN.
type Queue struct {
	Partition, Region, Account, Name string
}

// ARN is the queue's ARN.
func (q Queue) ARN() string {
	return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", q.Partition, q.Region, q.Account, q.Name)
}

var queueName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`) })

// ParseQueueARN reads --queue-arn: arn:PARTITION:sqs:REGION:ACCOUNT:NAME
// (aws sqs get-queue-attributes --attribute-names QueueArn prints it).
func ParseQueueARN(s string) (Queue, error) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "sqs" {
		return Queue{}, fmt.Errorf("%q is not an SQS queue ARN: want arn:aws:sqs:REGION:ACCOUNT:NAME (aws sqs get-queue-attributes --queue-url URL --attribute-names QueueArn)", s)
	}
	q := Queue{Partition: a.Partition, Region: a.Region, Account: a.AccountID, Name: a.Resource}
	if err := ValidatePartition(q.Partition); err != nil {
		return Queue{}, fmt.Errorf("%s: %w", s, err)
	}
	if err := ValidateRegion(q.Region); err != nil {
		return Queue{}, fmt.Errorf("%s: %w", s, err)
	}
	if err := ValidateAccount(q.Account); err != nil {
		return Queue{}, fmt.Errorf("%s: %w", s, err)
	}
	if !queueName().MatchString(q.Name) {
		return Queue{}, fmt.Errorf("%s: queue name %q: 1 to 80 letters, digits, - and _ (a FIFO queue, .fifo, cannot be an EventBridge target for watch)", s, q.Name)
	}
	return q, nil
}

// WatchConsumer is the identity policy of the principal `docker currents
// watch --queue` reads the queue as: exactly the four calls it makes, on
// exactly that queue.
func WatchConsumer(q Queue) Document {
	return Document{Version: Version, Statement: []Statement{{
		Sid:      "ConsumeECRPushEvents",
		Effect:   "Allow",
		Action:   []string{"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"},
		Resource: []string{q.ARN()},
	}}}
}

// EventPattern is an EventBridge rule's event pattern for ECR pushes: seed
// 003's (the account, "ECR Image Action", result SUCCESS, action-type PUSH)
// with the source, narrowed to the stack's repositories. Fields are in the
// order AWS's examples use.
type EventPattern struct {
	Source     []string `json:"source"`
	Account    []string `json:"account"`
	DetailType []string `json:"detail-type"`
	Detail     struct {
		Result         []string `json:"result"`
		ActionType     []string `json:"action-type"`
		RepositoryName []string `json:"repository-name"`
	} `json:"detail"`
}

// JSON renders the pattern as Document.JSON renders policies.
func (p EventPattern) JSON() []byte { return indented(p) }

// MaxTargets is how many targets an EventBridge rule may have at once
// (PutTargets: "Each rule can have up to five (5) targets").
const MaxTargets = 5

// Events is what routes a stack's push events to watch queues: the rule
// (in the account and region that own the repositories: only there are
// their events seen) and, for each queue, the policy that lets the rule
// send to it.
type Events struct {
	Partition, Region, Account string
	RuleName                   string
	Pattern                    EventPattern
	Queues                     []Queue
	QueuePolicies              []Document // one per queue, in order
	// ExecutionRole is the role of the rule's account that EventBridge sends
	// to other accounts' queues as (AWS's cross-account targets, 2025); ""
	// when every queue is in the rule's account, whose targets take none.
	ExecutionRole string
	// ExecutionRolePolicy lets ExecutionRole send to those queues; nil when
	// there is no execution role.
	ExecutionRolePolicy *Document
}

// RuleARN is the rule's ARN, which the queue policies name.
func (e Events) RuleARN() string {
	return fmt.Sprintf("arn:%s:events:%s:%s:rule/%s", e.Partition, e.Region, e.Account, e.RuleName)
}

// CrossAccount reports whether EventBridge reaches q through the execution
// role: q is in another account than the rule.
func (e Events) CrossAccount(q Queue) bool { return q.Account != e.Account }

var ruleName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[.\-_A-Za-z0-9]{1,64}$`) })

// ValidateRuleName checks an EventBridge rule's name (--rule-name).
func ValidateRuleName(rule string) error {
	if !ruleName().MatchString(rule) {
		return fmt.Errorf("--rule-name %q: 1 to 64 letters, digits, '.', '-' and '_'", rule)
	}
	return nil
}

// ForEvents builds the rule pattern for repos (one account and region) and
// a queue policy for each queue, refusing targets EventBridge would refuse
// or never deliver to. Without queues it builds the pattern alone.
// executionRole is needed when a queue is in another account than the rule.
func ForEvents(repos []Repository, rule string, queues []Queue, executionRole string) (Events, error) {
	if len(repos) == 0 {
		return Events{}, errors.New("no repositories")
	}
	if err := ValidateRuleName(rule); err != nil {
		return Events{}, err
	}
	first := repos[0]
	e := Events{Partition: first.Partition, Region: first.Region, Account: first.Account, RuleName: rule, Queues: queues}
	seen := map[string]bool{}
	var names []string
	for _, r := range repos {
		if err := r.Validate(); err != nil {
			return Events{}, err
		}
		if r.Account != first.Account || r.Region != first.Region {
			return Events{}, fmt.Errorf("the stack's repositories span %s in %s and %s in %s; a rule sees one account's events in one region: run once per registry with --to",
				first.Account, first.Region, r.Account, r.Region)
		}
		if !seen[r.Name] {
			seen[r.Name] = true
			names = append(names, r.Name)
		}
	}
	sort.Strings(names)
	e.Pattern = EventPattern{Source: []string{"aws.ecr"}, Account: []string{e.Account}, DetailType: []string{"ECR Image Action"}}
	e.Pattern.Detail.Result, e.Pattern.Detail.ActionType, e.Pattern.Detail.RepositoryName = []string{"SUCCESS"}, []string{"PUSH"}, names
	if err := e.checkTargets(); err != nil {
		return Events{}, err
	}
	if err := e.setExecutionRole(executionRole); err != nil {
		return Events{}, err
	}
	for _, q := range queues {
		if e.CrossAccount(q) {
			e.QueuePolicies = append(e.QueuePolicies, RoleQueuePolicy(q, e.ExecutionRole))
		} else {
			e.QueuePolicies = append(e.QueuePolicies, QueuePolicy(q, e.RuleARN()))
		}
	}
	return e, nil
}

// checkTargets refuses a list of queues EventBridge would refuse as the
// rule's targets, or accept and never deliver to.
func (e Events) checkTargets() error {
	if len(e.Queues) > MaxTargets {
		return fix.New(fmt.Errorf("--queue-arn: %d queues, but an EventBridge rule has at most %d targets", len(e.Queues), MaxTargets),
			"target an SNS topic with one subscription per queue (watch unwraps SNS's envelope), or split the hosts over several rules (--rule-name)")
	}
	seen := map[string]bool{}
	for _, q := range e.Queues {
		switch {
		case seen[q.ARN()]:
			return fix.New(fmt.Errorf("--queue-arn %s is given twice", q.ARN()), "give each host's queue once: every host needs its own queue")
		case q.Partition != e.Partition:
			return fmt.Errorf("queue %s is in partition %s, the repositories in %s: EventBridge cannot deliver across partitions", q.ARN(), q.Partition, e.Partition)
		case q.Region != e.Region:
			// Cross-Region, EventBridge targets only another event bus.
			return fix.New(fmt.Errorf("queue %s is in %s, but the rule must be in %s (where the repositories' push events are), and EventBridge sends to SQS queues in the rule's own Region only",
				q.ARN(), q.Region, e.Region),
				fmt.Sprintf("create the host's queue in %s: watch reads a queue in any Region, from anywhere", e.Region))
		}
		seen[q.ARN()] = true
	}
	return nil
}

// setExecutionRole checks the execution role a queue in another account
// needs: a role of the rule's own account (AWS requires it there).
func (e *Events) setExecutionRole(role string) error {
	var others []string
	for _, q := range e.Queues {
		if e.CrossAccount(q) {
			others = append(others, q.ARN())
		}
	}
	if role == "" {
		if len(others) == 0 {
			return nil
		}
		return fix.New(fmt.Errorf("queue %s is in another account than the rule (%s): EventBridge sends to it only as an execution role of account %s",
			others[0], e.Account, e.Account),
			fmt.Sprintf("have the rule's owner create that role (trusted by events.amazonaws.com, allowed sqs:SendMessage on the queues) and give its ARN with --execution-role-arn arn:%s:iam::%s:role/NAME", e.Partition, e.Account))
	}
	a, err := arn.Parse(role)
	if err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") {
		return fmt.Errorf("--execution-role-arn %q: not an IAM role ARN (arn:%s:iam::%s:role/NAME)", role, e.Partition, e.Account)
	}
	if a.Partition != e.Partition || a.AccountID != e.Account {
		return fmt.Errorf("--execution-role-arn %s: the execution role must be in the rule's account, %s (partition %s)", role, e.Account, e.Partition)
	}
	if len(others) == 0 {
		return fmt.Errorf("--execution-role-arn %s: every queue is in the rule's account, whose SQS targets take no role (EventBridge sends as itself, by the queue policy)", role)
	}
	e.ExecutionRole = role
	d := Document{Version: Version, Statement: []Statement{{
		Sid:      "SendECRPushEventsToWatchQueues",
		Effect:   "Allow",
		Action:   []string{"sqs:SendMessage"},
		Resource: others,
	}}}
	e.ExecutionRolePolicy = &d
	return nil
}

// ExecutionRoleTrust is the trust policy of the execution role: EventBridge
// assumes it.
func ExecutionRoleTrust() Document {
	return Document{Version: Version, Statement: []Statement{{
		Effect:    "Allow",
		Principal: map[string]string{"Service": "events.amazonaws.com"},
		Action:    []string{"sts:AssumeRole"},
	}}}
}

// RoleQueuePolicy is the policy of a queue in another account than the
// rule: the rule's execution role may send to it, and nobody else.
func RoleQueuePolicy(q Queue, role string) Document {
	return Document{Version: Version, Statement: []Statement{{
		Sid:       "AllowECRPushEventsFromTheRulesRole",
		Effect:    "Allow",
		Principal: map[string]string{"AWS": role},
		Action:    []string{"sqs:SendMessage"},
		Resource:  []string{q.ARN()},
	}}}
}

// QueuePolicy is the queue's resource policy that lets EventBridge send it
// the events of exactly that rule (aws:SourceArn), and nothing else.
func QueuePolicy(q Queue, ruleARN string) Document {
	return Document{Version: Version, Statement: []Statement{{
		Sid:       "AllowECRPushEventsFromTheRule",
		Effect:    "Allow",
		Principal: map[string]string{"Service": "events.amazonaws.com"},
		Action:    []string{"sqs:SendMessage"},
		Resource:  []string{q.ARN()},
		Condition: map[string]map[string]string{"ArnEquals": {"aws:SourceArn": ruleARN}},
	}}}
}
