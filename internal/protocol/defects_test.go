package protocol

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/tokencache"
)

// shiftCache moves every cached time by d, as a clock stepping back by d
// looks to the cache (a VM restored from a snapshot, NTP after a long gap).
func shiftCache(t *testing.T, h *Helper, d time.Duration) {
	t.Helper()
	req, _ := h.Resolve(host)
	err := h.cache.Update(t.Context(), req.Identity, func(e *tokencache.Entry) error {
		for k, tok := range e.Tokens {
			tok.Issued, tok.Expires = tok.Issued.Add(d), tok.Expires.Add(d)
			e.Tokens[k] = tok
		}
		if s := e.Session; s != nil {
			s.Issued, s.Expires = s.Issued.Add(d), s.Expires.Add(d)
		}
		for k, f := range e.Failures {
			f.At = f.At.Add(d)
			e.Failures[k] = f
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Issue 10, defect 3: with 8 s tokens and the cached times 5 s ahead (the
// clock stepped back 5 s), get served the token after it had expired.
func TestClockSteppedBackIsNotTrusted(t *testing.T) {
	h, aws, clock := setup(t)
	aws.tokenLife = 8 * time.Second
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err)
	}
	shiftCache(t, h, 5*time.Second)
	for range 20 {
		clock.Advance(time.Second)
		_, pw, err := h.Get(host)
		if err != nil {
			t.Fatalf("%s: %v", clock.Now(), err)
		}
		if exp := aws.issued[pw]; !exp.After(clock.Now()) {
			t.Fatalf("%s: served %s, which expired at %s", clock.Now(), pw, exp)
		}
	}
	// The same holds when the refresh fails: a token whose issue time is in
	// the future has an unknown remainder, so it is not served as a fallback.
	aws.down = true
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err) // fresh: no refresh needed
	}
	shiftCache(t, h, time.Hour)
	clock.Advance(tokencache.FailureHold)
	if _, pw, err := h.Get(host); err == nil {
		t.Errorf("AWS down, cached token issued in the future: served %s", pw)
	}
}

// Issue 10, defect 3: a failure record an hour in the future answered every
// get for an hour ("failed -59m49s ago") with AWS never asked.
func TestFailureInTheFutureIsNotRemembered(t *testing.T) {
	h, aws, clock := setup(t)
	aws.down = true
	if _, _, err := h.Get(host); err == nil {
		t.Fatal("AWS down, get succeeded")
	}
	shiftCache(t, h, time.Hour)
	aws.down = false
	clock.Advance(time.Second)
	if _, _, err := h.Get(host); err != nil {
		t.Errorf("AWS back, failure record 1h in the future: %v", err)
	}
	if _, toks := aws.counts(); toks != 1 {
		t.Errorf("%d tokens fetched, want 1", toks)
	}
}

// Issue 10, defect 15: after raising the timeout, as the error advises, the
// next get repeated the remembered "no answer within" failure.
func TestChangedSettingForgetsTheFailure(t *testing.T) {
	h, aws, clock := setup(t)
	aws.down = true
	if _, _, err := h.Get(host); err == nil {
		t.Fatal("AWS down, get succeeded")
	}
	aws.down = false
	clock.Advance(time.Second)
	if _, _, err := h.Get(host); err == nil {
		t.Fatal("a get right after a failure with nothing changed should answer with that failure")
	}
	h.refresher.(*refresh.Fetcher).Timeout = 20 * time.Second // CURRENTS_TIMEOUT=20s
	if _, _, err := h.Get(host); err != nil {
		t.Errorf("timeout raised: %v; want AWS asked again", err)
	}
}

// Issue 10, defect 5: a lock file that cannot be opened failed every cold get
// with "another process has been refreshing for over 30s". A cache problem
// must not stop a pull: refresh without the lock, and say what is wrong.
func TestUnusableLockFileDoesNotStopTheRefresh(t *testing.T) {
	h, aws, _ := setup(t)
	var logs bytes.Buffer
	f := h.refresher.(*refresh.Fetcher)
	f.Log = logging.New(&logs, 0, "test")
	req, _ := h.Resolve(host)
	lock := filepath.Join(h.cache.Dir(), req.Identity.Key()+".lock")
	if err := os.Symlink(filepath.Join(t.TempDir(), "missing", "x"), lock); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Get(host); err != nil {
		t.Fatalf("unusable lock file: %v", err)
	}
	if _, toks := aws.counts(); toks != 1 {
		t.Errorf("%d tokens, want 1", toks)
	}
	for _, want := range []string{"level=WARN", lock, "symbolic link", "rm -r " + lock} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// Issue 10, defect 12: a host docker sends to the helper that has no entry
// (and is not an ECR hostname) got "credentials not found" and nothing on
// stderr, so docker showed "no basic auth credentials" with no line above.
func TestUnconfiguredHostIsExplainedOnStderr(t *testing.T) {
	cfg, err := config.Parse("/home/u/.docker/currents.yaml", []byte("registries:\n  - host: "+host+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	h := New(cfg, tokencache.Disabled(errors.New("none")), failing{errors.New("not called")}, WithErrorOutput(&stderr))
	_, _, err = h.Get("https://registry.example.com:5000/v2/")
	if !credentials.IsErrCredentialsNotFound(err) {
		t.Errorf("Get = %v, want credentials not found (docker falls back on it)", err)
	}
	line := stderr.String()
	for _, want := range []string{"registry.example.com:5000", "/home/u/.docker/currents.yaml", "configure --registry registry.example.com:5000"} {
		if !strings.Contains(line, want) {
			t.Errorf("stderr lacks %q: %q", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want one line on stderr, got %q", line)
	}
	// A URL that is no host at all says nothing, and shows no userinfo.
	stderr.Reset()
	h.Get("https://user:pw@")
	if strings.Contains(stderr.String(), "pw") {
		t.Errorf("stderr shows the URL's password: %q", stderr.String())
	}
}

func TestFutureTimesAreNotTrusted(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	issued, expires := now.Add(5*time.Second), now.Add(13*time.Second)
	if !credential.NeedsRefresh(issued, expires, now) {
		t.Error("NeedsRefresh: a credential issued in the future needs no refresh")
	}
	if credential.Servable(issued, expires, now) {
		t.Error("Servable: a credential issued in the future is served")
	}
}

// Harden, defect 9: erase with a lock file that cannot serve (here a directory) failed, and so did the
// `docker logout` that ran it. Like get (TestUnusableLockFileDoesNotStopTheRefresh), it now does its job
// without the lock and says at warning level what is wrong and how to fix it.
func TestUnusableLockFileDoesNotStopTheErase(t *testing.T) {
	h, aws, _ := setup(t)
	var logs bytes.Buffer
	h.log = logging.New(&logs, 0, "test")
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err)
	}
	req, _ := h.Resolve(host)
	lock := filepath.Join(h.cache.Dir(), req.Identity.Key()+".lock")
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(lock, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := h.Delete(host); err != nil {
		t.Fatalf("erase with an unusable lock file: %v", err)
	}
	for _, want := range []string{"level=WARN", lock, "rm -r " + lock} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if _, _, err := h.Get(host); err != nil {
		t.Fatal(err)
	}
	if _, toks := aws.counts(); toks != 2 {
		t.Errorf("%d tokens fetched, want 2: erase did not drop the cached one", toks)
	}
}
