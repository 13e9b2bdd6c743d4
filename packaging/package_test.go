//go:build packaging

package packaging_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/currentsdev/currents/internal/standin/standintest"
)

const name = "currents-ecr-tools"

// dist is the output of the two `make dist` runs TestMain made.
var dist struct {
	a, b    string // the two DIST directories
	took    time.Duration
	version string
}

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "package-test: needs root (dpkg -i); run `make package-test` as root")
		os.Exit(1)
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", name).Output(); err == nil {
		switch st := string(out); {
		case strings.HasSuffix(st, " config-files"):
			exec.Command("dpkg", "--purge", name).Run() // only dpkg's record of an earlier run is left
		case strings.HasSuffix(st, " installed"):
			fmt.Fprintf(os.Stderr, "package-test: %s is installed on this machine already; remove it (dpkg -r %s) so the test owns every file it checks\n", name, name)
			os.Exit(1)
		}
	}
	root, _ := os.MkdirTemp("", "currents-package-test-")
	dist.a, dist.b = filepath.Join(root, "a"), filepath.Join(root, "b")
	start := time.Now()
	for i, d := range []string{dist.a, dist.b} {
		tmp := filepath.Join(root, fmt.Sprintf("tmp%d", i)) // another staging path each time
		os.MkdirAll(tmp, 0o700)
		cmd := exec.Command("bash", "scripts/dist.sh")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "DIST="+d, "TMPDIR="+tmp)
		out, err := cmd.CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "make dist: %v\n%s", err, out)
			os.Exit(1)
		}
		if i == 0 {
			dist.took = time.Since(start)
			fmt.Printf("%s", out)
			for line := range strings.Lines(string(out)) {
				if v, ok := strings.CutPrefix(line, "dist: "+name+" "); ok {
					dist.version, _, _ = strings.Cut(v, ",")
				}
			}
		}
	}
	code := m.Run()
	if os.Getenv("PACKAGE_KEEP") == "" {
		os.RemoveAll(root)
	} else {
		fmt.Println("kept", root)
	}
	os.Exit(code)
}

func one(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) != 1 {
		t.Fatalf("want one %s in %s, have %v", pattern, dir, m)
	}
	return m[0]
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDistIsReproducible: the two builds of one commit, staged under different paths and at different
// times, give the same bytes, and SHA256SUMS covers every artifact.
func TestDistIsReproducible(t *testing.T) {
	t.Logf("make dist took %s; version %s", dist.took.Round(time.Second), dist.version)
	a, _ := os.ReadFile(filepath.Join(dist.a, "SHA256SUMS"))
	b, _ := os.ReadFile(filepath.Join(dist.b, "SHA256SUMS"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("two builds of one commit differ:\n%s\n---\n%s", a, b)
	}
	cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	cmd.Dir = dist.a
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("SHA256SUMS does not check: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(dist.a)
	var names []string
	for _, e := range entries {
		fi, _ := e.Info()
		names = append(names, e.Name())
		if e.Name() != "SHA256SUMS" && !strings.Contains(string(a), "  "+e.Name()+"\n") {
			t.Errorf("%s is not in SHA256SUMS", e.Name())
		}
		t.Logf("%10d  %s", fi.Size(), e.Name())
	}
	want := []string{
		name + "-" + rpmVersion() + ".aarch64.rpm", name + "-" + rpmVersion() + ".x86_64.rpm",
		name + "_" + dist.version + "-1_amd64.deb", name + "_" + dist.version + "-1_arm64.deb",
		name + "_" + dist.version + "_linux_amd64.tar.gz", name + "_" + dist.version + "_linux_arm64.tar.gz", "SHA256SUMS",
	}
	sort.Strings(names)
	sort.Strings(want)
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("artifacts:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
}

func rpmVersion() string { return dist.version + "-1" }

// TestBinariesAreStatic: every binary of both architectures is a static ELF of its machine.
func TestBinariesAreStatic(t *testing.T) {
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		dir := extract(t, arch)
		for _, b := range []string{"docker-credential-currents", "docker-credential-currents-aws", "docker-currents", "currents-plugin"} {
			f, err := elf.Open(filepath.Join(dir, b))
			if err != nil {
				t.Fatalf("%s/%s: %v", arch, b, err)
			}
			if f.Machine != machine {
				t.Errorf("%s/%s is for %v", arch, b, f.Machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s/%s is dynamically linked", arch, b)
				}
			}
			f.Close()
		}
	}
}

// extract unpacks arch's tarball and returns its top directory.
func extract(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "tar", "-xzf", one(t, dist.a, "*_linux_"+arch+".tar.gz"), "-C", dir)
	top := filepath.Join(dir, name+"_"+dist.version+"_linux_"+arch)
	for _, f := range []string{"README.md", "LICENSE", "systemd/system/currents-refresh.timer", "systemd/system/currents-watch@.service"} {
		if _, err := os.Stat(filepath.Join(top, f)); err != nil {
			t.Errorf("tarball lacks %s", f)
		}
	}
	return top
}

// packageFiles lists the regular files of the .deb (dpkg -c) or the .rpm (rpm -qlp).
func packageFiles(t *testing.T, pkg string) []string {
	t.Helper()
	var files []string
	if strings.HasSuffix(pkg, ".deb") {
		for line := range strings.Lines(run(t, "dpkg-deb", "-c", pkg)) {
			f := strings.Fields(line)
			if len(f) >= 6 && strings.HasPrefix(f[0], "-") {
				files = append(files, strings.TrimPrefix(f[5], "."))
			}
		}
	} else {
		for line := range strings.Lines(run(t, "rpm", "-qlp", pkg)) {
			files = append(files, strings.TrimSpace(line))
		}
	}
	sort.Strings(files)
	return files
}

var wantFiles = []string{
	"/usr/bin/docker-credential-currents",
	"/usr/bin/docker-credential-currents-aws",
	"/usr/lib/systemd/system/currents-refresh.service",
	"/usr/lib/systemd/system/currents-refresh.timer",
	"/usr/lib/systemd/system/currents-watch@.service",
	"/usr/lib/systemd/user/currents-refresh.service",
	"/usr/lib/systemd/user/currents-refresh.timer",
	"/usr/libexec/docker/cli-plugins/currents-plugin",
	"/usr/libexec/docker/cli-plugins/docker-currents",
	"/usr/share/doc/currents-ecr-tools/LICENSE",
	"/usr/share/doc/currents-ecr-tools/README.md",
}

// TestRPMListsTheDebsFiles: rpm -qlp of each .rpm lists exactly the .deb's files.
func TestRPMListsTheDebsFiles(t *testing.T) {
	for deb, rpm := range map[string]string{"amd64.deb": "x86_64.rpm", "arm64.deb": "aarch64.rpm"} {
		d, r := packageFiles(t, one(t, dist.a, "*"+deb)), packageFiles(t, one(t, dist.a, "*"+rpm))
		if strings.Join(d, "\n") != strings.Join(wantFiles, "\n") {
			t.Errorf("%s files:\n%s", deb, strings.Join(d, "\n"))
		}
		if strings.Join(r, "\n") != strings.Join(d, "\n") {
			t.Errorf("%s lists\n%s\nthe .deb\n%s", rpm, strings.Join(r, "\n"), strings.Join(d, "\n"))
		}
		scripts := run(t, "rpm", "-qp", "--scripts", one(t, dist.a, "*"+rpm))
		for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
			if !strings.Contains(scripts, s) {
				t.Errorf("%s lacks its %s:\n%s", rpm, s, scripts)
			}
		}
	}
}

// snapshot lists every path under the directories a package touches, with its mode and size.
func snapshot(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, root := range []string{"/usr/bin", "/usr/libexec", "/usr/lib/systemd", "/usr/share/doc", "/etc/systemd/system"} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // a root that does not exist yet
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			if d.Type().IsRegular() {
				out = append(out, fmt.Sprintf("%s %v %d", p, fi.Mode(), fi.Size()))
			} else {
				out = append(out, fmt.Sprintf("%s %v", p, fi.Mode().Type()))
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

func diffLines(a, b []string) string {
	in := map[string]int{}
	for _, l := range a {
		in[l]++
	}
	for _, l := range b {
		in[l]--
	}
	var d []string
	for l, n := range in {
		switch {
		case n > 0:
			d = append(d, "- "+l)
		case n < 0:
			d = append(d, "+ "+l)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

// TestDebInstallRunRemove installs the .deb on this machine, runs both commands from PATH as a user
// would, verifies the systemd units, enables the timer, removes the package and checks the machine is
// as it was: no file, directory or enablement symlink left, and no config.json touched.
func TestDebInstallRunRemove(t *testing.T) {
	deb := one(t, dist.a, "*_amd64.deb")
	home := t.TempDir()
	cfg := filepath.Join(home, ".docker", "config.json")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	cfgBody := []byte(`{"credHelpers": {"513558712013.dkr.ecr.us-east-1.amazonaws.com": "currents"}, "auths": {}}`)
	os.WriteFile(cfg, cfgBody, 0o600)
	rootCfg, rootErr := os.ReadFile("/root/.docker/config.json")

	before := snapshot(t)
	t.Cleanup(func() { exec.Command("dpkg", "--purge", name).Run() })
	cmd := exec.Command("dpkg", "-i", deb)
	cmd.Env = append(os.Environ(), "HOME="+home, "DOCKER_CONFIG="+filepath.Dir(cfg))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "docker-credential-currents configure --registry") {
		t.Errorf("the post-install message does not say to run configure:\n%s", out)
	}

	// From PATH, as a user types them: the helper from /usr/bin, the plugin found by docker itself.
	helper, err := exec.LookPath("docker-credential-currents")
	if err != nil || helper != "/usr/bin/docker-credential-currents" {
		t.Fatalf("docker-credential-currents on PATH: %q %v", helper, err)
	}
	if v := run(t, "docker-credential-currents", "version"); !strings.Contains(v, dist.version) {
		t.Errorf("docker-credential-currents version: %s (want %s)", v, dist.version)
	}
	docker := exec.Command("docker", "currents", "version")
	docker.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir()) // no user plugin directory can shadow it
	if v, err := docker.CombinedOutput(); err != nil || !strings.Contains(string(v), dist.version) {
		t.Errorf("docker currents version: %v\n%s", err, v)
	}
	packagedPluginIsValid(t)
	// status runs from the package too (an empty configuration: nothing to show, exit 0).
	st := exec.Command("docker-credential-currents", "status", "--format", "json")
	st.Env = append(os.Environ(), "HOME="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir(), "CURRENTS_CACHE_DIR="+t.TempDir())
	if b, err := st.Output(); err != nil || !json.Valid(b) {
		t.Errorf("status from the package: %v\n%s", err, b)
	}

	verifyUnits(t)
	checkTextfileHook(t)
	// An administrator enables the timer and a watch; removal must take the symlinks away with the units.
	run(t, "systemctl", "enable", "currents-refresh.timer")
	run(t, "systemctl", "enable", "currents-watch@srv-stack.service")
	if _, err := os.Lstat("/etc/systemd/system/timers.target.wants/currents-refresh.timer"); err != nil {
		t.Fatalf("systemctl enable made no symlink: %v", err)
	}

	out, err = exec.Command("dpkg", "-r", name).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, out)
	}
	checkRemoved(t, before, cfg, cfgBody, rootCfg, rootErr)
	if _, err := exec.LookPath("docker-credential-currents"); err == nil {
		t.Error("docker-credential-currents is still on PATH after dpkg -r")
	}
}

// packagedPluginIsValid: docker lists the package's plugin, its front, as valid, and takes the full plugin
// beside it for no plugin (no "invalid plugin" entry); the front answers docker's metadata question as the
// full plugin does, byte for byte.
func packagedPluginIsValid(t *testing.T) {
	t.Helper()
	info := exec.Command("docker", "info", "--format", "{{json .ClientInfo.Plugins}}")
	info.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "DOCKER_HOST=unix:///nonexistent.sock")
	out, _ := info.Output()
	var plugins []struct{ Name, Path, Err string }
	if err := json.Unmarshal(out, &plugins); err != nil {
		t.Fatalf("docker info: %v\n%s", err, out)
	}
	const dir = "/usr/libexec/docker/cli-plugins/"
	found := false
	for _, p := range plugins {
		found = found || (p.Name == "currents" && p.Path == dir+"docker-currents" && p.Err == "")
		if strings.Contains(p.Path, "currents-plugin") {
			t.Errorf("docker info lists the full plugin: %+v", p)
		}
	}
	if !found {
		t.Errorf("docker info does not list a valid currents plugin from %s: %+v", dir, plugins)
	}
	front, full := run(t, dir+"docker-currents", "docker-cli-plugin-metadata"), run(t, dir+"currents-plugin", "docker-cli-plugin-metadata")
	if front != full || !strings.Contains(front, dist.version) {
		t.Errorf("the front's metadata is not the full plugin's:\n%s\n%s", front, full)
	}
}

// checkRemoved compares the machine after dpkg -r with before dpkg -i, and the config.json files with
// what they held.
func checkRemoved(t *testing.T, before []string, cfg string, cfgBody, rootCfg []byte, rootErr error) {
	t.Helper()
	// dpkg keeps only its own record (the postrm, for a purge); the package has no conffile to leave behind.
	if st, _ := exec.Command("dpkg-query", "-W", "-f=${Status}|${Conffiles}", name).Output(); string(st) != "deinstall ok config-files|" {
		t.Errorf("after dpkg -r: %q", st)
	}
	if d := diffLines(before, snapshot(t)); d != "" {
		t.Errorf("dpkg -r left the machine different from before dpkg -i:\n%s", d)
	}
	if b, _ := os.ReadFile(cfg); !bytes.Equal(b, cfgBody) {
		t.Errorf("install or removal changed %s:\n%s", cfg, b)
	}
	if b, err := os.ReadFile("/root/.docker/config.json"); (err == nil) != (rootErr == nil) || !bytes.Equal(b, rootCfg) {
		t.Error("install or removal changed /root/.docker/config.json")
	}
}

// checkTextfileHook runs the installed refresh service's ExecStopPost line as systemd would hand it to
// sh ($$ is a literal $): with CURRENTS_TEXTFILE_DIR set it writes a currents.prom the Prometheus parser
// reads; unset, it writes nothing and succeeds.
func checkTextfileHook(t *testing.T) {
	t.Helper()
	unit, _ := os.ReadFile("/usr/lib/systemd/system/currents-refresh.service")
	var line string
	for l := range strings.Lines(string(unit)) {
		if v, ok := strings.CutPrefix(l, "ExecStopPost="); ok {
			line = strings.ReplaceAll(strings.TrimSpace(v), "$$", "$")
		}
	}
	if line == "" {
		t.Fatal("currents-refresh.service has no ExecStopPost")
	}
	home, dir := t.TempDir(), t.TempDir()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + home, "CURRENTS_CACHE_DIR=" + filepath.Join(home, "cache")}
	for _, textdir := range []string{"", dir} {
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = append(env, "CURRENTS_TEXTFILE_DIR="+textdir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("ExecStopPost with CURRENTS_TEXTFILE_DIR=%q: %v\n%s", textdir, err, out)
		}
	}
	prom, err := os.ReadFile(filepath.Join(dir, "currents.prom"))
	if err != nil {
		t.Fatalf("the hook wrote no textfile: %v", err)
	}
	var p expfmt.TextParser
	if _, err := p.TextToMetricFamilies(bytes.NewReader(prom)); err != nil || !bytes.Contains(prom, []byte("currents_status_timestamp_seconds")) {
		t.Errorf("the textfile does not parse: %v\n%s", err, prom)
	}
}

// verifyUnits runs systemd-analyze verify on the installed units, an instance of the watch template
// included, and on the user units in a user manager's terms.
func verifyUnits(t *testing.T) {
	t.Helper()
	units := []string{"/usr/lib/systemd/system/currents-refresh.service", "/usr/lib/systemd/system/currents-refresh.timer"}
	inst := filepath.Join(t.TempDir(), "currents-watch@srv-stack.service")
	os.Symlink("/usr/lib/systemd/system/currents-watch@.service", inst)
	verify := exec.Command("systemd-analyze", append(append([]string{"verify"}, units...), inst)...)
	verify.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
	if out, err := verify.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	userVerify := exec.Command("systemd-analyze", "--user", "verify", "/usr/lib/systemd/user/currents-refresh.service", "/usr/lib/systemd/user/currents-refresh.timer")
	userVerify.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
	if out, err := userVerify.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze --user verify: %v\n%s", err, out)
	}
}

// TestArm64UnderQemu runs the arm64 build under qemu user emulation: `version`, then a cold get by the AWS
// binary through the real SDK against the stand-in, then a warm get by the lean binary that must answer
// from the cache (its AWS helper is a tripwire), proved at the registry.
func TestArm64UnderQemu(t *testing.T) {
	dir := extract(t, "arm64")
	qemu := func(env []string, stdin string, args ...string) (string, error) {
		cmd := exec.Command("qemu-aarch64", args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out), fmt.Errorf("%v: %s", err, stderr.String())
		}
		return string(out), nil
	}
	lean, fat := filepath.Join(dir, "docker-credential-currents"), filepath.Join(dir, "docker-credential-currents-aws")
	if v, err := qemu(os.Environ(), "", lean, "version"); err != nil || !strings.Contains(v, dist.version) {
		t.Fatalf("arm64 version under qemu: %q %v", v, err)
	}
	// The plugin's front answers docker's question itself (its exec of the full plugin would leave qemu).
	if m, err := qemu(os.Environ(), "", filepath.Join(dir, "docker-currents"), "docker-cli-plugin-metadata"); err != nil || !strings.Contains(m, `"Version": "`+dist.version+`"`) {
		t.Errorf("arm64 plugin front's metadata under qemu: %q %v", m, err)
	}

	w := standintest.New(t, standintest.WithRegistry(), standintest.WithExternalID("ext-qemu-1"))
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".docker"), 0o700)
	yaml := fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: ext-qemu-1\n",
		w.Registry.Host(), w.Registry.Account(), w.Registry.Region(), w.Role)
	os.WriteFile(filepath.Join(home, ".docker", "currents.yaml"), []byte(yaml), 0o600)
	trip := filepath.Join(t.TempDir(), "tripwire")
	mark := trip + ".ran"
	os.WriteFile(trip, []byte("#!/bin/sh\ntouch "+mark+"\nexit 3\n"), 0o700)
	env := append([]string{"PATH=/usr/bin:/bin", "HOME=" + home, "DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"CURRENTS_CACHE_DIR=" + filepath.Join(home, "cache"), "CURRENTS_AWS_HELPER=" + trip,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none")}, w.AWS.Env(w.User)...)

	cold, err := qemu(env, w.Registry.Host()+"\n", fat, "get")
	if err != nil {
		t.Fatalf("cold get by the arm64 AWS binary: %v", err)
	}
	warm, err := qemu(env, w.Registry.Host()+"\n", lean, "get")
	if err != nil {
		t.Fatalf("warm get by the arm64 lean binary: %v", err)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("the warm get ran the AWS helper")
	}
	var c, h struct{ Username, Secret string }
	json.Unmarshal([]byte(cold), &c)
	json.Unmarshal([]byte(warm), &h)
	if h.Secret == "" || h.Secret != c.Secret {
		t.Fatal("the warm get did not answer the cached token")
	}
	if n := w.AWS.Counts(); n.AssumeRole != 1 || n.GetAuthorizationToken != 1 {
		t.Errorf("AWS calls: %+v", n)
	}
	req, _ := http.NewRequest(http.MethodGet, w.Registry.URL()+"/v2/", nil)
	req.SetBasicAuth(h.Username, h.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the registry refused the arm64 helper's token: %v %v", err, resp)
	}
	resp.Body.Close()
}

// spySystemctl is systemctl as the package scripts meet it on a host where systemd runs (none runs here,
// nor on the CI machine): the manager's state, which units are active, is a file it keeps, and stop,
// start, restart and try-restart act on it, matching patterns as systemd does against the units in
// memory; unit-file commands (enable, disable) go to the real systemctl, on the file system. Every call
// is logged, and every unit an action reached.
const spySystemctl = `#!/bin/sh
set -f
echo "$*" >>"$SPY/calls"
cmd= names=
for a in "$@"; do
	case $a in
	--*) ;;
	*) if [ -z "$cmd" ]; then cmd=$a; else names="$names $a"; fi ;;
	esac
done
case $cmd in
enable | disable | is-enabled) exec "$REAL_SYSTEMCTL" --root=/ "$@" ;;
start) for u in $names; do echo "$u" >>"$SPY/active"; done ;;
stop | restart | try-restart)
	touch "$SPY/active"
	for u in $(cat "$SPY/active"); do
		for p in $names; do
			case $u in $p)
				echo "$cmd $u" >>"$SPY/acted"
				[ "$cmd" = stop ] && sed -i "/^$u\$/d" "$SPY/active"
				break ;;
			esac
		done
	done ;;
esac
exit 0
`

// booted runs a command where /run/systemd/system exists, as on a host systemd booted (a fresh /run in a
// private mount namespace: the machine's /run is untouched, and need not hold /run/systemd), with the spy
// systemctl first on PATH.
func booted(t *testing.T, spy string, args ...string) string {
	t.Helper()
	real, err := exec.LookPath("systemctl")
	if err != nil {
		t.Fatal(err)
	}
	sh := `mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", sh, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+spy+":"+os.Getenv("PATH"), "SPY="+spy, "REAL_SYSTEMCTL="+real)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lines is a file's non-empty lines.
func lines(path string) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestDebStopsAndRestartsWatchInstances: on a host systemd runs, an upgrade restarts every running watch
// instance (and the timer) on the new binaries, and removal stops every one, an instance started but
// never enabled included, and disables the enabled ones.
func TestDebStopsAndRestartsWatchInstances(t *testing.T) {
	deb := one(t, dist.a, "*_amd64.deb")
	spy := t.TempDir()
	if err := os.WriteFile(filepath.Join(spy, "systemctl"), []byte(spySystemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("dpkg", "--purge", name).Run() })
	booted(t, spy, "dpkg", "-i", deb)
	// The administrator enables and starts one watch, and only starts another.
	booted(t, spy, "systemctl", "enable", "currents-watch@srv-stack.service", "currents-refresh.timer")
	booted(t, spy, "systemctl", "start", "currents-watch@srv-stack.service", "currents-watch@srv-other.service", "currents-refresh.timer")
	os.Remove(filepath.Join(spy, "acted"))

	booted(t, spy, "dpkg", "-i", deb) // an upgrade: postinst configure OLD-VERSION
	acted := strings.Join(lines(filepath.Join(spy, "acted")), "\n")
	for _, u := range []string{"currents-watch@srv-stack.service", "currents-watch@srv-other.service", "currents-refresh.timer"} {
		if !strings.Contains(acted, "try-restart "+u) {
			t.Errorf("the upgrade did not restart %s; the units acted on:\n%s\ncalls:\n%s", u, acted, strings.Join(lines(filepath.Join(spy, "calls")), "\n"))
		}
	}
	if strings.Contains(acted, "stop ") {
		t.Errorf("the upgrade stopped a unit:\n%s", acted)
	}
	// A watch finishes a deploy under way before it stops (up to TimeoutStopSec): the package manager must
	// not wait for it.
	for _, c := range lines(filepath.Join(spy, "calls")) {
		if strings.Contains(c, "currents-watch@") && strings.Contains(c, "try-restart") && !strings.Contains(c, "--no-block") {
			t.Errorf("the upgrade waits for the watch instances to restart: systemctl %s", c)
		}
	}

	os.Remove(filepath.Join(spy, "acted"))
	booted(t, spy, "dpkg", "-r", name)
	for _, u := range lines(filepath.Join(spy, "active")) {
		if strings.HasPrefix(u, "currents-") {
			t.Errorf("%s still runs after dpkg -r; calls:\n%s", u, strings.Join(lines(filepath.Join(spy, "calls")), "\n"))
		}
	}
	if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/currents-watch@srv-stack.service"); err == nil {
		t.Error("dpkg -r left the watch instance enabled")
	}
}
