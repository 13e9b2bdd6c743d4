package protocol

import "github.com/currentsdev/currents/internal/ecrhost"

// WithPrefetch makes Serve, for a get, start on the token of the registry
// when currents.yaml configures only one, before it has read which registry
// docker asks for: the AWS binary's get, which a burst of cold gets waits
// for. Docker and compose write a helper's stdin from a goroutine of their
// own, and when compose starts a burst's 64 helpers, that goroutine only
// runs once all of them are started: every get of the burst learns its
// registry only then, and the refresh they all wait for started there too.
// Prefetched, its AssumeRole and GetAuthorizationToken overlap the starting
// of the others.
//
// A get for another registry is answered as without it, and the process
// may then exit before the prefetch ends: a refresh cut short leaves no
// partial file (the cache renames into place) and no lock (the kernel drops
// a dead process's flock), and the next get of the registry refreshes.
func WithPrefetch() Option { return func(h *Helper) { h.prefetchOn = true } }

// prefetched is the get of the one configured registry, started before the
// request was read.
type prefetched struct {
	host         string // the entry's host, as ecrhost.Normalize gives it
	done         chan struct{}
	user, secret string
	err          error
}

// startPrefetch starts the get of the one configured registry, if there is
// exactly one.
func (h *Helper) startPrefetch() {
	if h.cfg == nil {
		return
	}
	hosts := h.cfg.Hosts()
	if len(hosts) != 1 {
		return
	}
	p := &prefetched{host: hosts[0], done: make(chan struct{})}
	h.prefetch = p
	go func() {
		defer close(p.done)
		p.user, p.secret, p.err = h.get(p.host, false)
	}()
}

// prefetchedFor is the prefetch's answer when serverURL names its registry
// (served), failure included: a failure is not always in the cache for a
// second get to find (a cache that cannot be used, a wait for another
// process's refresh that timed out), and a second get would ask AWS again
// and take the timeout twice.
func (h *Helper) prefetchedFor(serverURL string) (user, secret string, served bool, err error) {
	p := h.prefetch
	if p == nil {
		return "", "", false, nil
	}
	if host, err := ecrhost.Normalize(serverURL); err != nil || host != p.host {
		return "", "", false, nil
	}
	<-p.done
	return p.user, p.secret, true, p.err
}
