package check

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/currentsdev/currents/internal/stack"
	"github.com/currentsdev/currents/internal/testbin"
)

// The parity corpus: one directory per compose project under
// testdata/parity, each with a parity.txt saying how it is run:
//
//	# what the case covers
//	args: compose's project flags (-f, -p, --env-file, --profile, --project-directory)
//	services: SERVICE... as named to `docker compose up`
//	env: KEY=VALUE        (one per line; the environment of both sides)
//	fail: TEXT            (both loads must fail, compose's error containing TEXT)
//
// Both sides run in the case's directory, with the same environment.
const parityDir = "testdata/parity"

type parityCase struct {
	name, dir string
	args      []string
	services  []string
	env       []string
	fail      string
	// platform: a file of the case or its environment names
	// DOCKER_DEFAULT_PLATFORM.
	platform bool
}

// composeService is what compose's resolved project says of a service, from
// `docker compose config --format json`.
type composeService struct {
	Image      string `json:"image"`
	Platform   string `json:"platform"`
	PullPolicy string `json:"pull_policy"`
	Build      any    `json:"build"`
	Provider   any    `json:"provider"`
}

type composeAnswer struct {
	project struct {
		Name     string                    `json:"name"`
		Services map[string]composeService `json:"services"`
	}
	// env is the project's environment (config --environment).
	env    func() map[string]string
	unset  map[string]bool // the variables compose warned are not set
	err    error
	output string
}

// composePulls is the truth for "the images `up` would pull": compose's own
// pull decision (docker/compose v2.40.3 pkg/compose/pull.go mustPull, with
// nothing on the engine yet) applied to compose's own resolved project.
//
// Why `config --format json` and this rule, not another command:
//   - `config --images` prints api.GetImageNameOrDefault for every enabled
//     service: for a build-only service the default name project-service,
//     which up builds and never pulls (mustPull: no image, no pull), and it
//     lists pull_policy never/build images too, which up never pulls either.
//     Its names are what up tags, not what it pulls.
//   - `pull` needs the engine, pulls image+build services unless
//     --ignore-buildable (up pulls them too, tolerating a failure), and is
//     a different question from up's.
//   - `up --pull missing` (the default) pulls what mustPull says on an
//     engine holding none of the images: a service with an image, no
//     provider, and a pull_policy other than never or build; a failure is
//     ignored when the image can be built (isServiceImageToBuild), which
//     the exceptions below deal with.
//
// `config` runs compose's project load alone (ToProject, the same
// compose-go LoadProject up runs) and needs no engine, so this test runs in
// `make test`: DOCKER_HOST points nowhere to prove it.
func composePulls(s composeService) bool {
	return s.Provider == nil && s.Image != "" && s.PullPolicy != "never" && s.PullPolicy != "build"
}

// Exceptions: the only ways what `docker currents check` probes may differ
// from what compose pulls. Each must be exercised by the corpus (so none
// outlives its reason), and each is named where it applies.
const (
	// builtBySibling: another service builds the same image. Compose tries
	// to pull it and ignores the failure, since the build provides it
	// (pull.go isServiceImageToBuild); up never depends on the registry for
	// it, so the check reports it built locally instead of probing it.
	builtBySibling = "an image another service builds (compose tries it and ignores a failure)"
	// diagnosedError: compose pulls a reference we diagnose as an error
	// (an unset variable, which compose warns of and substitutes with
	// nothing, giving 'api:' or a Docker Hub name; a variable set empty;
	// an invalid reference such as '/app:1'); the check fails on the
	// diagnostic instead of probing. Compose's own answer must confirm
	// every such error (confirmErrors): it warned that the variable is not
	// set, its environment has it empty, or its reference does not parse.
	diagnosedError = "a reference with an error diagnostic compose confirms (the check fails on it, unprobed)"
)

// TestImagesAsComposeResolvesThem holds, over the corpus, every enabled
// service's image, platform and build as the real compose v2 resolves them,
// the images the check probes (Images) against those compose's up pulls,
// what mirror, policy and watch take (Stack.Images), and the check's early
// preview, to compose's answer.
func TestImagesAsComposeResolvesThem(t *testing.T) {
	bin := testbin.RealCompose()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("compose v2 is not built at %s (bash e2e/compose.sh builds it; or set CURRENTS_COMPOSE_PLUGIN): %v", bin, err)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "COMPOSE_") || strings.HasPrefix(k, "DC_CURRENTS_") || k == "DOCKER_DEFAULT_PLATFORM" {
			t.Setenv(k, "")
			_ = os.Unsetenv(k)
		}
	}
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	cases := readParityCases(t)
	if len(cases) < 30 {
		t.Fatalf("the corpus has %d cases, want at least 30", len(cases))
	}

	// compose first, every case at once: our side changes the process's
	// directory and environment, so it runs case by case below.
	answers := make([]composeAnswer, len(cases))
	var wg sync.WaitGroup
	limit := make(chan struct{}, 8)
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			limit <- struct{}{}
			defer func() { <-limit }()
			answers[i] = runCompose(bin, c)
			if answers[i].env != nil && c.platform {
				answers[i].env()
			}
		}()
	}
	wg.Wait()

	used := map[string][]string{}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Chdir(c.dir)
			t.Setenv("PWD", c.dir)
			for _, kv := range c.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			for _, e := range compareWithCompose(t, c, answers[i]) {
				used[e] = append(used[e], c.name)
			}
		})
	}
	for _, e := range []string{builtBySibling, diagnosedError} {
		if len(used[e]) == 0 {
			t.Errorf("no case of the corpus needs the exception %q any more: drop it", e)
		} else {
			t.Logf("exception %q: %v", e, used[e])
		}
	}
}

// compareWithCompose loads the case as the check does and compares it with
// compose's answer; it returns the exceptions it needed.
func compareWithCompose(t *testing.T, c parityCase, want composeAnswer) []string {
	l, st := loadLikeCompose(t, c, want)
	if st == nil {
		return nil
	}
	if st.Name != want.project.Name {
		t.Errorf("project name %q, compose's %q", st.Name, want.project.Name)
	}
	// The platform compose pulls services without platform: for. Only the
	// case's environment or its env files can set it (the test's own is
	// cleared), so compose is asked only where they name it.
	if st.DefaultPlatform != "" || c.platform {
		if p := want.env()["DOCKER_DEFAULT_PLATFORM"]; st.DefaultPlatform != p {
			t.Errorf("DOCKER_DEFAULT_PLATFORM %q, compose's %q", st.DefaultPlatform, p)
		}
	}
	probed := map[string]stack.Service{}
	for _, im := range Images(st) {
		probed[im.ID] = stackService(st, im.ID)
	}
	var enabled, needed []string
	for _, s := range st.Services {
		if s.Kind == stack.Disabled {
			continue
		}
		enabled = append(enabled, s.Name)
		if cs, ok := want.project.Services[s.Name]; ok {
			_, ours := probed[s.Name]
			if e := compareService(t, s, cs, ours, want); e != "" {
				needed = append(needed, e)
			}
		}
	}
	var composes []string
	for n := range want.project.Services {
		composes = append(composes, n)
	}
	sort.Strings(composes)
	if !slices.Equal(enabled, composes) {
		t.Errorf("services %v; compose's %v", enabled, composes)
	}

	checkStackImages(t, st, probed)
	if len(c.services) == 0 {
		checkPreview(t, l, probed)
	}
	return needed
}

// loadLikeCompose loads the case as the check does (the plugin's own flag
// parsing, stack.Start); the stack is nil when both loads failed alike.
func loadLikeCompose(t *testing.T, c parityCase, want composeAnswer) (*stack.Loading, *stack.Stack) {
	t.Helper()
	o, rest := stack.SplitArgs(append(append([]string(nil), c.args...), c.services...))
	if !slices.Equal(rest, c.services) {
		t.Fatalf("args %q are not all project flags: %q left", c.args, rest)
	}
	l := stack.Start(context.Background(), o, stack.Selection{Services: c.services})
	st, err := l.Wait()
	switch {
	case c.fail != "":
		if want.err == nil || !strings.Contains(want.output, c.fail) {
			t.Fatalf("compose should fail with %q: %v\n%s", c.fail, want.err, want.output)
		}
		if err == nil || !strings.Contains(err.Error(), c.fail) {
			t.Fatalf("compose fails (%s); we: %v", strings.TrimSpace(want.output), err)
		}
		return nil, nil
	case want.err != nil:
		t.Fatalf("compose: %v\n%s", want.err, want.output)
	case err != nil:
		t.Fatalf("compose loads the project; we: %v", err)
	}
	return l, st
}

// compareService holds one enabled service to compose's: its image,
// platform and build exactly, and whether the check probes it to whether
// up pulls it. It returns the exception it needed, "" for none.
func compareService(t *testing.T, s stack.Service, cs composeService, probed bool, want composeAnswer) string {
	t.Helper()
	if s.Image != cs.Image || s.Platform != cs.Platform || s.Build != (cs.Build != nil) {
		t.Errorf("%s: we resolve image %q platform %q build %v; compose: image %q platform %q build %v",
			s.Name, s.Image, s.Platform, s.Build, cs.Image, cs.Platform, cs.Build != nil)
	}
	switch pulls := composePulls(cs); {
	case pulls && probed:
		ref, err := name.ParseReference(cs.Image)
		if err != nil || ref.String() != s.Ref.String() {
			t.Errorf("%s: we probe %v; compose pulls %q (%v)", s.Name, s.Ref, cs.Image, err)
		}
	case pulls && hasError(s.Diagnostics):
		if problem := confirmErrors(s, cs, want); problem != "" {
			t.Errorf("%s: compose pulls %q; we diagnose an error compose does not confirm: %s\n%+v", s.Name, cs.Image, problem, s.Diagnostics)
		}
		return diagnosedError
	case pulls && s.Kind == stack.BuildOnly && builtElsewhere(s.Name, cs.Image, want.project.Services):
		return builtBySibling
	case pulls:
		t.Errorf("%s: compose's up pulls %q; the check does not probe it (%s: %s)", s.Name, cs.Image, s.Kind, s.Reason)
	case probed:
		t.Errorf("%s: the check probes %q; compose's up never pulls it (pull_policy %q, build %v)", s.Name, s.Image, cs.PullPolicy, cs.Build != nil)
	}
	return ""
}

// checkStackImages: mirror, policy and watch take the images the check
// probes, or refuse the stack while a reference has an error.
func checkStackImages(t *testing.T, st *stack.Stack, probed map[string]stack.Service) {
	t.Helper()
	images, err := st.Images()
	anyError := false
	for _, s := range st.Services {
		anyError = anyError || s.Kind == stack.Pulled && hasError(s.Diagnostics)
	}
	switch {
	case anyError:
		if err == nil {
			t.Errorf("Stack.Images took a stack with a reference in error")
		}
		return
	case len(probed) == 0:
		if err == nil {
			t.Errorf("Stack.Images gave %d images of a stack that pulls none", len(images))
		}
		return
	case err != nil:
		t.Fatalf("Stack.Images: %v", err)
	}
	var names []string
	for _, im := range images {
		names = append(names, im.Name)
		if p, ok := probed[im.Name]; !ok || p.Image != im.Image {
			t.Errorf("Stack.Images gives %s %q, the check probes %q", im.Name, im.Image, p.Image)
		}
	}
	if len(names) != len(probed) {
		t.Errorf("Stack.Images gives %v, the check probes %d", names, len(probed))
	}
}

// checkPreview: what the check asks registries before the load ends is a
// part of what it probes, with the same images.
func checkPreview(t *testing.T, l *stack.Loading, probed map[string]stack.Service) {
	t.Helper()
	pre, err := l.Preview()
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	for _, s := range pre.Services {
		if hasError(s.Diagnostics) {
			continue
		}
		if p, ok := probed[s.Name]; !ok || p.Image != s.Image || p.Platform != s.Platform {
			t.Errorf("the preview asks for %s %q (%q); the check probes %q (%q)", s.Name, s.Image, s.Platform, p.Image, p.Platform)
		}
	}
}

// confirmErrors says which of s's error diagnostics compose's answer does
// not confirm, "" when it confirms them all.
func confirmErrors(s stack.Service, cs composeService, want composeAnswer) string {
	for _, d := range s.Diagnostics {
		if d.Severity != stack.Error {
			continue
		}
		switch d.Code {
		case stack.CodeUnsetVariable, stack.CodeEmptyVariable:
			checked := false
			for _, v := range s.Variables {
				problem, ok := confirmVariable(d.Code, v, want)
				if problem != "" {
					return problem
				}
				checked = checked || ok
			}
			if !checked {
				return "no variable of " + s.Name + " is " + d.Code + " for compose to confirm"
			}
		case stack.CodeInvalidReference:
			if _, err := name.ParseReference(cs.Image); err == nil {
				return "compose's " + cs.Image + " is a valid reference"
			}
		default:
			return "no confirmation for " + d.Code
		}
	}
	return ""
}

// confirmVariable: compose warned that a variable we call unset is not set,
// and has one we call empty empty in its environment. checked says v is one
// the diagnostic is about.
func confirmVariable(code string, v stack.Variable, want composeAnswer) (problem string, checked bool) {
	switch {
	case code == stack.CodeUnsetVariable && !v.Set && !v.HasDefault && v.Modifier != ":+" && v.Modifier != "+":
		if !want.unset[v.Name] {
			return "compose did not warn that " + v.Name + " is not set", true
		}
		return "", true
	case code == stack.CodeEmptyVariable && v.Set && v.Value == "" && v.Modifier != ":-":
		if value, ok := want.env()[v.Name]; !ok || value != "" {
			return "compose's environment does not have " + v.Name + " empty", true
		}
		return "", true
	}
	return "", false
}

func builtElsewhere(service, image string, all map[string]composeService) bool {
	for n, s := range all {
		if n != service && s.Build != nil && s.Image == image {
			return true
		}
	}
	return false
}

func stackService(st *stack.Stack, name string) stack.Service {
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	return stack.Service{}
}

// runCompose asks the real compose for the case's resolved project.
func runCompose(bin string, c parityCase) composeAnswer {
	args := append(append([]string(nil), c.args...), "config", "--format", "json")
	cmd := exec.Command(bin, append(args, c.services...)...)
	cmd.Dir = c.dir
	env := append(append(os.Environ(), "PWD="+c.dir), c.env...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var a composeAnswer
	a.err = cmd.Run()
	a.output = stderr.String()
	if a.err != nil {
		return a
	}
	if err := json.Unmarshal(stdout.Bytes(), &a.project); err != nil {
		a.err = errors.Join(errors.New("compose's JSON"), err)
		return a
	}
	a.unset = map[string]bool{}
	for _, m := range unsetWarning.FindAllStringSubmatch(a.output, -1) {
		a.unset[m[1]] = true
	}
	// The environment compose interpolates the project's files with and
	// pulls with (DOCKER_DEFAULT_PLATFORM): a process more, run only when
	// asked.
	a.env = sync.OnceValue(func() map[string]string {
		cmd := exec.Command(bin, append(append([]string(nil), c.args...), "config", "--environment")...)
		cmd.Dir, cmd.Env = c.dir, env
		out, err := cmd.Output()
		if err != nil {
			return nil
		}
		vars := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		return vars
	})
	return a
}

// unsetWarning is compose's warning that a variable is not set.
var unsetWarning = regexp.MustCompile(`The \\?"([_a-zA-Z][_a-zA-Z0-9]*)\\?" variable is not set`)

func readParityCases(t *testing.T) []parityCase {
	t.Helper()
	entries, err := os.ReadDir(parityDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []parityCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir, err := filepath.Abs(filepath.Join(parityDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(dir, "parity.txt"))
		if err != nil {
			t.Fatal(err)
		}
		c := parityCase{name: e.Name(), dir: dir}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			key, value, _ := strings.Cut(line, ": ")
			switch key {
			case "args":
				c.args = strings.Fields(value)
			case "services":
				c.services = strings.Fields(value)
			case "env":
				c.env = append(c.env, value)
			case "fail":
				c.fail = value
			default:
				if !strings.HasPrefix(line, "#") && strings.TrimSpace(line) != "" {
					t.Fatalf("%s/parity.txt: cannot read %q (keys: args, services, env, fail; # comments)", e.Name(), line)
				}
			}
		}
		_ = f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		c.platform = mentions(t, dir, "DOCKER_DEFAULT_PLATFORM")
		cases = append(cases, c)
	}
	return cases
}

// mentions says whether a file under dir contains s.
func mentions(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(path)
		found = bytes.Contains(b, []byte(s))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
