package watch

import (
	"testing"
	"time"
)

// TestChangesThatKeepArrivingAreActedOn: a CI moves the api tag more often
// than --settle, for longer than the settle bound. The watch acts within
// the bound, on the digest the registry has then, while pushes still
// arrive; before, every push restarted the settle time and nothing was
// mirrored until the pushes stopped (never, for a CI that never stops).
func TestChangesThatKeepArrivingAreActedOn(t *testing.T) {
	w := newWorld(t)
	o := w.options()
	o.Settle, o.maxSettle = time.Second, 3*time.Second
	w.start(o)
	w.synced()
	mirroring := w.logs.count("mirroring")
	pushed := map[string]bool{}
	var actedDuring bool
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); {
		pushed[w.push("api").String()] = true
		time.Sleep(200 * time.Millisecond)
		if w.logs.count("mirroring") > mirroring {
			actedDuring = true
		}
	}
	if !actedDuring {
		t.Fatalf("pushes every 200ms for 8s with --settle 1s and a bound of 3s: nothing mirrored while they arrived\n%s", w.logs.String())
	}
	if d := w.mirrored("api"); !pushed[d] {
		t.Errorf("the mirror's api is %s, none of the digests pushed", d)
	}
	if w.logs.count("changes keep arriving") == 0 {
		t.Errorf("the bound cut the settling short without saying so")
	}
}

// TestSettleBoundIsTenSettles: the bound the README and --help state.
func TestSettleBoundIsTenSettles(t *testing.T) {
	w := &watcher{o: Options{Settle: time.Minute}}
	if got := w.maxSettle(); got != 10*time.Minute {
		t.Errorf("bound for --settle 1m: %s, want 10m", got)
	}
}
