package watch

import (
	"fmt"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/fix"
)

// Window is a weekly maintenance window in local time: the days it opens
// on, and the time of day it opens and closes. A window whose end is not
// after its start runs past midnight into the next day.
type Window struct {
	Raw        string
	Days       [7]bool // by time.Weekday; all true when the window names none
	Start, End time.Duration
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseWindow reads --window: "[DAYS] HH:MM-HH:MM", DAYS a day ("Sat"), a
// list ("Sat,Sun") or a range ("Mon-Fri"), or "daily"; no DAYS is daily.
func ParseWindow(raw string) (Window, error) {
	bad := func(why string) (Window, error) {
		return Window{}, fix.New(fmt.Errorf("--window %q: %s", raw, why),
			`write "[DAYS] HH:MM-HH:MM" in local time, e.g. "Sat 02:00-04:00", "Mon-Fri 22:00-23:30" or "daily 03:00-05:00"`)
	}
	w := Window{Raw: raw}
	fields := strings.Fields(raw)
	days := "daily"
	switch len(fields) {
	case 1:
	case 2:
		days = fields[0]
	default:
		return bad("want days and a time range")
	}
	if strings.EqualFold(days, "daily") {
		for d := range w.Days {
			w.Days[d] = true
		}
	} else {
		for _, part := range strings.Split(strings.ToLower(days), ",") {
			from, to, isRange := strings.Cut(part, "-")
			a, ok1 := weekdays[short(from)]
			b, ok2 := weekdays[short(to)]
			if !ok1 || (isRange && !ok2) {
				return bad(fmt.Sprintf("%q is not a day (Mon, Tue, … Sun)", part))
			}
			if !isRange {
				b = a
			}
			for d := a; ; d = (d + 1) % 7 {
				w.Days[d] = true
				if d == b {
					break
				}
			}
		}
	}
	span := fields[len(fields)-1]
	start, end, ok := strings.Cut(span, "-")
	var err1, err2 error
	if ok {
		w.Start, err1 = clockTime(start)
		w.End, err2 = clockTime(end)
	}
	if !ok || err1 != nil || err2 != nil {
		return bad(fmt.Sprintf("%q is not HH:MM-HH:MM", span))
	}
	if w.Start == w.End {
		return bad("the window opens and closes at the same time")
	}
	return w, nil
}

func short(day string) string {
	if len(day) > 3 {
		return day[:3]
	}
	return day
}

func clockTime(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// opening is the window's occurrence that opened on the day of day (local).
func (w Window) opening(day time.Time) (open, close time.Time) {
	// Wall-clock times, so a window keeps its hours across DST changes.
	at := func(d time.Duration, days int) time.Time {
		y, m, dd := day.Date()
		return time.Date(y, m, dd+days, int(d/time.Hour), int(d%time.Hour/time.Minute), 0, 0, day.Location())
	}
	open, close = at(w.Start, 0), at(w.End, 0)
	if w.End <= w.Start {
		close = at(w.End, 1)
	}
	return open, close
}

// Open reports whether t falls inside the window, and when it closes.
func (w Window) Open(t time.Time) (bool, time.Time) {
	t = t.Local()
	// An occurrence that started yesterday may still be open.
	for _, day := range []time.Time{t.AddDate(0, 0, -1), t} {
		if !w.Days[day.Weekday()] {
			continue
		}
		open, close := w.opening(day)
		if !t.Before(open) && t.Before(close) {
			return true, close
		}
	}
	return false, time.Time{}
}

// Next is when the window next opens after t (t itself when it is open).
func (w Window) Next(t time.Time) time.Time {
	if ok, _ := w.Open(t); ok {
		return t
	}
	t = t.Local()
	for i := 0; i <= 7; i++ {
		day := t.AddDate(0, 0, i)
		if !w.Days[day.Weekday()] {
			continue
		}
		if open, _ := w.opening(day); open.After(t) {
			return open
		}
	}
	return t.AddDate(0, 0, 7) // unreachable: some day is set
}

func (w Window) String() string { return w.Raw }
