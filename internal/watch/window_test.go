package watch

import (
	"strings"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	loc := time.Local
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// 2026-01-03 is a Saturday.
	w, err := ParseWindow("Sat 02:00-04:00")
	if err != nil {
		t.Fatal(err)
	}
	for when, want := range map[string]bool{
		"2026-01-03 01:59": false, "2026-01-03 02:00": true, "2026-01-03 03:59": true, "2026-01-03 04:00": false,
		"2026-01-04 03:00": false, "2026-01-10 02:30": true,
	} {
		if got, _ := w.Open(at(when)); got != want {
			t.Errorf("Sat 02:00-04:00 at %s: %v, want %v", when, got, want)
		}
	}
	if got := w.Next(at("2026-01-04 10:00")); !got.Equal(at("2026-01-10 02:00")) {
		t.Errorf("next after Sunday: %s", got)
	}
	if got := w.Next(at("2026-01-03 01:00")); !got.Equal(at("2026-01-03 02:00")) {
		t.Errorf("next on the day: %s", got)
	}
	if _, closes := w.Open(at("2026-01-03 03:00")); !closes.Equal(at("2026-01-03 04:00")) {
		t.Errorf("closes %s", closes)
	}

	// Past midnight: Friday's window still open early on Saturday.
	night, err := ParseWindow("Mon-Fri 23:00-01:30")
	if err != nil {
		t.Fatal(err)
	}
	for when, want := range map[string]bool{
		"2026-01-02 23:30": true, "2026-01-03 01:00": true, "2026-01-03 23:30": false, "2026-01-05 00:30": false, "2026-01-06 00:30": true,
	} {
		if got, _ := night.Open(at(when)); got != want {
			t.Errorf("Mon-Fri 23:00-01:30 at %s: %v, want %v", when, got, want)
		}
	}
	daily, err := ParseWindow("03:00-05:00")
	if err != nil || !daily.Days[time.Wednesday] {
		t.Fatalf("daily: %+v %v", daily, err)
	}
	list, err := ParseWindow("sat,SUNDAY 10:00-11:00")
	if err != nil || !list.Days[time.Saturday] || !list.Days[time.Sunday] || list.Days[time.Monday] {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, bad := range []string{"", "Sat", "Sat 2-4", "Caturday 02:00-04:00", "Sat 02:00-02:00", "Sat 25:00-26:00", "Sat Sun 02:00-04:00"} {
		if _, err := ParseWindow(bad); err == nil || !strings.Contains(err.Error(), "--window") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
