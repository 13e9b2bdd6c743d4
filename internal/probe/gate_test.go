package probe

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/standin/seed"
)

// tlsRegistry is the fixture's registry behind a TLS front offering HTTP/2
// (or only HTTP/1.1), as every real ECR registry is reached, counting the
// connections it accepts. The front answers for registry.example.com, a name
// go-containerregistry reaches over https (127.0.0.1 it would reach over
// plain http on the ECR path, which pings nothing to learn otherwise).
type tlsRegistry struct {
	host  string
	conns atomic.Int64
	srv   *httptest.Server
}

const tlsHost = "registry.example.com"

func newTLSRegistry(t testing.TB, f *fixture, http2 bool, hold ...func()) *tlsRegistry {
	tr := &tlsRegistry{host: tlsHost}
	tr.srv = httptest.NewUnstartedServer(f.reg)
	tr.srv.EnableHTTP2 = http2
	// Go's server takes 250 streams per connection, fewer than the
	// limiter's ceiling (DefaultJobs): past that Go's client rightly opens
	// another, which is not what these tests are about.
	tr.srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1000}
	tr.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tr.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tr.conns.Add(1)
		}
	}
	if len(hold) > 0 {
		tr.srv.Listener = heldListener{tr.srv.Listener, hold[0]}
	}
	tr.srv.StartTLS()
	t.Cleanup(tr.srv.Close)
	return tr
}

// transport is the one New makes, trusting the front's certificate and
// dialing it for registry.example.com.
func (tr *tlsRegistry) transport() http.RoundTripper {
	front := tr.srv.Client().Transport.(*http.Transport)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost, t.MaxConnsPerHost = DefaultJobs, DefaultJobs
	t.TLSClientConfig = front.TLSClientConfig.Clone()
	t.DialContext = front.DialContext
	return t
}

// login is what `docker login` leaves for the front's host.
func (tr *tlsRegistry) login(f *fixture) *configfile.ConfigFile {
	user, pass, _ := f.aws.MintToken("arn:aws:iam::513558712013:user/ops", time.Hour)
	cf := configfile.New("/test/config.json")
	cf.AuthConfigs[tr.host] = types.AuthConfig{Username: user, Password: pass}
	return cf
}

// stack pushes copies of the six-service stack (one tag each) and returns
// them as references on host.
func stack(t testing.TB, f *fixture, host string, copies int) []Image {
	var out []Image
	for c := 0; c < copies; c++ {
		tag := "staging"
		if c > 0 {
			tag = fmt.Sprintf("v%d", c)
			if _, err := seed.Stack(context.Background(), f.reg, prefix, tag); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range seed.Services {
			ref, err := name.ParseReference(fmt.Sprintf("%s/%s/%s:%s", host, prefix, s, tag))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, Image{ID: s + ":" + tag, Ref: ref})
		}
	}
	return out
}

func (tr *tlsRegistry) check(t *testing.T, f *fixture, imgs []Image, opts ...Option) []Result {
	t.Helper()
	p := New(keychain.New(tr.login(f)), append([]Option{WithTransport(tr.transport()), WithECR(func(h string) bool { return h == tr.host })}, opts...)...)
	tr.conns.Store(0)
	return p.Check(context.Background(), imgs)
}

// Every request of a burst that starts before the first TLS handshake has
// finished would dial its own connection (Go's transport cannot know yet
// that the registry multiplexes): 300 images made about 128 handshakes.
// Held until one of the first few requests has its connection, they share
// it.
func TestTLSWithHTTP2SharesItsConnections(t *testing.T) {
	f := newFixture(t)
	tr := newTLSRegistry(t, f, true)
	imgs := stack(t, f, tr.host, 50)
	for _, r := range tr.check(t, f, imgs) {
		if r.Status != OK {
			t.Fatalf("%s: %s %s", r.Image.Ref, r.Status, r.Message)
		}
	}
	if n := tr.conns.Load(); n > gateLeaders {
		t.Errorf("300 images over HTTP/2 opened %d connections, want %d at most (the requests sent before any connection was made)", n, gateLeaders)
	}
}

// A registry that speaks only HTTP/1.1 over TLS still gets the images in
// parallel: once the first connection is made, the rest dial their own.
func TestTLSWithHTTP1StaysParallel(t *testing.T) {
	f := newFixture(t)
	tr := newTLSRegistry(t, f, false)
	imgs := stack(t, f, tr.host, 10)
	// Each request is held at the registry until 16 are in at once: a
	// check that sent them one connection at a time would never finish.
	var (
		mu      sync.Mutex
		waiting int
		all     = make(chan struct{})
	)
	inner := tr.srv.Config.Handler
	tr.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if waiting++; waiting == 16 {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-r.Context().Done():
		case <-time.After(20 * time.Second): // a failsafe: the check would then fail, not hang
		}
		inner.ServeHTTP(w, r)
	})
	for _, r := range tr.check(t, f, imgs) {
		if r.Status != OK {
			t.Fatalf("%s: %s %s", r.Image.Ref, r.Status, r.Message)
		}
	}
	if n := tr.conns.Load(); n < 16 {
		t.Errorf("60 images over HTTP/1.1 used %d connections, want one per request in flight (16 or more)", n)
	}
}

// When the first connection cannot be made, every image still says why, as
// it did when each dialed its own.
func TestTLSFirstConnectionFails(t *testing.T) {
	f := newFixture(t)
	tr := newTLSRegistry(t, f, true)
	imgs := stack(t, f, tr.host, 1)
	untrusting := tr.transport().(*http.Transport)
	untrusting.TLSClientConfig.RootCAs = nil
	p := New(keychain.New(tr.login(f)), WithTransport(untrusting), WithECR(func(h string) bool { return h == tr.host }))
	rs := p.Check(context.Background(), imgs)
	for _, r := range rs {
		if r.Status != Unreachable || !strings.HasPrefix(r.Message, tr.host+"'s TLS certificate is not trusted") || r.Message != rs[0].Message || r.Fix != rs[0].Fix {
			t.Errorf("%s: %s %q fix %q", r.Image.ID, r.Status, r.Message, r.Fix)
		}
	}
}

// A leader whose own request is cancelled hands its place on: a waiter
// leads instead of waiting for a connection that will never come. A
// leader's failure for any other reason lets everyone go.
func TestGateLeadPassesOnCancellation(t *testing.T) {
	g := newConnGate(false, nil)
	for i := 0; i < gateLeaders; i++ {
		if lead, err := g.enter(context.Background()); !lead || err != nil {
			t.Fatalf("request %d: lead %v, %v", i, lead, err)
		}
	}
	next := make(chan bool)
	go func() {
		l, err := g.enter(context.Background())
		if err != nil {
			t.Error(err)
		}
		next <- l
	}()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+tlsHost+"/v2/", nil)
	if _, err := g.lead(req, func(r *http.Request) (*http.Response, error) {
		cancel()
		return nil, r.Context().Err()
	}); err == nil {
		t.Fatal("cancelled lead succeeded")
	}
	if !<-next {
		t.Fatal("the waiter did not take the cancelled leader's place")
	}
	req, _ = http.NewRequest(http.MethodGet, "https://"+tlsHost+"/v2/", nil)
	if _, err := g.lead(req, func(*http.Request) (*http.Response, error) { return nil, errString("connection refused") }); err == nil {
		t.Fatal("failed lead succeeded")
	}
	for i := 0; i < 2*gateLeaders; i++ {
		if lead, err := g.enter(context.Background()); lead || err != nil {
			t.Fatalf("after a failed lead: lead %v, %v; want the gate open", lead, err)
		}
	}
}

// Warming (an HTTP/2 connection, its limits not yet known), only leaders
// move the gate on and none are made: when every leader's request is
// cancelled before a response byte, the gate opens rather than hold its
// waiters until their own contexts end.
func TestGateOpensWhenEveryWarmingLeaderIsCancelled(t *testing.T) {
	g := newConnGate(false, nil)
	for i := 0; i < gateLeaders; i++ {
		if lead, err := g.enter(context.Background()); !lead || err != nil {
			t.Fatalf("request %d: lead %v, %v", i, lead, err)
		}
	}
	g.advance(gateWarming)
	for i := gateLeaders; i < h2WarmStreams; i++ {
		if lead, err := g.enter(context.Background()); lead || err != nil {
			t.Fatalf("stream %d while warming: lead %v, %v", i, lead, err)
		}
	}
	for range gateLeaders {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+tlsHost+"/v2/", nil)
		_, _ = g.lead(req, func(r *http.Request) (*http.Response, error) {
			cancel()
			return nil, r.Context().Err()
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if lead, err := g.enter(ctx); lead || err != nil {
		t.Fatalf("with every leader cancelled: lead %v, %v; want the gate open", lead, err)
	}
}

// A small stack's requests all dial at once, as without the gate: held
// until the first handshake ended, they would each start theirs a handshake
// later over HTTP/1.1. Here no handshake ends until all six connections are
// in.
func TestTLSSmallStackDialsAtOnce(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		f := newFixture(t)
		imgs := stack(t, f, tlsHost, 1)
		in := make(chan struct{})
		var accepted atomic.Int64
		tr := newTLSRegistry(t, f, h2, func() {
			if accepted.Add(1) == int64(len(imgs)) {
				close(in)
			}
			select {
			case <-in:
			case <-time.After(20 * time.Second): // a failsafe: the check below then fails
			}
		})
		for _, r := range tr.check(t, f, imgs) {
			if r.Status != OK {
				t.Errorf("HTTP/2 %v: %s: %s %s", h2, r.Image.ID, r.Status, r.Message)
			}
		}
		select {
		case <-in:
		default:
			t.Errorf("HTTP/2 %v: the six requests did not dial at once (%d connections before the first handshake)", h2, accepted.Load())
		}
	}
}

// heldListener's connections call hold before their first write (the
// server's half of the TLS handshake).
type heldListener struct {
	net.Listener
	hold func()
}

func (l heldListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &heldConn{Conn: c, hold: l.hold}, nil
}

type heldConn struct {
	net.Conn
	hold func()
	once sync.Once
}

func (c *heldConn) Write(p []byte) (int, error) {
	c.once.Do(c.hold)
	return c.Conn.Write(p)
}

// A registry that spoke HTTP/1.1 only is remembered, and its requests are
// then not held at all: here no handshake ends until 16 connections (more
// than the gate lets lead) are in. One seen to speak HTTP/2 is forgotten.
func TestTLSWithHTTP1RememberedIsNotHeld(t *testing.T) {
	f := newFixture(t)
	imgs := stack(t, f, tlsHost, 10)
	const together = 16
	var (
		holding atomic.Bool
		held    atomic.Int64
		in      = make(chan struct{})
	)
	tr := newTLSRegistry(t, f, false, func() {
		if !holding.Load() {
			return
		}
		if held.Add(1) == together {
			close(in)
		}
		select {
		case <-in:
		case <-time.After(20 * time.Second): // a failsafe: the check below then fails
		}
	})
	protocols := LoadProtocols(nil)
	for _, r := range tr.check(t, f, imgs, WithProtocols(protocols)) {
		if r.Status != OK {
			t.Fatalf("%s: %s %s", r.Image.ID, r.Status, r.Message)
		}
	}
	if !protocols.HTTP1(tlsHost) || !protocols.Changed() {
		t.Fatalf("HTTP/1.1 not remembered: %s", protocols.Bytes())
	}
	again := LoadProtocols(protocols.Bytes())
	if !again.HTTP1(tlsHost) || again.Changed() {
		t.Fatalf("reloaded: %s, changed %v", again.Bytes(), again.Changed())
	}

	holding.Store(true)
	tr.srv.CloseClientConnections()
	for _, r := range tr.check(t, f, imgs, WithProtocols(again)) {
		if r.Status != OK {
			t.Errorf("%s: %s %s", r.Image.ID, r.Status, r.Message)
		}
	}
	select {
	case <-in:
	default:
		t.Errorf("held while remembered as HTTP/1.1: %d connections before the first handshake", held.Load())
	}

	again.saw(tlsHost, true)
	if again.HTTP1(tlsHost) || !again.Changed() || string(again.Bytes()) != `{"http1":[]}` {
		t.Errorf("HTTP/2 seen: %s", again.Bytes())
	}
}
