package configure

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dockerconfig"
)

// TestMain lets a test run configure in real processes of its own: the test binary, started with
// CURRENTS_TEST_CONFIGURE_HOST set, configures that host and exits.
func TestMain(m *testing.M) {
	if host := os.Getenv("CURRENTS_TEST_CONFIGURE_HOST"); host != "" {
		os.Exit(configureInChild(host))
	}
	os.Exit(m.Run())
}

func configureInChild(host string) int {
	res, err := Run(Request{Spec: config.EntrySpec{Host: host, Account: "123456789012", Region: "us-east-1",
		RoleARN: "arn:aws:iam::123456789012:role/pull"}}, WithLookPath(func(string) (string, error) { return "", nil }))
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	if res.Config.Changed {
		fmt.Println("written")
	}
	return 0
}

// TestParallelRunsAllLand is issue 10's defect 1: configure runs for different registries, started at the same
// moment on the same two files, each in its own process, must all land — none may say "written" and lose its
// entry, none may fail with "the file changed".
func TestParallelRunsAllLand(t *testing.T) {
	const n = 24
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, ".docker"))
	t.Setenv("CURRENTS_CONFIG", "")
	for round := range 2 { // the first round creates both files (and their directory), the second edits them
		var wg sync.WaitGroup
		outs := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			host := fmt.Sprintf("r%d-%02d.registry.example", round, i)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "CURRENTS_TEST_CONFIGURE_HOST="+host)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			wg.Go(func() {
				<-start
				errs[i] = cmd.Run()
				outs[i] = out.String()
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil || !strings.Contains(outs[i], "written") {
				t.Errorf("round %d run %d: %v\n%s", round, i, err, outs[i])
			}
		}
		cfg, err := config.Load(filepath.Join(dir, ".docker", "currents.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		dc, err := dockerconfig.Load(filepath.Join(dir, ".docker", "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r <= round; r++ {
			for i := range n {
				host := fmt.Sprintf("r%d-%02d.registry.example", r, i)
				if _, ok := cfg.Lookup(host); !ok {
					t.Errorf("currents.yaml lost %s", host)
				}
				if h, _ := dc.CredHelper(host); h != "currents" {
					t.Errorf("config.json lost %s", host)
				}
			}
		}
	}
}
