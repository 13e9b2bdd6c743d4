package credhelpercmd

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/testbin"
)

// fakeDaemon is just enough of the Docker Engine API on a unix socket for `docker pull`: it answers the
// ping and records the X-Registry-Auth header of every image pull.
type fakeDaemon struct {
	mu    sync.Mutex
	pulls []string // X-Registry-Auth values, "" when absent
	srv   *httptest.Server
}

func startFakeDaemon(t *testing.T, sock string) *fakeDaemon {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{}
	d.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(d.serve)}}
	d.srv.Start()
	t.Cleanup(d.srv.Close)
	return d
}

func (d *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.47")
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Docker-Experimental", "false")
	switch {
	case strings.HasSuffix(r.URL.Path, "/_ping"):
		w.Write([]byte("OK"))
	case strings.HasSuffix(r.URL.Path, "/version"):
		json.NewEncoder(w).Encode(map[string]string{"ApiVersion": "1.47", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64", "Version": "27.0.0-fake"})
	case strings.HasSuffix(r.URL.Path, "/images/create") && r.Method == http.MethodPost:
		d.mu.Lock()
		d.pulls = append(d.pulls, r.Header.Get("X-Registry-Auth"))
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		ref := r.URL.Query().Get("fromImage") + ":" + r.URL.Query().Get("tag")
		for _, s := range []string{"Pulling from " + r.URL.Query().Get("fromImage"), "Digest: sha256:" + strings.Repeat("ab", 32), "Status: Downloaded newer image for " + ref} {
			json.NewEncoder(w).Encode(map[string]string{"status": s})
		}
	default:
		http.Error(w, `{"message":"not implemented by the fake daemon"}`, http.StatusNotImplemented)
	}
}

func (d *fakeDaemon) lastAuth(t *testing.T) map[string]string {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pulls) == 0 {
		t.Fatal("docker never asked the daemon to pull")
	}
	enc := d.pulls[len(d.pulls)-1]
	if enc == "" {
		return nil
	}
	raw, err := base64.URLEncoding.DecodeString(enc)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(enc); err != nil {
			t.Fatalf("X-Registry-Auth is not base64url: %v", err)
		}
	}
	var auth map[string]string
	if err := json.Unmarshal(raw, &auth); err != nil {
		t.Fatalf("X-Registry-Auth is not JSON: %v", err)
	}
	return auth
}

// TestRealDockerCLICallsTheHelperAfterConfigure proves the whole chain with the real docker CLI: after
// configure, `docker pull` runs docker-credential-currents, which assumes the role at the stand-in, and
// the token the stand-in issued reaches the daemon in X-Registry-Auth.
func TestRealDockerCLICallsTheHelperAfterConfigure(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI on PATH")
	}
	if testing.Short() {
		t.Skip("builds the helper binaries; skipped with -short")
	}
	// Shared with the other test packages (testbin): only read, never written beside.
	b, err := testbin.Product()
	if err != nil {
		t.Fatal(err)
	}
	bin := b.Helpers

	w := standintest.New(t, standintest.WithRegistry(), standintest.WithExternalID("ext-42"))
	aws, reg, role := w.AWS, w.Registry, w.Role
	home := standintest.Isolate(t)
	standintest.Export(t, aws, w.User)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	sock := filepath.Join(home, "docker.sock")
	daemon := startFakeDaemon(t, sock)
	t.Setenv("DOCKER_HOST", "unix://"+sock)

	image := reg.Host() + "/currents/on-prem/api:staging"
	pull := func() string {
		t.Helper()
		out, err := exec.Command(docker, "pull", image).CombinedOutput()
		if err != nil {
			t.Fatalf("docker pull: %v\n%s", err, out)
		}
		return string(out)
	}

	// Before configure docker has no credentials for the host: the daemon gets none.
	pull()
	if auth := daemon.lastAuth(t); auth["password"] != "" {
		t.Fatalf("credentials before configure: %v", auth)
	}

	out, errOut, code := runCmd(t, "configure", "--registry", reg.Host(), "--account", aws.Account(), "--region", aws.Region(),
		"--role-arn", role, "--external-id", "ext-42")
	if code != 0 {
		t.Fatalf("configure: exit %d\n%s%s", code, out, errOut)
	}

	pullOut := pull()
	auth := daemon.lastAuth(t)
	if auth["username"] != "AWS" || auth["password"] == "" {
		t.Fatalf("docker sent no ECR credentials after configure: %v\n%s", auth, pullOut)
	}
	tok, err := aws.Verify(auth["username"], auth["password"])
	if err != nil {
		t.Fatalf("the password docker sent is not a live token from the stand-in: %v", err)
	}
	if !strings.Contains(tok.Principal, ":assumed-role/customer-pull/") || tok.Account != aws.Account() {
		t.Fatalf("token issued to %s for %s, want the assumed role in %s", tok.Principal, tok.Account, aws.Account())
	}
	if c := aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		t.Fatalf("AWS calls after the first pull: %+v, want 1 AssumeRole and 1 GetAuthorizationToken", c)
	}

	// A second pull is served from the cache: the same token, no AWS call.
	pull()
	if again := daemon.lastAuth(t); again["password"] != auth["password"] {
		t.Error("the second pull got a different token")
	}
	if c := aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		t.Errorf("AWS calls after the second pull: %+v, want still 1 and 1", c)
	}
	for _, secret := range aws.IssuedSecrets() {
		if strings.Contains(pullOut+out+errOut, secret) {
			t.Error("configure or docker pull output shows a secret the stand-in issued")
		}
	}
}
