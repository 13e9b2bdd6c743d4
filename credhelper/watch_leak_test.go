package credhelper_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
)

// watchOutputs runs `docker currents watch` as the leak test needs it: a
// queue of the vendor's account (so it is read with the role, through the
// cache), the stack mirrored through the helper, then --status and the
// policies. It returns what they printed and the journal they wrote.
func (w *world) watchOutputs() []string {
	w.t.Helper()
	if _, err := seed.Stack(context.Background(), w.reg, "currents/on-prem", "staging"); err != nil {
		w.t.Fatal(err)
	}
	q := w.aws.CreateQueue("watch", standin.QueueOptions{})
	if _, err := w.aws.RouteECREvents(q); err != nil {
		w.t.Fatal(err)
	}
	mirror := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer mirror.Close()
	dockerDir := filepath.Dir(w.config)
	if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(fmt.Sprintf(`{"credHelpers":{%q:"currents"}}`, w.reg.Host())), 0o600); err != nil {
		w.t.Fatal(err)
	}
	defer os.Remove(filepath.Join(dockerDir, "config.json"))
	state := filepath.Join(w.home, "state")
	extra := map[string]string{"PATH": filepath.Dir(bin.lean) + string(os.PathListSeparator) + os.Getenv("PATH"), "CURRENTS_STATE_DIR": state,
		"DC_CURRENTS_REGISTRY": w.reg.Host()}
	stack, _ := filepath.Abs("../testdata/stack/compose.yaml")
	var out []string
	for _, args := range [][]string{
		{"currents", "watch", "--once", "-f", stack, "--queue", q, "--mirror-to", strings.TrimPrefix(mirror.URL, "http://") + "/currents/", "--log-format", "json"},
		{"currents", "watch", "--status", "-f", stack},
		{"currents", "watch", "--status", "--format", "json", "-f", stack},
		{"currents", "policy", "watch", "--queue-arn", w.aws.QueueARN(q)},
		{"currents", "policy", "events", "-f", stack, "--queue-arn", w.aws.QueueARN(q)},
	} {
		stdout, code := w.run(bin.plugin, "", extra, args...)
		if code != 0 {
			w.t.Errorf("docker-currents %v: exit %d\n%s", args, code, w.logs())
		}
		out = append(out, stdout)
	}
	if !strings.Contains(w.logs(), `"msg":"mirrored"`) || !strings.Contains(w.logs(), "role "+w.role) {
		w.t.Errorf("the watch did not mirror, or not with the role:\n%s", w.logs())
	}
	files, _ := filepath.Glob(filepath.Join(state, "watch", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		fi, _ := os.Stat(f)
		out = append(out, string(b), fmt.Sprintf("%s %o", f, fi.Mode().Perm()))
	}
	if len(files) == 0 {
		w.t.Error("the watch wrote no journal")
	}
	return out
}
