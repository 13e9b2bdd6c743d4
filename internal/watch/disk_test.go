package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// breakJournalDir makes every journal write fail, as a full disk does (even
// for root): the journal's directory is moved away and a file takes its
// place. It returns the mend.
func breakJournalDir(t *testing.T, state string) (mend func()) {
	t.Helper()
	dir := filepath.Join(state, "watch")
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJournalWriteFailureIsRetried: the journal cannot be written (a full
// disk) when an event's change is resolved; the log says it is retried with
// backoff, and it is: once the journal can be written again the change is
// mirrored and its message deleted. Before, nothing retried it until the
// next poll (6 hours with a queue).
func TestJournalWriteFailureIsRetried(t *testing.T) {
	w, d, mend := pushWhileTheJournalCannotBeWritten(t)
	mend()
	w.mirroredAndRecorded(d)
	w.eventually(30*time.Second, "its message deleted", func() bool { v, f := w.aws.QueueDepth(w.queue); return v+f == 0 })
}

// TestOnceThatCannotTellIsNotCurrent: --once whose look at the registry
// fails (the registry unreachable) cannot say every image is current: its
// outcome counts a failure (exit 1, retried by the next run), not 0.
func TestOnceThatCannotTellIsNotCurrent(t *testing.T) {
	w := newWorld(t)
	t.Setenv("DC_CURRENTS_REGISTRY", "127.0.0.1:9") // nothing listens there
	o := w.options()
	o.Once, o.Queue = true, ""
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed == 0 {
		t.Errorf("outcome %+v with the registry unreachable: reads as every image current", out)
	}
}

// TestNewMirrorTargetIsFilled: the operator points --mirror-to at a new
// registry (a migration) and restarts the watch: the new mirror gets every
// image now, not each at its next release (the journal's digests were
// mirrored, but to the old target).
func TestNewMirrorTargetIsFilled(t *testing.T) {
	w := newWorld(t)
	o := w.options()
	o.Once, o.Queue = true, ""
	if out, err := Run(context.Background(), o); err != nil || out.Mirrored != 6 {
		t.Fatalf("first mirror: %+v %v", out, err)
	}
	o.MirrorTo = w.mirror + "/moved/"
	out, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for svc, d := range w.digests {
		ref, err := name.ParseReference(w.mirror + "/moved/" + svc + ":staging")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := remote.Head(ref); err != nil || got.Digest != d {
			t.Errorf("%s in the new mirror: %v %v, want %s (outcome %+v)", svc, got, err, d, out)
		}
	}
	if rec := w.journal().Services["api"]; rec.Mirror != w.mirror+"/moved/api:staging" {
		t.Errorf("journal api %+v", rec)
	}
}
