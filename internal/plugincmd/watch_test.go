package plugincmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/iampolicy"
	"github.com/currentsdev/currents/internal/journal"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
)

// watchWorld is the plugin world with a queue of the host's own account
// fed by the vendor's rule, a mirror registry and a state directory.
func watchWorld(t *testing.T) (w *world, queue, mirror string) {
	t.Helper()
	w = newWorld(t)
	w.registerHelper()
	queue = w.aws.CreateQueue("watch", standin.QueueOptions{Account: "111122223333"})
	if _, err := w.aws.RouteECREvents(queue); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	w.env = append(w.env, "CURRENTS_STATE_DIR="+filepath.Join(w.home, "state"))
	return w, queue, strings.TrimPrefix(srv.URL, "http://")
}

// TestWatchOnceThenStatus: `docker currents watch --once` through the
// docker CLI mirrors the stack and exits 0; --status prints the journal.
func TestWatchOnceThenStatus(t *testing.T) {
	w, queue, mirror := watchWorld(t)
	r := w.docker("currents", "watch", "--once", "--queue", queue, "--mirror-to", mirror+"/currents/", "--log-format", "json")
	if r.code != ExitWatchCurrent {
		t.Fatalf("watch --once: exit %d\n%s", r.code, r.stderr)
	}
	for svc, d := range w.digests {
		ref, _ := name.ParseReference(mirror + "/currents/" + svc + ":staging")
		if got, err := remote.Head(ref); err != nil || got.Digest != d {
			t.Errorf("%s in the mirror: %v %v", svc, got, err)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("--log-format json printed a line that is not JSON: %q", line)
		}
	}
	r = w.docker("currents", "watch", "--status", "--format", "json")
	var st struct {
		SchemaVersion int    `json:"schemaVersion"`
		Journal       string `json:"journal"`
		journal.State
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.SchemaVersion != 1 || len(st.Services) != 6 ||
		st.Services["api"].Mirrored != w.digests["api"].String() {
		t.Fatalf("--status --format json: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = w.docker("currents", "watch", "--status")
	if r.code != 0 || !strings.Contains(r.stdout, "SERVICE") || !strings.Contains(r.stdout, "change-streams") || !strings.Contains(r.stdout, "mirror") {
		t.Errorf("--status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A second run finds nothing to do.
	if r = w.docker("currents", "watch", "--once", "--mirror-to", mirror+"/currents/"); r.code != 0 || strings.Contains(r.stderr, "msg=mirroring") {
		t.Errorf("second --once: exit %d\n%s", r.code, r.stderr)
	}
}

// TestWatchExitCodes: usage errors, a project that cannot start, a failed
// action.
func TestWatchExitCodes(t *testing.T) {
	w, queue, _ := watchWorld(t)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--once"}, 125, "--mirror-to"},
		{[]string{"--mirror-to", "m.example/x/", "--window", "Sat 02:00-04:00"}, 125, "needs --deploy"},
		{[]string{"--deploy", "--window", "Caturday 1-2"}, 125, "--window"},
		{[]string{"--mirror-to", "m.example/x/", "--log-format", "xml"}, 125, "--log-format"},
		{[]string{"--once", "--mirror-to", "m.example/x/", "--queue", "not-a-url"}, 125, "--queue"},
		{[]string{"--once", "--mirror-to", "m.example/x/", "--queue", w.aws.URL() + "/111122223333/nope"}, ExitWatchNoStart, "get-queue-url"},
		{[]string{"--once", "--mirror-to", "m.example/x/", "-f", "nope.yaml"}, ExitWatchNoStart, "nope.yaml"},
		// Nothing listens there: the copy fails, the next run retries.
		{[]string{"--once", "--queue", queue, "--mirror-to", "127.0.0.1:9/currents/"}, ExitWatchFailed, "mirror failed"},
	} {
		r := w.docker(append([]string{"currents", "watch"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.says) {
			t.Errorf("watch %v: exit %d, want %d saying %q\n%s", c.args, r.code, c.code, c.says, r.stderr)
		}
	}
}

// TestWatchFlagValuesAreUsageErrors: a bad value of any watch flag is a
// usage error (125) that names the flag, before anything is loaded or
// asked; durations out of their bounds (a 1ns interval would poll the
// registry a thousand times a second) are refused, and --help says the
// bounds.
func TestWatchFlagValuesAreUsageErrors(t *testing.T) {
	w, queue, mirror := watchWorld(t)
	to := mirror + "/currents/"
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--mirror-to", "notaregistry"}, "--mirror-to"},
		{[]string{"--mirror-to", "https://" + to}, "--mirror-to"},
		{[]string{"--mirror-to", "m.example/UPPER/"}, "--mirror-to"},
		{[]string{"--mirror-to", to, "--interval", "1ns"}, "--interval"},
		{[]string{"--mirror-to", to, "--interval", "59s"}, "--interval"},
		{[]string{"--mirror-to", to, "--interval", "0"}, "--interval"},
		{[]string{"--mirror-to", to, "--interval", "-15m"}, "--interval"},
		{[]string{"--mirror-to", to, "--interval", "100000h"}, "--interval"},
		{[]string{"--mirror-to", to, "--interval", "soon"}, "--interval"},
		{[]string{"--mirror-to", to, "--settle", "-1s"}, "--settle"},
		{[]string{"--mirror-to", to, "--settle", "48h"}, "--settle"},
		{[]string{"--deploy", "--health-timeout", "1ns"}, "--health-timeout"},
		{[]string{"--deploy", "--health-timeout", "0"}, "--health-timeout"},
		{[]string{"--deploy", "--health-timeout", "-2m"}, "--health-timeout"},
		{[]string{"--deploy", "--health-timeout", "300h"}, "--health-timeout"},
		{[]string{"--mirror-to", to, "--queue", "not-a-url"}, "--queue"},
		{[]string{"--mirror-to", to, "--queue", queue + "/extra"}, "--queue"},
		{[]string{"--mirror-to", to, "--log-format", "xml"}, "--log-format"},
		{[]string{"--deploy", "--window", "Caturday 1-2"}, "--window"},
	} {
		// --once: a value let through ends the run instead of polling forever.
		r := w.docker(append([]string{"currents", "watch", "--once"}, c.args...)...)
		if r.code != 125 || !strings.Contains(r.stderr, c.flag) {
			t.Errorf("watch %v: exit %d, want 125 naming %s\n%s", c.args, r.code, c.flag, r.stderr)
		}
		if strings.Contains(r.stderr, "--to ") {
			t.Errorf("watch %v names mirror's --to, which watch does not have:\n%s", c.args, r.stderr)
		}
		if strings.Contains(r.stderr, `level=`) {
			t.Errorf("watch %v started before refusing its flags:\n%s", c.args, r.stderr)
		}
	}
	// The bounds hold at their edges.
	for _, args := range [][]string{{"--interval", "1m"}, {"--interval", "168h"}, {"--settle", "0"}, {"--settle", "1h"}} {
		r := w.docker(append([]string{"currents", "watch", "--once", "--queue", queue, "--mirror-to", to}, args...)...)
		if r.code != ExitWatchCurrent {
			t.Errorf("watch %v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	// Help wraps flag descriptions: compare words.
	help := strings.Join(strings.Fields(w.docker("currents", "watch", "--help").stdout), " ")
	for _, bound := range []string{"at least 1m", "at most 168h", "at most 1h", "10s to 1h"} {
		if !strings.Contains(help, bound) {
			t.Errorf("watch --help does not say %q:\n%s", bound, help)
		}
	}
}

// TestPolicyWatchAndEvents: the consumer policy for a queue, and a rule
// pattern plus queue policy that, installed in the stand-in's EventBridge,
// bring a push of the stack to the queue and leave other pushes out; a queue
// in another account than the rule is reached through the execution role.
func TestPolicyWatchAndEvents(t *testing.T) {
	w, _, _ := watchWorld(t)
	q := w.aws.CreateQueue("host1", standin.QueueOptions{Account: "111122223333"})
	arn := w.aws.QueueARN(q)
	r := w.docker("currents", "policy", "watch", "--queue-arn", arn)
	parsed, _ := iampolicy.ParseQueueARN(arn)
	if r.code != 0 || r.stdout != string(iampolicy.WatchConsumer(parsed).JSON()) {
		t.Errorf("policy watch: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = w.docker("currents", "policy", "watch", "--queue-arn", "https://sqs.us-east-1.amazonaws.com/111122223333/host1"); r.code == 0 || !strings.Contains(r.stderr, "not an SQS queue ARN") {
		t.Errorf("a queue URL for --queue-arn: exit %d\n%s", r.code, r.stderr)
	}

	r = w.docker("currents", "policy", "events", "--queue-arn", arn, "--only", "pattern")
	if r.code != 0 || !strings.Contains(r.stderr, "aws events put-rule") {
		t.Fatalf("policy events --only pattern: exit %d\n%s", r.code, r.stderr)
	}
	pattern := r.stdout
	// The queue is the customer's, the rule the vendor's: an execution role of the vendor's account sends.
	role := "arn:aws:iam::" + w.aws.Account() + ":role/currents-watch-events"
	events := []string{"currents", "policy", "events", "--queue-arn", arn, "--execution-role-arn", role}
	r = w.docker(append(events, "--only", "queue-policy")...)
	if r.code != 0 || !strings.Contains(r.stderr, "RoleArn="+role) || !strings.Contains(r.stderr, "aws iam create-role") {
		t.Fatalf("policy events --only queue-policy: exit %d\n%s", r.code, r.stderr)
	}
	queuePolicy := r.stdout
	r = w.docker(append(events, "--only", "execution-role")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"sqs:SendMessage"`) || !strings.Contains(r.stdout, arn) {
		t.Fatalf("policy events --only execution-role: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rule, err := w.aws.PutRule("", "currents-watch", pattern)
	if err != nil {
		t.Fatalf("EventBridge refuses the pattern: %v\n%s", err, pattern)
	}
	w.aws.AddRole(role, standin.RoleSpec{Trust: []string{"events.amazonaws.com"}})
	if err := w.aws.PutTarget(rule, arn, role); err != nil {
		t.Fatal(err)
	}
	if err := w.aws.SetQueuePolicy(q, queuePolicy); err != nil {
		t.Fatalf("SQS refuses the queue policy: %v\n%s", err, queuePolicy)
	}
	for _, ref := range []string{"currents/on-prem/api:staging", "currents/on-prem/unrelated:staging"} {
		if _, err := seed.Push(context.Background(), w.reg, ref); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := w.aws.QueueDepth(q); v != 1 {
		t.Errorf("the queue holds %d events, want the api push only", v)
	}
	if r = w.docker("currents", "policy", "events", "--queue-arn", arn, "--rule-name", "no spaces"); r.code == 0 {
		t.Error("a bad rule name was accepted")
	}
}

// TestPolicyEventsTargetsAsEventBridgeTakesThem: policy events refuses the
// targets EventBridge refuses or never delivers to, saying what to do: more
// than five queues (a rule's limit), a queue twice, a queue in another Region
// than the rule (SQS targets are the rule's Region's), a queue of another
// account without the execution role AWS sends to it as.
func TestPolicyEventsTargetsAsEventBridgeTakesThem(t *testing.T) {
	w, _, _ := watchWorld(t)
	vendor := w.aws.Account()
	queue := func(region, account, name string) string { return "arn:aws:sqs:" + region + ":" + account + ":" + name }
	var six []string
	for i := range 6 {
		six = append(six, "--queue-arn", queue("us-east-1", vendor, fmt.Sprintf("host%d", i+1)))
	}
	for _, c := range []struct {
		what string
		args []string
		says []string
	}{
		{"six queues", six, []string{"--queue-arn", "at most 5"}},
		{"a queue twice", []string{"--queue-arn", queue("us-east-1", vendor, "h1"), "--queue-arn", queue("us-east-1", vendor, "h1")}, []string{"twice"}},
		{"another Region", []string{"--queue-arn", queue("eu-west-1", vendor, "h1")}, []string{"eu-west-1", "us-east-1", "Region"}},
		{"another account, no role", []string{"--queue-arn", queue("us-east-1", "111122223333", "h1")}, []string{"--execution-role-arn"}},
		{"a role of another account", []string{"--queue-arn", queue("us-east-1", "111122223333", "h1"), "--execution-role-arn", "arn:aws:iam::111122223333:role/r"}, []string{"--execution-role-arn", vendor}},
	} {
		r := w.docker(append([]string{"currents", "policy", "events"}, c.args...)...)
		if r.code == 0 || r.stdout != "" {
			t.Errorf("%s: exit %d, printed\n%s", c.what, r.code, r.stdout)
		}
		for _, want := range c.says {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: the error does not say %q:\n%s", c.what, want, r.stderr)
			}
		}
	}
	// Five queues of the rule's account are fine, and take no role.
	r := w.docker(append([]string{"currents", "policy", "events"}, six[:10]...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "Id=5,") || strings.Contains(r.stderr, "RoleArn") {
		t.Errorf("five queues: exit %d\n%s", r.code, r.stderr)
	}
}
