package status

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/tokencache"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	fresh  = "513558712013.dkr.ecr.us-east-1.amazonaws.com"
	broken = "registry.example.com:5000"
	empty  = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
)

// world writes a currents.yaml with three registries and a cache holding: a
// fresh token and session for the first, a due token whose last refresh failed
// for the second (an alias with a quote in nothing but its error), nothing for
// the third.
func world(t *testing.T) (*config.Config, *tokencache.Cache, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	yaml := "registries:\n" +
		"  - host: " + fresh + "\n    role_arn: arn:aws:iam::513558712013:role/pull\n    external_id: ext-secret-123\n" +
		"  - host: " + broken + "\n    account: \"111122223333\"\n    region: us-west-2\n    role_arn: arn:aws:iam::111122223333:role/other\n" +
		"  - host: " + empty + "\n"
	path := filepath.Join(dir, "currents.yaml")
	os.WriteFile(path, []byte(yaml), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := tokencache.Open(tokencache.WithDir(filepath.Join(dir, "cache")))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	secrets := map[string]string{"external id": "ext-secret-123"}
	put := func(host string, issued time.Time, life time.Duration, fill func(*tokencache.Entry)) {
		tg, _ := cfg.Lookup(host)
		id := tokencache.IdentityFor(tg, getenv)
		pw, sk, st := "pw-"+host+"-0123456789", "sk-"+host+"-0123456789", "st-"+host+"-0123456789"
		secrets["password "+host], secrets["secret key "+host], secrets["session token "+host] = pw, sk, st
		e := &tokencache.Entry{Session: &credential.Session{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: secret.New(sk),
			SessionToken: secret.New(st), Issued: issued, Expires: issued.Add(time.Hour)}}
		e.SetToken(tokencache.TokenKey(tg.Registry), credential.Token{Username: "AWS", Password: secret.New(pw), Issued: issued, Expires: issued.Add(life)})
		fill(e)
		if err := cache.Store(id, e); err != nil {
			t.Fatal(err)
		}
	}
	put(fresh, t0.Add(-time.Minute), 12*time.Hour, func(e *tokencache.Entry) {
		e.RecordFailure("us-east-1", t0.Add(-2*time.Hour), "assume-role", "old failure")
		e.RecordSuccess("us-east-1", t0.Add(-time.Minute))
	})
	put(broken, t0.Add(-10*time.Hour), 12*time.Hour, func(e *tokencache.Entry) {
		e.RecordFailure("us-west-2", t0.Add(-5*time.Minute), "assume-role", `registry.example.com:5000: assuming role failed: AWS said AccessDenied: "not authorized"`)
	})
	return cfg, cache, secrets
}

func TestCollect(t *testing.T) {
	cfg, cache, _ := world(t)
	rep := Collect(cfg, cache, func(string) string { return "" }, t0)
	if len(rep.Registries) != 3 {
		t.Fatalf("registries: %+v", rep.Registries)
	}
	f, b, e := rep.Registries[0], rep.Registries[1], rep.Registries[2]
	if f.Host != fresh || f.State != StateFresh || !f.TokenExpires.Equal(t0.Add(-time.Minute+12*time.Hour)) ||
		!f.SessionExpires.Equal(t0.Add(59*time.Minute)) || f.Role != "arn:aws:iam::513558712013:role/pull" ||
		f.LastResult != "ok" || f.Failures != 1 || !f.LastSuccess.Equal(t0.Add(-time.Minute)) || f.Principal != "default credential chain" {
		t.Errorf("fresh: %+v", f)
	}
	// The session (1h, refreshed at 45m) falls due before the token (12h, at 9h).
	if !f.NextRefresh.Equal(t0.Add(-time.Minute + 45*time.Minute)) {
		t.Errorf("fresh next refresh %s", f.NextRefresh)
	}
	if b.State != StateDue || b.LastResult != "failed" || b.LastErrorStep != "assume-role" || b.Failures != 1 || !b.LastSuccess.IsZero() {
		t.Errorf("broken: %+v", b)
	}
	if e.State != StateNone || !e.TokenExpires.IsZero() || e.LastResult != "" || e.Role != "" {
		t.Errorf("empty: %+v", e)
	}
}

func TestFormatsCarryTheStateAndNoSecret(t *testing.T) {
	cfg, cache, secrets := world(t)
	rep := Collect(cfg, cache, func(string) string { return "" }, t0)
	var table, js, prom bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := rep.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fresh, broken, empty, "fresh", "due", "none", "failed at assume-role", "in 11h59m", "AWS said AccessDenied"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.SchemaVersion != 1 || len(back.Registries) != 3 ||
		!back.Registries[0].TokenExpires.Equal(rep.Registries[0].TokenExpires) || back.Registries[2].TokenExpires != (time.Time{}) {
		t.Errorf("json round trip: %v %+v\n%s", err, back, js.String())
	}
	if strings.Contains(js.String(), "0001-01-01") {
		t.Errorf("json shows zero times:\n%s", js.String())
	}

	// The Prometheus text-format parser is the judge of the exposition.
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(prom.Bytes()))
	if err != nil {
		t.Fatalf("the Prometheus parser rejects the output: %v\n%s", err, prom.String())
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f, ok := fams[name]
		if !ok {
			return 0, false
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
		return 0, false
	}
	if v, ok := value("currents_token_expiry_timestamp_seconds", map[string]string{"registry": fresh}); !ok || int64(v) != rep.Registries[0].TokenExpires.Unix() {
		t.Errorf("token expiry %v %v", v, ok)
	}
	if _, ok := value("currents_token_expiry_timestamp_seconds", map[string]string{"registry": empty}); ok {
		t.Error("a registry with no token has a token expiry")
	}
	if v, ok := value("currents_refresh_last_success_timestamp_seconds", map[string]string{"registry": fresh}); !ok || int64(v) != t0.Add(-time.Minute).Unix() {
		t.Errorf("last success %v %v", v, ok)
	}
	if v, ok := value("currents_refresh_failures_total", map[string]string{"registry": broken}); !ok || v != 1 || fams["currents_refresh_failures_total"].GetType().String() != "COUNTER" {
		t.Errorf("failures %v %v", v, ok)
	}
	if v, ok := value("currents_refresh_last_error", map[string]string{"registry": broken, "step": "assume-role"}); !ok || v != 1 {
		t.Errorf("last error of the broken registry %v %v", v, ok)
	}
	if v, ok := value("currents_refresh_last_error", map[string]string{"registry": fresh}); !ok || v != 0 {
		t.Errorf("last error of the recovered registry %v %v", v, ok)
	}
	if v, ok := value("currents_status_timestamp_seconds", nil); !ok || int64(v) != t0.Unix() {
		t.Errorf("status time %v %v", v, ok)
	}

	all := table.String() + js.String() + prom.String()
	for name, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("%s leaked into status", name)
		}
	}
}

func TestTextfileIsAtomicAndReadable(t *testing.T) {
	cfg, cache, _ := world(t)
	rep := Collect(cfg, cache, func(string) string { return "" }, t0)
	dir := t.TempDir()
	path := filepath.Join(dir, "currents.prom")
	if err := rep.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteTextfile(path); err != nil { // replacing works too
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("textfile: %v %v", fi, err)
	}
	var p expfmt.TextParser
	b, _ := os.ReadFile(path)
	if _, err := p.TextToMetricFamilies(bytes.NewReader(b)); err != nil {
		t.Errorf("textfile does not parse: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := rep.WriteTextfile(filepath.Join(dir, "currents.txt")); err == nil || !strings.Contains(err.Error(), ".prom") {
		t.Errorf("a name the collector ignores: %v", err)
	}
	if err := rep.WriteTextfile(filepath.Join(dir, "missing", "currents.prom")); err == nil || !strings.Contains(err.Error(), "create the directory") {
		t.Errorf("a missing directory: %v", err)
	}
}
