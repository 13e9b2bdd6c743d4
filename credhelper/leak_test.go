package credhelper_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/iampolicy"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/tokencache"
)

// TestNoSecretLeaks runs every scenario at debug level and greps everything a
// secret could escape through — stderr, error messages, `config` output, the
// AWS helper's argv, the cache directory's names and modes — for every secret
// in play. Only the `get` answer and the 0600 cache file may hold them.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.env["CURRENTS_LOG"] = "debug"
	argvLog := filepath.Join(t.TempDir(), "argv")
	wrapper := filepath.Join(t.TempDir(), "aws-wrapper")
	os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\ntr '\\000' ' ' < /proc/$$/cmdline >> %q\necho >> %q\nexec %q \"$@\"\n", argvLog, argvLog, bin.fat)), 0o700)
	w.env["CURRENTS_AWS_HELPER"] = wrapper

	var seen []string // everything that must be secret-free
	// The access key ID is not the secret half, but reports that show it go
	// to files others can read (status's Prometheus text): shown, it is
	// masked to its last four characters.
	secrets := map[string]string{"user secret key": w.user.SecretAccessKey, "external ID": externalID, "user access key ID": w.user.AccessKeyID}
	answer := func(c *credentials.Credentials) {
		w.prove(c)
		secrets["ECR password "+c.Secret[:12]] = c.Secret
	}
	fail := func(err error) {
		if err == nil {
			t.Errorf("scenario %d should have failed", len(seen))
			return
		}
		seen = append(seen, err.Error())
	}

	// Cold, warm, erase and refetch under the vendor role.
	answer(w.mustGet(w.reg.Host(), nil))
	answer(w.mustGet(w.reg.Host(), nil))
	if err := client.Erase(w.prog(bin.lean, nil), w.reg.Host()); err != nil {
		t.Fatal(err)
	}
	answer(w.mustGet(w.reg.Host(), nil))
	// store must swallow what docker login hands it.
	secrets["docker login password"] = "docker-login-pw-93af1"
	if err := client.Store(w.prog(bin.lean, nil), &credentials.Credentials{ServerURL: w.reg.Host(), Username: "AWS", Secret: secrets["docker login password"]}); err != nil {
		t.Fatal(err)
	}
	// Default chain and web identity.
	realHost := w.aws.Account() + ".dkr.ecr." + w.aws.Region() + ".amazonaws.com"
	answer(w.mustGet(realHost, nil))
	jwt := "eyJhbGciOiJSUzI1NiJ9.leak-test-subject.sig"
	secrets["OIDC token"] = jwt
	tokenFile := filepath.Join(w.home, "oidc")
	os.WriteFile(tokenFile, []byte(jwt), 0o600)
	ciRole := "arn:aws:iam::" + w.aws.Account() + ":role/ci"
	w.aws.AddRole(ciRole, standin.RoleSpec{WebIdentityToken: jwt})
	oidc := map[string]string{"AWS_ROLE_ARN": ciRole, "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
	answer(w.mustGet(realHost, oidc))
	// Corrupt, wide-mode cache files are rebuilt.
	for _, f := range w.cacheFiles() {
		os.WriteFile(f, []byte("{\"version\":1,\"tokens\":{\"us-east-1\":"), 0o644)
	}
	answer(w.mustGet(w.reg.Host(), nil))
	answer(w.mustGet(realHost, nil))
	answer(w.mustGet(realHost, oidc))
	// CI jobs' own OIDC tokens and the kubelet mode (see ciAndKubeletLeaks).
	seen = append(seen, ciAndKubeletLeaks(t, w, secrets)...)
	var out string
	// Failures: refused role, wrong web identity, timeout.
	w.aws.RefuseRole(w.role, true)
	// A fresh cache: the cached session would (rightly) still serve.
	_, err := w.get(w.reg.Host(), map[string]string{"CURRENTS_CACHE_DIR": filepath.Join(t.TempDir(), "c")})
	fail(err)
	// refresh, failing (the refusal recorded in the cache for status) and below succeeding.
	seen = append(seen, refreshAndStatus(t, w, 1)...)
	w.aws.RefuseRole(w.role, false)
	os.WriteFile(tokenFile, []byte(jwt+"-tampered"), 0o600)
	oidc["CURRENTS_CACHE_DIR"] = filepath.Join(t.TempDir(), "c")
	_, err = w.get(realHost, oidc)
	fail(err)
	w.aws.SetLatency(2 * time.Second)
	_, err = w.get(w.aws.Account()+".dkr.ecr.ap-south-1.amazonaws.com", map[string]string{"CURRENTS_TIMEOUT": "1s"})
	fail(err)
	w.aws.SetLatency(0)
	// Commands a user runs.
	out, _ = w.run(bin.lean, "", nil, "config")
	seen = append(seen, out)
	list, _ := w.run(bin.lean, "", nil, "list")
	seen = append(seen, list)
	seen = append(seen, refreshAndStatus(t, w, 0)...)
	seen = append(seen, leakConfigure(t, w, secrets)...)
	// docker currents watch over a queue read with the role, and what it writes (watch_leak_test.go).
	seen = append(seen, w.watchOutputs()...)

	cacheSecrets(t, w, secrets)
	argv, _ := os.ReadFile(argvLog)
	if !strings.Contains(string(argv), " get") {
		t.Fatalf("the wrapper never ran: %q", argv)
	}
	seen = append(seen, w.logs(), string(argv))
	entries, _ := os.ReadDir(w.cacheDir)
	for _, e := range entries {
		fi, _ := e.Info()
		seen = append(seen, fmt.Sprintf("%s %o", e.Name(), fi.Mode().Perm()))
		if (strings.HasSuffix(e.Name(), ".json") || e.Name() == tokencache.CompiledFile) && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s holds secrets with mode %o", e.Name(), fi.Mode().Perm())
		}
		// Entries and currents.yaml's compiled form hold secrets, 0600 in a
		// 0700 directory; lock files must stay empty.
		if !strings.HasSuffix(e.Name(), ".json") && e.Name() != tokencache.CompiledFile {
			b, _ := os.ReadFile(filepath.Join(w.cacheDir, e.Name()))
			seen = append(seen, string(b))
		}
	}
	if fi, _ := os.Stat(w.cacheDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %o", fi.Mode().Perm())
	}

	all := strings.Join(seen, "\n")
	if !strings.Contains(all, "level=DEBUG") {
		t.Fatal("debug logging was not on; the test would prove nothing")
	}
	for name, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("%s is implausibly short: %q", name, s)
		}
		// A prefix catches truncated leaks too.
		for _, needle := range []string{s, s[:min(len(s), 24)]} {
			if strings.Contains(all, needle) {
				t.Errorf("%s leaked:\n%s", name, excerpt(all, needle))
			}
		}
	}
	t.Logf("checked %d secrets against %d bytes of logs, errors, argv and listings", len(secrets), len(all))
}

// leakConfigure runs configure with an external ID from stdin (its output, its --print diffs, an error), then
// config with a password in an endpoint URL and doctor, and checks that the files configure leaves let no
// other user read the ID. It adds the secrets it brings to secrets and returns what must be free of them.
func leakConfigure(t *testing.T, w *world, secrets map[string]string) []string {
	t.Helper()
	var seen []string
	secrets["configure's external ID"] = "cfg-ext-id-5521ab9e"
	secrets["endpoint password"] = "endpoint-pw-8c1d3f"
	cfgArgs := []string{"configure", "--registry", "leak.example.com", "--account", w.aws.Account(), "--region", w.aws.Region(),
		"--role-arn", w.role, "--external-id-file", "-"}
	must(t, os.Chmod(w.config, 0o644)) // as a user may have left it: configure must make it private
	// Secrets that do not sit on lines of their own (harden, defect 2): a one-line config.json with a login,
	// and a currents.yaml entry in flow style; --print must mask them too.
	secrets["one-line login"] = "b25lLWxpbmU6bG9naW4tc2VjcmV0LTQ0"
	secrets["flow-style external ID"] = "flow-ext-id-9e3a77c1"
	must(t, os.WriteFile(filepath.Join(filepath.Dir(w.config), "config.json"),
		[]byte(`{"auths":{"ghcr.io":{"auth":"`+secrets["one-line login"]+`"}},"psFormat":"table"}`), 0o600))
	yaml, err := os.ReadFile(w.config)
	must(t, err)
	must(t, os.WriteFile(w.config, append(yaml, []byte("  - {host: flow.example.com, account: \""+w.aws.Account()+"\", region: "+w.aws.Region()+
		", role_arn: \""+w.role+"\", external_id: "+secrets["flow-style external ID"]+"}\n")...), 0o644))
	for _, args := range [][]string{append(cfgArgs, "--print"), cfgArgs, append(cfgArgs, "--duration", "2h", "--print"),
		append(slices.Clone(cfgArgs[:len(cfgArgs)-4]), "--role-arn", "customer-pull", "--external-id-file", "-"),
		// the external ID kept by a run that gives none (--print, then written), and a repeated flag refused
		append(slices.Clone(cfgArgs[:len(cfgArgs)-2]), "--print"), slices.Clone(cfgArgs[:len(cfgArgs)-2]),
		append(slices.Clone(cfgArgs), "--external-id-file", "-")} {
		out, code := w.run(bin.lean, secrets["configure's external ID"]+"\n", nil, args...)
		seen = append(seen, out, fmt.Sprintf("configure exit %d", code))
	}
	endpoint := map[string]string{"AWS_ENDPOINT_URL": "http://leakuser:" + secrets["endpoint password"] + "@127.0.0.1:9"}
	config, _ := w.run(bin.lean, "", endpoint, "config")
	doctor, _ := w.run(bin.lean, "", nil, "doctor", "--format", "json")
	seen = append(seen, config, doctor)
	if all := strings.Join(append(seen, w.logs()), "\n"); !strings.Contains(all, "leak.example.com") || !strings.Contains(all, "[redacted]") ||
		!strings.Contains(all, "kept external_id") || !strings.Contains(all, "--external-id-file given 2 times") {
		t.Error("configure did not run as the leak test expects: it would prove nothing")
	}
	dockerDir := filepath.Dir(w.config)
	files, _ := os.ReadDir(dockerDir)
	for _, e := range files {
		p := filepath.Join(dockerDir, e.Name())
		b, _ := os.ReadFile(p)
		fi, _ := os.Stat(p)
		if strings.HasSuffix(e.Name(), ".lock") {
			seen = append(seen, string(b)) // lock files stay empty
		} else if fi.Mode().Perm()&0o077 != 0 && strings.Contains(string(b), "external_id") {
			t.Errorf("%s holds an external ID with mode %04o", p, fi.Mode().Perm())
		}
	}
	return seen
}

// cacheSecrets adds to secrets those AWS issued that only the cache files may hold, checking the files are 0600.
func cacheSecrets(t *testing.T, w *world, secrets map[string]string) {
	t.Helper()
	for _, f := range w.cacheFiles() {
		c := readCache(t, f)
		if c.Session != nil {
			secrets["session secret key"] = c.Session.SecretAccessKey
			secrets["session token"] = c.Session.SessionToken
		}
		for r, tok := range c.Tokens {
			secrets["cached password "+r] = tok.Password
		}
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o", f, fi.Mode().Perm())
		}
	}
	if issued, ok := any(w.aws).(interface{ IssuedSecrets() []string }); ok {
		for i, s := range issued.IssuedSecrets() {
			secrets[fmt.Sprintf("stand-in secret %d", i)] = s
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// refreshAndStatus runs `refresh --force` (which must exit with code) and `status` in every format, with
// --textfile, and returns what they printed and wrote. Their output must carry the last refusal's text, so
// the leak test reads the error a refresh recorded.
func refreshAndStatus(t *testing.T, w *world, code int) []string {
	t.Helper()
	out, got := w.run(bin.lean, "", nil, "refresh", "--force")
	if got != code {
		t.Errorf("refresh --force: exit %d, want %d", got, code)
	}
	seen := []string{out}
	textfile := filepath.Join(t.TempDir(), "currents.prom")
	for _, format := range []string{"table", "json", "prometheus"} {
		out, _ := w.run(bin.lean, "", nil, "status", "--format", format, "--textfile", textfile)
		prom, _ := os.ReadFile(textfile)
		seen = append(seen, out, string(prom))
	}
	if !strings.Contains(strings.Join(seen, "\n"), "AccessDenied") {
		t.Error("status does not show the refused refresh: the leak test would miss its error text")
	}
	return seen
}

func excerpt(s, needle string) string {
	i := strings.Index(s, needle)
	return s[max(0, i-200):min(len(s), i+len(needle)+50)]
}

// TestShortLivedTokensRealTime gets every 300ms for a minute while the
// stand-in issues 5-second tokens, and proves every answer at the registry.
func TestShortLivedTokensRealTime(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real-time test (about a minute)")
	}
	w := newWorld(t, standin.WithTokenLifetime(5*time.Second))
	const span = 60 * time.Second
	end := time.Now().Add(span)
	gets := 0
	for time.Now().Before(end) {
		w.prove(w.mustGet(w.reg.Host(), nil))
		gets++
		time.Sleep(300 * time.Millisecond)
	}
	c := w.aws.Counts()
	r := w.reg.Requests()
	t.Logf("%d gets over %s with 5s tokens: %d GetAuthorizationToken, %d AssumeRole, registry %+v", gets, span, c.GetAuthorizationToken, c.AssumeRole, r)
	if r.Expired != 0 || r.Unauthorized != 0 {
		t.Errorf("the registry saw expired or bad tokens: %+v", r)
	}
	// A 5s token cannot cover more than 5s, so a minute needs at least 12;
	// the 1h role session covers it all.
	if c.GetAuthorizationToken < int64(span/(5*time.Second)) || c.GetAuthorizationToken >= int64(gets) || c.AssumeRole != 1 {
		t.Errorf("refreshes: %+v over %d gets", c, gets)
	}
}

type leakScenario struct {
	name string
	host string
	env  map[string]string
	ok   bool
}

// ciLeakScenarios configures a GitHub and a CircleCI role (trust policies as
// policy ci-trust writes them) in a currents.yaml of their own, and returns
// the gets of jobs that are admitted and of jobs that are refused.
func ciLeakScenarios(t *testing.T, w *world) []leakScenario {
	t.Helper()
	acct := w.aws.Account()
	const org, project = "4a5c7e3e-0b5f-4d1c-9e2a-3f6b8c1d2e7f", "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	gh, err := iampolicy.TrustGitHub("aws", acct, iampolicy.GitHub{Repo: "currentsdev/stack", Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := iampolicy.TrustCircleCI("aws", acct, org, project)
	if err != nil {
		t.Fatal(err)
	}
	w.aws.AddOIDCProvider(acct, standin.GitHubIssuer, "sts.amazonaws.com")
	w.aws.AddOIDCProvider(acct, standin.CircleCIIssuer(org), org)
	w.aws.AddRole("arn:aws:iam::"+acct+":role/gh", standin.RoleSpec{TrustPolicy: gh.JSON()})
	w.aws.AddRole("arn:aws:iam::"+acct+":role/cc", standin.RoleSpec{TrustPolicy: cc.JSON()})
	ghHost, ccHost := acct+".dkr.ecr.us-west-2.amazonaws.com", acct+".dkr.ecr.eu-west-1.amazonaws.com"
	cfg := filepath.Join(w.home, "ci.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("registries:\n  - host: %s\n    role_arn: arn:aws:iam::%s:role/gh\n    web_identity: github-actions\n"+
		"  - host: %s\n    role_arn: arn:aws:iam::%s:role/cc\n    web_identity: circleci\n", ghHost, acct, ccHost, acct)), 0o600)
	env := func(kv []string) map[string]string {
		m := map[string]string{"CURRENTS_CONFIG": cfg, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
			"CURRENTS_CACHE_DIR": filepath.Join(t.TempDir(), "c")}
		for _, e := range kv {
			k, v, _ := strings.Cut(e, "=")
			m[k] = v
		}
		return m
	}
	good := env(w.aws.GitHubEnv(standin.GitHubJob{Repository: "currentsdev/stack", Ref: "refs/heads/main"}))
	good["CURRENTS_CACHE_DIR"] = w.cacheDir
	noPerm := env(w.aws.GitHubEnv(standin.GitHubJob{Repository: "currentsdev/stack", Ref: "refs/heads/main"}))
	delete(noPerm, "ACTIONS_ID_TOKEN_REQUEST_URL")
	return []leakScenario{
		{"GitHub job", ghHost, good, true},
		{"GitHub job, warm", ghHost, good, true},
		{"GitHub job of another repository", ghHost, env(w.aws.GitHubEnv(standin.GitHubJob{Repository: "currentsdev/other", Ref: "refs/heads/main"})), false},
		{"GitHub job without id-token: write", ghHost, noPerm, false},
		{"CircleCI job", ccHost, env(w.aws.CircleCIEnv(standin.CircleCIJob{Org: org, Project: project, User: "u"})), true},
		{"CircleCI job of another project", ccHost, env(w.aws.CircleCIEnv(standin.CircleCIJob{Org: org, Project: "99999999-4a5b-4c6d-8e7f-9a0b1c2d3e4f", User: "u"})), false},
	}
}

// brokenRequestToken is the token of a malformed request, which the error must not quote.
const brokenRequestToken = "sa-token-in-a-broken-request-7f3a9c0d"

type kubeletLeak struct {
	name    string
	request string
	env     map[string]string
	ok      bool
}

// kubeletLeakRequests: an entry that assumes its role with the pod's
// service-account token, asked by admitted and refused service accounts.
func kubeletLeakRequests(t *testing.T, w *world) []kubeletLeak {
	t.Helper()
	const issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/LEAK"
	acct := w.aws.Account()
	host := strings.TrimPrefix(issuer, "https://")
	w.aws.AddOIDCProvider(acct, issuer, "sts.amazonaws.com")
	w.aws.AddRole("arn:aws:iam::"+acct+":role/pods", standin.RoleSpec{TrustPolicy: []byte(`{"Statement":[{"Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::` + acct + `:oidc-provider/` + host + `"},"Action":"sts:AssumeRoleWithWebIdentity",
		"Condition":{"StringEquals":{"` + host + `:sub":"system:serviceaccount:shop:web"}}}]}`)})
	cfg := filepath.Join(w.home, "kubelet.yaml")
	podHost := acct + ".dkr.ecr.ap-south-1.amazonaws.com"
	os.WriteFile(cfg, []byte(fmt.Sprintf("registries:\n  - host: %s\n    role_arn: arn:aws:iam::%s:role/pods\n    web_identity: kubernetes\n", podHost, acct)), 0o600)
	env := map[string]string{"CURRENTS_CONFIG": cfg, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
	req := func(ns, name string) string {
		tok := w.aws.SignIDToken(issuer, "sts.amazonaws.com", "system:serviceaccount:"+ns+":"+name, map[string]any{
			"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": name, "uid": "u-" + name}}})
		return kubeletRequest(podHost+"/shop/web:1", `"serviceAccountToken":"`+tok+`"`)
	}
	return []kubeletLeak{
		{"admitted service account", req("shop", "web"), env, true},
		{"admitted service account, warm", req("shop", "web"), env, true},
		{"refused service account", req("shop", "admin"), env, false},
		{"no token", kubeletRequest(podHost + "/shop/web:1"), env, false},
		{"vendor role", kubeletRequest(w.reg.Host() + "/a/b:1"), nil, true},
		{"garbage", `{"kind":"CredentialProviderRequest","serviceAccountToken":"` + brokenRequestToken + `",`, nil, false},
	}
}

// ciAndKubeletLeaks runs the CI and kubelet scenarios of TestNoSecretLeaks:
// GitHub's request token and JWTs and CircleCI's JWT, on success and on each
// refusal (the stand-in lists all of them among its issued secrets), and
// kubelet requests with and without a service-account token (KEP-4412). It
// adds the answers to secrets and returns what must be secret-free.
func ciAndKubeletLeaks(t *testing.T, w *world, secrets map[string]string) []string {
	t.Helper()
	var seen []string
	ciEnv := ciLeakScenarios(t, w)
	for _, sc := range ciEnv {
		c, err := w.get(sc.host, sc.env)
		switch {
		case sc.ok && err != nil:
			t.Fatalf("%s: %v\n%s", sc.name, err, w.logs())
		case sc.ok:
			// Tokens of other regions than the registry front's: kept, not proven.
			secrets["ECR password "+sc.name] = c.Secret
		case err == nil:
			t.Errorf("%s should have failed", sc.name)
		default:
			seen = append(seen, err.Error())
		}
	}
	if all := strings.Join(append(seen, w.logs()), "\n"); !strings.Contains(all, "sub=repo:currentsdev/other") || !strings.Contains(all, "id-token: write") {
		t.Errorf("the refused CI jobs did not fail as they should (claims, permission):\n%s", all)
	}
	out, _ := w.run(bin.lean, "", ciEnv[0].env, "config")
	seen = append(seen, out)
	secrets["token of a malformed kubelet request"] = brokenRequestToken
	for _, req := range kubeletLeakRequests(t, w) {
		out, code := w.run(bin.lean, req.request, req.env, "kubelet")
		var r kubeletResponse
		if (code == 0) != req.ok || (req.ok && json.Unmarshal([]byte(out), &r) != nil) {
			t.Fatalf("kubelet %s: exit %d %q\n%s", req.name, code, out, w.logs())
		}
		for h, a := range r.Auth {
			secrets["kubelet password "+req.name+" "+h] = a.Password
		}
		if !req.ok {
			seen = append(seen, out)
		}
	}
	return seen
}
