package watch

// The engine-free tier of watch: the real SDK's SQS client against the
// stand-in's queue (fed by the stand-in's EventBridge on every push), the
// real credential helper binaries running under docker's own credential
// lookup, the stand-in's ECR-style registry as the vendor's, and
// go-containerregistry's registry as the customer's mirror.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/journal"
	"github.com/currentsdev/currents/internal/stack"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/testbin"
)

var (
	binDir    string // docker-credential-currents and its AWS half
	pluginBin string // docker-currents
	stackAt   string // testdata/stack
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	// The helper and the plugin as the credhelper tests build them (testbin
	// shares one build per checkout).
	b, err := testbin.Product()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir, pluginBin = b.Helpers, b.Plugin
	if stackAt, err = filepath.Abs("../../testdata/stack/compose.yaml"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

const vendorRole = "arn:aws:iam::513558712013:role/currents-pull"

// world is one unattended host: the vendor's ECR (stand-in) holding the
// stack, a queue fed by the vendor's rule, the customer's mirror registry,
// the helper configured for the vendor's registry, and a state directory.
type world struct {
	t       testing.TB
	aws     *standin.Server
	reg     *standin.Registry
	user    standin.User
	queue   string
	dlq     string
	mirror  string // host of the customer's registry
	home    string
	state   string
	digests map[string]v1.Hash
	logs    *logBuffer
}

type worldOption func(*worldSetup)

type worldSetup struct {
	queueAccount string // default: the user's own account
	sqsEndpoint  string // default: the stand-in
	server       []standin.Option
}

func queueInVendorAccount() worldOption {
	return func(s *worldSetup) { s.queueAccount = "513558712013" }
}

func newWorld(t testing.TB, opts ...worldOption) *world {
	t.Helper()
	var set worldSetup
	for _, o := range opts {
		o(&set)
	}
	home := standintest.Isolate(t)
	sw := standintest.New(t, standintest.WithRegistry(), standintest.WithServer(set.server...),
		standintest.WithUser("arn:aws:iam::111122223333:user/ops"), standintest.WithRole(vendorRole))
	w := &world{t: t, aws: sw.AWS, reg: sw.Registry, user: sw.User, home: home, state: filepath.Join(home, "state"), logs: &logBuffer{}}
	var err error
	if w.digests, err = seed.Stack(context.Background(), w.reg, "currents/on-prem", "staging"); err != nil {
		t.Fatal(err)
	}
	account := set.queueAccount
	if account == "" {
		account = w.user.Account
	}
	w.dlq = w.aws.CreateQueue("watch-dlq", standin.QueueOptions{Account: account})
	w.queue = w.aws.CreateQueue("watch", standin.QueueOptions{Account: account, DeadLetterQueue: w.aws.QueueARN(w.dlq), MaxReceiveCount: 3})
	if _, err := w.aws.RouteECREvents(w.queue); err != nil {
		t.Fatal(err)
	}
	if account != w.user.Account {
		// A queue of the vendor's account is read with the vendor's role.
		if err := w.aws.SetQueuePolicy(w.queue, mergeStatement(w.aws, w.queue, vendorRole)); err != nil {
			t.Fatal(err)
		}
	}
	standintest.Export(t, w.aws, w.user)
	if set.sqsEndpoint != "" {
		t.Setenv("AWS_ENDPOINT_URL_SQS", set.sqsEndpoint)
	}

	mirror := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(mirror.Close)
	w.mirror = strings.TrimPrefix(mirror.URL, "http://")

	dcfg := filepath.Join(home, ".docker")
	w.write(filepath.Join(dcfg, "config.json"), fmt.Sprintf(`{"credHelpers":{%q:"currents"}}`, w.reg.Host()))
	w.write(filepath.Join(dcfg, "currents.yaml"), fmt.Sprintf("registries:\n  - host: %q\n    account: \"513558712013\"\n    region: us-east-1\n    role_arn: %s\n",
		w.reg.Host(), vendorRole))
	t.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DC_CURRENTS_REGISTRY", w.reg.Host())
	t.Setenv("CURRENTS_STATE_DIR", w.state)
	return w
}

// newBenchWorld is newWorld for a benchmark.
func newBenchWorld(b *testing.B) *world { return newWorld(b) }

// mergeStatement is the queue's policy with the role allowed to consume.
func mergeStatement(s *standin.Server, queueURL, role string) string {
	var doc map[string]any
	_ = json.Unmarshal([]byte(standin.EventsQueuePolicy(s.QueueARN(queueURL), "arn:aws:events:us-east-1:513558712013:rule/standin-ecr-watch")), &doc)
	doc["Statement"] = append(doc["Statement"].([]any), map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": role},
		"Action": []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, "Resource": s.QueueARN(queueURL)})
	b, _ := json.Marshal(doc)
	return string(b)
}

func (w *world) write(path, content string) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// options are a mirroring watch of the stack over the queue.
func (w *world) options() Options {
	w.t.Helper()
	cfg, err := config.FromEnv()
	if err != nil {
		w.t.Fatal(err)
	}
	cf, err := dockerconfig.Load(filepath.Join(w.home, ".docker"))
	if err != nil {
		w.t.Fatal(err)
	}
	return Options{
		Project:  stack.Options{Files: []string{stackAt}},
		Config:   cfg,
		Docker:   cf,
		Queue:    w.queue,
		Interval: time.Hour,
		MirrorTo: w.mirror + "/currents/",
		StateDir: w.state,
		Log:      slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start runs the watch until the test ends (or stop is called).
func (w *world) start(o Options) (stop func() Outcome) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		out Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := Run(ctx, o)
		done <- result{out, err}
	}()
	var once sync.Once
	var res result
	stop = func() Outcome {
		once.Do(func() {
			cancel()
			res = <-done
			if res.err != nil {
				w.t.Errorf("watch: %v", res.err)
			}
		})
		return res.out
	}
	w.t.Cleanup(func() { stop() })
	return stop
}

// push publishes a new image for a service, as the vendor's CI does.
func (w *world) push(service string) v1.Hash {
	w.t.Helper()
	var opts []seed.Option
	if service == seed.MultiPlatformService {
		opts = append(opts, seed.MultiPlatform())
	}
	d, err := seed.Push(context.Background(), w.reg, "currents/on-prem/"+service+":staging", opts...)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// mirrored is what the mirror's tag of a service points at ("" for none).
func (w *world) mirrored(service string) string { return w.mirroredAt(w.mirror, service) }

// mirroredAt is mirrored, through another address of the mirror.
func (w *world) mirroredAt(host, service string) string {
	ref, err := name.ParseReference(host + "/currents/" + service + ":staging")
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// registryDigest is what the vendor's registry says the service's tag is.
func (w *world) registryDigest(service string) string {
	ref, err := name.ParseReference(w.reg.Host() + "/currents/on-prem/" + service + ":staging")
	if err != nil {
		w.t.Fatal(err)
	}
	user, pass, _ := w.aws.MintToken("arn:aws:iam::513558712013:root", time.Minute)
	d, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	if err != nil {
		w.t.Fatal(err)
	}
	return d.Digest.String()
}

// eventually waits up to d for cond.
func (w *world) eventually(d time.Duration, what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("not within %s: %s\nlog:\n%s", d, what, w.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) journal() journal.State {
	w.t.Helper()
	st, err := journal.Read(w.state, "currents")
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// synced waits until every service's image is in the mirror and the journal
// records it there (the copy lands before its record).
func (w *world) synced() {
	w.t.Helper()
	w.eventually(20*time.Second, "the initial mirror", func() bool {
		st, err := journal.Read(w.state, "currents")
		if err != nil {
			return false
		}
		for svc, d := range w.digests {
			if w.mirrored(svc) != d.String() || st.Services[svc] == nil || st.Services[svc].Mirrored != d.String() {
				return false
			}
		}
		return true
	})
}

// logBuffer collects the watch's JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// lines are the log lines whose msg starts with prefix.
func (l *logBuffer) lines(prefix string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.HasPrefix(fmt.Sprint(m["msg"]), prefix) {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) count(prefix string) int { return len(l.lines(prefix)) }

// exact are the log lines whose msg is msg.
func (l *logBuffer) exact(msg string) []map[string]any {
	var out []map[string]any
	for _, m := range l.lines(msg) {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// failures are the log lines of things that went wrong.
func (l *logBuffer) failures() []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && (m["level"] == "WARN" || m["level"] == "ERROR") {
			out = append(out, line)
		}
	}
	return out
}

// toggle is a proxy in front of an endpoint that can play dead.
type toggle struct {
	mu   sync.Mutex
	down bool
	srv  *httptest.Server
}

func newToggle(t *testing.T, target string) *toggle {
	tg := &toggle{}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	tg.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		down := tg.down
		tg.mu.Unlock()
		if down {
			// As a network path that drops: the connection just ends.
			if hj, ok := rw.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *toggle) set(down bool) { tg.mu.Lock(); tg.down = down; tg.mu.Unlock() }
