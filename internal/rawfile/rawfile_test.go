package rawfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadWholeFiles(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4095, 4096, 70000} {
		want := bytes.Repeat([]byte("x"), size)
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Read(p, 0, 1<<20, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: got %d, %v", size, len(got), err)
		}
	}
}

// A file's reported size is a hint: /proc files say 0 and still have content.
func TestReadFilesLargerThanTheyClaim(t *testing.T) {
	got, err := Read("/proc/self/status", 0, 1<<20, nil)
	if err != nil || !strings.Contains(string(got), "Pid:") {
		t.Errorf("/proc/self/status: %q, %v", got, err)
	}
}

func TestReadLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 101), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p, 0, 100, nil); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Errorf("101 bytes under a limit of 100: %v", err)
	}
	if b, err := Read(p, 0, 101, nil); err != nil || len(b) != 101 {
		t.Errorf("101 bytes under a limit of 101: %d, %v", len(b), err)
	}
}

func TestReadErrorsAreOsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(filepath.Join(dir, "missing"), 0, 10, nil); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "open "+dir) {
		t.Errorf("missing file: %v", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(dir, "missing"), link)
	if _, err := Read(link, syscall.O_NOFOLLOW, 10, nil); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("a link with O_NOFOLLOW: %v", err)
	}
}

// The check sees the open file before anything is read: a FIFO is refused
// there instead of being read (with O_NONBLOCK it cannot hang the open).
func TestCheckBeforeRead(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("not a regular file")
	_, err := Read(fifo, syscall.O_NONBLOCK, 10, func(_ int, st *syscall.Stat_t) error {
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return refused
		}
		return nil
	})
	if err != refused {
		t.Errorf("FIFO: %v", err)
	}
}

// docker's stdin to a helper, a pipe already written and closed, is read
// whole with no time left at all: it cannot block, so no timer is needed.
func TestReadWithinAClosedPipeNeedsNoTime(t *testing.T) {
	for _, size := range []int{0, 1, 511, 512, 4096, 60000} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Repeat([]byte("h"), size)
		w.Write(want)
		w.Close()
		got, err := ReadWithin(r, 1<<20, 0)
		r.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: got %d, %v", size, len(got), err)
		}
	}
	r, w, _ := os.Pipe()
	w.Write(make([]byte, 101))
	w.Close()
	defer r.Close()
	if _, err := ReadWithin(r, 100, 0); err == nil || !strings.Contains(err.Error(), "more than 100 bytes") {
		t.Errorf("101 bytes under a limit of 100: %v", err)
	}
}

// A pipe still open for writing is read within the time (its writer closing
// in time), or given up on (ErrNoEnd) with what was in it when it started.
func TestReadWithinAnOpenPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.Write([]byte("registry"))
	go func() {
		time.Sleep(50 * time.Millisecond)
		w.Write([]byte(".example\n"))
		w.Close()
	}()
	if got, err := ReadWithin(r, 1<<20, 10*time.Second); err != nil || string(got) != "registry.example\n" {
		t.Errorf("writer closing in time: %q, %v", got, err)
	}

	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	defer w2.Close() // open until the read gave up
	w2.Write([]byte("registry"))
	start := time.Now()
	if got, err := ReadWithin(r2, 1<<20, 100*time.Millisecond); !errors.Is(err, ErrNoEnd) || time.Since(start) > 5*time.Second {
		t.Errorf("a writer that never closes: %q, %v after %s", got, err, time.Since(start))
	}
}

// A named pipe whose writer has gone is not a closed pipe: another writer
// may open it before the read and never close, so it goes the bounded way.
func TestReadWithinTreatsANamedPipeAsOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("registry\n"))
	w.Close()
	if data, done, err := readClosedPipe(r, 100); done || err != nil || len(data) != 0 {
		t.Errorf("a FIFO without writers was read as a closed pipe: %q, done %v, %v", data, done, err)
	}
}

// ReadNoLinks reads a path without links in one open, and refuses to follow
// a link anywhere on it, a directory or the file, leaving that (and a
// directory where the file should be) to a walk.
func TestReadNoLinks(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "real", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "real", "sub", "f")
	if err := os.WriteFile(file, []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "dirlink"))
	os.Symlink(file, filepath.Join(dir, "real", "sub", "filelink"))
	os.Symlink("missing", filepath.Join(dir, "real", "sub", "dangling"))
	if got, err := ReadNoLinks(file, 0, 100, nil); err != nil || string(got) != "content" {
		t.Errorf("no links: %q, %v", got, err)
	}
	for _, p := range []string{
		filepath.Join(dir, "dirlink", "sub", "f"),
		filepath.Join(dir, "real", "sub", "filelink"),
		filepath.Join(dir, "real", "sub", "dangling"),
		filepath.Join(dir, "dirlink", "sub", "missing"),
	} {
		if got, err := ReadNoLinks(p, 0, 100, nil); !errors.Is(err, ErrNeedsWalk) {
			t.Errorf("%s: %q, %v; want ErrNeedsWalk", p, got, err)
		}
	}
	if _, err := ReadNoLinks(filepath.Join(dir, "real", "sub"), 0, 100, nil); !errors.Is(err, ErrNeedsWalk) {
		t.Errorf("a directory: %v; want ErrNeedsWalk (the walk names it as it does)", err)
	}
	if _, err := ReadNoLinks(filepath.Join(dir, "real", "missing"), 0, 100, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := ReadNoLinks(file, 0, 3, nil); err == nil || !strings.Contains(err.Error(), "larger than 3 bytes") {
		t.Errorf("over the limit: %v", err)
	}
}
