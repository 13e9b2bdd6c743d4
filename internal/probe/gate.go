package probe

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptrace"
	"sync"
)

// connGate holds a registry's first burst of https requests until the first
// of them has a connection. Go's transport cannot know before a handshake
// ends whether the registry multiplexes (HTTP/2), so every request starting
// before then dials a TLS connection of its own: a 300-image check made
// ~128 handshakes to reach a registry that serves them all over one
// (+5 MB peak, +65 ms CPU). Held until the first request's GotConn — not its
// response — the rest share that connection over HTTP/2, or dial their own
// over HTTP/1.1, which needs one per request in flight anyway. Plain http is
// not gated: Go speaks HTTP/1.1 there, so waiting would buy nothing.
//
// Over HTTP/2 one more step: until the server's SETTINGS arrive, Go's client
// takes a new connection to allow h2WarmStreams streams, and dials another
// for every request beyond. The SETTINGS come before the first response, so
// until the first request's response starts, only that many go; a check of
// up to that many images waits for nothing.
type connGate struct {
	mu      sync.Mutex
	state   gateState
	passed  int           // requests let through while warming
	changed chan struct{} // closed at each change of state
}

type gateState int

const (
	gateClosed  gateState = iota // no request has led yet, or the last leader gave up
	gateLeading                  // the leader is getting its connection
	gateWarming                  // HTTP/2: connection made, its limits not yet known
	gateOpen
)

// h2WarmStreams is how many streams Go's HTTP/2 client allows on a new
// connection before the server's SETTINGS say how many it takes
// (initialMaxConcurrentStreams in net/http's h2_bundle.go).
const h2WarmStreams = 100

// enter returns once a request may go: at once when the gate is open (or
// warming with streams to spare), else as the leader (lead true), else when
// the leader's connection is there.
func (g *connGate) enter(ctx context.Context) (lead bool, err error) {
	for {
		g.mu.Lock()
		switch {
		case g.state == gateOpen:
			g.mu.Unlock()
			return false, nil
		case g.state == gateWarming && g.passed < h2WarmStreams:
			g.passed++
			g.mu.Unlock()
			return false, nil
		case g.state == gateClosed:
			g.state, g.changed = gateLeading, make(chan struct{})
			g.mu.Unlock()
			return true, nil
		}
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// set moves the gate to s unless it is already further on (or s is a step
// back to closed from anything but leading), and wakes the waiters.
func (g *connGate) set(s gateState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s <= g.state && (s != gateClosed || g.state != gateLeading) {
		return
	}
	if s == gateWarming {
		g.passed = 1 // the leader's own stream
	}
	g.state = s
	close(g.changed)
	g.changed = make(chan struct{})
}

// lead sends req, the gate's leader, through rt. Its connection opens the
// gate (to warming, over HTTP/2); its response opens it fully. A failure
// opens it too — the others then try on their own and each reports the same
// error, as without the gate — unless the leader's own request was cancelled:
// then a waiter leads.
func (g *connGate) lead(req *http.Request, rt func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	ctx := req.Context()
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if c, ok := info.Conn.(*tls.Conn); ok && c.ConnectionState().NegotiatedProtocol == "h2" {
				g.set(gateWarming)
				return
			}
			g.set(gateOpen)
		},
		GotFirstResponseByte: func() { g.set(gateOpen) },
	}))
	resp, err := rt(req)
	if ctx.Err() != nil && err != nil {
		g.set(gateClosed)
	} else {
		g.set(gateOpen)
	}
	return resp, err
}
