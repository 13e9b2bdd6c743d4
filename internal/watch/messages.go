package watch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/journal"
	"github.com/currentsdev/currents/internal/queue"
)

// held is a received message whose change the journal does not hold yet.
// It is deleted once the resolve it prompted is written to the journal
// (recorded), not once the change is mirrored or deployed: from then on the
// journal carries the change, to this watch's retries and to the next
// watch's after a restart, whose first poll resolves every image anyway.
// Held until the action succeeded, a message whose mirror or deploy kept
// failing came back after each visibility timeout and, after the queue's
// maxReceiveCount, a valid event landed in the dead-letter queue, tripping
// the operator's alarm, though nothing was lost. ChangeMessageVisibility
// would only postpone that: SQS caps a message's hiding at 12 hours from its
// receipt, and a mirror can fail for a month. The dead-letter queue is then
// for what it is for: messages no watch can read.
type held struct {
	msg      queue.Message
	event    queue.Event
	services []string
	recorded map[string]bool // services whose resolve the journal holds
	// shownAgain: SQS showed it again while a resolve still failed; the
	// watch retries that itself, so the message is deleted rather than left
	// to count towards the dead-letter queue.
	shownAgain bool
}

// visibility is how long a received message stays hidden: long enough for
// the resolve it prompts and its retries (the backoff reaches 10 minutes);
// one that comes back before is deleted then.
func (w *watcher) visibility() time.Duration { return 15 * time.Minute }

// startQueue opens the queue and checks it: a queue that does not exist or
// may not be read stops the start (the operator must fix it); an outage
// does not (the receiver retries).
func (w *watcher) startQueue(ctx context.Context) error {
	if w.o.Queue == "" {
		return nil
	}
	u, err := queue.ParseURL(w.o.Queue)
	if err != nil {
		return err
	}
	wait := queue.MaxWait
	switch {
	case w.o.Once:
		wait = time.Second
	case w.o.wait > 0:
		wait = w.o.wait
	}
	if w.queue, err = queue.Open(ctx, u, queue.Options{Config: w.o.Config, Wait: wait, Visibility: w.visibility(), Log: w.log}); err != nil {
		return err
	}
	attrs, err := w.queue.Attributes(ctx)
	var qe *queue.Error
	switch {
	case errors.As(err, &qe) && qe.Permanent:
		return err
	case err != nil:
		w.log.Warn("queue not reachable; the receiver retries with backoff", "queue", u.Raw, "error", err.Error())
		return nil
	}
	if attrs.DeadLetterQueue == "" {
		w.log.Warn("the queue has no dead-letter queue: a malformed message comes back forever; give it a RedrivePolicy (maxReceiveCount 5 and a DLQ)",
			"queue", attrs.ARN)
	}
	return nil
}

// receive long-polls the queue until ctx ends, handing each batch over;
// failures are retried with backoff.
func (w *watcher) receive(ctx context.Context, out chan<- []queue.Message) {
	var b backoff
	for ctx.Err() == nil {
		msgs, err := w.queue.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d := b.next()
			w.log.Warn("receiving from the queue failed; retrying", "in", d.String(), "error", err.Error())
			sleep(ctx, d)
			continue
		}
		b.reset()
		if len(msgs) == 0 {
			continue
		}
		select {
		case out <- msgs:
		case <-ctx.Done():
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// handle takes one message: malformed ones are logged and left to the
// queue's redrive policy; ignored kinds, images no service uses and
// duplicates are deleted at once; the rest prompt a resolve of their
// services and are held until that change is handled.
func (w *watcher) handle(ctx context.Context, m queue.Message) []string {
	ev, err := queue.ParseEvent(m.Body)
	if err != nil {
		w.log.Warn("malformed message left to the queue's redrive policy (maxReceiveCount, then the dead-letter queue)",
			"message_id", m.ID, "receives", m.Receives, "error", err.Error())
		return nil
	}
	if h, ok := w.held[m.ID]; ok {
		// Shown again after its visibility timeout: the latest receipt
		// handle is the one that deletes it.
		h.msg, h.shownAgain = m, true
		return nil
	}
	if why := ev.Ignored(); why != "" {
		w.drop(ctx, m, ev, "event ignored: "+why)
		return nil
	}
	services := w.servicesFor(ev)
	if len(services) == 0 {
		w.drop(ctx, m, ev, fmt.Sprintf("event ignored: no service uses %s:%s of account %s in %s", ev.Repository, ev.Tag, ev.Account, ev.Region))
		return nil
	}
	for _, n := range services {
		delete(w.unannounced, n) // the poll was first; the event came
	}
	if w.journal.State().SeenEvent(ev.ID) {
		w.drop(ctx, m, ev, "duplicate event: handled before")
		return nil
	}
	if m.Receives > 1 {
		w.log.Warn("this message was received before, by this watch before a restart or by another consumer of the queue: each host needs its own queue",
			"message_id", m.ID, "receives", m.Receives)
	}
	w.log.Info("event", "message_id", m.ID, "event_id", ev.ID, "repository", ev.Repository, "tag", ev.Tag, "digest", ev.Digest,
		"services", strings.Join(services, ","))
	w.held[m.ID] = &held{msg: m, event: ev, services: services, recorded: map[string]bool{}}
	return services
}

// servicesFor maps an event to the services whose image is that repository
// and tag on that account's registry in that region (a real ECR host, or an
// alias currents.yaml maps there).
func (w *watcher) servicesFor(ev queue.Event) []string {
	var out []string
	for _, s := range w.svcs {
		tag, ok := s.ref.(name.Tag)
		if !ok || s.account != ev.Account || s.region != ev.Region || s.ref.Context().RepositoryStr() != ev.Repository || tag.TagStr() != ev.Tag {
			continue
		}
		out = append(out, s.name)
	}
	return out
}

// drop deletes a message deliberately ignored.
func (w *watcher) drop(ctx context.Context, m queue.Message, ev queue.Event, why string) {
	if err := w.queue.Delete(ctx, m); err != nil {
		w.log.Warn("deleting an ignored message failed; it comes back and is ignored again", "message_id", m.ID, "error", err.Error())
		return
	}
	w.log.Info(why, "message_id", m.ID, "event_id", ev.ID, "action", ev.Action, "result", ev.Result, "repository", ev.Repository, "tag", ev.Tag)
}

// recorded notes that the journal holds service's resolve: held messages
// that prompted it need not be kept for it.
func (w *watcher) recorded(service string) {
	for _, h := range w.held {
		if contains(h.services, service) {
			h.recorded[service] = true
		}
	}
}

// release deletes the held messages whose services' resolves the journal
// holds (see held), and remembers their event IDs (a redelivery is then a
// duplicate).
func (w *watcher) release(ctx context.Context) {
	if len(w.held) == 0 {
		return
	}
	var done []*held
	for _, h := range w.held {
		if h.shownAgain || len(h.recorded) == len(h.services) {
			done = append(done, h)
		}
	}
	if len(done) == 0 {
		return
	}
	err := w.journal.Update(func(st *journal.State) error {
		for _, h := range done {
			st.AddEvent(h.event.ID)
		}
		return nil
	})
	if err != nil {
		// Without its event ID a redelivery costs one more look, not an
		// action; one shown again goes anyway, rather than towards the
		// dead-letter queue.
		w.log.Warn("journal write failed; the messages stay until it works", "error", err.Error())
		done = slices.DeleteFunc(done, func(h *held) bool { return !h.shownAgain })
	}
	for _, h := range done {
		if err := w.queue.Delete(ctx, h.msg); err != nil {
			// It comes back, and is then a duplicate.
			w.log.Warn("deleting a handled message failed", "message_id", h.msg.ID, "error", err.Error())
		} else if len(h.recorded) < len(h.services) {
			w.log.Info("event's message deleted, shown again before its change was recorded: the watch retries the look itself",
				"message_id", h.msg.ID, "event_id", h.event.ID, "services", strings.Join(h.services, ","), "receives", h.msg.Receives)
		} else {
			w.log.Info("event handled", "message_id", h.msg.ID, "event_id", h.event.ID, "services", strings.Join(h.services, ","))
		}
		delete(w.held, h.msg.ID)
	}
}

// announced reports whether a held event prompted the service's change.
func (w *watcher) announced(service string) bool {
	for _, h := range w.held {
		for _, s := range h.services {
			if s == service {
				return true
			}
		}
	}
	return false
}
