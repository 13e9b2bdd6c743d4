package watch

import (
	"sync"
	"testing"
	"time"
)

// wallClock is a wall clock a test steps, as NTP or a resumed VM does.
type wallClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wallClock) now() time.Time       { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *wallClock) set(t time.Time)      { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *wallClock) step(d time.Duration) { c.set(c.now().Add(d)) }

// TestWallClockSteppedIntoTheWindowDeploys: a deploy waits for Saturday's
// window, and the wall clock steps forward into it while the watch sleeps
// (an NTP correction, a VM resumed: the monotonic clock did not see the
// hours go by). The watch looks at the wall clock again within its recheck
// and deploys in the window; before, it slept until the time it had
// computed from the old wall clock, past the window, and the deploy waited
// a week. A step backwards only delays it to the window's real opening.
func TestWallClockSteppedIntoTheWindowDeploys(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	sat, err := ParseWindow("Sat 02:00-04:00")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-01-03 is a Saturday.
	clock := &wallClock{t: time.Date(2026, 1, 3, 1, 0, 0, 0, time.Local)}
	o := w.deployOptions(f)
	o.Queue, o.Windows, o.Now, o.windowCheck = "", []Window{sat}, clock.now, 100*time.Millisecond
	w.push("api")
	w.start(o)
	w.eventually(10*time.Second, "api's change", func() bool {
		for _, l := range w.logs.exact("change") {
			if l["service"] == "api" {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	clock.step(-2 * time.Hour) // backwards: still outside
	time.Sleep(300 * time.Millisecond)
	if n := w.logs.count("deployed"); n != 0 {
		t.Fatalf("deployed outside the window after a backward step")
	}
	clock.set(time.Date(2026, 1, 3, 2, 30, 0, 0, time.Local))
	w.eventually(10*time.Second, "the deploy once the wall clock is in the window", func() bool { return w.logs.count("deployed") == 1 })
}

// TestDeferredDeployIsLoggedByTheWatch: the README's log line "deploy waits
// for the maintenance window" comes from the long-running watch too, once
// per digest, not only from --once (the watch used to say nothing between
// the change and the window).
func TestDeferredDeployIsLoggedByTheWatch(t *testing.T) {
	w := newWorld(t)
	f := newFakeEngine(w)
	closed, err := ParseWindow(time.Now().Add(36*time.Hour).Format("Mon") + " 00:00-00:01")
	if err != nil {
		t.Fatal(err)
	}
	o := w.deployOptions(f)
	o.Queue, o.Windows = "", []Window{closed}
	d := w.push("api").String()
	w.start(o)
	w.eventually(10*time.Second, "the deferral said", func() bool { return w.logs.count("deploy waits for the maintenance window") == 1 })
	time.Sleep(300 * time.Millisecond)
	lines := w.logs.lines("deploy waits for the maintenance window")
	if len(lines) != 1 || lines[0]["service"] != "api" || lines[0]["new"] != d {
		t.Errorf("deferral lines %v, want one for api's %s", lines, d)
	}
}
