package status

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
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
// configAndCache writes yaml as dir's currents.yaml and loads it, with a
// cache in dir.
func configAndCache(t *testing.T, dir, yaml string) (*config.Config, *tokencache.Cache) {
	t.Helper()
	path := filepath.Join(dir, "currents.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := tokencache.Open(tokencache.WithDir(filepath.Join(dir, "cache")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cache
}

func world(t *testing.T) (*config.Config, *tokencache.Cache, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	yaml := "registries:\n" +
		"  - host: " + fresh + "\n    role_arn: arn:aws:iam::513558712013:role/pull\n    external_id: ext-secret-123\n" +
		"  - host: " + broken + "\n    account: \"111122223333\"\n    region: us-west-2\n    role_arn: arn:aws:iam::111122223333:role/other\n" +
		"  - host: " + empty + "\n"
	cfg, cache := configAndCache(t, dir, yaml)
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
	issued := t0.Add(-time.Minute)
	want := []Registry{{
		Host: fresh, Principal: "default credential chain", Role: "arn:aws:iam::513558712013:role/pull", State: StateFresh,
		SessionExpires: issued.Add(time.Hour), TokenExpires: issued.Add(12 * time.Hour),
		// The session (1h, refreshed at 45m) falls due before the token (12h, at 9h).
		NextRefresh: issued.Add(45 * time.Minute),
		LastRefresh: issued, LastResult: "ok", LastSuccess: issued, Failures: 1, LastErrorStep: "assume-role", LastError: "old failure",
	}, {
		Host: broken, Principal: "default credential chain", Role: "arn:aws:iam::111122223333:role/other", State: StateDue,
		SessionExpires: t0.Add(-9 * time.Hour), TokenExpires: t0.Add(2 * time.Hour), NextRefresh: t0.Add(-9*time.Hour - 15*time.Minute),
		LastRefresh: t0.Add(-5 * time.Minute), LastResult: "failed", Failures: 1, LastErrorStep: "assume-role",
		LastError: `registry.example.com:5000: assuming role failed: AWS said AccessDenied: "not authorized"`,
	}, {
		Host: empty, Principal: "default credential chain", State: StateNone,
	}}
	for i, got := range rep.Registries {
		if got.CacheFile == "" {
			t.Errorf("registry %d: no cache file named", i)
		}
		got.CacheFile = ""
		if got != want[i] {
			t.Errorf("registry %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
}

func render(t *testing.T) (rep Report, table, js, prom string, secrets map[string]string) {
	t.Helper()
	cfg, cache, secrets := world(t)
	rep = Collect(cfg, cache, func(string) string { return "" }, t0)
	var tb, jb, pb bytes.Buffer
	for _, err := range []error{rep.WriteTable(&tb), rep.WriteJSON(&jb), rep.WritePrometheus(&pb)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	all := tb.String() + jb.String() + pb.String()
	for name, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("%s leaked into status", name)
		}
	}
	return rep, tb.String(), jb.String(), pb.String(), secrets
}

func TestTableAndJSON(t *testing.T) {
	rep, table, js, _, _ := render(t)
	for _, want := range []string{fresh, broken, empty, "fresh", "due", "none", "failed at assume-role", "in 11h59m", "AWS said AccessDenied"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	var back Report
	if err := json.Unmarshal([]byte(js), &back); err != nil || back.SchemaVersion != 1 || len(back.Registries) != 3 {
		t.Fatalf("json: %v %+v\n%s", err, back, js)
	}
	if !back.Registries[0].TokenExpires.Equal(rep.Registries[0].TokenExpires) || !back.Registries[2].TokenExpires.IsZero() {
		t.Errorf("json round trip: %+v", back.Registries)
	}
	if strings.Contains(js, "0001-01-01") {
		t.Errorf("json shows zero times:\n%s", js)
	}
}

// metricValue finds the sample of name whose labels include labels.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range labels {
			match = match && got[k] == v
		}
		switch {
		case !match:
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		default:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestPrometheusParses: the Prometheus text-format parser is the judge of the exposition.
func TestPrometheusParses(t *testing.T) {
	rep, _, _, prom, _ := render(t)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(prom))
	if err != nil {
		t.Fatalf("the Prometheus parser rejects the output: %v\n%s", err, prom)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
		absent bool
	}{
		{name: "currents_token_expiry_timestamp_seconds", labels: map[string]string{"registry": fresh}, want: float64(rep.Registries[0].TokenExpires.Unix())},
		{name: "currents_token_expiry_timestamp_seconds", labels: map[string]string{"registry": empty}, absent: true},
		{name: "currents_refresh_last_success_timestamp_seconds", labels: map[string]string{"registry": fresh}, want: float64(t0.Add(-time.Minute).Unix())},
		{name: "currents_refresh_failures_total", labels: map[string]string{"registry": broken}, want: 1},
		{name: "currents_refresh_last_error", labels: map[string]string{"registry": broken, "step": "assume-role"}, want: 1},
		{name: "currents_refresh_last_error", labels: map[string]string{"registry": fresh}, want: 0},
		{name: "currents_status_timestamp_seconds", want: float64(t0.Unix())},
	} {
		v, ok := metricValue(fams, c.name, c.labels)
		if ok == c.absent || (ok && v != c.want) {
			t.Errorf("%s%v = %v (present %v), want %v (absent %v)", c.name, c.labels, v, ok, c.want, c.absent)
		}
	}
	if fams["currents_refresh_failures_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("currents_refresh_failures_total is not a counter")
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
	// Harden, misc: the directory is named, with what it must be.
	missing := filepath.Join(dir, "missing")
	if err := rep.WriteTextfile(filepath.Join(missing, "currents.prom")); err == nil ||
		!strings.Contains(err.Error(), "the directory "+missing+" does not exist; create it, and make it node_exporter's --collector.textfile.directory") {
		t.Errorf("a missing directory: %v", err)
	}
	if err := rep.WriteTextfile(filepath.Join(path, "currents.prom")); err == nil || !strings.Contains(err.Error(), path+" is not a directory") {
		t.Errorf("a file for a directory: %v", err)
	}
}

// Harden, defect 15: after the clock stepped back an hour, status showed the token issued 59 minutes in the
// future as merely due with its next refresh "in 1h44m", and its last refresh and success "in 59m". It now
// shows it untrusted, as a get treats it (the next get refreshes), and past times after now as in the future.
func TestClockSteppedBackIsShownUntrusted(t *testing.T) {
	cfg, cache, _ := world(t)
	now := t0.Add(-time.Hour)
	rep := Collect(cfg, cache, func(string) string { return "" }, now)
	g := rep.Registries[0]
	if g.State != StateUntrusted || !strings.Contains(g.Untrusted, "the clock stepped back; the next get refreshes") || !g.NextRefresh.Equal(now) {
		t.Errorf("a token issued in the future: %+v", g)
	}
	if rep.Registries[1].State != StateDue || rep.Registries[1].Untrusted != "" {
		t.Errorf("a token issued in the past is no less trusted for the step: %+v", rep.Registries[1])
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	row := strings.SplitN(table.String(), "\n", 3)[1]
	for _, want := range []string{"untrusted", "now", "in the future (clock stepped back)"} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q: %s", want, row)
		}
	}
	for _, bad := range []string{"fresh", "in 59m", "in 1h44m", " -"} {
		if strings.Contains(row, bad) {
			t.Errorf("row shows %q: %s", bad, row)
		}
	}
	if !strings.Contains(table.String(), "untrusted: issued in the future: the clock stepped back; the next get refreshes") ||
		strings.Contains(table.String(), "(in 59m)") {
		t.Errorf("details:\n%s", table.String())
	}
}

// Harden, misc: a corrupt cache file showed as "none" with nothing said. Status now names the file and says
// that the next get replaces it, in the table and in JSON, without its content.
func TestCorruptCacheFileIsNamed(t *testing.T) {
	cfg, cache, _ := world(t)
	rep := Collect(cfg, cache, func(string) string { return "" }, t0)
	file := rep.Registries[0].CacheFile
	for content, reason := range map[string]string{
		`{"version":1,"tokens":{"us-east-1":{"password":"pw-partial-0123`: "not valid JSON: cut short or edited",
		`{"version":99}`: "an entry of another version, or an incomplete one",
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		rep := Collect(cfg, cache, func(string) string { return "" }, t0)
		g := rep.Registries[0]
		want := file + " is not a usable cache file (" + reason + "); the next get replaces it"
		if g.State != StateNone || g.CacheFileError != want {
			t.Errorf("state %s, cacheFileError %q; want %q", g.State, g.CacheFileError, want)
		}
		var table, js bytes.Buffer
		rep.WriteTable(&table)
		rep.WriteJSON(&js)
		if !strings.Contains(table.String(), "  cache file: "+want) || !strings.Contains(js.String(), `"cacheFileError"`) ||
			strings.Contains(table.String()+js.String(), "pw-partial") {
			t.Errorf("table:\n%s\njson:\n%s", table.String(), js.String())
		}
	}
}

// TestWebIdentityPrincipalIsNamed: an entry with web_identity (a CI job's or
// a pod's OIDC token, no token file) showed as "web identity token " with
// nothing after it, in the table and in the principal label of
// currents_registry_info.
func TestWebIdentityPrincipalIsNamed(t *testing.T) {
	dir := t.TempDir()
	yaml := "registries:\n" +
		"  - host: 513558712013.dkr.ecr.us-west-2.amazonaws.com\n    role_arn: arn:aws:iam::513558712013:role/gh\n    web_identity: github-actions\n" +
		"  - host: 513558712013.dkr.ecr.eu-west-1.amazonaws.com\n    role_arn: arn:aws:iam::513558712013:role/cc\n    web_identity: circleci\n" +
		"  - host: 513558712013.dkr.ecr.ap-south-1.amazonaws.com\n    role_arn: arn:aws:iam::513558712013:role/pods\n    web_identity: kubernetes\n" +
		"  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    role_arn: arn:aws:iam::513558712013:role/file\n    web_identity_token_file: /var/run/token\n"
	cfg, cache := configAndCache(t, dir, yaml)
	rep := Collect(cfg, cache, func(string) string { return "" }, t0)
	want := []string{"GitHub Actions job's OIDC token", "CircleCI job's OIDC token", "Kubernetes service account's token (sent by the kubelet)", "web identity token /var/run/token"}
	for i, r := range rep.Registries {
		if r.Principal != want[i] {
			t.Errorf("%s: principal %q, want %q", r.Host, r.Principal, want[i])
		}
	}
}

// TestAccessKeyIDIsMasked: an entry served by the default chain names its
// long-term key, and the Prometheus text holding that name is readable by
// others (node_exporter): the key ID shows its last four characters only.
func TestAccessKeyIDIsMasked(t *testing.T) {
	cfg, cache := configAndCache(t, t.TempDir(), "registries:\n  - host: 513558712013.dkr.ecr.us-west-2.amazonaws.com\n")
	const id = "AKIAIOSFODNN7EXAMPLE"
	env := map[string]string{"AWS_ACCESS_KEY_ID": id, "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	rep := Collect(cfg, cache, func(k string) string { return env[k] }, t0)
	var prom strings.Builder
	if err := rep.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{rep.Registries[0].Principal, prom.String()} {
		if strings.Contains(out, id) || !strings.Contains(out, "****************MPLE") {
			t.Errorf("the key ID is not masked to its last four characters:\n%s", out)
		}
	}
}
