package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/tokencache"
)

// serveLate runs a get whose stdin stays empty until the returned function
// writes line and closes it, as a burst's stdin comes (see WithPrefetch).
func serveLate(t *testing.T, h *Helper) (write func(line string) (string, error)) {
	t.Helper()
	r, w := io.Pipe()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- h.Serve(credentials.ActionGet, r, &out) }()
	return func(line string) (string, error) {
		_, _ = io.WriteString(w, line+"\n")
		_ = w.Close()
		err := <-done
		return out.String(), err
	}
}

// awaitCalls waits until the fake AWS has been asked for credentials, or
// gives up after a while (an event awaited, not a duration measured).
func awaitCalls(aws *fakeAWS) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, _ := aws.counts(); c > 0 {
			return true
		}
	}
	return false
}

func TestPrefetchRefreshesBeforeTheRequestIsRead(t *testing.T) {
	h, aws, _ := setup(t)
	WithPrefetch()(h)
	write := serveLate(t, h)
	if !awaitCalls(aws) {
		t.Fatal("no refresh started while stdin was still empty")
	}
	out, err := write("https://" + host)
	var c credentials.Credentials
	if err != nil || json.Unmarshal([]byte(out), &c) != nil || c.ServerURL != "https://"+host || c.Username != "AWS" || c.Secret == "" {
		t.Fatalf("answer %q, %v", out, err)
	}
	if creds, toks := aws.counts(); creds != 1 || toks != 1 {
		t.Errorf("%d credential and %d token calls for one get, want 1 and 1", creds, toks)
	}
}

func TestPrefetchLeavesAnotherRegistrysGetAlone(t *testing.T) {
	h, aws, _ := setup(t)
	WithPrefetch()(h)
	write := serveLate(t, h)
	if !awaitCalls(aws) {
		t.Fatal("no prefetch")
	}
	if _, err := write("ghcr.io"); !credentials.IsErrCredentialsNotFound(err) {
		t.Errorf("a get for ghcr.io answered %v, want credentials not found", err)
	}
	// The prefetch, once done, left its token in the cache: a helper of its
	// own (no prefetch, nothing in memory) is answered without AWS.
	<-h.prefetch.done
	later := New(h.cfg, h.cache, h.refresher, WithGetenv(func(string) string { return "" }), WithErrorOutput(io.Discard))
	if _, _, err := later.Get(host); err != nil {
		t.Fatal(err)
	}
	if creds, toks := aws.counts(); creds != 1 || toks != 1 {
		t.Errorf("%d credential and %d token calls, want the prefetch's 1 and 1", creds, toks)
	}
}

// With two registries configured nothing is guessed: the refresh waits for
// the request.
func TestNoPrefetchAmongSeveralRegistries(t *testing.T) {
	clock := standintest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cache, err := tokencache.Open(tokencache.WithDir(filepath.Join(t.TempDir(), "c")), tokencache.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(host, "513558712013", "210987654321", 1)
	cfg, err := config.Parse("currents.yaml", []byte("registries:\n  - host: "+host+"\n    role_arn: arn:aws:iam::111122223333:role/pull\n  - host: "+other+"\n    role_arn: arn:aws:iam::111122223333:role/pull\n"))
	if err != nil {
		t.Fatal(err)
	}
	aws := newFakeAWS(clock)
	h := New(cfg, cache, &refresh.Fetcher{Cache: cache, AWS: aws, Timeout: time.Second}, WithGetenv(func(string) string { return "" }), WithErrorOutput(io.Discard), WithPrefetch())
	write := serveLate(t, h)
	if _, err := write("ghcr.io"); !credentials.IsErrCredentialsNotFound(err) {
		t.Errorf("ghcr.io: %v", err)
	}
	if h.prefetch != nil {
		t.Error("a refresh was guessed among two registries")
	}
	if creds, toks := aws.counts(); creds+toks != 0 {
		t.Errorf("a get for an unconfigured registry called AWS %d times", creds+toks)
	}
}

// A failed prefetch is the get's answer, said once: a failure the cache
// cannot keep (here there is no cache) is not asked of AWS a second time.
func TestPrefetchFailureIsTheAnswer(t *testing.T) {
	h, aws, _ := setup(t)
	h.cache = tokencache.Disabled(errors.New("no cache directory"))
	h.refresher = &refresh.Fetcher{Cache: h.cache, AWS: aws, Timeout: time.Second}
	aws.down = true
	var stderr bytes.Buffer
	WithErrorOutput(&stderr)(h)
	WithPrefetch()(h)
	write := serveLate(t, h)
	if _, err := write("https://" + host); err == nil {
		t.Fatal("a get with AWS down succeeded")
	}
	aws.mu.Lock()
	tries := aws.tries
	aws.mu.Unlock()
	if tries != 1 {
		t.Errorf("AWS asked %d times for one get, want once (the prefetch's)", tries)
	}
	if n := strings.Count(stderr.String(), "AWS is down"); n != 1 {
		t.Errorf("the failure said %d times on stderr, want once:\n%s", n, stderr.String())
	}
}
