package watch

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/currentsdev/currents/internal/journal"
)

// TestQueuePushReachesTheMirror: the vendor pushes a new staging api image;
// the event brings it to the mirror, the message is deleted, the journal
// records the action.
func TestQueuePushReachesTheMirror(t *testing.T) {
	w := newWorld(t)
	o := w.options()
	w.start(o)
	w.synced()
	before := w.journal()

	d := w.push("api")
	w.eventually(10*time.Second, "the new api image in the mirror", func() bool { return w.mirrored("api") == d.String() })
	w.eventually(5*time.Second, "the event's message deleted", func() bool { v, f := w.aws.QueueDepth(w.queue); return v+f == 0 })
	// The copy lands before its record (and the message goes once the change is recorded, before the copy).
	w.eventually(5*time.Second, "the mirror recorded", func() bool { return w.journal().Services["api"].Mirrored == d.String() })

	st := w.journal()
	if got := st.Services["api"]; got.Registry != d.String() || got.Mirrored != d.String() {
		t.Errorf("journal api: %+v", got)
	}
	last := st.History[len(st.History)-1]
	if last.Service != "api" || last.Action != journal.ActionMirror || last.Result != journal.OK || last.New != d.String() ||
		last.Old != before.Services["api"].Mirrored {
		t.Errorf("history: %+v", last)
	}
	if n := len(st.History) - len(before.History); n != 1 {
		t.Errorf("%d actions for one push, want 1", n)
	}
	ev := w.logs.exact("event")
	if len(ev) == 0 || ev[len(ev)-1]["services"] != "api" {
		t.Errorf("event log lines: %v", ev)
	}
	if f := w.logs.failures(); len(f) > 0 {
		t.Errorf("failures:\n%s", strings.Join(f, "\n"))
	}
}

// TestPollingReachesTheMirror: without a queue, the poll finds the push.
func TestPollingReachesTheMirror(t *testing.T) {
	w := newWorld(t)
	o := w.options()
	o.Queue, o.Interval = "", 500*time.Millisecond
	w.start(o)
	w.synced()
	d := w.push("api")
	w.eventually(10*time.Second, "the new api image in the mirror", func() bool { return w.mirrored("api") == d.String() })
	if c := w.aws.Counts(); c.ReceiveMessage != 0 {
		t.Errorf("a watch without --queue called SQS: %+v", c)
	}
	if ch := w.logs.exact("change"); len(ch) == 0 || ch[len(ch)-1]["source"] != "poll" {
		t.Errorf("change lines: %v", ch)
	}
}

// TestDuplicateEventDoesNothing: SQS delivers at least once; the same event
// again is deleted without a request to the registry or a journal entry.
func TestDuplicateEventDoesNothing(t *testing.T) {
	w := newWorld(t)
	w.start(w.options())
	w.synced()
	d := w.push("writer").String()
	w.eventually(10*time.Second, "the push handled", func() bool { return w.logs.count("event handled") == 1 })
	// The message goes once the change is recorded; the copy's requests come after.
	w.eventually(10*time.Second, "the push mirrored", func() bool { return w.journal().Services["writer"].Mirrored == d })
	body := lastEventBody(t, w)
	before, stats := w.journal(), w.reg.Requests()

	sendBody(t, w, body)
	w.eventually(10*time.Second, "the duplicate dropped", func() bool { return w.logs.count("duplicate event") == 1 })
	w.eventually(5*time.Second, "the duplicate deleted", func() bool { v, f := w.aws.QueueDepth(w.queue); return v+f == 0 })
	after := w.journal()
	if len(after.History) != len(before.History) {
		t.Errorf("a duplicate added %d journal entries", len(after.History)-len(before.History))
	}
	if got := w.reg.Requests(); got.ManifestGets != stats.ManifestGets {
		t.Errorf("a duplicate cost %d registry requests", got.ManifestGets-stats.ManifestGets)
	}
}

// TestBurstOfSixPushesIsOneAction: a release pushes the six images within
// the settle time; the watch copies them in one action.
func TestBurstOfSixPushesIsOneAction(t *testing.T) {
	w := newWorld(t)
	o := w.options()
	o.Settle = 2 * time.Second
	w.start(o)
	w.synced()
	mirroring := w.logs.count("mirroring")
	want := map[string]string{}
	for _, svc := range []string{"api", "director", "change-streams", "scheduler", "writer", "webhooks"} {
		want[svc] = w.push(svc).String()
		time.Sleep(100 * time.Millisecond)
	}
	w.eventually(20*time.Second, "the release in the mirror", func() bool {
		for svc, d := range want {
			if w.mirrored(svc) != d {
				return false
			}
		}
		return true
	})
	if n := w.logs.count("mirroring") - mirroring; n != 1 {
		t.Errorf("six pushes within the settle time made %d mirror actions, want 1\n%s", n, w.logs.String())
	}
	w.eventually(5*time.Second, "six messages deleted", func() bool { v, f := w.aws.QueueDepth(w.queue); return v+f == 0 })
}

// TestMalformedAndForeignMessages: a malformed message is logged with its
// MessageId and left to the redrive policy; events of other kinds, deletes,
// failures and images no service uses are deleted, and change nothing.
func TestMalformedAndForeignMessages(t *testing.T) {
	w := newWorld(t)
	w.start(w.options())
	w.synced()
	before := w.journal()
	event := func(repo, tag, action, result string) string {
		return `{"version":"0","id":"` + repo + tag + action + result + `","detail-type":"ECR Image Action","source":"aws.ecr","account":"513558712013",` +
			`"time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"result":"` + result + `","repository-name":"` + repo +
			`","image-digest":"sha256:` + strings.Repeat("b", 64) + `","action-type":"` + action + `","image-tag":"` + tag + `"}}`
	}
	foreign := []string{
		event("currents/on-prem/api", "staging", "DELETE", "SUCCESS"),
		event("currents/on-prem/api", "staging", "PUSH", "FAILURE"),
		event("currents/on-prem/api", "nightly", "PUSH", "SUCCESS"),
		event("someone/else", "staging", "PUSH", "SUCCESS"),
		event("currents/on-prem/api", "", "PUSH", "SUCCESS"),
		`{"version":"0","id":"s3-1","detail-type":"Object Created","source":"aws.s3","account":"111122223333","region":"us-east-1","detail":{"bucket":{"name":"x"}}}`,
	}
	for _, b := range foreign {
		sendBody(t, w, b)
	}
	malformedID := sendBody(t, w, "this is not an event")
	w.eventually(10*time.Second, "the foreign messages deleted", func() bool { return w.logs.count("event ignored") == len(foreign) })
	w.eventually(10*time.Second, "the malformed message logged", func() bool { return w.logs.count("malformed message") == 1 })
	if got := w.logs.lines("malformed message")[0]["message_id"]; got != malformedID {
		t.Errorf("malformed message logged as %v, want MessageId %s", got, malformedID)
	}
	// Only the malformed one is left, in flight until the redrive policy takes it.
	w.eventually(5*time.Second, "only the malformed message left", func() bool { v, f := w.aws.QueueDepth(w.queue); return v == 0 && f == 1 })
	// Each time it comes back it is logged again and not deleted; past
	// maxReceiveCount (3) SQS moves it to the dead-letter queue.
	for i := 2; i <= 4; i++ {
		w.aws.RevealInFlight(w.queue)
		if i <= 3 {
			w.eventually(10*time.Second, "the malformed message logged again", func() bool { return w.logs.count("malformed message") == i })
		}
	}
	w.eventually(10*time.Second, "the malformed message in the dead-letter queue", func() bool { v, _ := w.aws.QueueDepth(w.dlq); return v == 1 })
	if after := w.journal(); len(after.History) != len(before.History) {
		t.Errorf("foreign messages caused %d actions", len(after.History)-len(before.History))
	}
}

// TestAWSDownThenBack: SQS unreachable for a while; the watch says so,
// retries with backoff, and handles the next push once it is back.
func TestAWSDownThenBack(t *testing.T) {
	sqsProxy := (*toggle)(nil)
	w := newWorld(t, func(s *worldSetup) {})
	sqsProxy = newToggle(t, w.aws.URL())
	t.Setenv("AWS_ENDPOINT_URL_SQS", sqsProxy.srv.URL)
	o := w.options()
	o.wait = 2 * time.Second
	w.start(o)
	w.synced()
	sqsProxy.set(true)
	w.eventually(60*time.Second, "the outage noticed", func() bool { return w.logs.count("receiving from the queue failed") >= 1 })
	sqsProxy.set(false)
	d := w.push("director")
	w.eventually(60*time.Second, "the push after the outage mirrored", func() bool { return w.mirrored("director") == d.String() })
	w.eventually(10*time.Second, "its message deleted", func() bool { v, f := w.aws.QueueDepth(w.queue); return v+f == 0 })
	if got := w.logs.lines("receiving from the queue failed"); got[0]["in"] != "5s" || !strings.Contains(got[0]["error"].(string), "transient") {
		t.Errorf("the outage is not said as a retry with backoff: %v", got[0])
	}
}

// lastEventBody is the body of the last event the stand-in delivered, as
// the watch logged its id (the duplicate test re-sends it).
func lastEventBody(t *testing.T, w *world) string {
	t.Helper()
	ev := w.logs.exact("event")
	last := ev[len(ev)-1]
	return `{"version":"0","id":"` + last["event_id"].(string) + `","detail-type":"ECR Image Action","source":"aws.ecr","account":"513558712013",` +
		`"time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"result":"SUCCESS","repository-name":"` + last["repository"].(string) +
		`","image-digest":"` + last["digest"].(string) + `","action-type":"PUSH","image-tag":"staging"}}`
}

// sendBody puts a message in the queue as the user, returning its MessageId.
func sendBody(t *testing.T, w *world, body string) string {
	t.Helper()
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.aws.URL()),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: w.user.AccessKeyID, SecretAccessKey: w.user.SecretAccessKey}, nil
		})})
	out, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(w.queue), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatal(err)
	}
	return *out.MessageId
}

// TestCredentialsExpireDuringALongWatch: 5-second role sessions and
// 6-second ECR tokens expire again and again while the watch reads a queue
// of the vendor's account (with the vendor's role, through the helper's
// cache) and mirrors a push every two seconds: every push arrives, nothing
// fails.
func TestCredentialsExpireDuringALongWatch(t *testing.T) {
	w := newWorld(t, queueInVendorAccount())
	w.aws.SetSessionLifetime(5 * time.Second)
	w.aws.SetTokenLifetime(6 * time.Second)
	o := w.options()
	o.wait, o.Interval = 2*time.Second, 3*time.Second
	stop := w.start(o)
	w.synced()
	if got := w.logs.exact("watching")[0]["queue_credentials"]; !strings.Contains(got.(string), vendorRole) {
		t.Fatalf("the queue is not read with the entry's role: %v", got)
	}
	before := w.aws.Counts()
	services := []string{"api", "director", "writer", "webhooks"}
	deadline := time.Now().Add(24 * time.Second)
	pushes := 0
	for i := 0; time.Now().Before(deadline); i++ {
		svc := services[i%len(services)]
		d := w.push(svc)
		pushes++
		w.eventually(10*time.Second, "push "+svc+" mirrored", func() bool { return w.mirrored(svc) == d.String() })
		time.Sleep(2 * time.Second)
	}
	stop()
	// The last long poll, cut short by the stop, is still answered by the
	// stand-in to a watch gone: wait for every call asked to be answered,
	// not a fixed time (100 ms was not always enough on a loaded machine).
	// A call refused never is, and fails below.
	answered := func() bool {
		c, a := w.aws.Counts(), w.aws.Calls()
		return c.ReceiveMessage == a.ReceiveMessage && c.DeleteMessage == a.DeleteMessage
	}
	for deadline := time.Now().Add(10 * time.Second); !answered() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	after := w.aws.Counts()
	sessions, tokens := after.AssumeRole-before.AssumeRole, after.GetAuthorizationToken-before.GetAuthorizationToken
	t.Logf("%d pushes over 24 s: %d AssumeRole, %d GetAuthorizationToken, %d ReceiveMessage", pushes, sessions, tokens, after.ReceiveMessage-before.ReceiveMessage)
	if sessions < 3 || tokens < 3 {
		t.Errorf("credentials did not expire several times: %d sessions, %d tokens", sessions, tokens)
	}
	if f := w.logs.failures(); len(f) > 0 {
		t.Errorf("%d failures:\n%s", len(f), strings.Join(f, "\n"))
	}
	// Calls, not Attempts: an SDK retry of an answer broken mid-body is one
	// call in two requests, not a refusal.
	if a := w.aws.Calls(); a.ReceiveMessage != after.ReceiveMessage || a.DeleteMessage != after.DeleteMessage {
		t.Errorf("refused: %d receives, %d deletes", a.ReceiveMessage-after.ReceiveMessage, a.DeleteMessage-after.DeleteMessage)
	}
}

// TestTwoWatchesOnOneQueueAreNoticed: two hosts reading one queue each get
// only some of the events; the polls find the rest, and the watches say
// that a change came without its event.
func TestTwoWatchesOnOneQueueAreNoticed(t *testing.T) {
	w := newWorld(t)
	first := w.options()
	first.wait, first.Interval = 2*time.Second, 2*time.Second
	second := first
	second.StateDir = t.TempDir()
	otherLogs := &logBuffer{}
	second.Log = slog.New(slog.NewJSONHandler(otherLogs, nil))
	w.start(first)
	w.start(second)
	w.synced()
	for _, svc := range []string{"api", "director", "writer", "webhooks"} {
		w.push(svc)
		time.Sleep(300 * time.Millisecond)
	}
	w.eventually(40*time.Second, "the starvation noticed", func() bool {
		return w.logs.count("a change arrived without an event")+otherLogs.count("a change arrived without an event") > 0
	})
}

// TestStopWarnsOfNothing: a watch stopped (SIGTERM, the service manager's
// stop) while the registry is still answering its poll, or while it
// mirrors, says it is stopping, not that every image failed to resolve or
// to mirror and will be retried with backoff: nothing will be retried
// before the next start, and an operator reading six warnings at each
// restart would look for a registry problem that is not there. (Under load
// a poll takes long enough for any stop to land in it:
// TestCredentialsExpireDuringALongWatch failed on these warnings.)
func TestStopWarnsOfNothing(t *testing.T) {
	t.Run("during a poll", func(t *testing.T) {
		w := newWorld(t)
		w.reg.SetLatency(5 * time.Second)
		before := w.reg.Requests().Heads // counted as they arrive, before the latency
		stop := w.start(w.options())
		w.eventually(20*time.Second, "the poll's HEADs at the registry", func() bool { return w.reg.Requests().Heads > before })
		stop()
		w.noWarnings("a poll")
	})
	t.Run("during a mirror", func(t *testing.T) {
		w := newWorld(t)
		o := w.options()
		o.MirrorTo = w.slowMirror(t) + "/currents/"
		stop := w.start(o)
		w.eventually(20*time.Second, "the mirror started", func() bool { return w.logs.count("mirroring") > 0 })
		stop()
		if w.logs.count("mirror cut short by the stop; the next start does it") == 0 {
			t.Errorf("the stop did not land in the mirror: nothing tested\n%s", w.logs.String())
		}
		w.noWarnings("a mirror")
	})
}

// noWarnings fails the test if the watch, stopped during what, said more
// than that it is stopping.
func (w *world) noWarnings(what string) {
	w.t.Helper()
	if n := w.logs.count("stopping"); n != 1 {
		w.t.Fatalf("%d stopping lines, want 1\n%s", n, w.logs.String())
	}
	if f := w.logs.failures(); len(f) > 0 {
		w.t.Errorf("a stop during %s said %d failures:\n%s", what, len(f), strings.Join(f, "\n"))
	}
}
