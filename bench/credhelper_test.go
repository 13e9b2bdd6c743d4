package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
	"github.com/currentsdev/currents/internal/testbin"
)

const (
	// burst is how many gets compose starts at once on a cold host: one per
	// service pull, the six-service stack's several times over in CI.
	burst = 64
	// stsLatency is added to every STS and ECR answer of the burst figures, as
	// a region away.
	stsLatency = 30 * time.Millisecond
)

// helperWorld is one host that both helpers serve the same way a user would
// set each up: a real ECR hostname of the stand-in's account; the host's own
// IAM user in ~/.aws/credentials (profile "host"); the vendor's role (with an
// external ID) as ecr-login's users configure it, a role profile with
// role_arn and source_profile selected by AWS_PROFILE; and the same role in
// currents.yaml (role_arn, external_id, profile: host), as `configure` writes
// it. Neither helper contacts the registry, so the hostname needs no DNS:
// AWS_ENDPOINT_URL_STS and _ECR send both to the stand-in, whose tokens name
// that registry.
type helperWorld struct {
	aws  *standin.Server
	host string
	home string
	env  map[string]string
}

func newHelperWorld(b *testing.B) *helperWorld {
	setup(b)
	sw := standintest.New(b, standintest.WithExternalID("bench-external-id"))
	w := &helperWorld{aws: sw.AWS, home: b.TempDir()}
	w.host = fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", sw.AWS.Account(), sw.AWS.Region())
	files := map[string]string{
		".aws/config": fmt.Sprintf("[profile vendor]\nrole_arn = %s\nsource_profile = host\nexternal_id = bench-external-id\nregion = %s\n\n[profile host]\nregion = %s\n",
			sw.Role, sw.AWS.Region(), sw.AWS.Region()),
		".aws/credentials": fmt.Sprintf("[host]\naws_access_key_id = %s\naws_secret_access_key = %s\n", sw.User.AccessKeyID, sw.User.SecretAccessKey),
		".docker/currents.yaml": fmt.Sprintf("registries:\n  - host: %s\n    role_arn: %s\n    external_id: bench-external-id\n    profile: host\n",
			w.host, sw.Role),
	}
	for name, body := range files {
		p := filepath.Join(w.home, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	w.env = map[string]string{
		"HOME":                        w.home,
		"DOCKER_CONFIG":               filepath.Join(w.home, ".docker"),
		"AWS_CONFIG_FILE":             filepath.Join(w.home, ".aws", "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(w.home, ".aws", "credentials"),
		"AWS_PROFILE":                 "vendor",
		"AWS_REGION":                  sw.AWS.Region(),
		"AWS_ENDPOINT_URL_STS":        sw.AWS.URL(),
		"AWS_ENDPOINT_URL_ECR":        sw.AWS.URL(),
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
	return w
}

// get is one `get` of path in the world, with extra variables on top.
func (w *helperWorld) get(path string, extra map[string]string) *exec.Cmd {
	kv := map[string]string{}
	for k, v := range w.env {
		kv[k] = v
	}
	for k, v := range extra {
		kv[k] = v
	}
	cmd := exec.Command(path, "get")
	cmd.Env = environ(kv)
	cmd.Stdin = strings.NewReader(w.host + "\n")
	return cmd
}

func (w *helperWorld) mustGet(b *testing.B, cmd *exec.Cmd) sample {
	s, out, err := measure(cmd)
	if err != nil {
		b.Fatal(err)
	}
	var c struct{ Username, Secret string }
	if json.Unmarshal(out, &c) != nil || c.Secret == "" {
		b.Fatalf("%s answered %q", cmd.Path, out)
	}
	return s
}

// BenchmarkWarmGet is §5: a warm `get` of the lean helper (and of BENCH_BASE's)
// against the floor, a trivial Go binary that reads stdin and prints JSON.
// Each round runs every contender 40 times, one after another in turn.
func BenchmarkWarmGet(b *testing.B) {
	w := newHelperWorld(b)
	var contenders []contender
	for _, bd := range programs.builds {
		cache := filepath.Join(w.home, "cache-"+bd.name)
		extra := map[string]string{"CURRENTS_CACHE_DIR": cache}
		w.mustGet(b, w.get(bd.lean(), extra)) // fills the cache
		contenders = append(contenders, contender{bd.name, func(tb testing.TB) sample {
			return w.mustGet(b, w.get(bd.lean(), extra))
		}})
	}
	w.aws.Reset()
	trivial := contender{"trivial", func(tb testing.TB) sample { return w.mustGet(b, w.get(programs.trivial, nil)) }}
	compare(b, 40, trivial, contenders...)
	if c := w.aws.Counts(); c.AssumeRole != 0 || c.GetAuthorizationToken != 0 {
		b.Errorf("warm gets called AWS: %+v", c)
	}
}

// BenchmarkColdBurst is §1: 64 gets started at once on a cold cache, as
// compose starts its pulls, with 30 ms added to every STS and ECR answer;
// ours (and BENCH_BASE's) against docker-credential-ecr-login. Counted per
// burst: AssumeRole and GetAuthorizationToken calls, and how many AWS
// processes ours started. That count comes from a second, untimed burst whose
// CURRENTS_AWS_HELPER is a wrapper noting each start, so the timed burst runs
// exactly as installed.
func BenchmarkColdBurst(b *testing.B) {
	w := newHelperWorld(b)
	w.aws.SetLatency(stsLatency)
	var n atomic.Int64
	fresh := func(kind string) string { return filepath.Join(w.home, kind+"-"+strconv.FormatInt(n.Add(1), 10)) }
	awsCalls := func(s *sample) {
		c := w.aws.Counts()
		s.counts = map[string]float64{"AssumeRole": float64(c.AssumeRole), "GetAuthorizationToken": float64(c.GetAuthorizationToken)}
	}
	ecrLogin := contender{"ecr-login", func(tb testing.TB) sample {
		w.aws.Reset()
		extra := map[string]string{"AWS_ECR_CACHE_DIR": fresh("ecr-login")}
		s, err := together(burst, func(int) *exec.Cmd { return w.get(programs.ecrLogin, extra) })
		if err != nil {
			tb.Fatal(err)
		}
		awsCalls(&s)
		return s
	}}
	var contenders []contender
	for _, bd := range programs.builds {
		counter := testbin.NewCounter(b, bd.aws())
		contenders = append(contenders, contender{bd.name, func(tb testing.TB) sample {
			w.aws.Reset()
			extra := map[string]string{"CURRENTS_CACHE_DIR": fresh("currents")}
			s, err := together(burst, func(int) *exec.Cmd { return w.get(bd.lean(), extra) })
			if err != nil {
				tb.Fatal(err)
			}
			awsCalls(&s)
			before := counter.Starts()
			cold := map[string]string{"CURRENTS_CACHE_DIR": fresh("currents"), "CURRENTS_AWS_HELPER": counter.Path}
			if _, err := together(burst, func(int) *exec.Cmd { return w.get(bd.lean(), cold) }); err != nil {
				tb.Fatal(err)
			}
			s.counts["aws-processes"] = float64(counter.Starts() - before)
			return s
		}})
	}
	compare(b, 1, ecrLogin, contenders...)
}
