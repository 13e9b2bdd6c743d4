package credhelper_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/testbin"
)

// awsCounter is the AWS binary, counted: tests count the AWS processes a
// burst starts.
type awsCounter struct{ *testbin.Counter }

func (w *world) awsCounter() awsCounter { return awsCounter{testbin.NewCounter(w.t, bin.fat)} }

func (c awsCounter) env() map[string]string { return map[string]string{"CURRENTS_AWS_HELPER": c.Path} }

// TestColdBurstStartsOneAWSProcess: the lean binary takes the principal's
// lock itself and reads the cache again once it is free, so a burst of
// parallel cold gets starts the AWS binary once, not once per get.
func TestColdBurstStartsOneAWSProcess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.coldBurst(32, w.awsCounter())
}

// coldBurst runs n parallel gets of the registry through aws: every one is
// answered with a token the registry takes, the AWS binary started once, and
// AWS was asked for one session and one token.
func (w *world) coldBurst(n int, aws awsCounter) {
	w.t.Helper()
	start := time.Now()
	answers, errs := w.getAll(n, []string{w.reg.Host()}, aws.env())
	for i := range n {
		if errs[i] != nil {
			w.t.Fatalf("get %d: %v\n%s", i, errs[i], w.logs())
		}
		w.prove(answers[i])
	}
	if got := aws.Starts(); got != 1 {
		w.t.Errorf("%d parallel cold gets started the AWS binary %d times; want 1 (%s)", n, got, time.Since(start))
	}
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		w.t.Errorf("AWS calls %+v; want 1 AssumeRole and 1 GetAuthorizationToken", c)
	}
}

// TestRefusedBurstStartsOneAWSProcess: when AWS refuses, the gets queued
// behind the first answer with its failure, without an AWS process each.
func TestRefusedBurstStartsOneAWSProcess(t *testing.T) {
	t.Parallel()
	const n = 32
	w := newWorld(t)
	w.aws.RefuseRole(w.role, true)
	aws := w.awsCounter()
	_, errs := w.getAll(n, []string{w.reg.Host()}, aws.env())
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Fatalf("get %d: %v", i, err)
		}
	}
	if got := aws.Starts(); got != 1 {
		t.Errorf("%d parallel refused gets started the AWS binary %d times; want 1", n, got)
	}
	if a := w.aws.Calls(); a.AssumeRole != 1 {
		t.Errorf("%d AssumeRole calls; want 1", a.AssumeRole)
	}
}

// TestKilledGetLeavesTheLockWithItsAWSProcess: a get SIGKILLed while its AWS
// process refreshes leaves the lock with that process (it inherited the lock
// file), so a get arriving meanwhile waits for that refresh and answers from
// it rather than starting a second one.
func TestKilledGetLeavesTheLockWithItsAWSProcess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.aws.SetLatency(400 * time.Millisecond)
	aws := w.awsCounter()
	first := exec.Command(bin.lean, "get")
	first.Env = w.environ(aws.env())
	first.Stdin = strings.NewReader(w.reg.Host() + "\n")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	aws.WaitStarted(1)
	// Killed once its AWS process is refreshing: killed before, the get had
	// not yet handed that process the server URL (its stdin), and the
	// process, with nothing to refresh, let go of the lock at once.
	for deadline := time.Now().Add(10 * time.Second); w.aws.Attempts().AssumeRole == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the AWS process did not reach AssumeRole in 10 s\n%s", w.logs())
		}
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	w.prove(w.mustGet(w.reg.Host(), aws.env()))
	if got := aws.Starts(); got != 1 {
		t.Errorf("the AWS binary was started %d times; want 1 (the killed get's, which kept the lock)", got)
	}
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		t.Errorf("AWS calls %+v; want 1 AssumeRole and 1 GetAuthorizationToken", c)
	}
}

// TestKilledAWSProcessFreesTheLock: an AWS process SIGKILLed mid-refresh
// fails its get, and the next get refreshes at once: no lock is left behind.
func TestKilledAWSProcessFreesTheLock(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.aws.SetLatency(400 * time.Millisecond)
	aws := w.awsCounter()
	done := make(chan error, 1)
	go func() {
		_, err := w.get(w.reg.Host(), aws.env())
		done <- err
	}()
	if err := syscall.Kill(aws.WaitStarted(1), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "signal") {
		t.Errorf("the get whose AWS process was killed: %v; want the signal named", err)
	}
	// Nothing holds the principal's lock once the get and its AWS process
	// are gone: taken without waiting, not timed (a next get that took
	// over 5 s was the old criterion, which a loaded machine can meet).
	locks, _ := filepath.Glob(filepath.Join(w.cacheDir, "*.lock"))
	if len(locks) == 0 {
		t.Fatalf("no lock file in %s: the refresh took no lock, nothing tested", w.cacheDir)
	}
	for _, l := range locks {
		f, err := os.Open(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Errorf("%s is still locked after the AWS process was killed and its get ended: %v", filepath.Base(l), err)
		}
		f.Close()
	}
	w.aws.SetLatency(0)
	w.prove(w.mustGet(w.reg.Host(), aws.env()))
}

// TestUnopenableLockFileStillAnswers: a lock file that cannot be opened (here
// a directory in its place) must not stop the pull: the get refreshes
// without the lock and says what is wrong with the file.
func TestUnopenableLockFileStillAnswers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.mustGet(w.reg.Host(), nil)
	cache := w.cacheFile()
	lock := strings.TrimSuffix(cache, ".json") + ".lock"
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(lock, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, code := w.run(bin.lean, w.reg.Host()+"\n", nil, "erase"); code == 0 {
		t.Log("erase succeeded without the lock") // either is fine; the get below is the point
	}
	os.Remove(cache) // a cold get, whatever erase did
	w.prove(w.mustGet(w.reg.Host(), nil))
	if !strings.Contains(w.logs(), lock) {
		t.Errorf("nothing said about the lock file %s:\n%s", lock, w.logs())
	}
}
