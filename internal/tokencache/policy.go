package tokencache

import "time"

// Clock is the time source; tests inject a fake one to simulate weeks.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// The refresh policy. It is the same for ECR tokens (12h) and STS sessions
// (15m..12h) because it scales with the lifetime:
//
//   - refresh once less than a quarter of the lifetime is left, but never more
//     than 3h ahead: a 12h token is refreshed 3h before expiry, which leaves a
//     pull started on the old token hours to finish;
//   - if that refresh fails, keep serving the cached credential only while more
//     than min(lifetime/12, 15m) is left: a 12h token is served until 15m before
//     expiry, and is never handed out expired.
const (
	maxRefreshLead = 3 * time.Hour
	maxSafetyGap   = 15 * time.Minute
)

// FailureHold is how long a failed refresh answers for every get that asked
// before it or up to this long after it, without AWS being asked again. It
// covers a burst of parallel pulls; a fix (a changed entry is a new identity,
// and erase clears the failure) otherwise waits at most this long.
const FailureHold = 10 * time.Second

// RefreshAt is when a credential issued at issued and expiring at expires
// should be replaced.
func RefreshAt(issued, expires time.Time) time.Time {
	life := expires.Sub(issued)
	if life <= 0 {
		return time.Time{} // nonsense times: refresh now
	}
	return expires.Add(-min(life/4, maxRefreshLead))
}

// NeedsRefresh reports whether now is at or past RefreshAt.
func NeedsRefresh(issued, expires, now time.Time) bool {
	return !now.Before(RefreshAt(issued, expires))
}

// Servable reports whether the credential may still be handed out when a
// refresh has failed: enough lifetime is left for the caller to use it.
func Servable(issued, expires, now time.Time) bool {
	life := expires.Sub(issued)
	if life <= 0 {
		return false
	}
	return expires.Sub(now) > min(life/12, maxSafetyGap)
}
