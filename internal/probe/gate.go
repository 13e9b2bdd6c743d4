package probe

import (
	"context"
	"crypto/tls"
	"math"
	"net/http"
	"net/http/httptrace"
	"sync"
)

// connGate holds a registry's first burst of https requests until one of
// them has a connection. Go's transport cannot know before a handshake ends
// whether the registry multiplexes (HTTP/2), so every request starting
// before then dials a TLS connection of its own: a 300-image check made ~128
// handshakes to a registry that serves them all over one (+5 MB peak, +65 ms
// CPU). Plain http is not gated: Go speaks HTTP/1.1 there, one connection
// per request in flight, so waiting would buy nothing.
//
// The first gateLeaders requests go at once, as before: held, they would
// dial only after the first handshake over HTTP/1.1, one handshake (two
// round trips) later, and a small stack's check would be that much slower.
// The rest wait for the first of them to have its connection — its GotConn,
// not its response — and then share it over HTTP/2, or dial their own over
// HTTP/1.1, which needs one per request in flight anyway.
//
// Over HTTP/2 one more step: until the server's SETTINGS arrive, Go's client
// lets h2WarmStreams streams onto a new connection and dials another for
// every request beyond. The SETTINGS come before the first response, so
// until a leader's response starts, only that many go.
//
// A registry remembered to speak HTTP/1.1 only (Protocols) is not held: all
// its requests lead.
type connGate struct {
	// maxLeaders is gateLeaders, or no limit for a registry remembered to
	// speak HTTP/1.1 only (Protocols).
	maxLeaders int
	// saw hears the protocol of the first connection (h2 or not).
	saw     func(h2 bool)
	sawOnce sync.Once

	mu      sync.Mutex
	state   gateState
	leaders int           // requests out while the gate is closed
	passed  int           // requests let through while warming
	changed chan struct{} // closed at each change; nil until a waiter needs one
}

type gateState int

const (
	gateClosed  gateState = iota // no connection yet
	gateWarming                  // HTTP/2: a connection, its limits not yet known
	gateOpen
)

// gateLeaders is how many requests go before any connection is made: a
// small stack's check waits for nothing, and an HTTP/2 registry sees a few
// handshakes at most.
const gateLeaders = 8

// h2WarmStreams is how many streams Go's HTTP/2 client allows on a new
// connection before the server's SETTINGS say how many it takes
// (initialMaxConcurrentStreams in net/http's h2_bundle.go).
const h2WarmStreams = 100

// newConnGate is the gate for a registry; http1 says it was last seen to
// speak HTTP/1.1 only, and saw hears what it speaks now.
func newConnGate(http1 bool, saw func(h2 bool)) *connGate {
	g := &connGate{maxLeaders: gateLeaders, saw: saw}
	if http1 {
		g.maxLeaders = math.MaxInt
	}
	return g
}

// enter returns once a request may go: at once when the gate is open (or
// warming with streams to spare), as a leader (lead true) while there are
// fewer than gateLeaders, else when a leader's connection is there.
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
		case g.state == gateClosed && g.leaders < g.maxLeaders:
			g.leaders++
			g.mu.Unlock()
			return true, nil
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
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

// wakeLocked wakes every waiter to look again.
func (g *connGate) wakeLocked() {
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}

// advance moves the gate on to s (never back).
func (g *connGate) advance(s gateState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s <= g.state {
		return
	}
	if s == gateWarming {
		g.passed = g.leaders // the leaders' own streams
	}
	g.state = s
	g.wakeLocked()
}

// lead sends req, one of the gate's leaders, through rt. Its connection
// opens the gate (to warming, over HTTP/2); its response opens it fully. A
// failure opens it too — the others then try on their own and each reports
// the same error, as without the gate — unless the leader's own request was
// cancelled: then a waiter takes its place.
func (g *connGate) lead(req *http.Request, rt func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	ctx := req.Context()
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			c, ok := info.Conn.(*tls.Conn)
			h2 := ok && c.ConnectionState().NegotiatedProtocol == "h2"
			if g.saw != nil {
				g.sawOnce.Do(func() { g.saw(h2) })
			}
			if h2 {
				g.advance(gateWarming)
				return
			}
			g.advance(gateOpen)
		},
		GotFirstResponseByte: func() { g.advance(gateOpen) },
	}))
	resp, err := rt(req)
	if err == nil || ctx.Err() == nil {
		g.advance(gateOpen)
	}
	g.mu.Lock()
	g.leaders--
	if g.state == gateWarming && g.leaders == 0 {
		// Warming, only leaders move the gate on, and no new ones are
		// made: with all of them gone (cancelled before a response byte),
		// the waiters would wait for ever. A connection exists; opening
		// costs at most a few more.
		g.state = gateOpen
	}
	g.wakeLocked()
	g.mu.Unlock()
	return resp, err
}
