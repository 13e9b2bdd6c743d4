package doctor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/doctor"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// world is a host set up as configure leaves it, with AWS and the registry played by the stand-in.
type world struct {
	aws  *standin.Server
	reg  *standin.Registry
	user standin.User
	role string
	home string
	// tlsHost, when set, is where the registry is asked instead: the same
	// front, served over TLS.
	tlsHost string
}

// host is the registry host the entry names and doctor is asked about.
func (w *world) host() string {
	if w.tlsHost != "" {
		return w.tlsHost
	}
	return w.reg.Host()
}

const externalID = "vendor-ext-7f3a"

func newWorld(t *testing.T) *world {
	t.Helper()
	sw := standintest.New(t, standintest.WithRegistry(), standintest.WithExternalID(externalID))
	w := &world{aws: sw.AWS, reg: sw.Registry, user: sw.User, role: sw.Role, home: standintest.Isolate(t)}
	standintest.Export(t, w.aws, w.user)

	// docker finds both helper binaries on PATH (doctor only checks they exist).
	bin := filepath.Join(w.home, "bin")
	must(t, os.MkdirAll(bin, 0o755))
	for _, f := range []string{"docker-credential-currents", "docker-credential-currents-aws"} {
		must(t, os.WriteFile(filepath.Join(bin, f), []byte("#!/bin/sh\n"), 0o755))
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	w.configure(t, w.role, externalID)
	return w
}

// configure writes what `docker-credential-currents configure` writes.
func (w *world) configure(t *testing.T, role, extID string) {
	t.Helper()
	dir := filepath.Join(w.home, ".docker")
	must(t, os.MkdirAll(dir, 0o700))
	p := filepath.Join(dir, dirs.ConfigName)
	old, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	data, err := config.Upsert(old, p, config.EntrySpec{Host: w.host(), Account: w.aws.Account(), Region: w.aws.Region(), RoleARN: role, ExternalID: extID})
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(p, data, 0o600))
	f, err := dockerconfig.Load(filepath.Join(dir, dirs.DockerConfigName))
	if err != nil {
		t.Fatal(err)
	}
	must(t, f.SetCredHelper(w.host(), "currents"))
	if _, err := f.Save(); err != nil {
		t.Fatal(err)
	}
}

func (w *world) doctor(t *testing.T, opts ...doctor.Option) doctor.Report {
	t.Helper()
	d := doctor.New(newAWS(), opts...)
	rep := d.Run(context.Background(), w.host())
	out, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("report:\n%s", out)
	// Nothing the stand-in ever issued (secret keys, session tokens, ECR passwords) may reach the report.
	for _, s := range w.aws.IssuedSecrets() {
		if strings.Contains(string(out), s) {
			t.Fatal("the report leaks a secret the stand-in issued")
		}
	}
	return rep
}

func check(t *testing.T, rep doctor.Report, name string) doctor.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", name, rep)
	return doctor.Check{}
}

// expect asserts the status of a check and that its detail and fix mention each of want.
func expect(t *testing.T, rep doctor.Report, name string, status doctor.Status, want ...string) {
	t.Helper()
	c := check(t, rep, name)
	if c.Status != status {
		t.Errorf("%s: status %s, want %s (%s; fix: %s)", name, c.Status, status, c.Detail, c.Fix)
	}
	for _, w := range want {
		if !strings.Contains(c.Detail+" fix: "+c.Fix, w) {
			t.Errorf("%s: %q lacks %q", name, c.Detail+" fix: "+c.Fix, w)
		}
	}
	if status == doctor.Fail && c.Fix == "" {
		t.Errorf("%s fails without a fix", name)
	}
}

func TestAllPass(t *testing.T) {
	w := newWorld(t)
	rep := w.doctor(t)
	order := []string{doctor.CheckHelper, doctor.CheckDocker, doctor.CheckConfig, doctor.CheckSource, doctor.CheckAssume,
		doctor.CheckToken, doctor.CheckClock, doctor.CheckRegistry, doctor.CheckCache}
	if len(rep.Checks) != len(order) {
		t.Fatalf("%d checks, want %d", len(rep.Checks), len(order))
	}
	for i, c := range rep.Checks {
		if c.Name != order[i] {
			t.Errorf("check %d is %s, want %s", i, c.Name, order[i])
		}
		if c.Status == doctor.Fail {
			t.Errorf("%s failed: %s", c.Name, c.Detail)
		}
	}
	if !rep.OK() {
		t.Fatal("report not OK")
	}
	expect(t, rep, doctor.CheckSource, doctor.Pass, w.user.ARN)
	expect(t, rep, doctor.CheckAssume, doctor.Pass, w.role, "assumed-role/customer-pull/", "caller "+w.user.ARN)
	expect(t, rep, doctor.CheckToken, doctor.Pass, "valid until", "in 12h0m")
	expect(t, rep, doctor.CheckClock, doctor.Pass, "AWS's")
	expect(t, rep, doctor.CheckRegistry, doctor.Pass, "http://"+w.reg.Host()+"/v2/", "200")
	expect(t, rep, doctor.CheckCache, doctor.Pass, "mode 0700")
	if got := w.reg.Requests().Authorized; got != 1 {
		t.Errorf("the registry saw %d authorized requests, want 1", got)
	}
}

func TestWrongRole(t *testing.T) {
	w := newWorld(t)
	other := "arn:aws:iam::" + w.aws.Account() + ":role/someone-elses"
	w.configure(t, other, externalID)
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckSource, doctor.Pass)
	expect(t, rep, doctor.CheckAssume, doctor.Fail, "AccessDenied", other, "caller "+w.user.ARN)
	expect(t, rep, doctor.CheckToken, doctor.Skip)
	expect(t, rep, doctor.CheckRegistry, doctor.Skip)
	if rep.OK() {
		t.Fatal("report OK with a wrong role")
	}
}

func TestWrongExternalID(t *testing.T) {
	w := newWorld(t)
	w.configure(t, w.role, "not-the-vendors-id")
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckAssume, doctor.Fail, "AccessDenied", w.role, "external")
	if strings.Contains(check(t, rep, doctor.CheckAssume).Detail, "not-the-vendors-id") {
		t.Error("the external ID is echoed")
	}
}

func TestExpiredSourceSession(t *testing.T) {
	w := newWorld(t)
	// The host's source credentials are a role session (as from an instance role or SSO) that has expired.
	src := w.aws.AddUser("arn:aws:iam::111122223333:user/session-maker")
	bridge := "arn:aws:iam::111122223333:role/host-role"
	w.aws.AddRole(bridge, standin.RoleSpec{MaxSession: time.Hour})
	for _, kv := range w.aws.Env(src) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := config.Parse("x.yaml", []byte("registries:\n  - host: "+w.reg.Host()+"\n    account: \""+w.aws.Account()+"\"\n    region: "+w.aws.Region()+"\n    role_arn: "+bridge+"\n    duration: 15m\n"))
	must(t, err)
	tgt, ok := cfg.Lookup(w.reg.Host())
	if !ok {
		t.Fatalf("no entry for %s", w.reg.Host())
	}
	c := awsapi.New()
	s0, err := c.SourceCredentials(context.Background(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.AssumeRole(context.Background(), tgt, s0)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", sess.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", sess.SecretAccessKey.Reveal())
	t.Setenv("AWS_SESSION_TOKEN", sess.SessionToken.Reveal())
	w.aws.SetSkew(time.Hour) // AWS's time moves past the session's end; the local clock is now an hour behind too
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckSource, doctor.Fail, "ExpiredToken", "renew them")
	expect(t, rep, doctor.CheckAssume, doctor.Skip)
	for _, c := range rep.Checks {
		if strings.Contains(c.Detail+c.Fix, sess.SessionToken.Reveal()) || strings.Contains(c.Detail+c.Fix, sess.SecretAccessKey.Reveal()) {
			t.Fatal("the report leaks the session")
		}
	}
}

func TestClockSkew(t *testing.T) {
	w := newWorld(t)
	w.aws.SetSkew(3 * time.Minute) // inside AWS's 5-minute signature window, so every AWS call still works
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckToken, doctor.Pass)
	expect(t, rep, doctor.CheckClock, doctor.Fail, "behind AWS's", "timedatectl set-ntp true")
	// The header has one-second resolution, so allow a second either way.
	m := regexp.MustCompile(`clock is (\S+) behind`).FindStringSubmatch(check(t, rep, doctor.CheckClock).Detail)
	if len(m) != 2 {
		t.Fatalf("no skew in %q", check(t, rep, doctor.CheckClock).Detail)
	}
	if d, err := time.ParseDuration(m[1]); err != nil || d < 179*time.Second || d > 181*time.Second {
		t.Errorf("measured skew %v, want 3m±1s", m)
	}
	if rep.OK() {
		t.Fatal("report OK with a skewed clock")
	}
}

func TestRegistryDown(t *testing.T) {
	w := newWorld(t)
	w.reg.Close()
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckToken, doctor.Pass)
	expect(t, rep, doctor.CheckRegistry, doctor.Fail, "connection refused", "nothing answers at "+w.reg.Host())
}

// TestLoopbackRegistryOverTLSIsNotVerified: docker verifies no certificate
// of a loopback registry (moby takes 127.0.0.0/8 for insecure), so one with
// a self-signed certificate is one docker pulls from; doctor failed it.
func TestLoopbackRegistryOverTLSIsNotVerified(t *testing.T) {
	w := newWorld(t)
	srv := httptest.NewTLSServer(w.reg)
	t.Cleanup(srv.Close)
	w.tlsHost = strings.TrimPrefix(srv.URL, "https://")
	w.configure(t, w.role, externalID)
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckRegistry, doctor.Pass, "https://"+w.tlsHost+"/v2/", "200")
}

// TestPlainHTTPAtAPrivateAddressFails: an ECR alias at a private address
// that serves plain HTTP is one docker cannot pull from (it speaks only HTTPS
// to it), but go-containerregistry speaks HTTP to RFC 1918 addresses, and
// doctor passed it.
func TestPlainHTTPAtAPrivateAddressFails(t *testing.T) {
	w := newWorld(t)
	const private = "10.20.30.40:5000"
	w.tlsHost = private // the entry and doctor name the private address
	w.configure(t, w.role, externalID)
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == private {
			addr = w.reg.Host() // the stand-in's front, plain HTTP
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	rep := w.doctor(t, doctor.WithTransport(base))
	expect(t, rep, doctor.CheckToken, doctor.Pass)
	expect(t, rep, doctor.CheckRegistry, doctor.Fail, private+" serves plain HTTP, not HTTPS", "insecure-registries")
}

func TestUnwritableCache(t *testing.T) {
	w := newWorld(t)
	blocker := filepath.Join(w.home, "not-a-dir")
	must(t, os.WriteFile(blocker, nil, 0o600))
	t.Setenv("CURRENTS_CACHE_DIR", filepath.Join(blocker, "cache"))
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckCache, doctor.Fail, blocker, "CURRENTS_CACHE_DIR")
}

func TestNotRegisteredAndNoEntry(t *testing.T) {
	w := newWorld(t)
	must(t, os.Remove(filepath.Join(w.home, ".docker", "config.json")))
	must(t, os.Remove(filepath.Join(w.home, ".docker", "currents.yaml")))
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckDocker, doctor.Fail, "does not exist", "configure --registry "+w.reg.Host())
	expect(t, rep, doctor.CheckConfig, doctor.Fail, "not an ECR hostname", "--account ACCOUNT --region REGION")
	expect(t, rep, doctor.CheckSource, doctor.Skip)
}

func TestDockerAuthConfigOverridesTheHelper(t *testing.T) {
	w := newWorld(t)
	t.Setenv("DOCKER_AUTH_CONFIG", `{"auths":{"https://`+w.reg.Host()+`":{"auth":"QVdTOnN0YWxl"}}}`)
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckDocker, doctor.Fail, "DOCKER_AUTH_CONFIG has an entry", "unset DOCKER_AUTH_CONFIG")
	t.Setenv("DOCKER_AUTH_CONFIG", `{"auths":{"other.example.com":{"auth":"QVdTOnN0YWxl"}}}`)
	expect(t, w.doctor(t), doctor.CheckDocker, doctor.Pass)
}

func TestHelperThatCannotRun(t *testing.T) {
	w := newWorld(t)
	// A binary for another platform: the kernel refuses to run it.
	must(t, os.WriteFile(filepath.Join(w.home, "bin", "docker-credential-currents"), []byte("\x7fELF\x02\x01\x01garbage"), 0o755))
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckHelper, doctor.Fail, "version` fails", "reinstall")
}

func TestHelperNotOnPath(t *testing.T) {
	w := newWorld(t)
	t.Setenv("PATH", filepath.Join(w.home, "empty"))
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckHelper, doctor.Fail, "not on PATH", "make install")
}

func TestRegistryRefusesTheToken(t *testing.T) {
	w := newWorld(t)
	// A registry of another region: ECR tokens are regional, so it refuses ours — as when an alias entry
	// names the wrong region.
	other, err := standin.StartRegistry(w.aws, standin.WithRegion("eu-west-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	w.reg = other
	w.configure(t, w.role, externalID) // entry says us-east-1, the stand-in's region
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckToken, doctor.Pass)
	expect(t, rep, doctor.CheckRegistry, doctor.Fail, "refused the token", "401", "account and region")
}

func TestWebIdentity(t *testing.T) {
	w := newWorld(t)
	ciRole := "arn:aws:iam::" + w.aws.Account() + ":role/ci-pull"
	w.aws.AddRole(ciRole, standin.RoleSpec{WebIdentityToken: "oidc-token-from-ci"})
	tokenFile := filepath.Join(w.home, "oidc-token")
	must(t, os.WriteFile(tokenFile, []byte("oidc-token-from-ci"), 0o600))
	// CI runners have no source credentials at all.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	p := filepath.Join(w.home, ".docker", dirs.ConfigName)
	data, err := config.Upsert(nil, p, config.EntrySpec{Host: w.reg.Host(), Account: w.aws.Account(), Region: w.aws.Region(), RoleARN: ciRole, WebIdentityTokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(p, data, 0o600))
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckSource, doctor.Pass, tokenFile)
	expect(t, rep, doctor.CheckAssume, doctor.Pass, "assumed-role/ci-pull/")
	expect(t, rep, doctor.CheckRegistry, doctor.Pass)

	must(t, os.WriteFile(tokenFile, []byte("a-stale-token"), 0o600))
	rep = w.doctor(t)
	expect(t, rep, doctor.CheckAssume, doctor.Fail, "web identity")
}

// blackHole accepts connections on loopback and never answers, as a firewall that drops packets looks to a
// client once connected.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// An AWS endpoint or a registry that never answers must not hang doctor: every wait is bounded by the
// configured timeout, and the failure says so. (No timing is asserted; a hang fails through go test's timeout.)
func TestNothingAnswersIsBoundedByTheTimeout(t *testing.T) {
	t.Run("sts", func(t *testing.T) {
		w := newWorld(t)
		t.Setenv(config.EnvTimeout, "1s")
		t.Setenv("AWS_ENDPOINT_URL_STS", "http://"+blackHole(t))
		rep := w.doctor(t)
		expect(t, rep, doctor.CheckSource, doctor.Fail, "no answer from AWS", "CURRENTS_TIMEOUT")
		expect(t, rep, doctor.CheckAssume, doctor.Skip)
		expect(t, rep, doctor.CheckCache, doctor.Pass)
	})
	t.Run("registry", func(t *testing.T) {
		w := newWorld(t)
		t.Setenv(config.EnvTimeout, "1s")
		hole := blackHole(t)
		w.reg.Close()
		w.reg = nil
		// Point the entry at the silent host instead of the registry.
		dir := filepath.Join(w.home, ".docker")
		p := filepath.Join(dir, dirs.ConfigName)
		data, err := config.Upsert(nil, p, config.EntrySpec{Host: hole, Account: w.aws.Account(), Region: w.aws.Region(), RoleARN: w.role, ExternalID: externalID})
		if err != nil {
			t.Fatal(err)
		}
		must(t, os.WriteFile(p, data, 0o600))
		f, err := dockerconfig.Load(filepath.Join(dir, dirs.DockerConfigName))
		must(t, err)
		must(t, f.SetCredHelper(hole, "currents"))
		_, err = f.Save()
		must(t, err)
		rep := doctor.New(newAWS()).Run(context.Background(), hole)
		expect(t, rep, doctor.CheckToken, doctor.Pass)
		expect(t, rep, doctor.CheckRegistry, doctor.Fail, "GET http://"+hole+"/v2/")
	})
}

// must stops the test at a failed set-up step, so a test never runs on a world it did not build.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Issue 10, defect 9: a currents.yaml others can read held the external ID, and doctor passed.
func TestAnExternalIDOthersCanReadFails(t *testing.T) {
	w := newWorld(t) // its entry has an external ID
	p := filepath.Join(w.home, ".docker", dirs.ConfigName)
	must(t, os.Chmod(p, 0o644))
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckConfig, doctor.Fail, "holds an external ID and is readable by other users (mode 0644)", "chmod 600 "+p)
	expect(t, rep, doctor.CheckRegistry, doctor.Pass) // the entry still serves: the AWS checks run
	must(t, os.Chmod(p, 0o600))
	expect(t, w.doctor(t), doctor.CheckConfig, doctor.Pass)
}

// Harden, misc: with CURRENTS_AWS_HELPER naming a missing file, helper-on-path blamed the install, not the variable.
func TestAWSHelperVariableIsNamed(t *testing.T) {
	w := newWorld(t)
	missing := filepath.Join(w.home, "nowhere", "aws")
	t.Setenv("CURRENTS_AWS_HELPER", missing)
	rep := w.doctor(t)
	expect(t, rep, doctor.CheckHelper, doctor.Fail, "CURRENTS_AWS_HELPER="+missing, "point CURRENTS_AWS_HELPER at the docker-credential-currents-aws binary, or unset it")
}
