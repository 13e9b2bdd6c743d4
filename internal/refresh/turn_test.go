package refresh_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/testbin"
	"github.com/currentsdev/currents/internal/tokencache"
)

// turnWorld is one registry's refresh request and the cache directory the
// processes of a burst share.
type turnWorld struct {
	req refresh.Request
	dir string
}

func newTurnWorld(t *testing.T) turnWorld {
	t.Helper()
	const host = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
	cfg, err := config.Parse("/p/currents.yaml", []byte("registries:\n  - host: "+host+"\n    role_arn: arn:aws:iam::111122223333:role/pull\n"))
	if err != nil {
		t.Fatal(err)
	}
	tgt, _ := cfg.Lookup(host)
	req := refresh.Request{ServerURL: host, Target: tgt, Identity: tokencache.IdentityFor(tgt, func(string) string { return "" })}
	return turnWorld{req, filepath.Join(t.TempDir(), "cache")}
}

// open is one process's open of the cache.
func (w turnWorld) open(t *testing.T) *tokencache.Cache {
	t.Helper()
	c, err := tokencache.Open(tokencache.WithDir(w.dir))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// opens is n processes' opens of the cache, made before they start.
func (w turnWorld) opens(t *testing.T, n int) []*tokencache.Cache {
	cs := make([]*tokencache.Cache, n)
	for i := range cs {
		cs[i] = w.open(t)
	}
	return cs
}

// storeFresh stores through c the token a refresh gets: "fresh".
func (w turnWorld) storeFresh(t *testing.T, c *tokencache.Cache) {
	t.Helper()
	now := time.Now()
	e := c.Load(w.req.Identity)
	e.SetToken(tokencache.TokenKey(w.req.Target.Registry), credential.Token{Username: "AWS", Password: secret.New("fresh"), Issued: now, Expires: now.Add(12 * time.Hour)})
	if err := c.Store(w.req.Identity, e); err != nil {
		t.Fatal(err)
	}
}

// turn is what LeanTurn gave one get of a burst, and its cache.
type turn struct {
	cache *tokencache.Cache
	held  *tokencache.Held
	tok   credential.Token
	done  bool
	err   error
}

// burst starts a LeanTurn for each cache; their turns arrive on the channel.
func (w turnWorld) burst(caches []*tokencache.Cache) <-chan turn {
	turns := make(chan turn, len(caches))
	for _, c := range caches {
		go func() {
			h, tok, done, err := refresh.LeanTurn(context.Background(), c, w.req, time.Minute, nil)
			turns <- turn{c, h, tok, done, err}
		}()
	}
	return turns
}

// TestLeanTurnWaitsTogether: the gets of a burst that find the token due
// while one process refreshes it wait for that refresh together, on a shared
// lock, and each answers with its token once it ends, without taking the
// lock: they used to take it one after another, each woken with all the
// others by the one before.
func TestLeanTurnWaitsTogether(t *testing.T) {
	w := newTurnWorld(t)
	refresher := w.open(t)
	held, err := refresher.TakeLock(context.Background(), w.req.Identity)
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 8
	turns := w.burst(w.opens(t, waiters))
	testbin.WaitBlockedFlocks(t, refresher.LockPath(w.req.Identity), waiters, "READ")
	w.storeFresh(t, refresher)
	held.Unlock()
	for range waiters {
		tr := <-turns
		if tr.err != nil || !tr.done || tr.held != nil || tr.tok.Password.Reveal() != "fresh" {
			t.Errorf("a waiter after the refresh: done %v, held %v, %v", tr.done, tr.held != nil, tr.err)
		}
	}
}

// TestLeanTurnAfterTheRefresherDies: the refresher is killed before it
// stores anything (the kernel lets go of its lock, as Unlock does here).
// Its waiters find nothing; exactly one of them takes the lock to refresh,
// and the others answer with what that one stores, none starting a
// refresh of its own.
func TestLeanTurnAfterTheRefresherDies(t *testing.T) {
	w := newTurnWorld(t)
	killed := w.open(t)
	held, err := killed.TakeLock(context.Background(), w.req.Identity)
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 6
	turns := w.burst(w.opens(t, waiters))
	testbin.WaitBlockedFlocks(t, killed.LockPath(w.req.Identity), waiters, "READ")
	held.Unlock() // killed: nothing stored

	next := <-turns
	if next.held == nil || next.err != nil {
		t.Fatalf("the first waiter after the refresher died: held %v, done %v, %v; want the lock, to refresh", next.held != nil, next.done, next.err)
	}
	// The others wait on it, for the lock (having found nothing either) or
	// again for its refresh (woken after it took the lock).
	testbin.WaitBlockedFlocks(t, killed.LockPath(w.req.Identity), waiters-1, "")
	w.storeFresh(t, next.cache)
	next.held.Unlock()
	for range waiters - 1 {
		tr := <-turns
		if tr.err != nil || !tr.done || tr.held != nil || tr.tok.Password.Reveal() != "fresh" {
			t.Errorf("a waiter after the new refresh: done %v, held %v (a refresh of its own), %v", tr.done, tr.held != nil, tr.err)
		}
	}
}
