package credhelper_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/docker/docker-credential-helpers/credentials"
)

// TestEditedConfigIsNeverServedStale: the lean binary answers from
// currents.yaml's compiled form only while it is of the file as it is now.
// An edit — even one of the same length with the old timestamps put back —
// sends the next command to the AWS binary, which parses the file and keeps
// the new compiled form; the command after that needs no AWS binary again.
func TestEditedConfigIsNeverServedStale(t *testing.T) {
	w := newWorld(t)
	aws := w.awsCounter()
	w.prove(w.mustGet(w.reg.Host(), aws.env()))
	if n := aws.Starts(); n != 1 {
		t.Fatalf("cold get started the AWS binary %d times", n)
	}
	w.mustGet(w.reg.Host(), aws.env())
	if n := aws.Starts(); n != 1 {
		t.Fatalf("a warm get with a compiled config started the AWS binary")
	}

	// The same file with the entry's host changed by one character: the same
	// size, and its modification time put back.
	fi, err := os.Stat(w.config)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(w.config)
	host := w.reg.Host()
	moved := host[:len(host)-1] + string("0123456789"[(int(host[len(host)-1]-'0')+1)%10])
	w.writeConfigOnly(strings.Replace(string(old), host, moved, 1))
	if err := os.Chtimes(w.config, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.get(host, aws.env()); !credentials.IsErrCredentialsNotFound(err) {
		t.Errorf("get of the host the edit removed: %v; want credentials not found", err)
	}
	if n := aws.Starts(); n != 2 {
		t.Errorf("after the edit the AWS binary ran %d times in all; want 2 (it parses the edited file once)", n)
	}
	if _, err := w.get(host, aws.env()); !credentials.IsErrCredentialsNotFound(err) {
		t.Errorf("second get of the removed host: %v", err)
	}
	if n := aws.Starts(); n != 2 {
		t.Errorf("the edited file was parsed again (%d AWS binary starts)", n)
	}
}

// TestBrokenConfigIsReportedFromItsCompiledForm: a file that does not parse
// is said with its file and line, by the AWS binary the first time and by the
// lean binary, from the compiled error, after that.
func TestBrokenConfigIsReportedFromItsCompiledForm(t *testing.T) {
	w := newWorld(t)
	aws := w.awsCounter()
	w.writeConfigOnly(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    duration: 48h\n", w.reg.Host(), w.reg.Account(), w.reg.Region()))
	var first string
	for i := range 2 {
		out, code := w.run(bin.lean, w.reg.Host()+"\n", aws.env(), "get")
		if code != 1 || !strings.Contains(out, w.config+":5") || !strings.Contains(out, "duration") {
			t.Errorf("get %d with a broken file: exit %d, %q", i, code, out)
		}
		if i == 0 {
			first = out
		} else if out != first {
			t.Errorf("the compiled error differs from the parser's:\n%q\n%q", out, first)
		}
	}
	if n := aws.Starts(); n != 1 {
		t.Errorf("the AWS binary ran %d times; want 1 (the broken file is parsed once)", n)
	}
	// store must not fail a stray docker login either way.
	if out, code := w.run(bin.lean, `{"ServerURL":"`+w.reg.Host()+`","Username":"AWS","Secret":"x"}`, aws.env(), "store"); code != 0 {
		t.Errorf("store with a broken file: exit %d %q", code, out)
	}
}

// TestColdBurstOnANewConfigStartsOneAWSProcess: on a new (or edited)
// currents.yaml and an empty cache, the burst's first get becomes the AWS
// binary, which parses the file and refreshes; the rest wait for it.
func TestColdBurstOnANewConfigStartsOneAWSProcess(t *testing.T) {
	w := newWorld(t)
	old, _ := os.ReadFile(w.config)
	w.writeConfigOnly(string(old) + "timeout: 20s\n")
	w.coldBurst(32, w.awsCounter())
}
