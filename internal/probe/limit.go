package probe

import (
	"context"
	"sync"
)

// limiter bounds the requests in flight to one registry. It starts at what
// a registry commonly accepts, grows by one with each request answered (so
// it can double each round trip) up to its maximum, and halves when the
// registry says it is overwhelmed (429, 503) or a connection fails: the
// concurrency adapts to what the registry accepts, and the number of
// connections to one registry stays bounded.
type limiter struct {
	mu       sync.Mutex
	limit    int
	max      int
	inFlight int
	waiting  []chan struct{}
}

// limiterStart is where a registry's concurrency starts: a stack of up to
// 128 images goes in one round trip, 384 in two.
const limiterStart = 128

// limiterMin keeps a struggling registry served.
const limiterMin = 4

func newLimiter(max int) *limiter {
	return &limiter{limit: min(limiterStart, max), max: max}
}

// acquire waits for a slot, or for ctx's end.
func (l *limiter) acquire(ctx context.Context) error {
	l.mu.Lock()
	if l.inFlight < l.limit && len(l.waiting) == 0 {
		l.inFlight++
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiting = append(l.waiting, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, w := range l.waiting {
			if w == ch {
				l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
				return ctx.Err()
			}
		}
		// Handed a slot just as ctx ended: give it back.
		l.inFlight--
		l.wake()
		return ctx.Err()
	}
}

// release returns a slot; overwhelmed says the registry pushed back.
func (l *limiter) release(overwhelmed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	if overwhelmed {
		l.limit = max(l.limit/2, limiterMin)
	} else if l.limit < l.max {
		l.limit++
	}
	l.wake()
}

// wake hands free slots to waiters, in order.
func (l *limiter) wake() {
	for l.inFlight < l.limit && len(l.waiting) > 0 {
		close(l.waiting[0])
		l.waiting = l.waiting[1:]
		l.inFlight++
	}
}

// Limit is the current concurrency (tests).
func (l *limiter) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}
