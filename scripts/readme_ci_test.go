package scripts_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/testbin"
	"gopkg.in/yaml.v3"
)

// readmeFenced returns the fenced code blocks of lang in the README section under heading.
func readmeFenced(t *testing.T, heading, lang string) []string {
	t.Helper()
	section := testbin.ReadmeSection(t, heading)
	var blocks []string
	for {
		_, rest, ok := strings.Cut(section, "\n```"+lang+"\n")
		if !ok {
			return blocks
		}
		block, after, _ := strings.Cut(rest, "\n```\n")
		blocks = append(blocks, block+"\n")
		section = after
	}
}

// ciStep is one run step of a CI job, with the environment the CI gives it.
type ciStep struct {
	ci, job, run string
	env          map[string]string
}

// ciSteps reads the run steps of a GitHub Actions workflow or a CircleCI config, each with its job's and
// its own environment.
func ciSteps(t *testing.T, doc string) []ciStep {
	t.Helper()
	var cfg struct {
		Version any `yaml:"version"` // CircleCI's
		Jobs    map[string]struct {
			Env         map[string]string `yaml:"env"`         // GitHub's
			Environment map[string]string `yaml:"environment"` // CircleCI's
			Steps       []yaml.Node       `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatalf("the README's CI example is not YAML: %v\n%s", err, doc)
	}
	ci := "github"
	if cfg.Version != nil {
		ci = "circleci"
	}
	var steps []ciStep
	for name, job := range cfg.Jobs {
		for _, n := range job.Steps {
			var s struct {
				Run any               `yaml:"run"` // a command, or CircleCI's {command: …}
				Env map[string]string `yaml:"env"`
			}
			if n.Decode(&s) != nil || s.Run == nil {
				continue // `- checkout`, `- uses: …`
			}
			run, _ := s.Run.(string)
			if m, ok := s.Run.(map[string]any); ok {
				run, _ = m["command"].(string)
			}
			env := map[string]string{}
			for _, e := range []map[string]string{job.Env, job.Environment, s.Env} {
				for k, v := range e {
					env[k] = v
				}
			}
			steps = append(steps, ciStep{ci: ci, job: name, run: run, env: env})
		}
	}
	return steps
}

// ciProvided is what each CI sets in every job by itself (the variables the examples may use unset).
var ciProvided = map[string][]string{
	"github":   {"GITHUB_SHA=0123abc", "GITHUB_REF_NAME=main", "RUNNER_TEMP=/tmp", "CI=true"},
	"circleci": {"CIRCLE_SHA1=0123abc", "CIRCLE_BRANCH=main", "CIRCLE_OIDC_TOKEN_V2=x.y.z", "CI=true"},
}

// The stand-ins for the commands the examples run that reach the network or change the machine: each
// logs its arguments. curl answers GitHub's redirect of releases/latest to a release's tag page.
const stubCommand = `#!/bin/sh
echo "$(basename "$0") $*" >>"$CALLS"
`

const stubCurl = stubCommand + `out=
while [ $# -gt 0 ]; do
	case $1 in
	-o | -fsSLo) out=$2; shift ;;
	-w) printf '%s' https://github.com/currentsdev/currents/releases/tag/v9.8.7 ;;
	esac
	shift
done
[ -z "$out" ] || [ "$out" = /dev/null ] || : >"$out"
`

// TestReadmeCIExamplesRunAsPasted runs every run step of the README's GitHub Actions and CircleCI examples
// as pasted, under bash -u with the environment the CI gives the step (the job's, the step's, and what
// the CI sets itself): a variable the example uses but never sets fails it. The release download must name
// the artifact `make dist` publishes.
func TestReadmeCIExamplesRunAsPasted(t *testing.T) {
	blocks := readmeFenced(t, "## CI: push from GitHub Actions or CircleCI with no keys and no login", "yaml")
	if len(blocks) != 2 {
		t.Fatalf("want the GitHub Actions and the CircleCI examples, found %d yaml blocks", len(blocks))
	}
	stubs := t.TempDir()
	for cmd, body := range map[string]string{"curl": stubCurl, "gh": stubCommand, "sudo": stubCommand, "docker": stubCommand,
		"docker-credential-currents": stubCommand} {
		if err := os.WriteFile(filepath.Join(stubs, cmd), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dist, _ := os.ReadFile("dist.sh")
	name := regexp.MustCompile(`(?m)^NAME=(\S+)$`).FindSubmatch(dist)
	if name == nil {
		t.Fatal("scripts/dist.sh sets no NAME")
	}
	deb := fmt.Sprintf("%s_9.8.7-1_amd64.deb", name[1])
	var cis []string
	for _, block := range blocks {
		steps := ciSteps(t, block)
		if len(steps) == 0 {
			t.Fatalf("no run steps in\n%s", block)
		}
		cis = append(cis, steps[0].ci)
		var calls []string
		for _, s := range steps {
			log := filepath.Join(t.TempDir(), "calls")
			cmd := exec.Command("bash", "--noprofile", "--norc", "-euo", "pipefail", "-c", s.run)
			cmd.Dir = t.TempDir()
			cmd.Env = append([]string{"PATH=" + stubs + ":/usr/bin:/bin", "HOME=" + t.TempDir(), "CALLS=" + log}, ciProvided[s.ci]...)
			for k, v := range s.env {
				// ${{ … }} is the runner's to fill in before the step runs.
				cmd.Env = append(cmd.Env, k+"="+regexp.MustCompile(`\$\{\{[^}]*\}\}`).ReplaceAllString(v, "from-the-runner"))
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s job %s: the step fails as pasted: %v\n%s\n--- the step:\n%s", s.ci, s.job, err, out, s.run)
			}
			b, _ := os.ReadFile(log)
			calls = append(calls, strings.Split(strings.TrimSpace(string(b)), "\n")...)
		}
		checkDownload(t, steps[0].ci, calls, deb)
	}
	sort.Strings(cis)
	if !slices.Equal(cis, []string{"circleci", "github"}) {
		t.Errorf("the examples are for %v", cis)
	}
}

// checkDownload: the example fetches the package `make dist` publishes for the release it asks for.
func checkDownload(t *testing.T, ci string, calls []string, deb string) {
	t.Helper()
	for _, c := range calls {
		f := strings.Fields(c)
		switch {
		case len(f) == 0:
		case ci == "github" && len(f) > 2 && f[0] == "gh" && f[1] == "release" && f[2] == "download":
			i := slices.Index(f, "--pattern")
			if i < 0 || i+1 >= len(f) {
				break
			}
			if ok, _ := filepath.Match(strings.Trim(f[i+1], `'"`), deb); ok {
				return
			}
		case ci == "circleci" && f[0] == "curl" && strings.Contains(c, "/releases/download/"):
			if strings.HasSuffix(c, "/releases/download/v9.8.7/"+deb) {
				return
			}
			t.Errorf("circleci downloads %q, want the release's %s", c, deb)
			return
		}
	}
	t.Errorf("%s: no download of %s among:\n%s", ci, deb, strings.Join(calls, "\n"))
}
