package tokencache

import "time"

// FailureHold is how long a failed refresh answers for every get that asked
// before it or up to this long after it, without AWS being asked again. It
// covers a burst of parallel pulls; a fix (a changed entry is a new identity,
// and erase clears the failure) otherwise waits at most this long.
const FailureHold = 10 * time.Second
