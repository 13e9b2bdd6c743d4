package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestScanFailsOnSkipsAndFailures(t *testing.T) {
	const run = `{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:3: no docker CLI on PATH\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- PASS: TestB (0.00s)\n"}
{"Action":"pass","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`
	var out bytes.Buffer
	skipped, failed, err := scan(strings.NewReader(run), &out)
	if err != nil || failed || len(skipped) != 1 || skipped[0] != "p TestA: a_test.go:3: no docker CLI on PATH" {
		t.Errorf("scan = %q, %v, %v", skipped, failed, err)
	}
	if s := out.String(); strings.Contains(s, "TestB") || !strings.Contains(s, "--- SKIP: TestA") || !strings.Contains(s, "ok  \tp") {
		t.Errorf("output:\n%s", s)
	}

	allowed["p TestA"] = "test"
	defer delete(allowed, "p TestA")
	fail := strings.Replace(run, `"Action":"pass","Package":"p","Test":"TestB"`, `"Action":"fail","Package":"p","Test":"TestB"`, 1)
	out.Reset()
	skipped, failed, _ = scan(strings.NewReader(fail), &out)
	if len(skipped) != 0 || !failed || !strings.Contains(out.String(), "--- PASS: TestB") {
		t.Errorf("allowed skip and a failure: %q, %v\n%s", skipped, failed, out.String())
	}
}
