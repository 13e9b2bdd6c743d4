package plugincmd

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/check"
	"github.com/currentsdev/currents/internal/exitcode"
)

// Every field of the JSON document is documented in `check --help`, so a
// field added or renamed without its documentation fails here.
func TestJSONShapeIsDocumented(t *testing.T) {
	help := newCheckCommand(nil).Long
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty.PkgPath() == "time" {
			return
		}
		seen[ty] = true
		for i := 0; i < ty.NumField(); i++ {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if !strings.Contains(help, `"`+name+`"`) {
				t.Errorf("%s.%s (%q) is not documented in check --help", ty.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(check.Report{}))
	if len(seen) < 6 {
		t.Errorf("walked only %d types", len(seen))
	}
}

// Ctrl-C during a check (here while a registry has not answered) ends it
// with 130 and says it was interrupted: the answers cut short are no
// verdict. It said the registry "did not answer in time", to raise
// CURRENTS_TIMEOUT, and exited 1 as if an image were not pullable.
func TestCheckInterruptedSaysSo(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	host, asked := silentRegistry(t)
	dir := t.TempDir()
	w.write(filepath.Join(dir, "compose.yaml"), "services:\n  a: {image: "+host+"/vendor/app:1}\n")
	cmd := exec.Command(docker, "currents", "check")
	cmd.Dir, cmd.Env = dir, w.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the check never asked the registry")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitcode.Interrupted || !strings.Contains(errb.String(), "interrupted") ||
		strings.Contains(out.String()+errb.String(), "CURRENTS_TIMEOUT") {
		t.Errorf("interrupted check: %v\n%s%s", err, out.String(), errb.String())
	}
}

// silentRegistry is a registry that never answers: each request waits until
// its client goes away. asked says a request has come.
func silentRegistry(t *testing.T) (host string, asked <-chan struct{}) {
	t.Helper()
	came := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case came <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute): // a failsafe
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), came
}
