package startup_test

import (
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/startup"
	"github.com/currentsdev/currents/internal/testbin"
)

// TestNoCollectionWhileThePluginStarts runs the real plugin with the
// runtime's own traces of package initialisation and of collections: no
// collection may come before the last package is initialised, and this
// package must be initialised before the heaviest one (the JSON schema
// library compose-go links, which alone allocates 1.7 MB).
func TestNoCollectionWhileThePluginStarts(t *testing.T) {
	t.Parallel()
	b, err := testbin.Product()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(b.PluginFull(), "docker-cli-plugin-metadata")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1,gctrace=1", "GOGC=100")
	var trace strings.Builder
	cmd.Stderr = &trace
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, trace.String())
	}
	var inits, ours, heavy, lastInit, firstGC int
	firstGC = -1
	for i, line := range strings.Split(trace.String(), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "init":
			inits++
			lastInit = i
			switch {
			case f[1] == "github.com/currentsdev/currents/internal/startup":
				ours = inits
			case strings.HasPrefix(f[1], "github.com/santhosh-tekuri/jsonschema/"):
				heavy = inits
			}
		case len(f) >= 2 && f[0] == "gc" && firstGC < 0:
			firstGC = i
		}
	}
	if inits < 100 || ours == 0 || heavy == 0 {
		t.Fatalf("the trace has %d inits, this package's at %d, the schema library's at %d:\n%s", inits, ours, heavy, trace.String())
	}
	if ours > heavy {
		t.Errorf("this package is initialised %dth, after the schema library (%dth)", ours, heavy)
	}
	if firstGC >= 0 && firstGC < lastInit {
		t.Errorf("a collection ran during package initialisation:\n%s", trace.String())
	}
}

// gcAtInit is the collector's setting once package initialisation is over
// (startup's init runs before this package's: it is imported), read once
// per process, before any test calls Done.
var gcAtInit = debug.SetGCPercent(-1)

// TestDoneGivesBackGOGC: after Done the collector runs as GOGC says.
func TestDoneGivesBackGOGC(t *testing.T) {
	want := 100
	switch v := os.Getenv("GOGC"); v {
	case "":
	case "off":
		want = -1
	default:
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("GOGC=%s", v)
		}
		want = n
	}
	if gcAtInit != -1 {
		t.Fatalf("before Done the collector is at %d%%, want off", gcAtInit)
	}
	// Off, as package initialisation left it: the collector is process-wide, so a
	// second run of this test (-count) or a Done before it must not see the first's.
	debug.SetGCPercent(-1)
	startup.Done()
	if got := debug.SetGCPercent(want); got != want {
		t.Errorf("after Done the collector is at %d%%, want GOGC's %d", got, want)
	}
}
