package iampolicy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/standin"
)

func TestWatchConsumerGolden(t *testing.T) {
	q, err := ParseQueueARN("arn:aws:sqs:eu-west-1:222222222222:currents-watch-host1")
	if err != nil {
		t.Fatal(err)
	}
	d := WatchConsumer(q)
	golden(t, "watch-consumer.json", d.JSON())
	checkIAM(t, "watch-consumer.json", d.JSON(), identityPolicy)
	for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"} {
		if !strings.Contains(string(d.JSON()), `"`+a+`"`) {
			t.Errorf("%s missing", a)
		}
	}
	if strings.Contains(string(d.JSON()), `"*"`) {
		t.Error("the consumer policy reaches beyond its queue")
	}
}

const executionRole = "arn:aws:iam::513558712013:role/currents-watch-events"

// parseQueues parses queue ARNs that must parse.
func parseQueues(t *testing.T, arns ...string) []Queue {
	t.Helper()
	var queues []Queue
	for _, a := range arns {
		q, err := ParseQueueARN(a)
		if err != nil {
			t.Fatal(err)
		}
		queues = append(queues, q)
	}
	return queues
}

func TestEventsGolden(t *testing.T) {
	// One queue of the rule's (the vendor's) account, one of a customer's.
	queues := parseQueues(t, "arn:aws:sqs:us-east-1:513558712013:currents-watch-host1", "arn:aws:sqs:us-east-1:333333333333:currents-watch-host2")
	e, err := ForEvents(seedRepositories(), "currents-watch", queues, executionRole)
	if err != nil {
		t.Fatal(err)
	}
	if e.RuleARN() != "arn:aws:events:us-east-1:513558712013:rule/currents-watch" {
		t.Errorf("rule ARN %s", e.RuleARN())
	}
	golden(t, "events-pattern.json", e.Pattern.JSON())
	golden(t, "events-queue-policy.json", e.QueuePolicies[0].JSON())
	golden(t, "events-role-queue-policy.json", e.QueuePolicies[1].JSON())
	golden(t, "events-execution-role.json", e.ExecutionRolePolicy.JSON())
	checkIAM(t, "events-execution-role.json", e.ExecutionRolePolicy.JSON(), identityPolicy)
	for i, p := range e.QueuePolicies {
		checkIAM(t, queues[i].Name, p.JSON(), queuePolicy)
		if !strings.Contains(string(p.JSON()), queues[i].ARN()) {
			t.Errorf("policy %d does not name its queue", i)
		}
	}
	// The execution role sends to the other account's queue only; the rule's own queue needs none.
	if got := string(e.ExecutionRolePolicy.JSON()); !strings.Contains(got, queues[1].ARN()) || strings.Contains(got, queues[0].ARN()) {
		t.Errorf("execution role policy %s", got)
	}
	if !strings.Contains(string(ExecutionRoleTrust().JSON()), `"Service": "events.amazonaws.com"`) {
		t.Errorf("trust %s", ExecutionRoleTrust().JSON())
	}
	// Seed 003's pattern, narrowed: its four keys plus the repositories.
	var p map[string]any
	if err := json.Unmarshal(e.Pattern.JSON(), &p); err != nil {
		t.Fatal(err)
	}
	detail := p["detail"].(map[string]any)
	if len(detail["repository-name"].([]any)) != 6 || p["account"].([]any)[0] != "513558712013" || detail["result"].([]any)[0] != "SUCCESS" ||
		detail["action-type"].([]any)[0] != "PUSH" {
		t.Errorf("pattern %s", e.Pattern.JSON())
	}
}

// TestEventsDeliverInTheStandin: the documents, installed as the printed
// commands say in an EventBridge that checks what AWS checks, bring the
// stack's pushes (and only those) to a queue of the rule's account and, through
// the execution role, to a queue of another account; without the role the
// other account's queue gets nothing.
func TestEventsDeliverInTheStandin(t *testing.T) {
	s := standin.New()
	defer s.Close()
	own := s.CreateQueue("own", standin.QueueOptions{})
	theirs := s.CreateQueue("theirs", standin.QueueOptions{Account: "333333333333"})
	queues := parseQueues(t, s.QueueARN(own), s.QueueARN(theirs))
	e, err := ForEvents(seedRepositories(), "currents-watch", queues, executionRole)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := s.PutRule("", "currents-watch", string(e.Pattern.JSON()))
	if err != nil || rule != e.RuleARN() {
		t.Fatalf("PutRule: %s %v", rule, err)
	}
	trust, _ := json.Marshal(ExecutionRoleTrust())
	s.AddRole(e.ExecutionRole, standin.RoleSpec{Trust: trustedServices(t, trust)})
	for i, u := range []string{own, theirs} {
		role := ""
		if e.CrossAccount(queues[i]) {
			role = e.ExecutionRole
		}
		if err := s.PutTarget(rule, queues[i].ARN(), role); err != nil {
			t.Fatal(err)
		}
		if err := s.SetQueuePolicy(u, string(e.QueuePolicies[i].JSON())); err != nil {
			t.Fatal(err)
		}
	}
	push := func(repo string) int {
		return s.PutECREvent(standin.ECREvent{Account: "513558712013", Region: "us-east-1", Detail: standin.ECREventDetail{
			Result: "SUCCESS", ActionType: "PUSH", RepositoryName: repo, ImageTag: "staging"}})
	}
	for repo, want := range map[string]int{"currents/on-prem/api": 2, "currents/on-prem/writer": 2, "currents/on-prem/other": 0, "else/api": 0} {
		if got := push(repo); got != want {
			t.Errorf("a push to %s reached %d queues, want %d", repo, got, want)
		}
	}
	// Without its role, the other account's queue is not reached, whatever its policy says.
	if err := s.PutTarget(rule, queues[1].ARN(), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueuePolicy(theirs, string(QueuePolicy(queues[1], rule).JSON())); err != nil {
		t.Fatal(err)
	}
	if got := push("currents/on-prem/api"); got != 1 || s.FailedInvocations() != 1 {
		t.Errorf("without the execution role: %d deliveries, %d failed", got, s.FailedInvocations())
	}
}

// trustedServices reads the service principals a trust document trusts.
func trustedServices(t *testing.T, doc []byte) []string {
	var d struct {
		Statement []struct {
			Principal struct{ Service string }
		}
	}
	if err := json.Unmarshal(doc, &d); err != nil || len(d.Statement) != 1 {
		t.Fatalf("trust %s: %v", doc, err)
	}
	return []string{d.Statement[0].Principal.Service}
}

// TestEventsTargetsAsEventBridgeTakesThem: at most five targets, each once,
// each in the rule's Region; another account's only with an execution role of
// the rule's account; and a role only when some queue needs one.
func TestEventsTargetsAsEventBridgeTakesThem(t *testing.T) {
	queue := func(region, account, name string) Queue { return Queue{"aws", region, account, name} }
	var six []Queue
	for i := range 6 {
		six = append(six, queue("us-east-1", "513558712013", fmt.Sprintf("host%d", i+1)))
	}
	other := queue("us-east-1", "333333333333", "host")
	for what, c := range map[string]struct {
		queues []Queue
		role   string
		says   string
	}{
		"six queues":              {six, "", "at most 5"},
		"a queue twice":           {[]Queue{six[0], six[1], six[0]}, "", "twice"},
		"another Region":          {[]Queue{queue("eu-west-1", "513558712013", "h")}, "", "eu-west-1"},
		"another account":         {[]Queue{other}, "", "--execution-role-arn"},
		"a role of their account": {[]Queue{other}, "arn:aws:iam::333333333333:role/r", "the rule's account"},
		"not a role":              {[]Queue{other}, "arn:aws:iam::513558712013:user/u", "not an IAM role"},
		"a role for nothing":      {[]Queue{six[0]}, executionRole, "no role"},
	} {
		_, err := ForEvents(seedRepositories(), "currents-watch", c.queues, c.role)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want an error saying %q", what, err, c.says)
		}
	}
	if _, err := ForEvents(seedRepositories(), "currents-watch", six[:5], ""); err != nil {
		t.Errorf("five queues: %v", err)
	}
	if e, err := ForEvents(seedRepositories(), "currents-watch", nil, ""); err != nil || len(e.Pattern.Detail.RepositoryName) != 6 {
		t.Errorf("the pattern alone: %v", err)
	}
}

func TestEventsRefusals(t *testing.T) {
	q, _ := ParseQueueARN("arn:aws:sqs:us-east-1:222222222222:w")
	other := append(seedRepositories(), Repository{Partition: "aws", Region: "eu-west-1", Account: "513558712013", Name: "x"})
	for what, err := range map[string]error{
		"span":      errOf(ForEvents(other, "r", []Queue{q}, "")),
		"rule name": errOf(ForEvents(seedRepositories(), "has space", []Queue{q}, "")),
		"partition": errOf(ForEvents(seedRepositories(), "r", []Queue{{Partition: "aws-cn", Region: "cn-north-1", Account: "222222222222", Name: "w"}}, "")),
	} {
		if err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
	for _, bad := range []string{"", "arn:aws:sns:us-east-1:222222222222:t", "arn:aws:sqs:us-east-1:2222:w", "arn:aws:sqs:nowhere:222222222222:w",
		"arn:aws:sqs:us-east-1:222222222222:q.fifo", "https://sqs.us-east-1.amazonaws.com/222222222222/w"} {
		if _, err := ParseQueueARN(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func errOf(_ Events, err error) error { return err }
