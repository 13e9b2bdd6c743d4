package credhelpercmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/logging"
)

// runCmd runs the AWS binary's command tree in-process, as Execute does, and returns stdout, stderr and the
// exit code.
func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCmdIn(t, "", args...)
}

// runCmdIn is runCmd with stdin.
func runCmdIn(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &App{In: strings.NewReader(stdin), Out: &out, Err: &errb, Log: logging.Discard()}
	root := NewRoot(a)
	root.SetArgs(args)
	code := 0
	if err := root.Execute(); err != nil {
		if ee, ok := err.(exitError); ok {
			code = ee.code
		} else {
			errb.WriteString("Error: " + err.Error() + "\n")
			code = 1
		}
	}
	return out.String(), errb.String(), code
}

// setupHome gives the test its own docker config directory and no currents.yaml override.
func setupHome(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".docker")
	t.Setenv("HOME", filepath.Dir(dir))
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("DOCKER_AUTH_CONFIG", "")
	t.Setenv(dirs.EnvConfig, "")
	return dir
}

const aliasHost = "127.0.0.1:5000"

var aliasArgs = []string{"configure", "--registry", aliasHost, "--account", "123456789012", "--region", "us-east-1",
	"--role-arn", "arn:aws:iam::123456789012:role/customer-pull", "--external-id", "ext-123"}

func TestConfigureFreshHostThenAgainChangesNothing(t *testing.T) {
	dir := setupHome(t)
	out, errOut, code := runCmd(t, aliasArgs...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	yamlPath, jsonPath := filepath.Join(dir, "currents.yaml"), filepath.Join(dir, "config.json")
	cfg, err := config.Load(yamlPath)
	if err != nil {
		t.Fatal(err)
	}
	tgt, ok := cfg.Lookup(aliasHost)
	if !ok || tgt.Entry == nil || tgt.Entry.RoleARN != "arn:aws:iam::123456789012:role/customer-pull" || tgt.Entry.ExternalID != "ext-123" ||
		tgt.Registry.Account != "123456789012" || tgt.Registry.Region != "us-east-1" {
		t.Fatalf("entry: %+v %+v", tgt, tgt.Entry)
	}
	dc, err := dockerconfig.Load(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := dc.CredHelper(aliasHost); h != "currents" {
		t.Fatalf("credHelpers[%s] = %q", aliasHost, h)
	}
	for _, p := range []string{yamlPath, jsonPath} {
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	before := snapshot(t, dir)

	out, errOut, code = runCmd(t, aliasArgs...)
	if code != 0 || !strings.Contains(out, "already up to date") || !strings.Contains(out, "already sends") {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errOut)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("second run touched files:\n%s\n---\n%s", before, after)
	}
}

// snapshot describes every file in dir with its inode, size and modification time.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		st, _ := os.Stat(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + " " + st.ModTime().String() + " " + st.Mode().String() + "\n")
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.Write(data)
	}
	return b.String()
}

func TestConfigureKeepsDockerDesktopSettingsAndWarnsAboutAStaleLogin(t *testing.T) {
	dir := setupHome(t)
	os.MkdirAll(dir, 0o700)
	const ecrHost = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
	orig, err := os.ReadFile("../../testdata/dockerconfig/stale-ecr-login.json")
	if err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "config.json")
	os.WriteFile(jsonPath, orig, 0o644)
	args := []string{"configure", "--registry", ecrHost, "--role-arn", "arn:aws:iam::123456789012:role/pull"}

	// --print shows both changes, redacts the saved token, and writes nothing.
	out, errOut, code := runCmd(t, append(args, "--print", "--remove-stale-auth")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	contains(t, "--print output", out, "+registries:", `+		"`+ecrHost+`": "currents"`, `-			"auth": "[redacted]"`, "nothing was written")
	if strings.Contains(out, "QVdT") {
		t.Errorf("--print leaked the saved token:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("--print wrote files: %v", entries)
	}

	out, errOut, code = runCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	contains(t, "the stale-login warning", errOut, `static "auths" entry "https://`+ecrHost+`"`, "ECR token that expired 20", "--remove-stale-auth")
	if st, _ := os.Stat(jsonPath); st.Mode().Perm() != 0o644 {
		t.Errorf("config.json mode changed to %v", st.Mode().Perm())
	}
	if bak, _ := os.ReadFile(jsonPath + ".bak"); !bytes.Equal(bak, orig) {
		t.Error("config.json.bak does not hold the original")
	}
	got, _ := os.ReadFile(jsonPath)
	if want, _ := os.ReadFile("../../testdata/dockerconfig/golden/stale-ecr-login.credhelper.json"); !bytes.Equal(got, bytes.ReplaceAll(want, []byte("127.0.0.1:5000"), []byte(ecrHost))) {
		t.Errorf("config.json is not the original plus our entry:\n%s", got)
	}

	out, errOut, code = runCmd(t, append(args, "--remove-stale-auth")...)
	if code != 0 || !strings.Contains(out, "removed the static login") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	dc, _ := dockerconfig.Load(jsonPath)
	if len(dc.StaticAuths(ecrHost)) != 0 || len(dc.StaticAuths("myregistry.azurecr.io")) != 1 {
		t.Error("--remove-stale-auth removed the wrong entries")
	}

	// Run again on files that now have backups: nothing changes, not even the backups, and no warning.
	before := snapshot(t, dir)
	out, errOut, code = runCmd(t, append(args, "--remove-stale-auth")...)
	if code != 0 || strings.Contains(errOut, `static "auths"`) || strings.Contains(out, "removed the static login") || !strings.Contains(out, "already sends") {
		t.Fatalf("third run: exit %d\n%s%s", code, out, errOut)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("an unchanged configure touched files:\n%s\n---\n%s", before, after)
	}
}

func TestConfigureRejectsBadInputAndWritesNothing(t *testing.T) {
	cases := map[string]struct {
		args   []string
		json   string
		expect []string
	}{
		"bad role":            {args: []string{"configure", "--registry", "123456789012.dkr.ecr.us-east-1.amazonaws.com", "--role-arn", "arn:aws:iam::1234:role/x"}, expect: []string{"--role-arn", "12-digit"}},
		"alias lacks account": {args: []string{"configure", "--registry", aliasHost, "--role-arn", "arn:aws:iam::123456789012:role/x"}, expect: []string{"--account", "is required"}},
		"broken config.json":  {args: aliasArgs, json: "{\"auths\": {,}}", expect: []string{"config.json", "line 1, column 12"}},
		"missing role":        {args: []string{"configure", "--registry", aliasHost}, expect: []string{`"role-arn" not set`}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := setupHome(t)
			os.MkdirAll(dir, 0o700)
			if c.json != "" {
				os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.json), 0o600)
			}
			before := snapshot(t, dir)
			out, errOut, code := runCmd(t, c.args...)
			if code == 0 {
				t.Fatalf("exit 0\n%s", out)
			}
			for _, w := range c.expect {
				if !strings.Contains(errOut, w) {
					t.Errorf("error lacks %q:\n%s", w, errOut)
				}
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("files changed on failure:\n%s", after)
			}
		})
	}
}

func TestConfigureReadsTheExternalIDFromAFileOrStdin(t *testing.T) {
	const secret = "vendor-ext-id-4f9c"
	base := []string{"configure", "--registry", aliasHost, "--account", "123456789012", "--region", "us-east-1",
		"--role-arn", "arn:aws:iam::123456789012:role/customer-pull"}
	externalID := func(t *testing.T, dir string) string {
		t.Helper()
		cfg, err := config.Load(filepath.Join(dir, dirs.ConfigName))
		if err != nil {
			t.Fatal(err)
		}
		tgt, _ := cfg.Lookup(aliasHost)
		return tgt.Entry.ExternalID
	}

	t.Run("file", func(t *testing.T) {
		dir := setupHome(t)
		f := filepath.Join(t.TempDir(), "ext-id")
		os.WriteFile(f, []byte("  "+secret+"  \nsecond line ignored\n"), 0o600)
		out, errOut, code := runCmd(t, append(base, "--external-id-file", f)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if got := externalID(t, dir); got != secret {
			t.Fatalf("external_id %q, want %q", got, secret)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("configure echoed the external ID:\n%s%s", out, errOut)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		dir := setupHome(t)
		out, errOut, code := runCmdIn(t, secret+"\n", append(base, "--external-id-file", "-")...)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if got := externalID(t, dir); got != secret {
			t.Fatalf("external_id %q, want %q", got, secret)
		}
		// --print shows the change with the ID redacted.
		out, _, _ = runCmdIn(t, "another-id\n", append(base, "--external-id-file", "-", "--print")...)
		if !strings.Contains(out, "only a redacted value changes, such as external_id") ||
			strings.Contains(out, secret) || strings.Contains(out, "another-id") {
			t.Errorf("--print does not redact the external ID:\n%s", out)
		}
		// A diff with other changes shows the line, redacted.
		out, _, _ = runCmdIn(t, "another-id\n", append(base, "--external-id-file", "-", "--print", "--duration", "2h")...)
		if !strings.Contains(out, `    external_id: [redacted]`) || !strings.Contains(out, "+    duration: 2h") || strings.Contains(out, "another-id") {
			t.Errorf("--print does not redact the external ID:\n%s", out)
		}
	})
	for name, c := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"both":        {args: []string{"--external-id", "x", "--external-id-file", "-"}, want: "give one of them"},
		"empty stdin": {stdin: "\n", args: []string{"--external-id-file", "-"}, want: "stdin holds no external ID"},
		"missing":     {args: []string{"--external-id-file", "/nonexistent/ext-id"}, want: "/nonexistent/ext-id"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := setupHome(t)
			out, errOut, code := runCmdIn(t, c.stdin, append(base, c.args...)...)
			if code == 0 || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want an error with %q\n%s%s", code, c.want, out, errOut)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("a rejected configure wrote %s", dir)
			}
		})
	}
}

func TestConfigureSaysWhichFileWasWrittenWhenConfigJSONFails(t *testing.T) {
	dir := setupHome(t)
	os.MkdirAll(dir, 0o700)
	jsonPath := filepath.Join(dir, "config.json")
	os.WriteFile(jsonPath, []byte("{}\n"), 0o600)
	// The backup cannot be written (a directory is in its way), so config.json cannot be replaced.
	os.Mkdir(jsonPath+".bak", 0o700)
	out, errOut, code := runCmd(t, aliasArgs...)
	if code == 0 {
		t.Fatalf("exit 0\n%s", out)
	}
	for _, want := range []string{"config.json", "currents.yaml was already updated", "config.json was not changed", "run the same configure command again"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error lacks %q:\n%s", want, errOut)
		}
	}
	if b, _ := os.ReadFile(jsonPath); string(b) != "{}\n" {
		t.Errorf("config.json changed: %q", b)
	}
	// Once the obstacle is gone, the same command finishes the job.
	os.Remove(jsonPath + ".bak")
	if out, errOut, code := runCmd(t, aliasArgs...); code != 0 || !strings.Contains(out, "already up to date") || !strings.Contains(out, "credHelpers sends") {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, errOut)
	}
}

func TestRemovingAStaleLoginKeptInCredsStoreSaysWhereItsSecretIs(t *testing.T) {
	dir := setupHome(t)
	os.MkdirAll(dir, 0o700)
	orig, err := os.ReadFile("../../testdata/dockerconfig/desktop.json") // "ghcr.io": {} with credsStore "desktop"
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), orig, 0o600)
	args := []string{"configure", "--registry", "ghcr.io", "--account", "123456789012", "--region", "us-east-1",
		"--role-arn", "arn:aws:iam::123456789012:role/pull"}
	_, errOut, code := runCmd(t, args...)
	if code != 0 || !strings.Contains(errOut, "a login stored in credsStore") {
		t.Fatalf("exit %d; no warning about the credsStore login:\n%s", code, errOut)
	}
	out, errOut, code := runCmd(t, append(args, "--remove-stale-auth")...)
	if code != 0 || !strings.Contains(out, "removed the static login") ||
		!strings.Contains(errOut, `printf %s "ghcr.io" | docker-credential-desktop erase`) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// TestConfigureWebIdentityIsTheWholeCISetUp: one command in a GitHub job
// writes the entry; run in a job without id-token: write, it says so at once.
func TestConfigureWebIdentityIsTheWholeCISetUp(t *testing.T) {
	dir := setupHome(t)
	for _, k := range []string{"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "CIRCLECI"} {
		t.Setenv(k, "")
	}
	t.Setenv("GITHUB_ACTIONS", "true")
	host := "513558712013.dkr.ecr.us-east-1.amazonaws.com"
	out, errOut, code := runCmd(t, "configure", "--registry", host, "--role-arn", "arn:aws:iam::513558712013:role/ci", "--web-identity", "github-actions")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "permissions: id-token: write") {
		t.Errorf("no warning about the missing permission:\n%s", errOut)
	}
	cfg, err := config.Load(filepath.Join(dir, "currents.yaml"))
	if err != nil || cfg.Registries[0].WebIdentity != config.WebIdentityGitHub {
		t.Fatalf("%v %+v", err, cfg)
	}
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x/y?a=1")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "tok")
	_, errOut, code = runCmd(t, "configure", "--registry", host, "--role-arn", "arn:aws:iam::513558712013:role/ci", "--web-identity", "github-actions")
	if code != 0 || strings.Contains(errOut, "id-token") {
		t.Errorf("with the permission: exit %d %s", code, errOut)
	}
	_, errOut, code = runCmd(t, "configure", "--registry", host, "--role-arn", "arn:aws:iam::513558712013:role/ci", "--web-identity", "gitlab")
	if code == 0 || !strings.Contains(errOut, "--web-identity:") || !strings.Contains(errOut, "github-actions, circleci, kubernetes") {
		t.Errorf("unknown kind: exit %d %s", code, errOut)
	}
}

// contains fails the test for each of wants that text lacks.
func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// Harden, defect 7: configure run again for a registry without --external-id(-file) silently removed the
// entry's external_id (the entry became exactly what the flags said). It now keeps it, says "kept
// external_id" without printing it, and removes it only with --no-external-id (or a web identity entry).
func TestConfigureKeepsTheExternalIDUnlessToldToRemoveIt(t *testing.T) {
	dir := setupHome(t)
	const id = "vendor-ext-keep-77"
	yamlPath := filepath.Join(dir, "currents.yaml")
	base := aliasArgs[: len(aliasArgs)-2 : len(aliasArgs)-2] // without --external-id; appends copy
	externalID := func() string {
		t.Helper()
		cfg, err := config.Load(yamlPath)
		if err != nil {
			t.Fatal(err)
		}
		tg, _ := cfg.Lookup(aliasHost)
		return tg.Entry.ExternalID
	}
	if out, errOut, code := runCmdIn(t, id+"\n", append(base, "--external-id-file", "-")...); code != 0 {
		t.Fatalf("configure: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{append(base, "--print"), base} {
		out, errOut, code := runCmd(t, args...)
		if code != 0 || !strings.Contains(out, "kept external_id for "+aliasHost) || strings.Contains(out+errOut, id) {
			t.Errorf("%v: exit %d\n%s%s", args[len(args)-1], code, out, errOut)
		}
		if got := externalID(); got != id {
			t.Fatalf("after configure %v without an external ID, the entry's is %q, want %q", args[len(args)-1], got, id)
		}
	}
	if out, _, _ := runCmd(t, base...); !strings.Contains(out, "already up to date") {
		t.Errorf("a re-run changed the file:\n%s", out)
	}

	// Contradictions and an empty ID are usage errors that name the way to remove it.
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", append(base, "--external-id", ""), "--no-external-id"},
		{id + "\n", append(base, "--no-external-id", "--external-id-file", "-"), "--no-external-id removes"},
	} {
		if out, errOut, code := runCmdIn(t, c.stdin, c.args...); code == 0 || !strings.Contains(errOut, c.want) || externalID() != id {
			t.Errorf("%q: exit %d (want a usage error naming %q, the entry untouched)\n%s%s", c.args[len(base):], code, c.want, out, errOut)
		}
	}

	out, errOut, code := runCmd(t, append(base, "--no-external-id")...)
	if code != 0 || !strings.Contains(out, "removed external_id for "+aliasHost) || externalID() != "" {
		t.Fatalf("--no-external-id: exit %d, external ID %q\n%s%s", code, externalID(), out, errOut)
	}
	if !strings.Contains(newConfigureCmd(&App{}).Flags().FlagUsages(), "--no-external-id") {
		t.Error("--help does not show --no-external-id")
	}
}

// Harden, misc: `configure --external-id VALUE` put the secret in argv without a word; it now warns (never
// printing it) and points at --external-id-file. A repeated flag (--registry A --registry B) configured B
// alone; it is now a usage error naming the flag, and nothing is written.
func TestConfigureWarnsAboutAnArgvSecretAndRefusesRepeatedFlags(t *testing.T) {
	dir := setupHome(t)
	out, errOut, code := runCmd(t, aliasArgs...)
	if code != 0 || !strings.Contains(errOut, "warning: --external-id puts the external ID in this command's argv") ||
		!strings.Contains(errOut, "--external-id-file") || strings.Contains(out+errOut, "ext-123") {
		t.Fatalf("configure --external-id: exit %d\n%s%s", code, out, errOut)
	}
	yamlPath := filepath.Join(dir, "currents.yaml")
	before, _ := os.ReadFile(yamlPath)
	for _, extra := range [][]string{{"--registry", "127.0.0.2:5000"}, {"--external-id", "ext-456"}} {
		out, errOut, code := runCmd(t, append(append([]string{}, aliasArgs...), extra...)...)
		if code == 0 || !strings.Contains(errOut, extra[0]+" given 2 times") || strings.Contains(out+errOut, "ext-456") {
			t.Errorf("%s twice: exit %d\n%s%s", extra[0], code, out, errOut)
		}
	}
	if after, _ := os.ReadFile(yamlPath); !bytes.Equal(before, after) {
		t.Errorf("a refused configure changed %s:\n%s", yamlPath, after)
	}
}
