package plugincmd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/exitcode"
	"github.com/currentsdev/currents/internal/mirror"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// mirrorFixture: the seed stack in one ECR-style front, an empty second
// front as the mirror, both logged in through config.json `auths`, and a
// copy of testdata/stack the test may edit.
func mirrorFixture(t *testing.T) (src, dst *standin.Registry, dir string) {
	t.Helper()
	isolate(t)
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithoutUser())
	aws, src := w.AWS, w.Registry
	dst = standin.NewRegistry(aws)
	t.Cleanup(dst.Close)
	if _, err := seed.Stack(context.Background(), src, "currents/on-prem", "staging"); err != nil {
		t.Fatal(err)
	}
	login(t, aws, src.Host(), dst.Host())
	dir = t.TempDir()
	for _, f := range []string{"compose.yaml", ".env"} {
		b, err := os.ReadFile(filepath.Join(stackDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The .env's repository variable defaults its registry from this.
	t.Setenv("DC_CURRENTS_REGISTRY", src.Host())
	return src, dst, dir
}

// login writes config.json with an ECR token for each host, as `docker
// login` would.
func login(t *testing.T, aws *standin.Server, hosts ...string) {
	t.Helper()
	user, pass, _ := aws.MintToken(fmt.Sprintf("arn:aws:iam::%s:root", aws.Account()), time.Hour)
	auth := map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	auths := map[string]any{}
	for _, h := range hosts {
		auths[h] = auth
	}
	cfg, _ := json.Marshal(map[string]any{"auths": auths})
	if err := os.WriteFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorCopiesTheStackAndRewritesEnv(t *testing.T) {
	_, dst, dir := mirrorFixture(t)
	envPath := filepath.Join(dir, ".env")
	before := mustRead(t, envPath)
	prefix := dst.Host() + "/mirror/currents/"

	out, errOut, err := runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", prefix, "--write-env")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	if strings.Count(out, " copied ") < 6 || !strings.Contains(out, "TOTAL") {
		t.Errorf("table:\n%s", out)
	}
	// One plain line per image on a non-terminal.
	if n := strings.Count(errOut, "copied  sha256:"); n != 6 {
		t.Errorf("want 6 progress lines, got %d:\n%s", n, errOut)
	}
	after := mustRead(t, envPath)
	want := strings.Replace(string(before),
		"DC_CURRENTS_IMAGE_REPOSITORY=${DC_CURRENTS_REGISTRY:-513558712013.dkr.ecr.us-east-1.amazonaws.com}/currents/on-prem/",
		"DC_CURRENTS_IMAGE_REPOSITORY="+prefix, 1)
	if string(after) != want || string(after) == string(before) {
		t.Errorf(".env after --write-env:\n%s\nwant:\n%s", after, want)
	}
	if b, _ := os.ReadFile(envPath + ".bak"); string(b) != string(before) {
		t.Error("no exact backup of .env")
	}

	// The stack now resolves to the mirror, and a rerun only checks.
	out, _, err = runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", prefix, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rep mirror.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !rep.OK || len(rep.Images) != 6 || rep.CopiedBytes != 0 {
		t.Fatalf("rerun: %+v", rep)
	}
	for _, r := range rep.Images {
		if r.Status != mirror.Present || !strings.HasPrefix(r.Source, prefix) || r.Source != r.Target {
			t.Errorf("rerun %s: %+v", r.Name, r)
		}
	}
}

func TestMirrorWithoutWriteEnvPrintsTheLines(t *testing.T) {
	src, dst, dir := mirrorFixture(t)
	if _, err := seed.Stack(context.Background(), src, "currents/on-prem", "v1"); err != nil {
		t.Fatal(err)
	}
	before := mustRead(t, filepath.Join(dir, ".env"))
	prefix := dst.Host() + "/mirror/currents/"
	out, errOut, err := runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", prefix, "--tag", "v1", "--platform", "linux/amd64")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"DC_CURRENTS_IMAGE_REPOSITORY=" + prefix + "    # " + filepath.Join(dir, ".env") + ":6", "DC_CURRENTS_IMAGE_TAG=v1", "note: api keeps only linux/amd64"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, ".env")); string(after) != string(before) {
		t.Error(".env changed without --write-env")
	}
}

// TestMirrorTagReadsAndWritesThatTag: --tag v1 mirrors the stack's v1 (not
// the staging the .env names, retagged), and --write-env then points both
// variables at it, saying that the interpolated prefix became plain.
func TestMirrorTagReadsAndWritesThatTag(t *testing.T) {
	src, dst, dir := mirrorFixture(t)
	v1, err := seed.Stack(context.Background(), src, "currents/on-prem", "v1")
	if err != nil {
		t.Fatal(err)
	}
	prefix := dst.Host() + "/mirror/currents/"
	out, errOut, err := runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", prefix, "--tag", "v1", "--write-env", "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	var rep mirror.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, r := range rep.Images {
		if !strings.HasSuffix(r.Source, ":v1") || r.Target != prefix+r.Name+":v1" || r.Digest != v1[r.Name].String() {
			t.Errorf("%s: %s -> %s digest %s, want v1's %s", r.Name, r.Source, r.Target, r.Digest, v1[r.Name])
		}
	}
	env := mustRead(t, filepath.Join(dir, ".env"))
	for _, want := range []string{"\nDC_CURRENTS_IMAGE_REPOSITORY=" + prefix + "\n", "\nDC_CURRENTS_IMAGE_TAG=v1\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf(".env lacks %q:\n%s", want, env)
		}
	}
	if !strings.Contains(errOut, "the old value ${DC_CURRENTS_REGISTRY:-513558712013.dkr.ecr.us-east-1.amazonaws.com}/currents/on-prem/ was built from other variables") {
		t.Errorf("no word about the interpolated value:\n%s", errOut)
	}

	// Rerun: the stack now names the mirror's v1, which is all there.
	t.Setenv("DC_CURRENTS_REGISTRY", "")
	out, _, err = runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", prefix)
	if err != nil || !strings.Contains(out, "nothing copied: all 6 images are already in the mirror") || !strings.Contains(out, "the stack already uses the mirror at "+prefix) {
		t.Errorf("rerun: %v\n%s", err, out)
	}
}

// TestMirrorNamesServicesNoVariableCanMove: an image written literally is
// mirrored under the prefix too, and the user is told to edit the compose
// file for it, since --write-env cannot.
func TestMirrorNamesServicesNoVariableCanMove(t *testing.T) {
	src, dst, dir := mirrorFixture(t)
	overlay := filepath.Join(dir, "extra.yaml")
	y := fmt.Sprintf("services:\n  cache:\n    image: %s/currents/on-prem/writer:staging\n", src.Host())
	if err := os.WriteFile(overlay, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := dst.Host() + "/m/"
	out, errOut, err := runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "-f", overlay, "--to", prefix)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(out, "no env line moves them; edit the compose file:\n  cache:  image: "+prefix+"writer:staging\n") {
		t.Errorf("stdout:\n%s", out)
	}
	if strings.Contains(out, "  api:  image:") {
		t.Errorf("a service written with the variable listed as literal:\n%s", out)
	}
	out, _, err = runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "-f", overlay, "--to", prefix, "--format", "json")
	var rep mirror.Report
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.ComposeEdits) != 1 || rep.ComposeEdits[0] != "cache:  image: "+prefix+"writer:staging" {
		t.Errorf("json: %v %+v", err, rep.ComposeEdits)
	}
}

// TestMirrorTagNeedsATagVariable: with every tag written literally, --tag
// could only produce a mirror the stack never uses, so it is refused.
func TestMirrorTagNeedsATagVariable(t *testing.T) {
	_, dst, dir := mirrorFixture(t)
	compose := filepath.Join(dir, "compose.yaml")
	b := mustRead(t, compose)
	if err := os.WriteFile(compose, []byte(strings.ReplaceAll(string(b), ":${DC_CURRENTS_IMAGE_TAG}", ":staging")), 0o644); err != nil {
		t.Fatal(err)
	}
	// A usage error: its message is the error Main prints.
	if _, errOut, err := runRoot(t, "mirror", "-f", compose, "--to", dst.Host()+"/m/", "--tag=-v1"); err == nil || !strings.Contains(err.Error(), "not a valid tag") {
		t.Errorf("--tag -v1: err %v\n%s", err, errOut)
	}
	_, errOut, err := runRoot(t, "mirror", "-f", compose, "--to", dst.Host()+"/m/", "--tag", "v1")
	if err == nil || !strings.Contains(errOut, "api: its tag is written literally") || !strings.Contains(errOut, "no image's tag is written with a variable") {
		t.Errorf("err %v\n%s", err, errOut)
	}
	if dst.Requests().Uploads != 0 {
		t.Error("copied despite the refusal")
	}
}

func TestMirrorNamesTheSideThatFailed(t *testing.T) {
	_, dst, dir := mirrorFixture(t)
	t.Setenv("DC_CURRENTS_IMAGE_TAG", "never-pushed")
	out, errOut, err := runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", dst.Host()+"/m/", "--write-env")
	if err == nil {
		t.Fatal("mirror of a missing tag succeeded")
	}
	if !strings.Contains(out, "error: api: source ") || !strings.Contains(errOut, "not changing the env file") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// TestMirrorCreatesMissingECRRepositories: the mirror is an ECR-style front
// that refuses pushes to repositories that do not exist, mapped to its
// account and region by currents.yaml; mirror creates them with the role's
// credentials, or names the exact permission the role lacks.
func TestMirrorCreatesMissingECRRepositories(t *testing.T) {
	isolate(t)
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithUser("arn:aws:iam::111122223333:user/mirror"),
		standintest.WithRole("mirror-push"))
	aws, src, role := w.AWS, w.Registry, w.Role
	dst := standin.NewRegistry(aws, standin.WithRequireRepositories())
	t.Cleanup(dst.Close)
	if _, err := seed.Stack(context.Background(), src, "currents/on-prem", "staging"); err != nil {
		t.Fatal(err)
	}
	standintest.Export(t, aws, w.User)
	yaml := fmt.Sprintf("registries:\n  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n", dst.Host(), aws.Account(), aws.Region(), role)
	if err := os.WriteFile(os.Getenv("CURRENTS_CONFIG"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	login(t, aws, src.Host(), dst.Host())
	t.Setenv("DC_CURRENTS_REGISTRY", src.Host())
	compose := filepath.Join(stackDir, "compose.yaml")

	out, errOut, err := runRoot(t, "mirror", "-f", compose, "--to", dst.Host()+"/mirror/currents/")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	for _, s := range seed.Services {
		if !aws.HasRepository(aws.Account(), aws.Region(), "mirror/currents/"+s) {
			t.Errorf("repository mirror/currents/%s not created", s)
		}
	}
	if n := strings.Count(errOut, "created ECR repository"); n != 6 {
		t.Errorf("%d creations reported:\n%s", n, errOut)
	}

	aws.Deny(role, "ecr:CreateRepository")
	out, _, err = runRoot(t, "mirror", "-f", compose, "--to", dst.Host()+"/other/")
	if err == nil {
		t.Fatal("mirror without ecr:CreateRepository succeeded")
	}
	for _, want := range []string{
		fmt.Sprintf("missing permission ecr:CreateRepository on arn:aws:ecr:%s:%s:repository/other/api", aws.Region(), aws.Account()),
		"api: target",
		"`docker currents policy push --create-repositories --to " + dst.Host() + "/other/`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}

	// A new release into the repositories that now exist, by a role that
	// may push but not describe (the push policy without
	// --create-repositories): no DescribeRepositories is asked, none denied.
	if _, err := seed.Stack(context.Background(), src, "currents/on-prem", "v2"); err != nil {
		t.Fatal(err)
	}
	aws.Deny(role, "ecr:DescribeRepositories")
	before := aws.Attempts().DescribeRepositories
	if out, errOut, err := runRoot(t, "mirror", "-f", compose, "--to", dst.Host()+"/mirror/currents/", "--tag", "v2"); err != nil {
		t.Fatalf("new tag: %v\n%s\n%s", err, out, errOut)
	}
	if n := aws.Attempts().DescribeRepositories - before; n != 0 {
		t.Errorf("new tag in existing repositories asked DescribeRepositories %d times", n)
	}
}

// startSlowMirror starts the built plugin mirroring the stack into a slowed
// target (slow enough to be caught mid-copy) and returns once the target
// has received uploads blob uploads; done receives the process's end.
func startSlowMirror(t *testing.T, dst *standin.Registry, dir, prefix string, uploads int64, stdout, stderr io.Writer) (*exec.Cmd, chan error) {
	t.Helper()
	dst.SetLatency(20 * time.Millisecond)
	cmd := exec.Command(pluginBin, "currents", "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", prefix, "--jobs", "2")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for dst.Requests().Uploads < uploads {
		select {
		case err := <-done:
			t.Fatalf("mirror ended after %d uploads, before it could be stopped: %v", dst.Requests().Uploads, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return cmd, done
}

// TestKilledMirrorLeavesNoTagAndResumes kills the mirror process (SIGKILL,
// no chance to clean up) once the target has received some uploads, then
// checks that no tag points anywhere and that a rerun finishes by skipping
// what the killed run had sent.
func TestKilledMirrorLeavesNoTagAndResumes(t *testing.T) {
	_, dst, dir := mirrorFixture(t)
	prefix := dst.Host() + "/mirror/currents/"
	cmd, done := startSlowMirror(t, dst, dir, prefix, 6, nil, nil)
	_ = cmd.Process.Kill()
	if err := <-done; err == nil {
		t.Fatal("mirror finished before the kill landed; nothing was tested")
	}
	dst.SetLatency(0)

	aws := dst.Server()
	user, pass, _ := aws.MintToken(fmt.Sprintf("arn:aws:iam::%s:root", aws.Account()), time.Hour)
	for _, s := range seed.Services {
		ref, err := name.NewTag(prefix + s + ":staging")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err == nil {
			// A tag is fine only if its image is complete: the copy
			// finished for that service before the kill.
			if _, err := remote.Index(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
				if _, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
					t.Errorf("%s: tag on an incomplete image: %v", s, err)
				}
			}
		}
	}

	out, errOut, err := runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", prefix, "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	var rep mirror.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.SkippedBytes == 0 {
		t.Errorf("rerun after kill: ok=%v skipped=%d copied=%d", rep.OK, rep.SkippedBytes, rep.CopiedBytes)
	}
	for _, r := range rep.Images {
		if r.Digest != r.SourceDigest {
			t.Errorf("%s: digest %s, source %s", r.Name, r.Digest, r.SourceDigest)
		}
	}
}

// TestInterruptedMirrorStopsCleanly: Ctrl-C on a terminal reaches the
// plugin directly; the copy stops, the table still prints, the user is told
// how to resume, and the status is 130.
func TestInterruptedMirrorStopsCleanly(t *testing.T) {
	_, dst, dir := mirrorFixture(t)
	prefix := dst.Host() + "/mirror/currents/"
	var stdout, stderr strings.Builder
	cmd, done := startSlowMirror(t, dst, dir, prefix, 3, &stdout, &stderr)
	_ = cmd.Process.Signal(os.Interrupt)
	err := <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitcode.Interrupted {
		t.Fatalf("exit %v, want %d\n%s\n%s", err, exitcode.Interrupted, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "SERVICE") || !strings.Contains(stderr.String(), "interrupted: no tag points at a partial image") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}

// TestMirrorDoesNotHangOnAStalledTarget: a target that accepts connections
// but never answers fails the copy after CURRENTS_TIMEOUT, naming the side.
func TestMirrorDoesNotHangOnAStalledTarget(t *testing.T) {
	_, _, dir := mirrorFixture(t)
	t.Setenv("CURRENTS_TIMEOUT", "1s")
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer stalled.Close()
	defer close(release)
	host := strings.TrimPrefix(stalled.URL, "http://")
	out, _, err := runRoot(t, "mirror", "-f", filepath.Join(dir, "compose.yaml"), "--to", host+"/m/")
	if err == nil || !strings.Contains(out, "api: target") || !strings.Contains(out, "timeout") {
		t.Errorf("err %v\n%s", err, out)
	}
}
