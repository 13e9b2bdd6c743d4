// Package clock is the time source every expiry decision reads, so tests can
// inject a clock and simulate weeks.
package clock

import "time"

// Clock is the time source.
type Clock interface{ Now() time.Time }

// System is the wall clock.
type System struct{}

// Now implements Clock.
func (System) Now() time.Time { return time.Now() }
