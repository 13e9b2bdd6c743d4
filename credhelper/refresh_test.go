package credhelper_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/currentsdev/currents/internal/standin"
)

// twoRegistries configures the world's alias and a real ECR hostname of the
// vendor's account in another region: one principal, two tokens.
func twoRegistries(w *world) (alias, west string) {
	west = w.aws.Account() + ".dkr.ecr.eu-west-1.amazonaws.com"
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: %s\n"+
		"  - host: %s\n    role_arn: %s\n    external_id: %s\n",
		w.reg.Host(), w.reg.Account(), w.reg.Region(), w.role, externalID, west, w.role, externalID))
	return w.reg.Host(), west
}

// makeDue rewrites every cached token of the world as issued 11 hours ago and
// expiring in one: still valid, but past its refresh point.
func makeDue(t *testing.T, w *world, region string) {
	t.Helper()
	f := w.cacheFile()
	var doc map[string]any
	b, _ := os.ReadFile(f)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	tok := doc["tokens"].(map[string]any)[region].(map[string]any)
	tok["issued"] = time.Now().Add(-11 * time.Hour).UTC().Format(time.RFC3339)
	tok["expires"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

type statusJSON struct {
	SchemaVersion int `json:"schemaVersion"`
	Registries    []struct {
		Registry      string    `json:"registry"`
		Role          string    `json:"role"`
		State         string    `json:"state"`
		TokenExpires  time.Time `json:"tokenExpires"`
		LastResult    string    `json:"lastResult"`
		LastErrorStep string    `json:"lastErrorStep"`
		LastError     string    `json:"lastError"`
		Failures      int64     `json:"failures"`
	} `json:"registries"`
}

func (w *world) status(extra map[string]string, args ...string) (statusJSON, string) {
	w.t.Helper()
	out, code := w.run(bin.lean, "", extra, append([]string{"status", "--format", "json"}, args...)...)
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil {
		w.t.Fatalf("status: exit %d, %v\n%s\nstderr:\n%s", code, err, out, w.logs())
	}
	return s, out
}

// refresh runs `refresh args...` through the lean binary and returns its stdout, what it added to stderr
// and its exit code.
func (w *world) refresh(args ...string) (out, errs string, code int) {
	w.t.Helper()
	before := w.logs()
	out, code = w.run(bin.lean, "", nil, append([]string{"refresh"}, args...)...)
	return out, strings.TrimPrefix(w.logs(), before), code
}

// expectRefresh runs refresh and checks its exit code, that every line wanted is printed, and the AWS
// requests it made.
func (w *world) expectRefresh(code int, wantCalls standin.Counts, want []string, args ...string) {
	w.t.Helper()
	w.aws.Reset()
	out, errs, got := w.refresh(args...)
	if got != code {
		w.t.Fatalf("refresh %v: exit %d, want %d\n%s\nstderr:\n%s", args, got, code, out, errs)
	}
	for _, s := range want {
		if !strings.Contains(out+errs, s) {
			w.t.Errorf("refresh %v does not say %q:\n%s%s", args, s, out, errs)
		}
	}
	if c := w.aws.Calls(); c != wantCalls {
		w.t.Errorf("refresh %v made %+v AWS requests, want %+v", args, c, wantCalls)
	}
}

func TestRefreshRenewsWhatIsDue(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alias, west := twoRegistries(w)
	// A cold host: every session and token is due: one principal, two regions.
	w.expectRefresh(0, standin.Counts{AssumeRole: 1, GetAuthorizationToken: 2},
		[]string{alias + ": session renewed, token renewed", west + ": token renewed"})
	// Nothing due: not one request reaches AWS.
	w.expectRefresh(0, standin.Counts{}, []string{alias + ": nothing due", west + ": nothing due"})
	// A due token, its session still fresh: exactly one GetAuthorizationToken.
	makeDue(t, w, w.reg.Region())
	w.expectRefresh(0, standin.Counts{GetAuthorizationToken: 1}, []string{alias + ": token renewed", west + ": nothing due"})

	// The renewed token is what the next get serves, from the cache alone.
	trip, mark := w.tripwire()
	w.prove(w.mustGet(alias, map[string]string{"CURRENTS_AWS_HELPER": trip}))
	if _, err := os.Stat(mark); err == nil {
		t.Error("the get after refresh needed the AWS helper")
	}
	if s, _ := w.status(nil); s.Registries[0].State != "fresh" || time.Until(s.Registries[0].TokenExpires) < 11*time.Hour {
		t.Errorf("after refresh: %+v", s.Registries[0])
	}
	// --registry and --force: that registry's session and token, nothing else.
	w.expectRefresh(0, standin.Counts{AssumeRole: 1, GetAuthorizationToken: 1}, []string{west + ": session renewed, token renewed"}, "--registry", west, "--force")
}

// TestRefreshFindsARefusedRole: a refused role is found by refresh, not by the next pull: exit 1, each
// registry named with the fix, the failure recorded for status, and the cached token still serving.
func TestRefreshFindsARefusedRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alias, west := twoRegistries(w)
	w.expectRefresh(0, standin.Counts{AssumeRole: 1, GetAuthorizationToken: 2}, nil)
	w.aws.RefuseRole(w.role, true)
	w.expectRefresh(1, standin.Counts{AssumeRole: 2}, []string{"FAILED " + alias, "FAILED " + west, "AccessDenied", w.role, "fix: ask the vendor to trust"}, "--force")
	s, _ := w.status(nil)
	for _, r := range s.Registries {
		if r.LastResult != "failed" || r.LastErrorStep != "assume-role" || r.Failures != 1 || !strings.Contains(r.LastError, "AccessDenied") {
			t.Errorf("status after the refused refresh: %+v", r)
		}
	}
	w.prove(w.mustGet(alias, nil))
	// A host that is not ours is a usage error with the fix.
	w.expectRefresh(1, standin.Counts{}, []string{"configure --registry registry.example.org"}, "--registry", "registry.example.org")
}

// TestStatusReadsOnlyTheCache: status runs in the lean binary with an AWS
// helper that must not run and an AWS configuration that would not parse, and
// says what the cache holds in all three formats.
func TestStatusReadsOnlyTheCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.mustGet(w.reg.Host(), nil)
	trip, mark := w.tripwire()
	// An AWS config file that would not parse, at the path the get used (the
	// path is part of the cache identity): loading it would fail status.
	os.MkdirAll(filepath.Dir(w.env["AWS_CONFIG_FILE"]), 0o700)
	if err := os.WriteFile(w.env["AWS_CONFIG_FILE"], []byte("[profile\nthis is not ini"), 0o600); err != nil {
		t.Fatal(err)
	}
	textfile := filepath.Join(t.TempDir(), "currents.prom")
	extra := map[string]string{"CURRENTS_AWS_HELPER": trip}
	s, _ := w.status(extra)
	if len(s.Registries) != 1 || s.Registries[0].Registry != w.reg.Host() || s.Registries[0].State != "fresh" ||
		s.Registries[0].LastResult != "ok" || s.Registries[0].Role != w.role {
		t.Errorf("json: %+v", s)
	}
	table, code := w.run(bin.lean, "", extra, "status")
	if code != 0 || !strings.Contains(table, w.reg.Host()) || !strings.Contains(table, "fresh") || !strings.Contains(table, w.role) {
		t.Errorf("table: exit %d\n%s", code, table)
	}
	prom, code := w.run(bin.lean, "", extra, "status", "--format", "prometheus", "--textfile", textfile)
	if code != 0 {
		t.Fatalf("prometheus: exit %d\n%s", code, prom)
	}
	checkTokenExpiryMetric(t, prom, s.Registries[0].TokenExpires)
	if b, err := os.ReadFile(textfile); err != nil || string(b) != prom {
		t.Errorf("textfile differs from the output: %v", err)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("status ran the AWS helper")
	}
	if c := w.aws.Calls(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		t.Errorf("status reached AWS: %+v", c)
	}
	// A bad flag is exit 2 with the usage.
	if _, code := w.run(bin.lean, "", extra, "status", "--format", "yaml"); code != 2 {
		t.Errorf("--format yaml: exit %d", code)
	}
}

// checkTokenExpiryMetric parses prom with the Prometheus text-format parser and checks its one token expiry.
func checkTokenExpiryMetric(t *testing.T, prom string, want time.Time) {
	t.Helper()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader([]byte(prom)))
	if err != nil {
		t.Fatalf("the Prometheus parser rejects status: %v\n%s", err, prom)
	}
	exp := fams["currents_token_expiry_timestamp_seconds"]
	if exp == nil || len(exp.GetMetric()) != 1 || int64(exp.GetMetric()[0].GetGauge().GetValue()) != want.Unix() {
		t.Errorf("token expiry metric: %v, want %d", exp, want.Unix())
	}
}

// TestRefreshLeavesKubeletEntriesToTheKubelet: an entry with web_identity:
// kubernetes has no session refresh could renew (each pod's service-account
// token assumes its own, and only a kubelet request carries one), so refresh
// says so and renews the others: it failed on every run instead, exit 1 from
// the timer and currents_refresh_last_error at 1 forever on a node whose
// currents.yaml also keeps the node role's token warm.
func TestRefreshLeavesKubeletEntriesToTheKubelet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pods := w.aws.Account() + ".dkr.ecr.ap-south-1.amazonaws.com"
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: %s\n"+
		"  - host: %s\n    role_arn: arn:aws:iam::%s:role/pods\n    web_identity: kubernetes\n",
		w.reg.Host(), w.reg.Account(), w.reg.Region(), w.role, externalID, pods, w.aws.Account()))
	w.expectRefresh(0, standin.Counts{AssumeRole: 1, GetAuthorizationToken: 1},
		[]string{w.reg.Host() + ": session renewed, token renewed", pods + ": not renewed here: web_identity: kubernetes"})
	w.expectRefresh(0, standin.Counts{}, []string{pods + ": not renewed here"}, "--registry", pods, "--force")
	s, _ := w.status(nil)
	for _, r := range s.Registries {
		if r.LastResult == "failed" || r.Failures != 0 {
			t.Errorf("status after refresh: %+v", r)
		}
	}
}
