package iampolicy

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
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
}

// RuleARN is the rule's ARN, which the queue policies name.
func (e Events) RuleARN() string {
	return fmt.Sprintf("arn:%s:events:%s:%s:rule/%s", e.Partition, e.Region, e.Account, e.RuleName)
}

var ruleName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[.\-_A-Za-z0-9]{1,64}$`) })

// ForEvents builds the rule pattern for repos (one account and region) and
// a queue policy for each queue.
func ForEvents(repos []Repository, rule string, queues []Queue) (Events, error) {
	if len(repos) == 0 {
		return Events{}, errors.New("no repositories")
	}
	if !ruleName().MatchString(rule) {
		return Events{}, fmt.Errorf("--rule-name %q: 1 to 64 letters, digits, '.', '-' and '_'", rule)
	}
	if len(queues) == 0 {
		return Events{}, errors.New("--queue-arn is required: the ARN of each watch's queue (one queue per host)")
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
	for _, q := range queues {
		if q.Partition != e.Partition {
			return Events{}, fmt.Errorf("queue %s is in partition %s, the repositories in %s: EventBridge cannot deliver across partitions", q.ARN(), q.Partition, e.Partition)
		}
		e.QueuePolicies = append(e.QueuePolicies, QueuePolicy(q, e.RuleARN()))
	}
	return e, nil
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
