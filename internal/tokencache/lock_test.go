package tokencache

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/testbin"
)

// TestAdoptOnlyTheHeldLockFile: a lock file handed to a child is adopted
// there at once (the same open file holds the lock); any other file, or a
// fresh open of the lock file while someone holds it, is refused.
func TestAdoptOnlyTheHeldLockFile(t *testing.T) {
	c, id := open(t)
	held, err := c.TakeLock(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	// What the child inherits: another descriptor of the same open file.
	if _, err := c.Adopt(id, dupFile(t, held.File())); err != nil {
		t.Errorf("adopting the held lock file: %v", err)
	}
	other, _ := os.Create(filepath.Join(t.TempDir(), "other"))
	defer other.Close()
	if _, err := c.Adopt(id, other); err == nil {
		t.Error("adopted a file that is not the lock file")
	}
	fresh, err := os.OpenFile(c.LockPath(id), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := c.Adopt(id, fresh); err == nil {
		t.Error("adopted a new open of the lock file while another holds the lock")
	}
	held.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	again, err := c.TakeLock(ctx, id)
	if err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
	again.Unlock()
}

// TestAdoptedLockStaysWithItsTaker: the child's Unlock only closes its
// descriptor; the lock stays held until the taker releases it.
func TestAdoptedLockStaysWithItsTaker(t *testing.T) {
	c, id := open(t)
	held, err := c.TakeLock(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	child, err := c.Adopt(id, dupFile(t, held.File()))
	if err != nil {
		t.Fatal(err)
	}
	child.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if h, err := c.TakeLock(ctx, id); err == nil {
		h.Unlock()
		t.Error("the child's Unlock released its taker's lock")
	}
}

// dupFile is what a child process inherits: a new descriptor of f's open file.
func dupFile(t *testing.T, f *os.File) *os.File {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	d := os.NewFile(uintptr(fd), f.Name())
	t.Cleanup(func() { d.Close() })
	return d
}

// TestAwaitCompile: the first process of a burst gets the compile lock; the
// others wait until it lets go and are then all let through together, with
// no lock (they read what it compiled), rather than taking the lock in turn.
func TestAwaitCompile(t *testing.T) {
	c, _ := open(t)
	first, err := c.AwaitCompile(context.Background())
	if err != nil || first == nil {
		t.Fatalf("the first of a burst: %v, %v; want the lock", first, err)
	}
	const waiters = 8
	done := make(chan *Held, waiters)
	for range waiters {
		go func() {
			other := *c // another process: its own open of the lock file
			h, err := other.AwaitCompile(context.Background())
			if err != nil {
				t.Error(err)
			}
			done <- h
		}()
	}
	// Every waiter is blocked on the lock before it is let go (the kernel
	// lists them), so none can come late and find the lock free.
	testbin.WaitBlockedFlocks(t, c.compileLockPath(), waiters, "")
	select {
	case <-done:
		t.Fatal("a waiter went on while the compile lock was held")
	default:
	}
	// Each waiter, once through, holds nothing: the next one never waits
	// on it. A waiter still holding a lock would keep this one from
	// taking the lock at once below.
	first.Unlock()
	for range waiters {
		if h := <-done; h != nil {
			t.Error("a waiter got the compile lock: the waiters would compile, or wake, one at a time")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	again, err := c.TakeCompileLock(ctx)
	if err != nil {
		t.Fatalf("the compile lock after the waiters: %v", err)
	}
	again.Unlock()
}
