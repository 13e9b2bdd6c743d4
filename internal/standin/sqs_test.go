package standin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// sqsClient is the unmodified SDK client, pointed at the stand-in as user.
func sqsClient(s *standin.Server, u standin.User, extra ...func(*sqs.Options)) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       s.Region(),
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  creds(u.AccessKeyID, u.SecretAccessKey, ""),
	}, extra...)
}

// wire records the requests and answers the SDK exchanged, so a test can
// check the framing the SDK chose, not only what it decoded.
type wire struct {
	mu  sync.Mutex
	req []*http.Request
	res []*http.Response
}

func (w *wire) option(o *sqs.Options) {
	o.HTTPClient = smithyhttp.ClientDoFunc(func(r *http.Request) (*http.Response, error) {
		res, err := http.DefaultClient.Do(r)
		w.mu.Lock()
		w.req = append(w.req, r)
		if res != nil {
			w.res = append(w.res, res)
		}
		w.mu.Unlock()
		return res, err
	})
}

func (w *wire) last() (*http.Request, *http.Response) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.req[len(w.req)-1], w.res[len(w.res)-1]
}

// TestSQSPushEventThroughTheSDK: a push by tag becomes an EventBridge "ECR
// Image Action" event in the queue, which the SDK long-polls (awsJson1_0,
// X-Amz-Target, MD5OfBody checked by the SDK itself) and deletes.
func TestSQSPushEventThroughTheSDK(t *testing.T) {
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithUser("arn:aws:iam::513558712013:user/watch"))
	s := w.AWS
	q := s.CreateQueue("ecr-push", standin.QueueOptions{})
	if _, err := s.RouteECREvents(q); err != nil {
		t.Fatal(err)
	}
	var trace wire
	client := sqsClient(s, w.User, trace.option)
	ctx := context.Background()

	digest, err := seed.Push(ctx, w.Registry, "currents/on-prem/api:staging")
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(q), WaitTimeSeconds: 20, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := trace.last()
	checkFraming(t, req)
	if len(out.Messages) != 1 {
		t.Fatalf("got %d messages, want the push's event", len(out.Messages))
	}
	m := out.Messages[0]
	if got := m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]; got != "1" {
		t.Errorf("ApproximateReceiveCount %q", got)
	}
	checkEvent(t, *m.Body, digest.String())

	if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if v, f := s.QueueDepth(q); v+f != 0 {
		t.Errorf("queue holds %d+%d after delete", v, f)
	}
	if c := s.Counts(); c.ReceiveMessage != 1 || c.DeleteMessage != 1 {
		t.Errorf("counts %+v", c)
	}
}

// checkFraming: the SDK spoke awsJson1_0 to SQS.
func checkFraming(t *testing.T, req *http.Request) {
	t.Helper()
	if got := req.Header.Get("X-Amz-Target"); got != "AmazonSQS.ReceiveMessage" {
		t.Errorf("X-Amz-Target %q", got)
	}
	if got := req.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		t.Errorf("Content-Type %q", got)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/" {
		t.Errorf("request %s %s, want POST /", req.Method, req.URL.Path)
	}
}

// checkEvent: the body is the EventBridge event of a push of api:staging.
func checkEvent(t *testing.T, body, digest string) {
	t.Helper()
	var ev struct {
		Version, ID, Source, Account, Time, Region string
		DetailType                                 string   `json:"detail-type"`
		Resources                                  []string `json:"resources"`
		Detail                                     map[string]string
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatalf("body is not the event JSON: %v\n%s", err, body)
	}
	if ev.Version != "0" || ev.DetailType != "ECR Image Action" || ev.Source != "aws.ecr" || ev.Account != "513558712013" ||
		ev.Region != "us-east-1" || ev.ID == "" || ev.Resources == nil {
		t.Errorf("envelope %+v", ev)
	}
	if _, err := time.Parse(time.RFC3339, ev.Time); err != nil {
		t.Errorf("time %q: %v", ev.Time, err)
	}
	want := map[string]string{"result": "SUCCESS", "repository-name": "currents/on-prem/api", "image-digest": digest,
		"action-type": "PUSH", "image-tag": "staging"}
	for k, v := range want {
		if ev.Detail[k] != v {
			t.Errorf("detail %s = %q, want %q", k, ev.Detail[k], v)
		}
	}
	if ev.Detail["manifest-media-type"] == "" || ev.Detail["artifact-media-type"] == "" {
		t.Errorf("media types missing: %v", ev.Detail)
	}
}

// TestSQSMultiPlatformPushIsOneEvent: an index's platform manifests go up
// by digest, the index by tag: one event, for the index.
func TestSQSMultiPlatformPushIsOneEvent(t *testing.T) {
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithUser("arn:aws:iam::513558712013:user/watch"))
	q := w.AWS.CreateQueue("ecr-push", standin.QueueOptions{})
	if _, err := w.AWS.RouteECREvents(q); err != nil {
		t.Fatal(err)
	}
	digest, err := seed.Push(context.Background(), w.Registry, "currents/on-prem/api:staging", seed.MultiPlatform())
	if err != nil {
		t.Fatal(err)
	}
	out, err := sqsClient(w.AWS, w.User).ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || !strings.Contains(*out.Messages[0].Body, digest.String()) {
		t.Fatalf("want one event naming the index %s, got %d", digest, len(out.Messages))
	}
}

// TestSQSLongPollWaitsForAPush: an empty long poll waits; a push during it
// answers at once.
func TestSQSLongPollWaitsForAPush(t *testing.T) {
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithUser("arn:aws:iam::513558712013:user/watch"))
	q := w.AWS.CreateQueue("ecr-push", standin.QueueOptions{})
	if _, err := w.AWS.RouteECREvents(q); err != nil {
		t.Fatal(err)
	}
	client := sqsClient(w.AWS, w.User)
	ctx := context.Background()
	start := time.Now()
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("empty queue: %v, %d messages", err, len(out.Messages))
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("an empty long poll of 1s answered after %s", waited)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, _ = seed.Push(ctx, w.Registry, "currents/on-prem/api:staging")
	}()
	out, err = client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 20})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("long poll across a push: %v, %d messages", err, len(out.Messages))
	}
}

// TestReceivingCountsLongPollsUntilTheirClientGoes: a long poll is counted
// while it waits, and no longer once its client has gone away, as a killed
// consumer's does.
func TestReceivingCountsLongPollsUntilTheirClientGoes(t *testing.T) {
	w := standintest.New(t, standintest.WithUser("arn:aws:iam::513558712013:user/watch"))
	q := w.AWS.CreateQueue("ecr-push", standin.QueueOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = sqsClient(w.AWS, w.User).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 20})
	}()
	waitFor := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); w.AWS.Receiving(q) != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Receiving = %d, want %d", w.AWS.Receiving(q), want)
			}
		}
	}
	waitFor(1)
	cancel()
	<-done
	waitFor(0)
	if n := w.AWS.Receiving(w.AWS.URL() + "/513558712013/none"); n != 0 {
		t.Errorf("a queue that does not exist has %d receives", n)
	}
}

// TestSQSVisibilityAndRedrive: an undeleted message comes back after its
// visibility timeout with a higher ApproximateReceiveCount and a new receipt
// handle (the old one deletes nothing); past maxReceiveCount it moves to the
// dead-letter queue.
func TestSQSVisibilityAndRedrive(t *testing.T) {
	clk := standintest.NewClock(time.Now())
	w := standintest.New(t, standintest.WithServer(standin.WithClock(clk.Now)), standintest.WithUser("arn:aws:iam::513558712013:user/watch"))
	s := w.AWS
	dlq := s.CreateQueue("ecr-push-dlq", standin.QueueOptions{})
	q := s.CreateQueue("ecr-push", standin.QueueOptions{VisibilityTimeout: 10 * time.Second, DeadLetterQueue: s.QueueARN(dlq), MaxReceiveCount: 2})
	client := sqsClient(s, w.User)
	ctx := context.Background()
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("not an event")}); err != nil {
		t.Fatal(err)
	}
	receive := func() []types.Message {
		t.Helper()
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	first := receive()
	if len(first) != 1 {
		t.Fatalf("first receive: %d messages", len(first))
	}
	if got := receive(); len(got) != 0 {
		t.Fatalf("a message in flight was received again")
	}
	clk.Advance(11 * time.Second)
	second := receive()
	if len(second) != 1 || second[0].Attributes["ApproximateReceiveCount"] != "2" || *second[0].ReceiptHandle == *first[0].ReceiptHandle {
		t.Fatalf("redelivery: %+v", second)
	}
	// The outdated handle is accepted and deletes nothing.
	if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(11 * time.Second)
	if got := receive(); len(got) != 0 {
		t.Fatalf("received %d times with maxReceiveCount 2", 3)
	}
	if v, _ := s.QueueDepth(dlq); v != 1 {
		t.Fatalf("dead-letter queue holds %d, want the message", v)
	}
	if v, f := s.QueueDepth(q); v+f != 0 {
		t.Fatalf("source queue still holds %d+%d", v, f)
	}
}

// TestSQSErrorsAsTheSDKDecodesThem: the SDK maps the stand-in's errors to
// its modelled types, with the awsQuery codes of x-amzn-query-error.
func TestSQSErrorsAsTheSDKDecodesThem(t *testing.T) {
	w := standintest.New(t, standintest.WithUser("arn:aws:iam::513558712013:user/watch"))
	s := w.AWS
	q := s.CreateQueue("ecr-push", standin.QueueOptions{})
	var trace wire
	client := sqsClient(s, w.User, trace.option)
	ctx := context.Background()

	_, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.URL() + "/513558712013/nope")})
	var noQueue *types.QueueDoesNotExist
	if !errors.As(err, &noQueue) || noQueue.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("missing queue: %v", err)
	}
	if _, res := trace.last(); res.Header.Get("X-Amzn-Query-Error") != "AWS.SimpleQueueService.NonExistentQueue;Sender" {
		t.Errorf("x-amzn-query-error %q", res.Header.Get("X-Amzn-Query-Error"))
	}
	_, err = client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	if !errors.As(err, &noQueue) {
		t.Errorf("GetQueueUrl of a missing queue: %v", err)
	}
	got, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("ecr-push")})
	if err != nil || *got.QueueUrl != q {
		t.Errorf("GetQueueUrl: %v %v", got, err)
	}

	_, err = client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 21})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterValue" || api.ErrorFault() != smithy.FaultClient {
		t.Errorf("WaitTimeSeconds 21: %v", err)
	}
	_, err = client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: aws.String("garbage")})
	var badHandle *types.ReceiptHandleIsInvalid
	if !errors.As(err, &badHandle) {
		t.Errorf("bad receipt handle: %v", err)
	}

	// A wrong secret: the signature check, with the query protocol's code.
	bad := sqsClient(s, standin.User{AccessKeyID: w.User.AccessKeyID, SecretAccessKey: "wrong"})
	_, err = bad.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q)})
	if !errors.As(err, &api) || api.ErrorCode() != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}

	// Throttling is retried by the SDK's standard retryer.
	s.Throttle("GetQueueAttributes", 2)
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn, types.QueueAttributeNameVisibilityTimeout}})
	if err != nil {
		t.Fatalf("throttled twice: %v", err)
	}
	if attrs.Attributes["QueueArn"] != "arn:aws:sqs:us-east-1:513558712013:ecr-push" || attrs.Attributes["VisibilityTimeout"] != "30" {
		t.Errorf("attributes %v", attrs.Attributes)
	}
	if a := s.Attempts(); a.GetQueueAttributes != 4 {
		t.Errorf("attempts %d, want 2 throttled + 1 wrong secret + 1 answered", a.GetQueueAttributes)
	}
}

// TestSQSCrossAccountNeedsTheQueuePolicy: a principal of another account is
// refused until the queue policy names it; IAM denials win.
func TestSQSCrossAccountNeedsTheQueuePolicy(t *testing.T) {
	w := standintest.New(t) // the user lives in 111122223333, the queue in the stand-in's account
	s := w.AWS
	q := s.CreateQueue("ecr-push", standin.QueueOptions{})
	client := sqsClient(s, w.User)
	ctx := context.Background()
	_, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Fatalf("cross-account without a policy: %v", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + w.User.ARN +
		`"},"Action":["sqs:ReceiveMessage","sqs:DeleteMessage"],"Resource":"` + s.QueueARN(q) + `"}]}`
	if err := s.SetQueuePolicy(q, policy); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)}); err != nil {
		t.Fatalf("allowed by the queue policy: %v", err)
	}
	if _, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q)}); !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Fatalf("an action the policy does not grant: %v", err)
	}
	s.Deny(w.User.ARN, "sqs:ReceiveMessage")
	if _, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)}); !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Fatalf("denied by IAM: %v", err)
	}
}

// TestEventRulesPatternsAndQueuePolicy: a rule delivers only events its
// pattern matches, only to queues whose policy lets that rule send, and only
// events of its own account and region.
func TestEventRulesPatternsAndQueuePolicy(t *testing.T) {
	w := standintest.New(t, standintest.WithUser("arn:aws:iam::513558712013:user/watch"))
	s := w.AWS
	q := s.CreateQueue("narrow", standin.QueueOptions{})
	other := s.CreateQueue("no-policy", standin.QueueOptions{})
	pattern := `{"account":["513558712013"],"detail-type":["ECR Image Action"],"source":["aws.ecr"],
		"detail":{"result":["SUCCESS"],"action-type":["PUSH"],"repository-name":["currents/on-prem/api",{"prefix":"currents/on-prem/w"}]}}`
	rule, err := s.PutRule("", "currents-watch", pattern)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTargets(rule, s.QueueARN(q), s.QueueARN(other)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueuePolicy(q, standin.EventsQueuePolicy(s.QueueARN(q), rule)); err != nil {
		t.Fatal(err)
	}
	push := func(account, repo, result, action string) int {
		return s.PutECREvent(standin.ECREvent{Account: account, Region: "us-east-1", Detail: standin.ECREventDetail{
			Result: result, RepositoryName: repo, ActionType: action, ImageTag: "staging", ImageDigest: "sha256:" + strings.Repeat("a", 64)}})
	}
	for _, c := range []struct {
		account, repo, result, action string
		want                          int
	}{
		{"513558712013", "currents/on-prem/api", "SUCCESS", "PUSH", 1},
		{"513558712013", "currents/on-prem/writer", "SUCCESS", "PUSH", 1},
		{"513558712013", "currents/on-prem/director", "SUCCESS", "PUSH", 0},
		{"513558712013", "currents/on-prem/api", "FAILURE", "PUSH", 0},
		{"513558712013", "currents/on-prem/api", "SUCCESS", "DELETE", 0},
		{"999999999999", "currents/on-prem/api", "SUCCESS", "PUSH", 0},
	} {
		if got := push(c.account, c.repo, c.result, c.action); got != c.want {
			t.Errorf("%+v delivered to %d queues, want %d", c, got, c.want)
		}
	}
	if v, _ := s.QueueDepth(q); v != 2 {
		t.Errorf("queue holds %d, want 2", v)
	}
	if v, _ := s.QueueDepth(other); v != 0 || s.FailedInvocations() != 2 {
		t.Errorf("a queue without a policy for the rule got %d; failed invocations %d", v, s.FailedInvocations())
	}
	for _, bad := range []string{`[]`, `{}`, `{"source":"aws.ecr"}`, `{"source":[]}`, `{"source":[{"numeric":[">",1]}]}`} {
		if _, err := s.PutRule("", "bad", bad); err == nil {
			t.Errorf("pattern %s accepted", bad)
		}
	}
}

// TestEventTargetsAsEventBridgeChecks: PutTargets refuses a sixth target, an
// SQS queue in another Region, an execution role of another account; a
// queue of another account is reached only through an execution role that
// trusts EventBridge and that its policy lets send.
func TestEventTargetsAsEventBridgeChecks(t *testing.T) {
	s := standin.New()
	defer s.Close()
	rule, err := s.PutRule("", "r", `{"source":["aws.ecr"]}`)
	if err != nil {
		t.Fatal(err)
	}
	arn := func(region, account, name string) string { return "arn:aws:sqs:" + region + ":" + account + ":" + name }
	for i := range 5 {
		if err := s.PutTarget(rule, arn("us-east-1", s.Account(), fmt.Sprint("q", i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutTarget(rule, arn("us-east-1", s.Account(), "q0"), ""); err != nil {
		t.Errorf("updating a target counts as a new one: %v", err)
	}
	if err := s.PutTarget(rule, arn("us-east-1", s.Account(), "q5"), ""); err == nil || !strings.Contains(err.Error(), "LimitExceeded") {
		t.Errorf("a sixth target: %v", err)
	}
	other, _ := s.PutRule("", "other", `{"source":["aws.ecr"]}`)
	if err := s.PutTarget(other, arn("eu-west-1", s.Account(), "q"), ""); err == nil || !strings.Contains(err.Error(), "Region") {
		t.Errorf("a queue in another Region: %v", err)
	}
	if err := s.PutTarget(other, arn("us-east-1", "333333333333", "q"), "arn:aws:iam::333333333333:role/r"); err == nil {
		t.Error("an execution role of the queue's account was taken")
	}

	q := s.CreateQueue("theirs", standin.QueueOptions{Account: "333333333333"})
	send := "arn:aws:iam::" + s.Account() + ":role/send"
	lazy := "arn:aws:iam::" + s.Account() + ":role/no-trust"
	s.AddRole(send, standin.RoleSpec{Trust: []string{"events.amazonaws.com"}})
	s.AddRole(lazy, standin.RoleSpec{})
	deliver := func(role, policy string) int {
		t.Helper()
		r, _ := s.PutRule("", "cross", `{"source":["aws.ecr"]}`)
		if err := s.PutTarget(r, s.QueueARN(q), role); err != nil {
			t.Fatal(err)
		}
		if err := s.SetQueuePolicy(q, policy); err != nil {
			t.Fatal(err)
		}
		return s.PutECREvent(standin.ECREvent{Account: s.Account(), Region: "us-east-1", Detail: standin.ECREventDetail{Result: "SUCCESS", ActionType: "PUSH", RepositoryName: "x", ImageTag: "t"}})
	}
	crossRule := "arn:aws:events:us-east-1:" + s.Account() + ":rule/cross"
	for what, c := range map[string]struct {
		role, policy string
		want         int
	}{
		"no role, the service's policy":  {"", standin.EventsQueuePolicy(s.QueueARN(q), crossRule), 0},
		"the role, its policy":           {send, standin.RoleQueuePolicy(s.QueueARN(q), send), 1},
		"the role, the service's policy": {send, standin.EventsQueuePolicy(s.QueueARN(q), crossRule), 0},
		"a role not trusting the events": {lazy, standin.RoleQueuePolicy(s.QueueARN(q), lazy), 0},
	} {
		if got := deliver(c.role, c.policy); got != c.want {
			t.Errorf("%s: %d deliveries, want %d", what, got, c.want)
		}
	}
}

// TestSQSRetentionDropsOldMessages: messages older than the retention
// period are gone (seed 003 lowers it to one minute).
func TestSQSRetentionDropsOldMessages(t *testing.T) {
	clk := standintest.NewClock(time.Now())
	w := standintest.New(t, standintest.WithServer(standin.WithClock(clk.Now)), standintest.WithUser("arn:aws:iam::513558712013:user/watch"))
	q := w.AWS.CreateQueue("short", standin.QueueOptions{Retention: time.Minute})
	client := sqsClient(w.AWS, w.User)
	for i := range 3 {
		if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute)
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("after retention: %v, %d messages", err, len(out.Messages))
	}
}
