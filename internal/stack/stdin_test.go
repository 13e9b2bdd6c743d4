package stack

import (
	"context"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// A compose file from standard input is "-" among the -f files, else in
// COMPOSE_FILE (with compose's separator); -f files win over COMPOSE_FILE.
func TestReadsStdin(t *testing.T) {
	t.Setenv("COMPOSE_PATH_SEPARATOR", "")
	t.Setenv("COMPOSE_FILE", "compose.yaml:-")
	if !readsStdin(nil) || readsStdin([]string{"compose.yaml"}) || !readsStdin([]string{"a.yaml", "-"}) {
		t.Error("COMPOSE_FILE with -, or -f -, not taken for standard input; or COMPOSE_FILE read despite -f")
	}
	t.Setenv("COMPOSE_PATH_SEPARATOR", ";")
	t.Setenv("COMPOSE_FILE", "compose.yaml;-")
	if !readsStdin(nil) {
		t.Error("COMPOSE_PATH_SEPARATOR not honoured")
	}
	t.Setenv("COMPOSE_FILE", "")
	if readsStdin(nil) {
		t.Error("no file names standard input")
	}
}

// TestEveryLoadOfStdinReadsItWhole: `check -f -` loads the project more
// than once (its early preview beside the load, and the load without
// interpolation that tells two spellings of one image apart), and each
// read standard input, a pipe, to its end: whichever came second found it
// empty, and the check failed with "empty compose file" now and then, or
// lost the images as written. Each run here gets a fresh pipe.
func TestEveryLoadOfStdinReadsItWhole(t *testing.T) {
	cleanEnv(t)
	t.Setenv("REG", "r.example")
	const compose = "services:\n  a:\n    image: ${REG}/app:1\n  b:\n    image: r.example/app:1\n"
	saved, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Dup2(saved, 0); unix.Close(saved) })
	for i := range 20 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Dup2(int(r.Fd()), 0); err != nil {
			t.Fatal(err)
		}
		r.Close()
		io.WriteString(w, compose)
		w.Close()
		l := Start(context.Background(), Options{Files: []string{"-"}, ProjectName: "p", ProjectDirectory: t.TempDir()}, Selection{})
		st, err := l.Wait()
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if a := service(t, st, "a"); a.Raw != "${REG}/app:1" {
			t.Fatalf("run %d: a written as %q, want ${REG}/app:1", i, a.Raw)
		}
		if _, err := os.Stdin.Seek(0, io.SeekStart); err != nil {
			t.Fatalf("run %d: standard input cannot be read again by compose: %v", i, err)
		}
	}
}
