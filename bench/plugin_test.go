package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// registryLatency is added to every registry request of the check and
// mirror figures, as for a registry a region away.
const registryLatency = 50 * time.Millisecond

// pluginWorld is one host running the vendor's stack from an ECR-style
// registry (an alias in currents.yaml, registered to our helper in
// config.json, as `configure` leaves a host), with a second such registry
// to mirror into. Every build has its own docker config directory (its
// plugin in cli-plugins) and cache; crane uses ours, so both sides get
// their credentials from the same helper, warm.
type pluginWorld struct {
	aws      *standin.Server
	src, dst *standin.Registry
	home     string
	project  string
	images   []string // the stack's references, as crane is given them
	env      map[string]map[string]string
}

// newPluginWorld seeds copies × the six-service stack (tags staging, v1, …)
// and writes a compose project using all of them.
func newPluginWorld(b *testing.B, copies int, opts ...seed.Option) *pluginWorld {
	setup(b)
	sw := standintest.New(b, standintest.WithRegistry(), standintest.WithExternalID("bench-external-id"))
	w := &pluginWorld{aws: sw.AWS, src: sw.Registry, home: b.TempDir(), env: map[string]map[string]string{}}
	w.dst = standin.NewRegistry(sw.AWS)
	b.Cleanup(w.dst.Close)
	var services strings.Builder
	services.WriteString("name: currents\nservices:\n")
	for c := range copies {
		tag := "staging"
		if c > 0 {
			tag = fmt.Sprintf("v%d", c)
		}
		if _, err := seed.Stack(context.Background(), w.src, "currents/on-prem", tag, opts...); err != nil {
			b.Fatal(err)
		}
		for _, svc := range seed.Services {
			name := svc
			if c > 0 {
				name = fmt.Sprintf("%s-%d", svc, c)
			}
			fmt.Fprintf(&services, "  %s:\n    image: ${DC_CURRENTS_IMAGE_REPOSITORY}%s:%s\n", name, svc, tag)
			w.images = append(w.images, fmt.Sprintf("%s/currents/on-prem/%s:%s", w.src.Host(), svc, tag))
		}
	}
	w.project = filepath.Join(w.home, "stack")
	write(b, filepath.Join(w.project, "compose.yaml"), services.String())
	write(b, filepath.Join(w.project, ".env"), "DC_CURRENTS_IMAGE_REPOSITORY=${DC_CURRENTS_REGISTRY}/currents/on-prem/\n")

	var entries, helpers []string
	for _, r := range []*standin.Registry{w.src, w.dst} {
		entries = append(entries, fmt.Sprintf("  - host: %s\n    account: %q\n    region: %s\n    role_arn: %s\n    external_id: bench-external-id\n",
			r.Host(), r.Account(), r.Region(), sw.Role))
		helpers = append(helpers, fmt.Sprintf("%q: \"currents\"", r.Host()))
	}
	base := map[string]string{
		"HOME":                 w.home,
		"DOCKER_HOST":          "unix://" + filepath.Join(w.home, "no-engine.sock"), // no engine: the host's platform
		"DC_CURRENTS_REGISTRY": w.src.Host(),
	}
	for _, kv := range sw.AWS.Env(sw.User) {
		k, v, _ := strings.Cut(kv, "=")
		base[k] = v
	}
	for _, bd := range programs.builds {
		dir := filepath.Join(w.home, "docker-"+bd.name)
		write(b, filepath.Join(dir, "config.json"), "{\"credHelpers\": {"+strings.Join(helpers, ", ")+"}}\n")
		write(b, filepath.Join(dir, "currents.yaml"), "registries:\n"+strings.Join(entries, ""))
		if err := os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.Symlink(bd.plugin(), filepath.Join(dir, "cli-plugins", "docker-currents")); err != nil {
			b.Fatal(err)
		}
		env := map[string]string{
			"DOCKER_CONFIG":      dir,
			"CURRENTS_CACHE_DIR": filepath.Join(w.home, "cache-"+bd.name),
			"PATH":               bd.dir + string(os.PathListSeparator) + os.Getenv("PATH"),
		}
		for k, v := range base {
			env[k] = v
		}
		w.env[bd.name] = env
		for _, r := range []*standin.Registry{w.src, w.dst} {
			cmd := exec.Command(bd.lean(), "get")
			cmd.Env = environ(env)
			cmd.Stdin = strings.NewReader(r.Host() + "\n")
			if _, _, err := measure(cmd); err != nil {
				b.Fatal(err)
			}
		}
	}
	w.src.SetLatency(registryLatency)
	w.dst.SetLatency(registryLatency)
	return w
}

func write(b *testing.B, path, body string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
}

// command is name args... in the world as build bd's user runs it, from the
// project's directory.
func (w *pluginWorld) command(bd, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = environ(w.env[bd])
	cmd.Dir = w.project
	return cmd
}

// registryCounts are a run's requests to r, from its counters (reset
// before the run).
func registryCounts(prefix string, r *standin.Registry, into map[string]float64) {
	st := r.Requests()
	into[prefix+"requests"] = float64(st.Requests)
	into[prefix+"GET"] = float64(st.Gets)
	into[prefix+"HEAD"] = float64(st.Heads)
	into[prefix+"401"] = float64(st.Unauthorized)
}

// processes counts the processes cmd starts (itself included), by running it
// once more under strace: the process IDs of execve calls that succeeded (a
// program that execs another in its place, as the plugin's front does, is
// still one process). Untimed.
func processes(tb testing.TB, cmd *exec.Cmd) float64 {
	strace, err := exec.LookPath("strace")
	if err != nil {
		tb.Fatalf("process counts need strace: apt-get install strace (%v)", err)
	}
	log := filepath.Join(tb.TempDir(), "execs")
	traced := exec.Command(strace, append([]string{"-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", log, "--", cmd.Path}, cmd.Args[1:]...)...)
	traced.Env, traced.Dir, traced.Stdin = cmd.Env, cmd.Dir, cmd.Stdin
	if _, _, err := measure(traced); err != nil {
		tb.Fatal(err)
	}
	out, err := os.ReadFile(log)
	if err != nil {
		tb.Fatal(err)
	}
	pids := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		// An execve another process interrupted is logged in two lines:
		// "PID execve(… <unfinished ...>", then "PID <... execve resumed>) = 0".
		exec := strings.Contains(line, "execve(") || strings.Contains(line, "<... execve resumed>")
		if exec && strings.HasSuffix(strings.TrimSpace(line), "= 0") {
			pids[strings.Fields(line)[0]] = true
		}
	}
	return float64(len(pids))
}
