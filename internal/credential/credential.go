// Package credential holds the two credentials the helper caches, an AWS
// session and a registry token, and the refresh policy that decides when each
// is replaced and how long it may still be served when replacing it fails.
package credential

import (
	"time"

	"github.com/currentsdev/currents/internal/secret"
)

// Session is cached AWS credentials for a principal, usually an assumed role.
type Session struct {
	AccessKeyID     string
	SecretAccessKey secret.Value
	SessionToken    secret.Value
	Issued          time.Time
	Expires         time.Time
}

// Token is an ECR (or ECR Public) registry credential.
type Token struct {
	Username string
	Password secret.Value
	Issued   time.Time
	Expires  time.Time
}

// The refresh policy. It is the same for ECR tokens (12h) and STS sessions
// (15m..12h) because it scales with the lifetime:
//
//   - refresh once less than a quarter of the lifetime is left, but never more
//     than 3h ahead: a 12h token is refreshed 3h before expiry, which leaves a
//     pull started on the old token hours to finish;
//   - if that refresh fails, keep serving the cached credential only while more
//     than min(lifetime/12, 15m) is left: a 12h token is served until 15m before
//     expiry, and is never handed out expired;
//   - a credential issued after now was stamped by a clock that has since
//     stepped back (a VM restored from a snapshot, NTP after a long gap): how
//     much of its life is left is unknown, so it is refreshed and not served
//     as a fall-back.
const (
	maxRefreshLead = 3 * time.Hour
	maxSafetyGap   = 15 * time.Minute
)

// RefreshAt is when a credential issued at issued and expiring at expires
// should be replaced.
func RefreshAt(issued, expires time.Time) time.Time {
	life := expires.Sub(issued)
	if life <= 0 {
		return time.Time{} // nonsense times: refresh now
	}
	return expires.Add(-min(life/4, maxRefreshLead))
}

// NeedsRefresh reports whether now is at or past RefreshAt, or before issued.
func NeedsRefresh(issued, expires, now time.Time) bool {
	return issued.After(now) || !now.Before(RefreshAt(issued, expires))
}

// Servable reports whether the credential may still be handed out when a
// refresh has failed: enough lifetime is left for the caller to use it.
func Servable(issued, expires, now time.Time) bool {
	life := expires.Sub(issued)
	if life <= 0 || issued.After(now) {
		return false
	}
	return expires.Sub(now) > min(life/12, maxSafetyGap)
}
