package journal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/fix"
)

func TestBeginFinishAndReadBack(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, "currents", "/opt/currents")
	if err != nil {
		t.Fatal(err)
	}
	id, err := j.Begin(Entry{Service: "api", Action: ActionDeploy, Old: "sha256:a", New: "sha256:b"})
	if err != nil {
		t.Fatal(err)
	}
	mid, err := Read(dir, "currents")
	if err != nil {
		t.Fatal(err)
	}
	if u := mid.Unfinished(); len(u) != 1 || u[0].ID != id || u[0].Result != Started {
		t.Fatalf("an action begun is on disk as started before it runs: %+v", u)
	}
	err = j.Finish(id, OK, "", func(st *State) {
		s := st.Service("api")
		s.Previous, s.Deployed = s.Deployed, "sha256:b"
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := Read(dir, "currents")
	if err != nil {
		t.Fatal(err)
	}
	if st.Services["api"].Deployed != "sha256:b" || len(st.Unfinished()) != 0 || st.History[0].Result != OK || st.WorkingDir != "/opt/currents" {
		t.Fatalf("read back %+v", st)
	}
	if fi, err := os.Stat(Path(dir, "currents")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v %v", fi.Mode(), err)
	}
}

func TestOneWatchPerProject(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, "currents", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, "currents", ""); err == nil || !strings.Contains(err.Error(), "another watch is running") {
		t.Fatalf("second open: %v", err)
	}
	other, err := Open(dir, "other", "")
	if err != nil {
		t.Fatalf("another project: %v", err)
	}
	other.Close()
	j.Close()
	if j, err = Open(dir, "currents", ""); err != nil {
		t.Fatalf("after close: %v", err)
	}
	j.Close()
}

func TestFailedUpdateChangesNothing(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, "currents", "")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Update(func(st *State) error { st.Service("api").Deployed = "sha256:a"; return nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := j.Update(func(st *State) error { st.Service("api").Deployed = "sha256:b"; return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got := j.State().Services["api"].Deployed; got != "sha256:a" {
		t.Fatalf("in memory after a failed update: %s", got)
	}
	// A write that fails (directory made read-only) leaves memory and disk as they were.
	if os.Geteuid() != 0 {
		os.Chmod(filepath.Dir(j.Path()), 0o500)
		defer os.Chmod(filepath.Dir(j.Path()), 0o700)
		if err := j.Update(func(st *State) error { st.Service("api").Deployed = "sha256:c"; return nil }); err == nil {
			t.Fatal("write into a read-only directory succeeded")
		}
		if got := j.State().Services["api"].Deployed; got != "sha256:a" {
			t.Fatalf("in memory after a failed write: %s", got)
		}
	}
}

func TestBadFilesAreRefusedWithAFix(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir, "currents"); err == nil || !strings.Contains(err.Error(), "no journal") {
		t.Errorf("missing: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "watch"), 0o700)
	os.WriteFile(Path(dir, "currents"), []byte("{not json"), 0o600)
	if _, err := Open(dir, "currents", ""); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Errorf("corrupt: %v", err)
	}
	os.WriteFile(Path(dir, "currents"), []byte(`{"version":99,"project":"currents"}`), 0o600)
	if _, err := Read(dir, "currents"); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("future version: %v", err)
	}
	if _, err := Open(dir, "../etc", ""); err == nil {
		t.Error("a project name that is a path was accepted")
	}
}

func TestHistoryAndEventsAreBounded(t *testing.T) {
	j, err := Open(t.TempDir(), "currents", "")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	err = j.Update(func(st *State) error {
		for i := range MaxHistory + 10 {
			st.History = append(st.History, Entry{ID: i + 1, Action: ActionMirror, Result: OK})
		}
		for i := range maxEvents + 3 {
			st.AddEvent(strconv.Itoa(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := j.State()
	if len(st.History) != MaxHistory || st.History[0].ID != 11 || len(st.Events) != maxEvents || !st.SeenEvent(strconv.Itoa(maxEvents+2)) || st.SeenEvent("0") {
		t.Fatalf("history %d (first %d), events %d", len(st.History), st.History[0].ID, len(st.Events))
	}
}

// TestSIGKILLLosesNoRecord kills a writer at random moments: every action it
// reported finished is in the journal, the file always parses, and the next
// Open (after a kill, the lock is free) carries on from it.
func TestSIGKILLLosesNoRecord(t *testing.T) {
	if os.Getenv("JOURNAL_WRITER") != "" {
		writer(os.Getenv("JOURNAL_WRITER"))
		return
	}
	dir := t.TempDir()
	acknowledged := 0
	for round := range 12 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLLosesNoRecord$")
		cmd.Env = append(os.Environ(), "JOURNAL_WRITER="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		// Let it finish a few actions, then kill it in the middle of whatever it does.
		for n := 0; n < 3+round%4 && lines.Scan(); n++ {
			if strings.HasPrefix(lines.Text(), "done ") {
				acknowledged++
			}
		}
		time.Sleep(time.Duration(round*137%900) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "done ") {
				acknowledged++
			}
		}
		cmd.Wait()

		st, err := Read(dir, "currents")
		if err != nil {
			t.Fatalf("round %d: the journal does not read after a SIGKILL: %v", round, err)
		}
		ok := 0
		for _, e := range st.History {
			if e.Result == OK {
				ok++
			}
		}
		if ok < acknowledged {
			t.Fatalf("round %d: %d actions acknowledged, %d in the journal", round, acknowledged, ok)
		}
		if len(st.Unfinished()) > 1 {
			t.Fatalf("round %d: %d actions under way at once", round, len(st.Unfinished()))
		}
	}
	j, err := Open(dir, "currents", "")
	if err != nil {
		t.Fatalf("open after the kills: %v", err)
	}
	defer j.Close()
	if stale, _ := filepath.Glob(filepath.Join(dir, "watch", ".*.tmp-*")); len(stale) != 0 {
		t.Errorf("temporary files left after Open: %v", stale)
	}
}

// writer is the child of TestSIGKILLLosesNoRecord: it finishes abandoned
// actions as a restarted watch does, then begins and finishes actions
// forever, printing "done N" after each is on disk.
func writer(dir string) {
	j, err := Open(dir, "currents", "")
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	for _, e := range j.State().Unfinished() {
		_ = j.Finish(e.ID, Abandoned, "found started after a restart", nil)
	}
	for i := 0; ; i++ {
		id, err := j.Begin(Entry{Service: "api", Action: ActionMirror, New: "sha256:" + strconv.Itoa(i)})
		if err != nil {
			os.Exit(1)
		}
		if err := j.Finish(id, OK, "", func(st *State) { st.Service("api").Mirrored = "sha256:" + strconv.Itoa(i) }); err != nil {
			os.Exit(1)
		}
		fmt.Println("done", id)
	}
}

// TestHandEditedNullServiceReads: an operator's edit that leaves a service
// as null (or a failed list as null) is read as a service with nothing
// known, not a nil record the watch then dereferences.
func TestHandEditedNullServiceReads(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "watch"), 0o700)
	os.WriteFile(Path(dir, "currents"), []byte(`{"version":1,"project":"currents","services":{"api":null,"web":{"image":"x"}}}`), 0o600)
	j, err := Open(dir, "currents", "")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for name, rec := range j.State().Services {
		if rec == nil {
			t.Errorf("service %s is a nil record", name)
		}
	}
	if err := j.Update(func(st *State) error { st.Service("api").Registry = "sha256:a"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := j.State().Services["api"].Registry; got != "sha256:a" {
		t.Errorf("api's registry digest %q", got)
	}
	st, err := Read(dir, "currents")
	if err != nil {
		t.Fatal(err)
	}
	if st.Services["api"] == nil {
		t.Error("Read returns a nil record")
	}
}

// TestUnusableLockOrJournalSaysWhatToDo: a lock file or journal this user
// cannot open (root's, left by a sudo run; here a directory in its place,
// which fails the same way for root too) is an error that names the file
// and says what to do, not a bare "permission denied".
func TestUnusableLockOrJournalSaysWhatToDo(t *testing.T) {
	for _, bad := range []string{"currents.lock", "currents.json"} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "watch", bad), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, "currents", "")
		if err == nil {
			t.Fatalf("%s a directory: opened", bad)
		}
		problem, how := fix.Split(err)
		if !strings.Contains(problem, filepath.Join(dir, "watch", bad)) || how == "" {
			t.Errorf("%s a directory: %q, fix %q", bad, problem, how)
		}
	}
}
