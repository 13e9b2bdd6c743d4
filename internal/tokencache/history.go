package tokencache

import "time"

// LastRefresh is how the refreshes of one token slot went, kept for `status`
// and monitoring: a host that pulls once a week must show a refused role long
// before the pull that needs it.
type LastRefresh struct {
	At          time.Time // when the last refresh ended, successful or not
	OK          bool      // whether it succeeded
	LastSuccess time.Time // the last refresh that succeeded (zero: none recorded)
	Failures    int64     // failed refreshes since the cache file was created: a counter, never reset
	Step        string    // the failed refresh's step: source-credentials, assume-role, ecr-token, cache
	Error       string    // the failed refresh's error as the user saw it; it holds no secret
}

// LastRefresh returns the record of key's refreshes, if any.
func (e *Entry) LastRefresh(key string) (LastRefresh, bool) {
	if e == nil {
		return LastRefresh{}, false
	}
	r, ok := e.Refreshes[key]
	return r, ok
}

// RecordSuccess notes a successful refresh of key at t. The failure count and
// the last error stay: the count is a counter, and the error says what the
// last failure was after it is fixed.
func (e *Entry) RecordSuccess(key string, t time.Time) {
	r := e.Refreshes[key]
	r.At, r.OK, r.LastSuccess = t, true, t
	e.setRefresh(key, r)
}

// RecordFailure notes a refresh of key that failed at t in step with msg.
func (e *Entry) RecordFailure(key string, t time.Time, step, msg string) {
	r := e.Refreshes[key]
	r.At, r.OK, r.Step, r.Error = t, false, step, msg
	r.Failures++
	e.setRefresh(key, r)
}

func (e *Entry) setRefresh(key string, r LastRefresh) {
	if e.Refreshes == nil {
		e.Refreshes = map[string]LastRefresh{}
	}
	e.Refreshes[key] = r
}

// fileRefresh is LastRefresh on disk.
type fileRefresh struct {
	At          time.Time `json:"at"`
	OK          bool      `json:"ok"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	Failures    int64     `json:"failures,omitempty"`
	Step        string    `json:"step,omitempty"`
	Error       string    `json:"error,omitempty"`
}

func refreshesToFile(m map[string]LastRefresh) map[string]fileRefresh {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]fileRefresh, len(m))
	for k, r := range m {
		out[k] = fileRefresh{At: r.At.UTC(), OK: r.OK, LastSuccess: r.LastSuccess.UTC(), Failures: r.Failures, Step: r.Step, Error: r.Error}
	}
	return out
}

func refreshesFromFile(m map[string]fileRefresh) map[string]LastRefresh {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]LastRefresh, len(m))
	for k, r := range m {
		if k == "" || r.Failures < 0 {
			continue // a damaged record costs only its own history
		}
		out[k] = LastRefresh(r)
	}
	return out
}
