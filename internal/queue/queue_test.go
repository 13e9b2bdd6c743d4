package queue

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		raw, account, name, region, endpoint string
		standard                             bool
	}{
		{"https://sqs.us-east-1.amazonaws.com/123456789012/currents-watch", "123456789012", "currents-watch", "us-east-1", "", true},
		{"https://sqs-fips.us-gov-west-1.amazonaws.com/123456789012/q", "123456789012", "q", "us-gov-west-1", "", true},
		{"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "123456789012", "q", "cn-north-1", "", true},
		{"https://eu-west-1.queue.amazonaws.com/123456789012/q", "123456789012", "q", "eu-west-1", "", true},
		{"https://queue.amazonaws.com/123456789012/q", "123456789012", "q", "us-east-1", "", true},
		{"https://vpce-0a1b-xyz.sqs.eu-central-1.vpce.amazonaws.com/123456789012/q", "123456789012", "q", "eu-central-1", "https://vpce-0a1b-xyz.sqs.eu-central-1.vpce.amazonaws.com", false},
		{"http://127.0.0.1:4566/123456789012/q", "123456789012", "q", "", "http://127.0.0.1:4566", false},
	} {
		u, err := ParseURL(c.raw)
		if err != nil || u.Account != c.account || u.Name != c.name || u.Region != c.region || u.Standard != c.standard || u.Endpoint != c.endpoint {
			t.Errorf("%s: %+v %v", c.raw, u, err)
		}
	}
	for _, bad := range []string{"", "sqs.us-east-1.amazonaws.com/123456789012/q", "https://sqs.us-east-1.amazonaws.com/q",
		"https://sqs.us-east-1.amazonaws.com/12345/q", "https://sqs.us-east-1.amazonaws.com/123456789012/q/extra", "http://sqs.us-east-1.amazonaws.com/123456789012/q"} {
		if _, err := ParseURL(bad); err == nil || !strings.Contains(err.Error(), "--queue") {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
	u, _ := ParseURL("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q")
	if got := u.ARN(u.Region); got != "arn:aws-cn:sqs:cn-north-1:123456789012:q" {
		t.Errorf("ARN %s", got)
	}
}

// The ECR user guide's example event, as EventBridge delivers it.
const guideEvent = `{"version":"0","id":"13cde686-328b-6117-af20-0e5566167482","detail-type":"ECR Image Action","source":"aws.ecr",
"account":"123456789012","time":"2019-11-16T01:54:34Z","region":"us-west-2","resources":[],
"detail":{"result":"SUCCESS","repository-name":"my-repository-name",
"image-digest":"sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234","action-type":"PUSH","image-tag":"latest"}}`

func TestParseEvent(t *testing.T) {
	e, err := ParseEvent(guideEvent)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Image() || e.Ignored() != "" || e.Account != "123456789012" || e.Region != "us-west-2" || e.Repository != "my-repository-name" ||
		e.Tag != "latest" || e.ID != "13cde686-328b-6117-af20-0e5566167482" || e.Time.IsZero() {
		t.Fatalf("%+v", e)
	}
	// Through SNS without raw message delivery: the envelope's Message.
	wrapped, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-west-2:123456789012:ecr", "Message": guideEvent})
	if e2, err := ParseEvent(string(wrapped)); err != nil || e2 != e {
		t.Errorf("SNS envelope: %+v %v", e2, err)
	}
	ignored := map[string]string{
		"DELETE":       strings.Replace(guideEvent, `"PUSH"`, `"DELETE"`, 1),
		"FAILURE":      strings.Replace(guideEvent, `"SUCCESS"`, `"FAILURE"`, 1),
		"by digest":    strings.Replace(guideEvent, `"image-tag":"latest"`, `"image-tag":""`, 1),
		"replication":  strings.Replace(guideEvent, `"ECR Image Action"`, `"ECR Replication Action"`, 1),
		"another kind": `{"version":"0","id":"x","detail-type":"Object Created","source":"aws.s3","account":"1","region":"r","detail":{"bucket":{}}}`,
	}
	for what, body := range ignored {
		e, err := ParseEvent(body)
		if err != nil || e.Image() || e.Ignored() == "" {
			t.Errorf("%s: %+v %v; want a parsed event that is ignored on purpose", what, e, err)
		}
	}
	for _, body := range []string{"", "not json", `{"Records":[{"s3":{}}]}`, `{"id":"x","source":"aws.ecr","detail-type":"ECR Image Action"}`,
		strings.Replace(guideEvent, `"repository-name":"my-repository-name",`, "", 1), `{"id":"x","source":"aws.ecr","detail-type":"ECR Image Action","detail":"text"}`} {
		if _, err := ParseEvent(body); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v; want ErrMalformed", body, err)
		}
	}
}

// TestDefaultChainReceivesAPushAndDeletes: a queue of the host's own
// account, read with the SDK default chain.
func TestDefaultChainReceivesAPushAndDeletes(t *testing.T) {
	standintest.Isolate(t)
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithExport())
	q := w.AWS.CreateQueue("ecr-push", standin.QueueOptions{Account: w.User.Account})
	if _, err := w.AWS.RouteECREvents(q); err != nil {
		t.Fatal(err)
	}
	u, err := ParseURL(q)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := Open(ctx, u, Options{Wait: 2 * time.Second, Visibility: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Credentials(), "default") {
		t.Errorf("credentials %q", c.Credentials())
	}
	attrs, err := c.Attributes(ctx)
	if err != nil || attrs.ARN != w.AWS.QueueARN(q) || attrs.DeadLetterQueue != "" {
		t.Fatalf("attributes %+v %v", attrs, err)
	}
	if _, err := seed.Push(ctx, w.Registry, "currents/on-prem/api:staging"); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Receive(ctx)
	if err != nil || len(msgs) != 1 || msgs[0].Receives != 1 {
		t.Fatalf("receive: %+v %v", msgs, err)
	}
	e, err := ParseEvent(msgs[0].Body)
	if err != nil || !e.Image() || e.Repository != "currents/on-prem/api" || e.Account != w.AWS.Account() {
		t.Fatalf("event %+v %v", e, err)
	}
	if err := c.Delete(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
	if v, f := w.AWS.QueueDepth(q); v+f != 0 {
		t.Errorf("after delete: %d+%d", v, f)
	}
}

// TestMissingQueueIsPermanent: a queue that does not exist is the
// operator's to fix, and the error says how.
func TestMissingQueueIsPermanent(t *testing.T) {
	standintest.Isolate(t)
	w := standintest.New(t, standintest.WithExport())
	ctx := context.Background()
	gone, _ := ParseURL(w.AWS.URL() + "/" + w.User.Account + "/nope")
	c, err := Open(ctx, gone, Options{Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Receive(ctx)
	var qe *Error
	if !errors.As(err, &qe) || !qe.Permanent || !strings.Contains(err.Error(), "get-queue-url") {
		t.Errorf("missing queue: %v", err)
	}
}

// entryConfig writes, in home, a currents.yaml whose one entry is w's
// registry with its role, and loads it.
func entryConfig(t *testing.T, home string, w *standintest.World) *config.Config {
	t.Helper()
	cfgPath := filepath.Join(home, "currents.yaml")
	yaml := "registries:\n  - host: " + w.Registry.Host() + "\n    account: \"" + w.AWS.Account() + "\"\n    region: us-east-1\n    role_arn: " + w.Role + "\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestEntryRoleThroughTheHelpersCache: a queue in the account of a
// currents.yaml entry is read with the entry's role, and the session is the
// one the helper caches: one AssumeRole for any number of receives, renewed
// when the helper's policy says, as short sessions expire again and again.
func TestEntryRoleThroughTheHelpersCache(t *testing.T) {
	home := standintest.Isolate(t)
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithExport())
	w.AWS.SetSessionLifetime(4 * time.Second)
	q := w.AWS.CreateQueue("ecr-push", standin.QueueOptions{}) // the vendor's account, the role's
	cfg := entryConfig(t, home, w)
	u, _ := ParseURL(q)
	ctx := context.Background()
	c, err := Open(ctx, u, Options{Config: cfg, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Credentials(), w.Role) {
		t.Errorf("credentials %q, want the entry's role", c.Credentials())
	}
	deadline := time.Now().Add(14 * time.Second)
	receives := 0
	for time.Now().Before(deadline) {
		if _, err := c.Receive(ctx); err != nil {
			t.Fatalf("receive %d (after %d AssumeRole): %v", receives, w.AWS.Counts().AssumeRole, err)
		}
		receives++
	}
	n := w.AWS.Counts().AssumeRole
	t.Logf("%d AssumeRole for %d receives", n, receives)
	// 4 s sessions renewed at 3 s: about 5 in 14 s, never one per receive.
	if n < 3 || n > 7 {
		t.Errorf("%d AssumeRole for %d receives over 14 s of 4 s sessions", n, receives)
	}
	// The session is in the helper's cache.
	files, _ := filepath.Glob(filepath.Join(os.Getenv("CURRENTS_CACHE_DIR"), "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	if b, _ := os.ReadFile(files[0]); !strings.Contains(string(b), `"session"`) {
		t.Errorf("the cache holds no session: %s", b)
	}
}

// TestRefusedRoleBlamesAssumeRole: when the entry's role cannot be assumed,
// SQS was never asked; the error says the AssumeRole step failed and gives
// the helper's own fix for a refused role (its trust policy), not an SQS
// permission to add.
func TestRefusedRoleBlamesAssumeRole(t *testing.T) {
	home := standintest.Isolate(t)
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithExport())
	q := w.AWS.CreateQueue("ecr-push", standin.QueueOptions{})
	cfg := entryConfig(t, home, w)
	w.AWS.RefuseRole(w.Role, true)
	u, _ := ParseURL(q)
	ctx := context.Background()
	c, err := Open(ctx, u, Options{Config: cfg, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Attributes(ctx)
	var qe *Error
	if !errors.As(err, &qe) || !qe.Permanent {
		t.Fatalf("refused role: %v; want a permanent queue error", err)
	}
	problem, how := qe.Problem(), qe.Fix()
	if !strings.Contains(problem, "assuming role "+w.Role) || !strings.Contains(problem, "AccessDenied") || !strings.Contains(problem, q) {
		t.Errorf("problem %q: want the queue, the AssumeRole step and AWS's code", problem)
	}
	if strings.Contains(problem, "GetQueueAttributes failed") || strings.Contains(how, "sqs:") {
		t.Errorf("blames SQS for a role it could not assume:\n%s\n  fix: %s", problem, how)
	}
	if !strings.Contains(how, "trust policy of "+w.Role) {
		t.Errorf("fix %q: want the helper's fix for a refused role (its trust policy)", how)
	}
	if n := w.AWS.Attempts().GetQueueAttributes; n != 0 {
		t.Errorf("%d GetQueueAttributes reached the stand-in without credentials", n)
	}
}

// TestEventIDIsBounded: the journal remembers the IDs of handled events (500
// of them) to spot duplicates; an ID is a UUID, and a message with a huge
// one (anyone allowed to send to the queue can write one, up to SQS's
// message size) is malformed, not 500 × 256 KiB rewritten at every step.
func TestEventIDIsBounded(t *testing.T) {
	huge := strings.Replace(guideEvent, `"id":"13cde686-328b-6117-af20-0e5566167482"`, `"id":"`+strings.Repeat("x", 64<<10)+`"`, 1)
	if huge == guideEvent {
		t.Fatal("the guide's id was not replaced")
	}
	if _, err := ParseEvent(huge); !errors.Is(err, ErrMalformed) {
		t.Errorf("a 64 KiB event id: %v; want ErrMalformed", err)
	}
}
