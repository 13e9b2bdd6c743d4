package credhelper_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/testbin"
)

// bin holds the binaries TestMain builds: the tests drive the real programs.
// Nothing may write beside them: they are shared (testbin).
var bin struct{ lean, fat, plugin string }

func TestMain(m *testing.M) {
	// Every test runs in parallel (each in a world of its own). The real-time
	// test spends its minute asleep between gets, so it gets a slot beyond the
	// CPUs rather than one of them, unless -parallel says otherwise.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", strconv.Itoa(runtime.GOMAXPROCS(0)+1))
	}
	// Built once per checkout and kept (testbin), shared with the other test
	// packages that run the helpers: a rerun with unchanged sources links nothing.
	b, err := testbin.Product()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bin.lean, bin.fat = b.Lean(), b.AWS()
	bin.plugin = b.Plugin // the leak test runs its watch
	os.Exit(m.Run())
}

const (
	externalID = "ext-7f3a9c"
	userARN    = "arn:aws:iam::111122223333:user/customer"
)

// world is one isolated machine: a stand-in AWS, an ECR-auth registry front,
// a customer user trusted by the vendor's role, and a temp HOME whose
// currents.yaml maps the front's host (an alias) to the vendor's account.
type world struct {
	t        testing.TB
	aws      *standin.Server
	reg      *standin.Registry
	user     standin.User
	role     string
	home     string
	config   string // currents.yaml
	cacheDir string
	env      map[string]string

	mu     sync.Mutex
	stderr bytes.Buffer // every program's stderr, for the leak test
}

func newWorld(t testing.TB, opts ...standin.Option) *world {
	t.Helper()
	sw := standintest.New(t, standintest.WithServer(opts...), standintest.WithRegistry(), standintest.WithUser(userARN),
		standintest.WithRole("currents-pull"), standintest.WithExternalID(externalID))
	aws, reg := sw.AWS, sw.Registry
	w := &world{t: t, aws: aws, reg: reg, user: sw.User, role: sw.Role, home: t.TempDir()}
	w.config = filepath.Join(w.home, ".docker", "currents.yaml")
	w.cacheDir = filepath.Join(w.home, "cache")
	w.env = map[string]string{
		"PATH":                        os.Getenv("PATH"),
		"HOME":                        w.home,
		"DOCKER_CONFIG":               filepath.Dir(w.config),
		"CURRENTS_CACHE_DIR":          w.cacheDir,
		"CURRENTS_AWS_HELPER":         bin.fat,
		"AWS_CONFIG_FILE":             filepath.Join(w.home, ".aws", "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(w.home, ".aws", "credentials"),
	}
	for _, kv := range aws.Env(w.user) {
		k, v, _ := strings.Cut(kv, "=")
		w.env[k] = v
	}
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: %s\n",
		reg.Host(), reg.Account(), reg.Region(), w.role, externalID))
	return w
}

// writeConfig writes currents.yaml and has the AWS binary parse it once, as
// the first command after an edit does, so that the lean binary then answers
// from its compiled form without the AWS binary (which tests make a tripwire).
func (w *world) writeConfig(body string) {
	w.t.Helper()
	w.writeConfigOnly(body)
	cmd := exec.Command(bin.fat, "list")
	cmd.Env = w.environ(nil)
	_ = cmd.Run() // an invalid file is compiled as its error
}

// writeConfigOnly writes currents.yaml as an editor would: the next command
// of the lean binary finds no compiled form for it.
func (w *world) writeConfigOnly(body string) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(w.config), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(w.config, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) environ(extra map[string]string) []string {
	var out []string
	for k, v := range w.env {
		if _, over := extra[k]; !over {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range extra {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// program is a client.Program running one of our binaries in the world's
// environment, its stderr collected.
type program struct {
	cmd *exec.Cmd
}

func (p *program) Output() ([]byte, error) { return p.cmd.Output() }
func (p *program) Input(in io.Reader)      { p.cmd.Stdin = in }

type lockedWriter struct{ w *world }

func (l lockedWriter) Write(b []byte) (int, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	return l.w.stderr.Write(b)
}

// prog returns the ProgramFunc that docker would use, with extra env on top.
func (w *world) prog(path string, extra map[string]string) client.ProgramFunc {
	return func(args ...string) client.Program {
		cmd := exec.Command(path, args...)
		cmd.Env = w.environ(extra)
		cmd.Stderr = lockedWriter{w}
		return &program{cmd: cmd}
	}
}

func (w *world) get(host string, extra map[string]string) (*credentials.Credentials, error) {
	return client.Get(w.prog(bin.lean, extra), host)
}

// getAll runs n gets at once, as compose's parallel pulls do; get i asks for
// hosts[i%len(hosts)].
func (w *world) getAll(n int, hosts []string, extra map[string]string) ([]*credentials.Credentials, []error) {
	answers := make([]*credentials.Credentials, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i], errs[i] = w.get(hosts[i%len(hosts)], extra)
		})
	}
	wg.Wait()
	return answers, errs
}

func (w *world) mustGet(host string, extra map[string]string) *credentials.Credentials {
	w.t.Helper()
	c, err := w.get(host, extra)
	if err != nil {
		w.t.Fatalf("get %s: %v\nstderr:\n%s", host, err, w.logs())
	}
	return c
}

func (w *world) logs() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.String()
}

// run runs a binary directly with stdin, for exact stdout and exit codes.
func (w *world) run(path, stdin string, extra map[string]string, args ...string) (stdout string, code int) {
	w.t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = w.environ(extra)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stderr = lockedWriter{w}
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return string(out), 0
}

// prove makes an authenticated registry request with the credentials: the
// only acceptable evidence that a `get` answered something usable.
func (w *world) prove(c *credentials.Credentials) {
	w.t.Helper()
	proveAt(w.t, w.reg, c)
}

func proveAt(t testing.TB, reg *standin.Registry, c *credentials.Credentials) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, reg.URL()+"/v2/", nil)
	req.SetBasicAuth(c.Username, c.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registry %s refused the credentials: %s %s", reg.Host(), resp.Status, body)
	}
}

// tripwire is an AWS helper that records being run and fails loudly.
func (w *world) tripwire() (path, mark string) {
	dir := w.t.TempDir()
	path, mark = filepath.Join(dir, "tripwire"), filepath.Join(dir, "spawned")
	script := fmt.Sprintf("#!/bin/sh\ntouch %q\necho 'tripwire: the AWS helper was spawned' >&2\nexit 3\n", mark)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		w.t.Fatal(err)
	}
	return path, mark
}

// cacheFiles returns the JSON cache files.
func (w *world) cacheFiles() []string {
	files, _ := filepath.Glob(filepath.Join(w.cacheDir, "*.json"))
	return files
}

func (w *world) cacheFile() string {
	w.t.Helper()
	files := w.cacheFiles()
	if len(files) != 1 {
		w.t.Fatalf("want one cache file, have %v", files)
	}
	return files[0]
}

// cached parses a cache file strictly: any corruption fails the test.
type cachedFile struct {
	Version int `json:"version"`
	Session *struct {
		SecretAccessKey string `json:"secret_access_key"`
		SessionToken    string `json:"session_token"`
	} `json:"session"`
	Tokens map[string]struct {
		Password string `json:"password"`
	} `json:"tokens"`
}

func readCache(t testing.TB, path string) cachedFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c cachedFile
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("cache file %s is corrupt: %v\n%q", path, err, b)
	}
	if c.Version != 1 {
		t.Fatalf("cache file %s: version %d", path, c.Version)
	}
	return c
}
