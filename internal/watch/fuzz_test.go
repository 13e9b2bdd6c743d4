package watch

import (
	"testing"
	"time"
)

// FuzzParseWindow: --window never panics the parser; an accepted window
// opens within a week of any moment, and is open when Next says it opens.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"Sat 02:00-04:00", "Mon-Fri 23:00-01:30", "daily 03:00-05:00", "03:00-05:00", "sat,sun 10:00-11:00", "Sun-Mon 00:00-23:59"} {
		f.Add(s, int64(1767225600))
	}
	f.Fuzz(func(t *testing.T, raw string, unix int64) {
		w, err := ParseWindow(raw)
		if err != nil {
			return
		}
		at := time.Unix(unix%(1<<33), 0)
		next := w.Next(at)
		if next.Before(at) || next.Sub(at) > 8*24*time.Hour {
			t.Fatalf("%q at %s: next opening %s", raw, at, next)
		}
		if open, closes := w.Open(next); !open || !closes.After(next) {
			t.Fatalf("%q: not open at its opening %s (closes %s)", raw, next, closes)
		}
	})
}
