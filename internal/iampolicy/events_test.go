package iampolicy

import (
	"encoding/json"
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

func TestEventsGolden(t *testing.T) {
	var queues []Queue
	for _, a := range []string{"arn:aws:sqs:us-east-1:222222222222:currents-watch-host1", "arn:aws:sqs:us-east-1:333333333333:currents-watch-host2"} {
		q, err := ParseQueueARN(a)
		if err != nil {
			t.Fatal(err)
		}
		queues = append(queues, q)
	}
	e, err := ForEvents(seedRepositories(), "currents-watch", queues)
	if err != nil {
		t.Fatal(err)
	}
	if e.RuleARN() != "arn:aws:events:us-east-1:513558712013:rule/currents-watch" {
		t.Errorf("rule ARN %s", e.RuleARN())
	}
	golden(t, "events-pattern.json", e.Pattern.JSON())
	golden(t, "events-queue-policy.json", e.QueuePolicies[1].JSON())
	for i, p := range e.QueuePolicies {
		checkIAM(t, queues[i].Name, p.JSON(), queuePolicy)
		if !strings.Contains(string(p.JSON()), queues[i].ARN()) {
			t.Errorf("policy %d does not name its queue", i)
		}
	}
	// EventBridge takes the pattern, and it matches the stack's pushes only.
	s := standin.New()
	defer s.Close()
	rule, err := s.PutRule("", "currents-watch", string(e.Pattern.JSON()))
	if err != nil || rule != e.RuleARN() {
		t.Fatalf("PutRule: %s %v", rule, err)
	}
	q := s.CreateQueue("w", standin.QueueOptions{})
	if err := s.PutTargets(rule, s.QueueARN(q)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueuePolicy(q, string(QueuePolicy(Queue{"aws", "us-east-1", "513558712013", "w"}, rule).JSON())); err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]int{"currents/on-prem/api": 1, "currents/on-prem/writer": 1, "currents/on-prem/other": 0, "else/api": 0} {
		got := s.PutECREvent(standin.ECREvent{Account: "513558712013", Region: "us-east-1", Detail: standin.ECREventDetail{
			Result: "SUCCESS", ActionType: "PUSH", RepositoryName: repo, ImageTag: "staging"}})
		if got != want {
			t.Errorf("a push to %s reached %d queues, want %d", repo, got, want)
		}
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

func TestEventsRefusals(t *testing.T) {
	q, _ := ParseQueueARN("arn:aws:sqs:us-east-1:222222222222:w")
	other := append(seedRepositories(), Repository{Partition: "aws", Region: "eu-west-1", Account: "513558712013", Name: "x"})
	for what, err := range map[string]error{
		"span":      errOf(ForEvents(other, "r", []Queue{q})),
		"rule name": errOf(ForEvents(seedRepositories(), "has space", []Queue{q})),
		"no queue":  errOf(ForEvents(seedRepositories(), "r", nil)),
		"partition": errOf(ForEvents(seedRepositories(), "r", []Queue{{Partition: "aws-cn", Region: "cn-north-1", Account: "222222222222", Name: "w"}})),
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
