package stack

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// KeepStdin makes a compose file on standard input (`-f -`, or "-" in
// COMPOSE_FILE) readable more than once: by each of the check's loads, which
// compose-go reads it for to the end, and by the compose that runs after the
// check, which would otherwise find it empty ("empty compose file"). A pipe
// is copied into an unlinked file put in its place as descriptor 0, which
// this process and compose share; rewind puts it back where it started.
// Without a "-" it does nothing.
func KeepStdin(files []string) (rewind func() error, err error) {
	none := func() error { return nil }
	if !readsStdin(files) {
		return none, nil
	}
	if off, err := os.Stdin.Seek(0, io.SeekCurrent); err == nil {
		// Already a file (`< compose.yaml`): back to where compose would start.
		return func() error { _, err := os.Stdin.Seek(off, io.SeekStart); return err }, nil
	}
	f, err := os.CreateTemp("", "currents-stdin-")
	if err != nil {
		return none, fmt.Errorf("keeping the compose file read from standard input: %w", err)
	}
	defer f.Close()
	_ = os.Remove(f.Name()) // open, it lives on until compose exits
	if _, err := io.Copy(f, os.Stdin); err != nil {
		return none, fmt.Errorf("reading the compose file from standard input: %w", err)
	}
	if err := unix.Dup2(int(f.Fd()), int(os.Stdin.Fd())); err != nil {
		return none, fmt.Errorf("keeping the compose file read from standard input: %w", err)
	}
	rewind = func() error { _, err := os.Stdin.Seek(0, io.SeekStart); return err }
	return rewind, rewind()
}

// readsStdin reports whether compose would read a compose file from
// standard input: "-" among the -f files, else in COMPOSE_FILE.
func readsStdin(files []string) bool {
	if len(files) == 0 {
		sep := os.Getenv("COMPOSE_PATH_SEPARATOR")
		if sep == "" {
			sep = string(os.PathListSeparator)
		}
		files = strings.Split(os.Getenv("COMPOSE_FILE"), sep)
	}
	return slices.Contains(files, "-")
}

// rewound is second (the load without interpolation) reading standard input
// from where the first load started, after that load has read it to its
// end.
func rewound(rewind func() error, second func() map[string]string) func() map[string]string {
	return func() map[string]string {
		if err := rewind(); err != nil {
			return map[string]string{} // best effort, as the second load is
		}
		return second()
	}
}
