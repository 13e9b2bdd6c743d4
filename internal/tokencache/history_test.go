package tokencache

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestLastRefreshIsKeptAcrossStoreAndLoad(t *testing.T) {
	c, id := open(t)
	e := sampleEntry()
	if _, ok := e.LastRefresh("us-east-1"); ok {
		t.Fatal("a fresh entry has a refresh record")
	}
	e.RecordFailure("us-east-1", t0, "assume-role", "AWS said AccessDenied")
	e.RecordFailure("us-east-1", t0.Add(time.Minute), "assume-role", "AWS said AccessDenied again")
	e.RecordSuccess("us-east-1", t0.Add(2*time.Minute))
	e.RecordFailure("eu-west-1", t0, "ecr-token", "boom")
	if err := c.Store(id, e); err != nil {
		t.Fatal(err)
	}
	got := c.Load(id)
	r, ok := got.LastRefresh("us-east-1")
	want := LastRefresh{At: t0.Add(2 * time.Minute), OK: true, LastSuccess: t0.Add(2 * time.Minute), Failures: 2,
		Step: "assume-role", Error: "AWS said AccessDenied again"}
	if !ok || r != want {
		t.Errorf("us-east-1: got %+v, want %+v", r, want)
	}
	if r, _ := got.LastRefresh("eu-west-1"); r.OK || r.Failures != 1 || r.Step != "ecr-token" || !r.LastSuccess.IsZero() {
		t.Errorf("eu-west-1: %+v", r)
	}
	// The token and session are untouched by the history (the file stays version 1, readable by older helpers).
	if _, ok := got.Token("us-east-1"); !ok || got.Session == nil {
		t.Errorf("history lost the credentials: %+v", got)
	}
	b, _ := os.ReadFile(c.Path(id))
	if !strings.Contains(string(b), `"version": 1`) || !strings.Contains(string(b), `"refreshes"`) {
		t.Errorf("file: %s", b)
	}
}

func TestDamagedRefreshRecordCostsOnlyItself(t *testing.T) {
	c, id := open(t)
	e := sampleEntry()
	e.RecordSuccess("us-east-1", t0)
	if err := c.Store(id, e); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(c.Path(id))
	b = []byte(strings.Replace(string(b), `"refreshes": {`, `"refreshes": {"": {"at": "2026-01-01T00:00:00Z"}, "x": {"at": "2026-01-01T00:00:00Z", "failures": -3},`, 1))
	os.WriteFile(c.Path(id), b, 0o600)
	got := c.Load(id)
	if _, ok := got.Token("us-east-1"); !ok {
		t.Fatal("a damaged history record threw away the token")
	}
	if len(got.Refreshes) != 1 {
		t.Errorf("refreshes: %+v", got.Refreshes)
	}
}
