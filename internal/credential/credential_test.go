package credential

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestPolicy(t *testing.T) {
	tests := []struct {
		life                 time.Duration
		refreshAt, servedTil time.Duration // offsets from issue
	}{
		{12 * time.Hour, 9 * time.Hour, 12*time.Hour - 15*time.Minute},
		{time.Hour, 45 * time.Minute, 55 * time.Minute},
		{15 * time.Minute, 11*time.Minute + 15*time.Second, 15*time.Minute - 75*time.Second},
		{5 * time.Second, 3750 * time.Millisecond, 5*time.Second - 5*time.Second/12},
		{24 * time.Hour, 21 * time.Hour, 24*time.Hour - 15*time.Minute},
	}
	for _, tt := range tests {
		exp := t0.Add(tt.life)
		if got := RefreshAt(t0, exp); !got.Equal(t0.Add(tt.refreshAt)) {
			t.Errorf("life %s: RefreshAt = +%s, want +%s", tt.life, got.Sub(t0), tt.refreshAt)
		}
		if NeedsRefresh(t0, exp, t0.Add(tt.refreshAt-time.Nanosecond)) || !NeedsRefresh(t0, exp, t0.Add(tt.refreshAt)) {
			t.Errorf("life %s: NeedsRefresh flips at the wrong time", tt.life)
		}
		if !Servable(t0, exp, t0.Add(tt.servedTil-time.Nanosecond)) || Servable(t0, exp, t0.Add(tt.servedTil)) {
			t.Errorf("life %s: Servable flips at the wrong time", tt.life)
		}
		if Servable(t0, exp, exp) || Servable(t0, exp, exp.Add(time.Hour)) {
			t.Errorf("life %s: an expired credential is servable", tt.life)
		}
	}
	if Servable(t0, t0, t0.Add(-time.Hour)) || !NeedsRefresh(t0.Add(time.Hour), t0, t0) {
		t.Error("a credential with no lifetime must be refreshed and never served")
	}
}
