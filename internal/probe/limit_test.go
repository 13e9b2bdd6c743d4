package probe

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/currentsdev/currents/internal/keychain"
)

func TestLimiterGrowsAndHalves(t *testing.T) {
	l := newLimiter(limiterStart + 60)
	if l.current() != limiterStart {
		t.Fatalf("start %d", l.current())
	}
	ctx := context.Background()
	for range 10 {
		if err := l.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		l.release(false)
	}
	if l.current() != limiterStart+10 {
		t.Errorf("after 10 answers: %d", l.current())
	}
	for range 100 {
		l.acquire(ctx)
		l.release(false)
	}
	if l.current() != limiterStart+60 {
		t.Errorf("never beyond its maximum: %d", l.current())
	}
	l.acquire(ctx)
	l.release(true)
	if l.current() != (limiterStart+60)/2 {
		t.Errorf("halved on push-back: %d", l.current())
	}
	for range 10 {
		l.acquire(ctx)
		l.release(true)
	}
	if l.current() != limiterMin {
		t.Errorf("never below its minimum: %d", l.current())
	}
}

// At most limit requests are in flight; the others wait their turn, or
// give up with their context.
func TestLimiterBoundsInFlight(t *testing.T) {
	l := newLimiter(limiterMin)
	var in, most atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			n := in.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(time.Millisecond)
			in.Add(-1)
			l.release(true) // stays at its minimum
		}()
	}
	wg.Wait()
	if most.Load() != limiterMin {
		t.Errorf("%d in flight at most; want %d", most.Load(), limiterMin)
	}
	for range limiterMin {
		l.acquire(context.Background())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := l.acquire(ctx); err == nil {
		t.Error("acquired beyond the limit")
	}
	l.release(false)
	if err := l.acquire(context.Background()); err != nil {
		t.Errorf("a slot freed after a waiter gave up: %v", err)
	}
}

// throttle answers the first n manifest requests with 429, as a registry
// over its rate does.
type throttle struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (th *throttle) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/manifests/") && th.n.Add(-1) >= 0 {
		return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Request: r, Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(`{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`))}, nil
	}
	return th.base.RoundTrip(r)
}

// A registry that says 429 is asked again after a pause, with the
// concurrency halved; the check still gets its answer.
func TestTooManyRequestsBacksOffAndRetries(t *testing.T) {
	f := newFixture(t)
	th := &throttle{base: http.DefaultTransport}
	th.n.Store(2)
	p := New(keychain.New(f.staticLogin(time.Hour)), isECRAlias(f), WithTransport(th), WithHostPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	start := time.Now()
	r := p.Check(context.Background(), f.images(t, "staging")[1:2])[0]
	if r.Status != OK {
		t.Fatalf("%s %s", r.Status, r.Message)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("answered after %s: the retries did not pause (0.5 s, then 1 s)", d)
	}
	if e := p.hosts.m[f.reg.Host()]; e == nil || e.v.rt == nil {
		t.Fatal("no transport")
	}
	if got := limiterOf(t, p, f.reg.Host()).current(); got >= limiterStart {
		t.Errorf("concurrency %d after two 429s; want it halved", got)
	}
}

func limiterOf(t *testing.T, p *Prober, host string) *limiter {
	t.Helper()
	e := p.hosts.m[host]
	if e == nil || e.v == nil || e.v.lim == nil {
		t.Fatalf("no limiter for %s", host)
	}
	return e.v.lim
}

// Check after Prefetch of the same images asks the registry nothing more.
func TestCheckAfterPrefetchAsksNothingMore(t *testing.T) {
	f := newFixture(t)
	p := New(keychain.New(f.staticLogin(time.Hour)), isECRAlias(f))
	imgs := f.images(t, "staging")
	p.Prefetch(context.Background(), imgs)
	p.Configure(WithHostPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	for _, r := range p.Check(context.Background(), imgs) {
		if r.Status != OK {
			t.Errorf("%s: %s %s", r.Image.ID, r.Status, r.Message)
		}
	}
	if st := f.reg.Requests(); st.Requests != 6+5+1 || st.Heads != 1 {
		t.Errorf("requests %+v; want each manifest and config once, and one HEAD of api's amd64 manifest", st)
	}
}
