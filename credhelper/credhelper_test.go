package credhelper_test

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/standin"
)

func TestColdThenWarmGet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.mustGet(w.reg.Host(), nil)
	if c.Username != "AWS" || c.ServerURL != w.reg.Host() {
		t.Errorf("answer = %+v", c)
	}
	w.prove(c)
	if n := w.aws.Counts(); n.AssumeRole != 1 || n.GetAuthorizationToken != 1 {
		t.Fatalf("cold get: %+v (attempts %+v)\nstderr:\n%s", n, w.aws.Attempts(), w.logs())
	}

	// Warm: the AWS binary must not even start, and AWS sees nothing.
	trip, mark := w.tripwire()
	for _, url := range []string{w.reg.Host(), "http://" + w.reg.Host() + "/v2/", "HTTP://" + strings.ToUpper(w.reg.Host())} {
		warm := w.mustGet(url, map[string]string{"CURRENTS_AWS_HELPER": trip})
		if warm.Secret != c.Secret {
			t.Errorf("warm get of %s answered a different token", url)
		}
		w.prove(warm)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("a warm get spawned the AWS helper")
	}
	if n := w.aws.Counts(); n.AssumeRole != 1 || n.GetAuthorizationToken != 1 {
		t.Errorf("warm gets called AWS: %+v", n)
	}
	// Cache hygiene: 0700 directory, 0600 file.
	if fi, _ := os.Stat(w.cacheDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %o", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(w.cacheFile()); fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %o", fi.Mode().Perm())
	}
}

func TestParallelColdGets(t *testing.T) {
	t.Parallel()
	const n = 64
	w := newWorld(t)
	answers, errs := w.getAll(n, []string{w.reg.Host()}, nil)
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("get %d: %v\n%s", i, errs[i], w.logs())
		}
		w.prove(answers[i])
	}
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		t.Errorf("%d parallel cold gets made %d AssumeRole and %d GetAuthorizationToken; want 1 and 1", n, c.AssumeRole, c.GetAuthorizationToken)
	}
}

func TestUnknownHostIsNotFound(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	trip, mark := w.tripwire()
	extra := map[string]string{"CURRENTS_AWS_HELPER": trip}
	for _, host := range []string{"https://index.docker.io/v1/", "ghcr.io", "513558712013.dkr.ecr.us-east-1.amazonaws.com.evil.com", "127.0.0.1:1"} {
		out, code := w.run(bin.lean, host+"\n", extra, "get")
		if out != "credentials not found in native keychain\n" || code != 1 {
			t.Errorf("get %s: exit %d, stdout %q", host, code, out)
		}
		if _, err := w.get(host, extra); !credentials.IsErrCredentialsNotFound(err) {
			t.Errorf("client.Get %s: %v", host, err)
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("an unknown host spawned the AWS helper")
	}
	if c := w.aws.Attempts(); c != (standin.Counts{}) {
		t.Errorf("unknown hosts reached AWS: %+v", c)
	}
}

// Issue 10, defect 12: a host config.json sends to the helper with no entry in
// currents.yaml gets exactly the protocol's not-found answer, and one line on
// stderr saying why and what to run (docker shows it above "no basic auth
// credentials").
func TestUnconfiguredHostIsExplained(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	out, code := w.run(bin.lean, "https://registry.example.com/v2/\n", nil, "get")
	if out != "credentials not found in native keychain\n" || code != 1 {
		t.Errorf("exit %d, stdout %q; want the protocol's not-found answer", code, out)
	}
	line := w.logs()
	for _, want := range []string{"docker-credential-currents: registry.example.com ", w.config, "docker-credential-currents configure --registry registry.example.com"} {
		if !strings.Contains(line, want) {
			t.Errorf("stderr lacks %q: %q", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("stderr is not one line: %q", line)
	}
}

func TestRefusedRoleNamesRegistryRoleAndAWSWords(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.aws.RefuseRole(w.role, true)
	_, err := w.get(w.reg.Host(), nil)
	if err == nil || credentials.IsErrCredentialsNotFound(err) {
		t.Fatalf("refused role: err = %v; want a real error, not not-found", err)
	}
	for _, want := range []string{w.reg.Host(), w.role, "AccessDenied", "not authorized", "ask the vendor to trust", w.config, "entry 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Docker ignores a helper's get error, so it must be on stderr too, once,
	// as one plain line with the same text.
	out, code := w.run(bin.lean, w.reg.Host()+"\n", nil, "get")
	if line := "docker-credential-currents: " + out; code != 1 || !strings.Contains(w.logs(), line) {
		t.Errorf("stderr lacks the error line %q:\n%s", line, w.logs())
	}
	if n := strings.Count(w.logs(), "AccessDenied"); n != 2 {
		t.Errorf("stderr reports the refusal %d times over two gets, want once each:\n%s", n, w.logs())
	}
	// A wrong external ID is refused by STS just the same, and the fix names the key.
	w.aws.RefuseRole(w.role, false)
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: wrong-id\n",
		w.reg.Host(), w.reg.Account(), w.reg.Region(), w.role))
	_, err = w.get(w.reg.Host(), nil)
	if err == nil || !strings.Contains(err.Error(), "external_id") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("wrong external ID: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-id") {
		t.Errorf("error shows the external ID: %v", err)
	}
}

func TestStoreEraseList(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := client.Store(w.prog(bin.lean, nil), &credentials.Credentials{ServerURL: w.reg.Host(), Username: "AWS", Secret: "from-docker-login"}); err != nil {
		t.Fatalf("store: %v", err)
	}
	if files := w.cacheFiles(); len(files) != 0 {
		t.Errorf("store wrote %v", files)
	}
	w.prove(w.mustGet(w.reg.Host(), nil))
	if err := client.Erase(w.prog(bin.lean, nil), "https://"+w.reg.Host()); err != nil {
		t.Fatalf("erase: %v", err)
	}
	if c := readCache(t, w.cacheFile()); len(c.Tokens) != 0 || c.Session == nil {
		t.Errorf("after erase: %d tokens, session kept %v; want 0 tokens and the session", len(c.Tokens), c.Session != nil)
	}
	w.prove(w.mustGet(w.reg.Host(), nil))
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 2 {
		t.Errorf("get after erase: %+v; want the cached session reused (1 AssumeRole, 2 tokens)", c)
	}

	// list is offline: AWS unreachable and the AWS helper a tripwire.
	trip, mark := w.tripwire()
	offline := map[string]string{"CURRENTS_AWS_HELPER": trip, "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_ECR": "http://127.0.0.1:1"}
	got, err := client.List(w.prog(bin.lean, offline))
	if err != nil || len(got) != 1 || got[w.reg.Host()] != "AWS" {
		t.Errorf("list = %v, %v", got, err)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("list spawned the AWS helper")
	}
	if out, code := w.run(bin.lean, "", nil, "version"); code != 0 || !strings.HasPrefix(out, "docker-credential-currents ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestBadConfigNamesFileEntryKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    duration: 48h\n", w.reg.Host(), w.reg.Account(), w.reg.Region(), w.role))
	_, err := w.get(w.reg.Host(), nil)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	if !strings.Contains(w.logs(), "docker-credential-currents: "+w.config+":6:") {
		t.Errorf("the config error is not on stderr:\n%s", w.logs())
	}
	for _, want := range []string{w.config + ":6", "registries entry 1", w.reg.Host(), `key "duration"`, "15m to 12h"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if c := w.aws.Attempts(); c != (standin.Counts{}) {
		t.Errorf("a bad config reached AWS: %+v", c)
	}
	// store keeps nothing, so even a broken config does not fail `docker login`.
	if err := client.Store(w.prog(bin.lean, nil), &credentials.Credentials{ServerURL: w.reg.Host(), Username: "AWS", Secret: "from-docker-login"}); err != nil {
		t.Errorf("store with a bad config: %v", err)
	}
}

func TestCorruptCacheIsRebuilt(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.prove(w.mustGet(w.reg.Host(), nil))
	file := w.cacheFile()
	good, _ := os.ReadFile(file)
	for _, corrupt := range []func(){
		func() { os.WriteFile(file, good[:len(good)/3], 0o600) },
		func() { os.WriteFile(file, []byte("\x00\x01 not json"), 0o600) },
		func() { os.WriteFile(file, nil, 0o600) },
	} {
		corrupt()
		w.prove(w.mustGet(w.reg.Host(), nil))
		readCache(t, file) // rebuilt and valid
	}
	// A world-readable file is tightened, and still serves.
	before := w.aws.Counts()
	os.Chmod(file, 0o644)
	w.prove(w.mustGet(w.reg.Host(), nil))
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o not tightened", fi.Mode().Perm())
	}
	if w.aws.Counts() != before {
		t.Error("a wide-mode file was discarded instead of tightened")
	}
	if !strings.Contains(w.logs(), "tightened file mode") {
		t.Errorf("the repair was not reported:\n%s", w.logs())
	}
}

// TestSIGKILLNeverCorrupts kills the AWS helper at moments spread over whole
// refreshes (start-up, AWS calls, the write) and checks the cache after each.
func TestSIGKILLNeverCorrupts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.mustGet(w.reg.Host(), nil)
	file := w.cacheFile()
	refresh := func() *exec.Cmd {
		// erase forces the next get to write (a new token into the file).
		if _, code := w.run(bin.fat, w.reg.Host()+"\n", nil, "erase"); code != 0 {
			t.Fatalf("erase: exit %d\n%s", code, w.logs())
		}
		cmd := exec.Command(bin.fat, "get")
		cmd.Env = w.environ(nil)
		cmd.Stdin = strings.NewReader(w.reg.Host() + "\n")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// How long an uninterrupted refresh takes here, to aim the kills.
	var d time.Duration
	for range 3 {
		cmd := refresh()
		start := time.Now()
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		d += time.Since(start) / 3
	}
	const kills = 60
	completed := 0
	for i := range kills {
		cmd := refresh()
		time.Sleep(d * time.Duration(20+i*100/kills) / 100) // 20%..120% of a refresh
		cmd.Process.Kill()
		cmd.Wait()
		if len(readCache(t, file).Tokens) > 0 {
			completed++
		}
	}
	t.Logf("refresh takes ~%s; %d kills: %d after the write, %d before or during it", d, kills, completed, kills-completed)
	w.prove(w.mustGet(w.reg.Host(), nil))
	if tmp, _ := filepath.Glob(filepath.Join(w.cacheDir, "*.tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left after a completed write: %v", tmp)
	}
}

func TestFullDiskKeepsOldCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	fs := w.cacheDir + "-fs"
	os.MkdirAll(fs, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", fs).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", fs).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", fs, err, out)
		}
	})
	w.cacheDir = filepath.Join(fs, "cache")
	w.env["CURRENTS_CACHE_DIR"] = w.cacheDir
	w.prove(w.mustGet(w.reg.Host(), nil))
	file := w.cacheFile()
	before, _ := os.ReadFile(file)

	f, _ := os.Create(filepath.Join(filepath.Dir(w.cacheDir), "filler"))
	f.Write(make([]byte, 128<<10)) // fills the tmpfs; the short write is the point
	f.Close()

	// erase must write, so it fails clearly and leaves the file alone.
	err := client.Erase(w.prog(bin.lean, nil), w.reg.Host())
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "previous cache file is unchanged") {
		t.Errorf("erase on a full disk: %v", err)
	}
	after, _ := os.ReadFile(file)
	if string(before) != string(after) {
		t.Error("the cache file changed on a full disk")
	}
	if tmp, _ := filepath.Glob(filepath.Join(w.cacheDir, "*.tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// A refresh that cannot be cached still answers, and says why loudly.
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: %s\n    session_name: other-session\n",
		w.reg.Host(), w.reg.Account(), w.reg.Region(), w.role, externalID)) // a new identity: a miss
	w.prove(w.mustGet(w.reg.Host(), nil))
	if !strings.Contains(w.logs(), "not cached") || !strings.Contains(w.logs(), "no space left on device") {
		t.Errorf("full disk not reported:\n%s", w.logs())
	}
}

func TestDefaultChainAndWebIdentity(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	realHost := w.aws.Account() + ".dkr.ecr." + w.aws.Region() + ".amazonaws.com"
	// No entry: the SDK default chain (here the user's long-term key).
	c := w.mustGet(realHost, nil)
	w.prove(c)
	if n := w.aws.Counts(); n.AssumeRole != 0 || n.GetAuthorizationToken != 1 {
		t.Errorf("default chain: %+v", n)
	}

	// AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE through the default chain.
	tokenFile := filepath.Join(w.home, "oidc-token")
	os.WriteFile(tokenFile, []byte("eyJ.oidc.jwt"), 0o600)
	ciRole := "arn:aws:iam::" + w.aws.Account() + ":role/ci-pull"
	w.aws.AddRole(ciRole, standin.RoleSpec{WebIdentityToken: "eyJ.oidc.jwt"})
	oidc := map[string]string{"AWS_ROLE_ARN": ciRole, "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
	w.prove(w.mustGet(realHost, oidc))
	if n := w.aws.Counts(); n.AssumeRoleWithWebIdentity != 1 {
		t.Errorf("AWS_ROLE_ARN web identity: %+v", n)
	}

	// web_identity_token_file in an entry.
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    web_identity_token_file: %s\n",
		w.reg.Host(), w.reg.Account(), w.reg.Region(), ciRole, tokenFile))
	w.prove(w.mustGet(w.reg.Host(), map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}))
	if n := w.aws.Counts(); n.AssumeRoleWithWebIdentity != 2 {
		t.Errorf("entry web identity: %+v", n)
	}

	// ECR Public has its own token service.
	pub := w.mustGet("public.ecr.aws", nil)
	if n := w.aws.Counts(); n.PublicGetAuthorizationToken != 1 || pub.Secret == "" {
		t.Errorf("public.ecr.aws: %+v", n)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.aws.Throttle("AssumeRole", 2)
	w.aws.Throttle("GetAuthorizationToken", 2)
	w.prove(w.mustGet(w.reg.Host(), nil))
	// One call of each, retried: at least the 2 throttled attempts and the
	// answered one (the SDK may retry once more, as it does an answer a
	// loaded machine broke mid-body, so not exactly 3).
	if c, a := w.aws.Calls(), w.aws.Attempts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 || a.AssumeRole < 3 || a.GetAuthorizationToken < 3 {
		t.Errorf("calls %+v, attempts %+v; want 1 call of each, in at least 3 attempts (2 throttled, retried with backoff)", c, a)
	}
}

func TestTimeoutBoundsTheWait(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.aws.SetLatency(3 * time.Second) // AWS slower than the timeout
	_, err := w.get(w.reg.Host(), map[string]string{"CURRENTS_TIMEOUT": "1s"})
	if err == nil || !strings.Contains(err.Error(), "no answer from AWS within 1s") || !strings.Contains(err.Error(), "CURRENTS_TIMEOUT") {
		t.Errorf("slow AWS: %v", err)
	}
}

func TestConfigSubcommand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	out, code := w.run(bin.lean, "", nil, "config") // exec'd into the AWS binary
	if code != 0 {
		t.Fatalf("config: exit %d\n%s%s", code, out, w.logs())
	}
	for _, want := range []string{"# config file: " + w.config + " (found)", "# cache dir:   " + w.cacheDir, "# AWS helper:", w.reg.Host(), w.role, "external_id: '[redacted]'", "timeout: 30s",
		"AWS_SECRET_ACCESS_KEY=[set]", "AWS_ENDPOINT_URL_STS=" + w.aws.URL(), "credentials: assume " + w.role + " with the external ID", "for 1h (default)",
		"ECR token:   none cached", "session:     none cached"} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, externalID) || strings.Contains(out, w.user.SecretAccessKey) {
		t.Errorf("config printed the external ID or the secret key:\n%s", out)
	}
	// After a get, it shows what is cached and when the next refresh is due.
	w.mustGet(w.reg.Host(), nil)
	out, _ = w.run(bin.lean, "", nil, "config")
	for _, want := range []string{"ECR token:   valid until", "left); next refresh at", "session:     valid until", "cache file:  " + w.cacheFile()} {
		if !strings.Contains(out, want) {
			t.Errorf("config output after a get lacks %q:\n%s", want, out)
		}
	}
	if out, code := w.run(bin.lean, "", nil, "--help"); code != 0 || !strings.Contains(out, "credHelpers") {
		t.Errorf("--help: %d\n%s", code, out)
	}
}

func TestLeanBinaryImportsNoHeavyLibrary(t *testing.T) {
	t.Parallel()
	// Built as `make build` builds it: with osusergo, os/user (dirs.Home
	// without HOME) reads /etc/passwd in Go instead of linking cgo.
	out, err := exec.Command("go", "list", "-deps", "-tags=osusergo", "./docker-credential-currents").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		// package net and cgo's resolver make a dynamically linked binary
		// that starts a millisecond slower.
		if dep == "net" || dep == "runtime/cgo" {
			t.Errorf("the lean helper links %s", dep)
		}
		// YAML is parsed by the AWS binary, which keeps the result for the
		// lean one (package settings): yaml.v3's init alone costs a warm get
		// a tenth of its time, and its parse more.
		for _, banned := range []string{"aws-sdk-go-v2", "smithy-go", "go-containerregistry", "compose-go", "docker/cli", "spf13/cobra", "yaml", "internal/config"} {
			if strings.Contains(dep, banned) {
				t.Errorf("the lean helper links %s", dep)
			}
		}
	}
}

// TestBinariesAreStatic checks the binaries the tests run (built as `make
// build` and the packages build them): a cgo build links libc (for os/user
// and the resolver) and loads it on every start, about 1 ms a process.
func TestBinariesAreStatic(t *testing.T) {
	t.Parallel()
	for _, b := range []string{bin.lean, bin.fat, bin.plugin, dirs.PluginFull(bin.plugin)} {
		f, err := elf.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0 -tags osusergo,netgo", filepath.Base(b))
			}
		}
		f.Close()
	}
}

func TestMissingAWSBinary(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// Harden, misc: the error named neither the variable nor its path when CURRENTS_AWS_HELPER chose it.
	missing := filepath.Join(t.TempDir(), "missing")
	gone := map[string]string{"CURRENTS_AWS_HELPER": missing}
	want := "CURRENTS_AWS_HELPER=" + missing + ": cannot run it: no such file or directory; point CURRENTS_AWS_HELPER at the docker-credential-currents-aws binary"
	_, err := w.get(w.reg.Host(), gone)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("missing AWS binary: %v", err)
	}
	if out, code := w.run(bin.lean, "", gone, "config"); code != 1 || !strings.Contains(w.logs(), want) {
		t.Errorf("config without the AWS binary: exit %d %q\n%s", code, out, w.logs())
	}
	notExec := map[string]string{"CURRENTS_AWS_HELPER": t.TempDir()}
	if out, code := w.run(bin.lean, "", notExec, "config"); code != 1 || !strings.Contains(w.logs(), "CURRENTS_AWS_HELPER="+notExec["CURRENTS_AWS_HELPER"]+": cannot run it: permission denied") {
		t.Errorf("config with CURRENTS_AWS_HELPER a directory: exit %d %q\n%s", code, out, w.logs())
	}
	// An AWS binary killed mid-refresh (OOM killer, kill -9) is not a broken install.
	killed := filepath.Join(t.TempDir(), "killed")
	os.WriteFile(killed, []byte("#!/bin/sh\nkill -9 $$\n"), 0o700)
	_, err = w.get(w.reg.Host(), map[string]string{"CURRENTS_AWS_HELPER": killed})
	if err == nil || !strings.Contains(err.Error(), `was stopped by signal "killed" before it answered`) || !strings.Contains(err.Error(), w.reg.Host()) {
		t.Errorf("killed AWS binary: %v", err)
	}
	// One that fails without a word points at its own output.
	mute := filepath.Join(t.TempDir(), "mute")
	os.WriteFile(mute, []byte("#!/bin/sh\necho 'panic: something' >&2\nexit 2\n"), 0o700)
	_, err = w.get(w.reg.Host(), map[string]string{"CURRENTS_AWS_HELPER": mute})
	if err == nil || !strings.Contains(err.Error(), "failed (exit status 2) without an answer") {
		t.Errorf("mute AWS binary: %v", err)
	}
}

// TestUnusableCacheStillAnswers: a cache directory that cannot be made
// (here under a regular file, unusable even for root) costs AWS calls, never
// the pull; the AWS binary says why on stderr, once per get.
func TestUnusableCacheStillAnswers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	file := filepath.Join(w.home, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := map[string]string{"CURRENTS_CACHE_DIR": filepath.Join(file, "cache")}
	for range 2 {
		w.prove(w.mustGet(w.reg.Host(), broken))
	}
	if c := w.aws.Counts(); c.AssumeRole != 2 || c.GetAuthorizationToken != 2 {
		t.Errorf("two uncached gets: %+v; want 2 and 2", c)
	}
	if n := strings.Count(w.logs(), "no usable cache directory"); n != 2 || !strings.Contains(w.logs(), "CURRENTS_CACHE_DIR") {
		t.Errorf("want one warning naming the fix per get, got %d:\n%s", n, w.logs())
	}
	if err := client.Erase(w.prog(bin.lean, broken), w.reg.Host()); err != nil {
		t.Errorf("erase with nothing cached: %v", err)
	}
}

// TestOneTokenPerPrincipalAndRegion: registries of one principal share its
// cache file; in one region they share one token, and another region's token
// comes from the same STS session, even when every get runs at once.
func TestOneTokenPerPrincipalAndRegion(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	west := standin.NewRegistry(w.aws, standin.WithRegion("eu-west-1"))
	t.Cleanup(west.Close)
	_, port, _ := strings.Cut(w.reg.Host(), ":")
	same := "localhost:" + port // the same registry under a second name
	entry := "  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: %s\n"
	w.writeConfig("registries:\n" +
		fmt.Sprintf(entry, w.reg.Host(), w.reg.Account(), w.reg.Region(), w.role, externalID) +
		fmt.Sprintf(entry, same, w.reg.Account(), w.reg.Region(), w.role, externalID) +
		fmt.Sprintf(entry, west.Host(), west.Account(), west.Region(), w.role, externalID))
	hosts := []string{w.reg.Host(), same, west.Host()}
	answers, errs := w.getAll(16*len(hosts), hosts, nil)
	secrets := map[string]map[string]bool{}
	for i, c := range answers {
		if errs[i] != nil {
			t.Fatalf("get %s: %v\n%s", hosts[i%len(hosts)], errs[i], w.logs())
		}
		reg := w.reg
		if c.ServerURL == west.Host() {
			reg = west
		}
		proveAt(t, reg, c)
		if secrets[reg.Region()] == nil {
			secrets[reg.Region()] = map[string]bool{}
		}
		secrets[reg.Region()][c.Secret] = true
	}
	if len(secrets[w.reg.Region()]) != 1 || len(secrets[west.Region()]) != 1 {
		t.Errorf("distinct tokens per region: %d in %s, %d in %s; want 1 each",
			len(secrets[w.reg.Region()]), w.reg.Region(), len(secrets[west.Region()]), west.Region())
	}
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 2 {
		t.Errorf("%d gets over two regions made %d AssumeRole and %d GetAuthorizationToken; want 1 and 2",
			len(answers), c.AssumeRole, c.GetAuthorizationToken)
	}
	if files := w.cacheFiles(); len(files) != 1 {
		t.Errorf("one principal, %d cache files", len(files))
	}
}

// TestParallelRefusedGetsAskAWSOnce: when AWS refuses the role, a burst of
// parallel gets (compose pulling every service) costs one AssumeRole, and
// every get still carries AWS's own words; erase lets the next get retry.
func TestParallelRefusedGetsAskAWSOnce(t *testing.T) {
	t.Parallel()
	const n = 64
	w := newWorld(t)
	w.aws.RefuseRole(w.role, true)
	_, errs := w.getAll(n, []string{w.reg.Host()}, nil)
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), w.role) {
			t.Fatalf("get %d: %v", i, err)
		}
	}
	if c := w.aws.Calls(); c.AssumeRole != 1 || c.GetAuthorizationToken != 0 {
		t.Errorf("%d parallel refused gets made %d AssumeRole calls (and %d token requests); want 1 (and 0)", n, c.AssumeRole, c.GetAuthorizationToken)
	}
	if out, _ := w.run(bin.lean, "", nil, "config"); !strings.Contains(out, "last failed refresh") || !strings.Contains(out, "AccessDenied") {
		t.Errorf("config does not show the failed refresh:\n%s", out)
	}
	// Once the vendor fixes the trust policy, erase makes the next get ask at once.
	w.aws.RefuseRole(w.role, false)
	if err := client.Erase(w.prog(bin.lean, nil), w.reg.Host()); err != nil {
		t.Fatal(err)
	}
	w.prove(w.mustGet(w.reg.Host(), nil))
}

// TestProfileWithRole: the role can also come from an AWS profile (role_arn,
// source_profile, external_id), either the default chain's AWS_PROFILE for a
// host without an entry, or an entry's profile key. The SDK assumes the role;
// the helper caches that session like its own, so an ECR refresh inside it
// needs no second AssumeRole, and a warm get needs no AWS at all.
func TestProfileWithRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aws := filepath.Join(w.home, ".aws")
	os.MkdirAll(aws, 0o700)
	os.WriteFile(filepath.Join(aws, "config"), []byte(fmt.Sprintf("[profile vendor]\nrole_arn = %s\nexternal_id = %s\nsource_profile = ops\n", w.role, externalID)), 0o600)
	os.WriteFile(filepath.Join(aws, "credentials"), []byte(fmt.Sprintf("[ops]\naws_access_key_id = %s\naws_secret_access_key = %s\n", w.user.AccessKeyID, w.user.SecretAccessKey)), 0o600)
	noKeys := map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
	w.env["CURRENTS_LOG"] = "debug"

	realHost := w.aws.Account() + ".dkr.ecr." + w.aws.Region() + ".amazonaws.com"
	env := map[string]string{"AWS_PROFILE": "vendor", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
	w.prove(w.mustGet(realHost, env))
	w.prove(w.mustGet(realHost, env))
	if err := client.Erase(w.prog(bin.lean, env), realHost); err != nil {
		t.Fatal(err)
	}
	w.prove(w.mustGet(realHost, env))
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 2 {
		t.Errorf("AWS_PROFILE with role_arn: %+v; want 1 AssumeRole (the SDK's session, cached) and 2 tokens (the second after erase)", c)
	}

	// The same profile named by an entry (kind profile): its own cache file.
	w.writeConfig(fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    profile: vendor\n", w.reg.Host(), w.reg.Account(), w.reg.Region()))
	w.prove(w.mustGet(w.reg.Host(), noKeys))
	w.prove(w.mustGet(w.reg.Host(), noKeys))
	if c := w.aws.Counts(); c.AssumeRole != 2 || c.GetAuthorizationToken != 3 {
		t.Errorf("entry with profile: %+v; want one more AssumeRole and token\n%s", c, w.logs())
	}
	if n := len(w.cacheFiles()); n != 2 {
		t.Errorf("%d cache files, want one per principal (2)", n)
	}
}

// TestAWSBinaryNamedWithoutAPath: CURRENTS_AWS_HELPER set to a command name
// (docker-credential-currents-aws, found in PATH) was run for a refresh,
// which looked it up in PATH, and not for anything the lean binary becomes
// the AWS binary for (config, doctor, and every get after an edit of
// currents.yaml), which took it for a file in the working directory: gets
// worked for months, then all failed after the first edit.
func TestAWSBinaryNamedWithoutAPath(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	extra := map[string]string{"CURRENTS_AWS_HELPER": filepath.Base(bin.fat), "PATH": filepath.Dir(bin.fat) + ":" + w.env["PATH"]}
	w.prove(w.mustGet(w.reg.Host(), extra))
	if out, code := w.run(bin.lean, "", extra, "config"); code != 0 || !strings.Contains(out, w.reg.Host()) {
		t.Errorf("config: exit %d\n%s\n%s", code, out, w.logs())
	}
	old, _ := os.ReadFile(w.config)
	w.writeConfigOnly(string(old) + "# edited\n")
	w.prove(w.mustGet(w.reg.Host(), extra))
}
