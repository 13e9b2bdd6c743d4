package testbin

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Counter is a wrapper script that notes each start of a program (and its
// pid) and then becomes that program, so a test counts the processes a
// command starts. Run Path where the program would run.
type Counter struct {
	Path       string
	tb         testing.TB
	mark, pids string
}

// NewCounter writes a counter of program's starts in a temporary directory.
func NewCounter(tb testing.TB, program string) *Counter {
	tb.Helper()
	dir := tb.TempDir()
	c := &Counter{Path: filepath.Join(dir, "counting-"+filepath.Base(program)), tb: tb,
		mark: filepath.Join(dir, "starts"), pids: filepath.Join(dir, "pids")}
	// One byte per start, appended: O_APPEND writes of one byte never mix.
	script := fmt.Sprintf("#!/bin/sh\nprintf x >>'%s'\necho $$ >>'%s'\nexec '%s' \"$@\"\n", c.mark, c.pids, program)
	if err := os.WriteFile(c.Path, []byte(script), 0o700); err != nil {
		tb.Fatal(err)
	}
	return c
}

// Starts is how many times the program was started so far.
func (c *Counter) Starts() int {
	fi, err := os.Stat(c.mark)
	if os.IsNotExist(err) {
		return 0
	} else if err != nil {
		c.tb.Fatal(err)
	}
	return int(fi.Size())
}

// WaitStarted waits (up to 10 seconds) for the nth start and returns its pid.
func (c *Counter) WaitStarted(n int) int {
	c.tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(c.pids)
		if lines := strings.Fields(string(b)); len(lines) >= n {
			pid, _ := strconv.Atoi(lines[n-1])
			return pid
		}
	}
	c.tb.Fatalf("%s was not started %d times", filepath.Base(c.Path), n)
	return 0
}
