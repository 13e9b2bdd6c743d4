package rawfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
