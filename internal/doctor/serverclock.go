package doctor

import (
	"net/http"
	"sync"
	"time"
)

// ServerClock remembers the Date header of the latest AWS response and the local time it arrived, for the
// clock check. Its Observe method is the response hook handed to the AWS client.
type ServerClock struct {
	mu            sync.Mutex
	server, local time.Time
	now           func() time.Time
}

// NewServerClock returns an empty ServerClock reading local time from now (time.Now when nil).
func NewServerClock(now func() time.Time) *ServerClock {
	if now == nil {
		now = time.Now
	}
	return &ServerClock{now: now}
}

// Observe records resp's Date header, if it has a valid one.
func (c *ServerClock) Observe(resp *http.Response) {
	if resp == nil {
		return
	}
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return
	}
	local := c.now()
	c.mu.Lock()
	c.server, c.local = date, local
	c.mu.Unlock()
}

// Latest returns the last observation; ok is false before any.
func (c *ServerClock) Latest() (server, local time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server, c.local, !c.server.IsZero()
}
