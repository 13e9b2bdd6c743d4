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
func sharedWaiters(t *testing.T, path string, n int) {
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
		shared := 0
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "-> FLOCK") || !strings.Contains(line, inode) {
				continue
			}
			if !strings.Contains(line, "READ") {
				t.Fatalf("a waiter asks for the lock itself, not to wait:\n%s", line)
			}
			shared++
		}
		if shared >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d waiters blocked on %s after a minute:\n%s", shared, n, path, b)
		}
	}
}
