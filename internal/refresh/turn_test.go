package refresh_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/tokencache"
)

// TestLeanTurnWaitsTogether: the gets of a burst that find the token due
// while one process refreshes it wait for that refresh together, on a shared
// lock, and each answers with its token once it ends, without taking the
// lock: they used to take it one after another, each woken with all the
// others by the one before.
func TestLeanTurnWaitsTogether(t *testing.T) {
	const host = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
	cfg, err := config.Parse("/p/currents.yaml", []byte("registries:\n  - host: "+host+"\n    role_arn: arn:aws:iam::111122223333:role/pull\n"))
	if err != nil {
		t.Fatal(err)
	}
	tgt, _ := cfg.Lookup(host)
	req := refresh.Request{ServerURL: host, Target: tgt, Identity: tokencache.IdentityFor(tgt, func(string) string { return "" })}
	dir := filepath.Join(t.TempDir(), "cache")
	open := func() *tokencache.Cache {
		c, err := tokencache.Open(tokencache.WithDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	refresher := open()
	held, err := refresher.TakeLock(context.Background(), req.Identity)
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 8
	type turn struct {
		held *tokencache.Held
		tok  credential.Token
		done bool
		err  error
	}
	turns := make(chan turn, waiters)
	for range waiters {
		go func() {
			h, tok, done, err := refresh.LeanTurn(context.Background(), open(), req, time.Minute, nil)
			turns <- turn{h, tok, done, err}
		}()
	}
	sharedWaiters(t, refresher.LockPath(req.Identity), waiters)
	now := time.Now()
	e := refresher.Load(req.Identity)
	e.SetToken(tokencache.TokenKey(tgt.Registry), credential.Token{Username: "AWS", Password: secret.New("fresh"), Issued: now, Expires: now.Add(12 * time.Hour)})
	if err := refresher.Store(req.Identity, e); err != nil {
		t.Fatal(err)
	}
	held.Unlock()
	for range waiters {
		tr := <-turns
		if tr.err != nil || !tr.done || tr.held != nil || tr.tok.Password.Reveal() != "fresh" {
			t.Errorf("a waiter after the refresh: done %v, held %v, %v", tr.done, tr.held != nil, tr.err)
		}
	}
}

// sharedWaiters waits until n shared (READ) flock requests are blocked on
// the file at path, as /proc/locks lists them; it fails on an exclusive one.
func sharedWaiters(t *testing.T, path string, n int) { t.Helper(); blocked(t, path, n, "READ") }

// blocked waits until n flock requests of kind (READ or WRITE; "" for
// either) are blocked on the file at path, as /proc/locks lists them; it
// fails on the other kind.
func blocked(t *testing.T, path string, n int, kind string) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	inode := fmt.Sprintf(":%d ", st.Ino)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "-> FLOCK") || !strings.Contains(line, inode) {
				continue
			}
			if kind != "" && !strings.Contains(line, kind) {
				t.Fatalf("a waiter asks for the lock another way than %s:\n%s", kind, line)
			}
			count++
		}
		if count >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %s waiters blocked on %s after a minute:\n%s", count, n, kind, path, b)
		}
	}
}

// TestLeanTurnAfterTheRefresherDies: the refresher is killed before it
// stores anything (the kernel lets go of its lock, as Unlock does here).
// Its waiters find nothing; exactly one of them takes the lock to refresh,
// and the others answer with what that one stores, none starting a
// refresh of its own.
func TestLeanTurnAfterTheRefresherDies(t *testing.T) {
	const host = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
	cfg, err := config.Parse("/p/currents.yaml", []byte("registries:\n  - host: "+host+"\n    role_arn: arn:aws:iam::111122223333:role/pull\n"))
	if err != nil {
		t.Fatal(err)
	}
	tgt, _ := cfg.Lookup(host)
	req := refresh.Request{ServerURL: host, Target: tgt, Identity: tokencache.IdentityFor(tgt, func(string) string { return "" })}
	dir := filepath.Join(t.TempDir(), "cache")
	open := func() *tokencache.Cache {
		c, err := tokencache.Open(tokencache.WithDir(dir))
		if err != nil {
			panic(err)
		}
		return c
	}
	killed := open()
	held, err := killed.TakeLock(context.Background(), req.Identity)
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 6
	type turn struct {
		cache *tokencache.Cache
		held  *tokencache.Held
		tok   credential.Token
		done  bool
		err   error
	}
	turns := make(chan turn, waiters)
	for range waiters {
		go func() {
			c := open()
			h, tok, done, err := refresh.LeanTurn(context.Background(), c, req, time.Minute, nil)
			turns <- turn{c, h, tok, done, err}
		}()
	}
	sharedWaiters(t, killed.LockPath(req.Identity), waiters)
	held.Unlock() // killed: nothing stored

	next := <-turns
	if next.held == nil || next.err != nil {
		t.Fatalf("the first waiter after the refresher died: held %v, done %v, %v; want the lock, to refresh", next.held != nil, next.done, next.err)
	}
	// The others wait on it, for the lock (having found nothing either) or
	// again for its refresh (woken after it took the lock).
	blocked(t, killed.LockPath(req.Identity), waiters-1, "")
	now := time.Now()
	e := next.cache.Load(req.Identity)
	e.SetToken(tokencache.TokenKey(tgt.Registry), credential.Token{Username: "AWS", Password: secret.New("fresh"), Issued: now, Expires: now.Add(12 * time.Hour)})
	if err := next.cache.Store(req.Identity, e); err != nil {
		t.Fatal(err)
	}
	next.held.Unlock()
	for range waiters - 1 {
		tr := <-turns
		if tr.err != nil || !tr.done || tr.held != nil || tr.tok.Password.Reveal() != "fresh" {
			t.Errorf("a waiter after the new refresh: done %v, held %v (a refresh of its own), %v", tr.done, tr.held != nil, tr.err)
		}
	}
}
