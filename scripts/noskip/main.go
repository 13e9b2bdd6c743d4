// Command noskip reads `go test -json` on stdin, prints the tests' output as
// plain `go test` would, and exits non-zero when a test was skipped (other than
// those allowed below) or when any test or package failed. CI runs `make test
// NOSKIP=1`, which pipes through it: in CI nothing may skip, because a skipped
// test passes without testing anything.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// allowed lists the tests that may skip in CI, each with why. Keep it short,
// and empty if at all possible: a reason here is a gap in CI.
var allowed = map[string]string{
	// "package TestName": "why CI cannot run it",
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	skipped, failed, err := scan(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "noskip:", err)
		os.Exit(2)
	}
	if len(skipped) > 0 {
		fmt.Printf("noskip: %d test(s) skipped; in CI every test runs (install what it needs in .ci/run, or allow it in scripts/noskip with the reason):\n", len(skipped))
		for _, s := range skipped {
			fmt.Println("  " + s)
		}
	}
	if len(skipped) > 0 || failed {
		os.Exit(1)
	}
	fmt.Println("noskip: no test skipped")
}

// scan writes what plain `go test` would show (package results, and the
// output of failed and skipped tests; -json implies -v, whose lines for every
// passing test are dropped) and collects the disallowed skips and whether
// anything failed.
func scan(in io.Reader, out io.Writer) (skipped []string, failed bool, err error) {
	held := map[string][]string{} // a running test's output, until it ends
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not an event: build errors and the like come through as they are.
			fmt.Fprintln(out, sc.Text())
			continue
		}
		id := e.Package + " " + e.Test
		switch {
		case e.Action == "output" && e.Test == "" && e.Output != "PASS\n":
			// (-v's bare PASS before each package's ok line is dropped, as plain go test does.)
			io.WriteString(out, e.Output)
		case e.Action == "output":
			held[id] = append(held[id], e.Output)
		case e.Action == "skip" && e.Test != "":
			io.WriteString(out, strings.Join(held[id], ""))
			if _, ok := allowed[id]; !ok {
				skipped = append(skipped, id+": "+reason(held[id]))
			}
		case e.Action == "fail":
			io.WriteString(out, strings.Join(held[id], ""))
			failed = true
		}
		if e.Action == "pass" || e.Action == "fail" || e.Action == "skip" {
			delete(held, id)
		}
	}
	sort.Strings(skipped)
	return skipped, failed, sc.Err()
}

// reason is the skip's message: the last line that is not go test's own.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "===") {
			return l
		}
	}
	return ""
}
