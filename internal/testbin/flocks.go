package testbin

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// WaitBlockedFlocks waits (up to a minute) until n flock requests are
// blocked on the file at path, as /proc/locks lists them ("->" before a
// request that waits): the way a test knows that processes or goroutines
// are waiting on a lock before it lets go, without sleeping. kind is READ
// (shared) or WRITE (exclusive), and a blocked request of the other kind
// fails the test; "" counts either.
func WaitBlockedFlocks(tb testing.TB, path string, n int, kind string) {
	tb.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		tb.Fatal(err)
	}
	inode := fmt.Sprintf(":%d ", st.Ino)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			tb.Fatal(err)
		}
		count := 0
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "-> FLOCK") || !strings.Contains(line, inode) {
				continue
			}
			if kind != "" && !strings.Contains(line, kind) {
				tb.Fatalf("a waiter asks for the lock another way than %s:\n%s", kind, line)
			}
			count++
		}
		if count >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d waiters blocked on %s after a minute:\n%s", count, n, path, b)
		}
	}
}
