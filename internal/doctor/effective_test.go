package doctor

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/tokencache"
)

// Issue 10, defect 11: `config` printed AWS_ENDPOINT_URL=http://user:password@… in clear.
func TestEveryURLsUserinfoIsRedacted(t *testing.T) {
	env := map[string]string{
		"AWS_ENDPOINT_URL":     "http://user:s3cret-pw@127.0.0.1:4566",
		"AWS_ENDPOINT_URL_STS": "https://tok3n-only@sts.example.com/path",
		"HTTPS_PROXY":          "http://proxyuser:pr0xy-pw@proxy:3128",
		"http_proxy":           "pr0xy-pw2@proxy:3128", // no scheme, as curl and Go accept it
		"AWS_CA_BUNDLE":        "/etc/certs@v2/ca.pem",
		"AWS_PROFILE":          "ops@corp",
		"AWS_SESSION_TOKEN":    "sess-t0ken",
	}
	var shown []string
	for _, v := range visibleEnv(func(k string) string { return env[k] }) {
		shown = append(shown, v.Name+"="+v.Value)
	}
	out := strings.Join(shown, "\n")
	for _, secret := range []string{"s3cret-pw", "tok3n-only", "pr0xy-pw", "pr0xy-pw2", "sess-t0ken", "proxyuser", "user:"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q shown:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		"AWS_ENDPOINT_URL=http://[redacted]@127.0.0.1:4566", "AWS_ENDPOINT_URL_STS=https://[redacted]@sts.example.com/path",
		"HTTPS_PROXY=http://[redacted]@proxy:3128", "http_proxy=[redacted]@proxy:3128",
		"AWS_CA_BUNDLE=/etc/certs@v2/ca.pem", "AWS_PROFILE=ops@corp", "AWS_SESSION_TOKEN=[set]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %s:\n%s", want, out)
		}
	}
}

// Harden, misc: after a backward clock step `config` said a token issued in the future was "valid until …
// next refresh at …" and a failure recorded then "(-59m0s ago)". Neither is claimed now.
func TestTimesFromBeforeAClockStepAreNotTrusted(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	issued := now.Add(59 * time.Minute)
	got := lifetime(true, issued, issued.Add(12*time.Hour), now, "none")
	if got != "issued in the future (2026-03-01T12:59:00Z): the clock stepped back; the next get refreshes" {
		t.Errorf("lifetime: %s", got)
	}
	// An expiry AWS gave that this machine's clock (ahead of AWS's) already passed: "(in -5m0s)" before.
	if got := stamp(now.Add(-5*time.Minute), now); strings.Contains(got, "-5m") || !strings.Contains(got, "already past by this machine's clock") {
		t.Errorf("stamp: %s", got)
	}
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "currents.yaml"), []byte("registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := tokencache.Open(tokencache.WithDir(filepath.Join(dir, "cache")))
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := cfg.Lookup("513558712013.dkr.ecr.us-east-1.amazonaws.com")
	getenv := func(string) string { return "" }
	e := &tokencache.Entry{}
	e.SetFailure(tokencache.TokenKey(tg.Registry), tokencache.Failure{At: issued, Message: "AccessDenied"})
	if err := cache.Store(tokencache.IdentityFor(tg, getenv), e); err != nil {
		t.Fatal(err)
	}
	var s RegistryState
	cacheState(&s, cache, tg, getenv, now)
	if !strings.Contains(s.Failure, "(in the future: the clock stepped back)") || strings.Contains(s.Failure, "-59m") {
		t.Errorf("failure: %s", s.Failure)
	}
}
