package watch

import (
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestValidEventNeverReachesTheDeadLetterQueue: the mirror is down for
// longer than maxReceiveCount (3 here) visibility timeouts. The push's
// message is deleted once the journal records the change, so SQS never
// shows it again and never moves it to the dead-letter queue (an operator's
// alarm); the journal alone carries the mirror, which happens once the
// mirror is back. Before, the message was held until the mirror succeeded,
// came back after each visibility timeout, and after the third receive
// landed in the dead-letter queue.
func TestValidEventNeverReachesTheDeadLetterQueue(t *testing.T) {
	w := newWorld(t)
	tg := newToggle(t, "http://"+w.mirror)
	o := w.options()
	o.MirrorTo, o.wait = tg.srv.Listener.Addr().String()+"/currents/", time.Second
	w.start(o)
	w.synced()
	tg.set(true)
	d := w.push("api")
	w.eventually(20*time.Second, "the mirror failing", func() bool { return w.logs.count("mirror failed") > 0 })
	if got := w.journal().Services["api"].Registry; got != d.String() {
		t.Fatalf("journal's api registry digest %s, want %s", got, d)
	}
	w.outlastMaxReceives(t, "its mirror fails")
	tg.set(false)
	w.eventually(30*time.Second, "the mirror, from the journal, once it is back", func() bool { return w.mirrored("api") == d.String() })
}

// TestEventShownAgainBeforeItsChangeIsRecordedIsDeleted: the journal cannot
// be written (a full disk) for longer than maxReceiveCount visibility
// timeouts, so the event's change cannot be recorded. The watch retries the
// look itself (and a restart's first poll looks at every image), so the
// message, shown again, is deleted rather than left to count towards the
// dead-letter queue; once the disk is mended the change is mirrored.
func TestEventShownAgainBeforeItsChangeIsRecordedIsDeleted(t *testing.T) {
	w, d, mend := pushWhileTheJournalCannotBeWritten(t)
	w.outlastMaxReceives(t, "the journal cannot be written")
	mend()
	w.mirroredAndRecorded(d)
}

// pushWhileTheJournalCannotBeWritten starts a watch, makes its journal
// unwritable (a full disk), pushes api and waits for the watch to say the
// write failed; mend makes the journal writable again.
func pushWhileTheJournalCannotBeWritten(t *testing.T) (w *world, d v1.Hash, mend func()) {
	t.Helper()
	w = newWorld(t)
	o := w.options()
	o.wait = time.Second
	w.start(o)
	w.synced()
	mend = breakJournalDir(t, w.state)
	d = w.push("api")
	w.eventually(10*time.Second, "the failed write said", func() bool { return w.logs.count("journal write failed; retrying with backoff") > 0 })
	return w, d, mend
}

// outlastMaxReceives lets the event's visibility timeout pass, as SQS does,
// more times than maxReceiveCount (3) while (why) its change cannot be
// acted on: the message must be neither in the dead-letter queue nor left
// in the queue.
func (w *world) outlastMaxReceives(t *testing.T, why string) {
	t.Helper()
	for range 4 {
		w.aws.RevealInFlight(w.queue)
		time.Sleep(1500 * time.Millisecond)
	}
	if v, f := w.aws.QueueDepth(w.dlq); v+f != 0 {
		t.Fatalf("a valid event is in the dead-letter queue while %s\n%s", why, w.logs.String())
	}
	if v, f := w.aws.QueueDepth(w.queue); v+f != 0 {
		t.Errorf("the event's message is still in the queue (%d visible, %d in flight)", v, f)
	}
}

// mirroredAndRecorded waits for api's digest d to be mirrored and the
// journal to say so.
func (w *world) mirroredAndRecorded(d v1.Hash) {
	w.eventually(30*time.Second, "the change mirrored and recorded", func() bool {
		return w.mirrored("api") == d.String() && w.journal().Services["api"].Mirrored == d.String()
	})
}
