package journal

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// stepClock is a clock a test moves by hand.
type stepClock struct{ t time.Time }

func (c *stepClock) now() time.Time { return c.t }

// fail begins and fails one mirror of service, d later.
func fail(t *testing.T, j *Journal, c *stepClock, service, digest, msg string) {
	t.Helper()
	id, err := j.Begin(Entry{Service: service, Action: ActionMirror, Image: "mirror.example/" + service, Old: "sha256:old", New: digest})
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(30 * time.Second)
	if err := j.Finish(id, Failed, msg, nil); err != nil {
		t.Fatal(err)
	}
}

func ok(t *testing.T, j *Journal, c *stepClock, service, digest string) {
	t.Helper()
	id, err := j.Begin(Entry{Service: service, Action: ActionMirror, Image: "mirror.example/" + service, Old: "sha256:old", New: digest})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(id, OK, "copied", nil); err != nil {
		t.Fatal(err)
	}
}

// TestRepeatedFailureIsOneEntry: a mirror failing the same way every ten
// minutes for a month is one history entry with a count, the first attempt's
// start and the last one's, not 4,320 entries pushing every other service's
// history out of the bounded history (and rewriting megabytes at each step).
// A different error, digest or result starts a new entry; other services'
// entries in between do not.
func TestRepeatedFailureIsOneEntry(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &stepClock{t: start}
	j, err := Open(dir, "currents", "", WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	ok(t, j, c, "writer", "sha256:w1")
	const month = 30 * 24 * 6 // every ten minutes
	var lastBegan time.Time
	for i := range month {
		if i%1000 == 500 {
			ok(t, j, c, "writer", "sha256:w1") // another service's history in between
		}
		lastBegan = c.t
		fail(t, j, c, "api", "sha256:a2", "connection refused")
		c.t = c.t.Add(10*time.Minute - 30*time.Second)
	}
	st := j.State()
	var api []Entry
	for _, e := range st.History {
		if e.Service == "api" {
			api = append(api, e)
		}
	}
	if len(api) != 1 {
		t.Fatalf("%d history entries for %d identical failures, want 1", len(api), month)
	}
	e := api[0]
	if e.Attempts() != month || !e.Time.Equal(start) || !e.Last.Equal(lastBegan) || !e.Ended.Equal(lastBegan.Add(30*time.Second)) || e.Result != Failed {
		t.Errorf("coalesced entry %+v: want %d attempts, first %s, last %s", e, month, start, lastBegan)
	}
	if n := len(st.History); n != 1+month/1000+1 { // writer, writer between, api
		t.Errorf("history of %d entries", n)
	}
	if fi, err := os.Stat(j.Path()); err != nil || fi.Size() > 16<<10 {
		t.Errorf("journal of %d bytes after a month of failures (%v)", fi.Size(), err)
	}

	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOtherFailureIsAnotherEntry: another error, another digest, or a
// success in between is not the same failure again.
func TestOtherFailureIsAnotherEntry(t *testing.T) {
	c := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	j, err := Open(t.TempDir(), "currents", "", WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fail(t, j, c, "api", "sha256:a2", "connection refused")
	fail(t, j, c, "api", "sha256:a2", "connection refused")
	fail(t, j, c, "api", "sha256:a2", "manifest unknown") // another error
	fail(t, j, c, "api", "sha256:a3", "manifest unknown") // another digest
	ok(t, j, c, "api", "sha256:a3")
	fail(t, j, c, "api", "sha256:a3", "manifest unknown") // after a success
	st := j.State()
	if len(st.History) != 5 || st.History[0].Attempts() != 2 {
		t.Fatalf("history %+v", st.History)
	}
	tail := st.History[1:]
	for i, want := range []struct{ new, result, msg string }{
		{"sha256:a2", Failed, "manifest unknown"}, {"sha256:a3", Failed, "manifest unknown"}, {"sha256:a3", OK, "copied"}, {"sha256:a3", Failed, "manifest unknown"},
	} {
		if e := tail[i]; e.New != want.new || e.Result != want.result || e.Message != want.msg || e.Attempts() != 1 {
			t.Errorf("entry %d: %+v, want %+v once", i, e, want)
		}
	}
	var b bytes.Buffer
	if err := WriteTable(&b, j.Path(), st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "failed ×2, last ") {
		t.Errorf("--status does not show the count:\n%s", b.String())
	}
}

// TestJournalWithoutCountsReads: a journal written before counts existed
// reads, each entry one attempt, and keeps its version.
func TestJournalWithoutCountsReads(t *testing.T) {
	dir := t.TempDir()
	old := `{"version":1,"project":"currents","updated":"2026-01-01T00:00:00Z","services":{"api":{"image":"x/api:staging","registry":"sha256:a2"}},` +
		`"history":[{"id":7,"time":"2026-01-01T00:00:00Z","ended":"2026-01-01T00:01:00Z","service":"api","action":"mirror","old":"sha256:a1","new":"sha256:a2","result":"failed","message":"connection refused"}]}`
	if err := os.MkdirAll(dir+"/watch", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(Path(dir, "currents"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &stepClock{t: time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)}
	j, err := Open(dir, "currents", "", WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if e := j.State().History[0]; e.Attempts() != 1 || e.ID != 7 {
		t.Fatalf("old entry %+v", e)
	}
	id, err := j.Begin(Entry{Service: "api", Action: ActionMirror, Old: "sha256:a1", New: "sha256:a2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(id, Failed, "connection refused", nil); err != nil {
		t.Fatal(err)
	}
	st, err := Read(dir, "currents")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != 1 || st.History[0].Attempts() != 2 || st.Version != 1 {
		t.Errorf("the old entry and a repeat of it: %+v (version %d)", st.History, st.Version)
	}
}

// TestOutageWithRequestIDsIsOneEntry: the same failure carries another
// request ID, attempt number, timestamp or address at every attempt (AWS's
// "RequestID: …", compose's container IDs, a resolver's round robin); a
// week's outage is still one entry, showing the latest full text, with the
// first and last times. A failure that differs in words is another entry.
func TestOutageWithRequestIDsIsOneEntry(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &stepClock{t: start}
	j, err := Open(t.TempDir(), "currents", "", WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const week = 7 * 24 * 6 // every ten minutes
	var lastBegan time.Time
	var lastMsg string
	for i := range week {
		lastBegan = c.t
		lastMsg = fmt.Sprintf("copying api: operation error ECR: GetAuthorizationToken, exceeded maximum number of attempts, %d, "+
			"https response error StatusCode: 503, RequestID: %08x-%04x-4%03x-a%03x-%012x, api error ServiceUnavailable: at %s; dial tcp 52.94.%d.%d:443; container %012x",
			3+i%2, i*7919, i%65536, i%4096, (i*31)%4096, i*104729, c.t.Format(time.RFC3339), i%256, (i*13)%256, i*2654435761)
		fail(t, j, c, "api", "sha256:a2", lastMsg)
		c.t = c.t.Add(10*time.Minute - 30*time.Second)
	}
	fail(t, j, c, "api", "sha256:a2", "copying api: manifest unknown") // another failure
	st := j.State()
	if len(st.History) != 2 {
		t.Fatalf("%d history entries for one outage and one other failure, want 2: first %+v", len(st.History), st.History[0])
	}
	e := st.History[0]
	if e.Attempts() != week || !e.Time.Equal(start) || !e.Last.Equal(lastBegan) || !e.Ended.Equal(lastBegan.Add(30*time.Second)) {
		t.Errorf("coalesced entry %+v: want %d attempts, first %s, last %s", e, week, start, lastBegan)
	}
	if e.Message != lastMsg {
		t.Errorf("the entry shows %q, want the latest attempt's text %q", e.Message, lastMsg)
	}
	if o := st.History[1]; o.Message != "copying api: manifest unknown" || o.Attempts() != 1 {
		t.Errorf("another failure folded in: %+v", o)
	}
}

// TestStablePart: what counts as the same failure's text.
func TestStablePart(t *testing.T) {
	same := [][2]string{
		{"RequestID: 0f1e2d3c-beef-cafe-abcd-0123456789ab", "RequestID: 9a8b7c6d-1234-4abc-8def-fedcba987654"},
		{"request id deadbeefcafe", "request id 0123456789ab"},
		{"attempt 3 of 5 after 2m3.5s", "attempt 4 of 5 after 4m7s"},
	}
	for _, p := range same {
		if stable(p[0]) != stable(p[1]) {
			t.Errorf("%q and %q are one failure: %q, %q", p[0], p[1], stable(p[0]), stable(p[1]))
		}
	}
	other := [][2]string{
		{"connection refused", "manifest unknown"},
		{"api error ServiceUnavailable", "api error AccessDenied"},
		{"compose up failed: --wait", "compose up failed: --pull"},
	}
	for _, p := range other {
		if stable(p[0]) == stable(p[1]) {
			t.Errorf("%q and %q are different failures", p[0], p[1])
		}
	}
}
