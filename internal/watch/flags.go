package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/queue"
)

// Bounds of the duration flags. Polling is a load on the registry the
// whole fleet shares (--interval 1ns made a thousand HEADs a second), and a
// settle or health timeout past an hour is a unit typed wrong, not a plan.
const (
	MinInterval      = time.Minute
	MaxInterval      = 7 * 24 * time.Hour
	MaxSettle        = time.Hour
	MinHealthTimeout = 10 * time.Second // compose's --wait-timeout counts whole seconds
	MaxHealthTimeout = time.Hour
)

// IntervalBounds, SettleBounds and HealthTimeoutBounds say the bounds for
// the flags' help.
var (
	IntervalBounds      = fmt.Sprintf("at least %s, at most %s", config.FormatDuration(MinInterval), config.FormatDuration(MaxInterval))
	SettleBounds        = "0 to act at once, at most " + config.FormatDuration(MaxSettle)
	HealthTimeoutBounds = fmt.Sprintf("%s to %s", config.FormatDuration(MinHealthTimeout), config.FormatDuration(MaxHealthTimeout))
)

// Check refuses option values the command line cannot mean, before
// anything is loaded or asked; each error names its flag (a usage error).
// Interval 0 is the default.
func (o Options) Check() error {
	if err := checkDuration("--interval", o.Interval, MinInterval, MaxInterval, IntervalBounds, o.Interval == 0); err != nil {
		return err
	}
	if err := checkDuration("--settle", o.Settle, 0, MaxSettle, SettleBounds, false); err != nil {
		return err
	}
	if err := checkDuration("--health-timeout", o.HealthTimeout, MinHealthTimeout, MaxHealthTimeout, HealthTimeoutBounds, false); err != nil {
		return err
	}
	if !o.Deploy && len(o.Windows) > 0 {
		return errors.New("--window restricts deploys: it needs --deploy")
	}
	if !o.Deploy && o.MirrorTo == "" {
		return errors.New("watch needs something to do: --mirror-to REGISTRY/PREFIX/, --deploy, or both")
	}
	if o.MirrorTo != "" {
		if _, err := mirror.ParsePrefixFlag("--mirror-to", o.MirrorTo); err != nil {
			return err
		}
	}
	if o.Queue != "" {
		if _, err := queue.ParseURL(o.Queue); err != nil {
			return err
		}
	}
	return nil
}

func checkDuration(flag string, d, lo, hi time.Duration, bounds string, unset bool) error {
	var why string
	switch {
	case unset || (d >= lo && d <= hi):
		return nil
	case d < 0:
		why = "cannot be negative"
	case d < lo:
		why = "below its minimum, " + config.FormatDuration(lo)
	default:
		why = "above its maximum, " + config.FormatDuration(hi)
	}
	return fix.New(fmt.Errorf("%s %s: %s", flag, d, why), fmt.Sprintf("give %s a duration: %s", flag, bounds))
}
