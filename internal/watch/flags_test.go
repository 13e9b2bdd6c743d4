package watch

import (
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/fix"
)

// TestCheckBounds: every duration is refused outside its bounds, with an
// error that names the flag and a fix that gives the bounds; the edges pass.
func TestCheckBounds(t *testing.T) {
	ok := Options{MirrorTo: "m.example/currents/", Settle: DefaultSettle, HealthTimeout: DefaultHealthTimeout}
	for _, c := range []struct {
		flag string
		set  func(*Options, time.Duration)
		bad  []time.Duration
		good []time.Duration
	}{
		{"--interval", func(o *Options, d time.Duration) { o.Interval = d },
			[]time.Duration{time.Nanosecond, MinInterval - time.Second, -time.Minute, MaxInterval + time.Second, 100000 * time.Hour},
			[]time.Duration{0, MinInterval, MaxInterval}},
		{"--settle", func(o *Options, d time.Duration) { o.Settle = d },
			[]time.Duration{-time.Nanosecond, MaxSettle + time.Second},
			[]time.Duration{0, MaxSettle}},
		{"--health-timeout", func(o *Options, d time.Duration) { o.HealthTimeout = d },
			[]time.Duration{0, time.Nanosecond, -time.Minute, MinHealthTimeout - time.Second, MaxHealthTimeout + time.Second},
			[]time.Duration{MinHealthTimeout, MaxHealthTimeout}},
	} {
		for _, d := range c.bad {
			o := ok
			c.set(&o, d)
			err := o.Check()
			problem, how := fix.Split(err)
			if err == nil || !strings.HasPrefix(problem, c.flag+" ") || !strings.Contains(how, c.flag) {
				t.Errorf("%s %s: %q, fix %q; want it refused, naming the flag", c.flag, d, problem, how)
			}
		}
		for _, d := range c.good {
			o := ok
			c.set(&o, d)
			if err := o.Check(); err != nil {
				t.Errorf("%s %s: %v", c.flag, d, err)
			}
		}
	}
	o := ok
	o.MirrorTo = "notaregistry"
	if err := o.Check(); err == nil || !strings.HasPrefix(err.Error(), `--mirror-to "notaregistry/"`) {
		t.Errorf("--mirror-to notaregistry: %v", err)
	}
}
