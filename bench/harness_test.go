package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// build is one build of our programs: this tree's ("ours") or BENCH_BASE's ("base").
type build struct {
	name string
	dir  string
}

func (b *build) lean() string   { return filepath.Join(b.dir, "docker-credential-currents") }
func (b *build) aws() string    { return filepath.Join(b.dir, "docker-credential-currents-aws") }
func (b *build) plugin() string { return filepath.Join(b.dir, "docker-currents") }

// programs are built once per test binary, on first use, so `go test ./...`
// without -bench costs nothing here.
var programs struct {
	once      sync.Once
	err       error
	tmp       string
	builds    []*build // ours, then base when BENCH_BASE is set
	trivial   string
	ecrLogin  string
	crane     string
	dockerCLI string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if programs.tmp != "" {
		os.RemoveAll(programs.tmp)
	}
	os.Exit(code)
}

// setup builds (or finds) every program the benchmarks run.
func setup(tb testing.TB) {
	tb.Helper()
	programs.once.Do(func() { programs.err = buildAll() })
	if programs.err != nil {
		tb.Fatal(programs.err)
	}
}

func buildAll() error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	if programs.tmp, err = os.MkdirTemp("", "currents-bench-"); err != nil {
		return err
	}
	ours := &build{name: "ours", dir: filepath.Join(programs.tmp, "ours")}
	if err := goBuild(root, ours.dir); err != nil {
		return err
	}
	programs.builds = []*build{ours}
	programs.trivial = filepath.Join(programs.tmp, "trivial")
	if err := run(root, nil, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", programs.trivial+".build", "./credhelper/testdata/trivial"); err != nil {
		return err
	}
	if err := install(programs.trivial+".build", programs.trivial); err != nil {
		return err
	}
	if rev := os.Getenv("BENCH_BASE"); rev != "" {
		src := filepath.Join(programs.tmp, "base-src")
		if err := os.MkdirAll(src, 0o700); err != nil {
			return err
		}
		// The revision's files as committed, outside this checkout.
		if err := run(root, nil, "sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", rev, src); err != nil {
			return fmt.Errorf("BENCH_BASE=%s: %w", rev, err)
		}
		base := &build{name: "base", dir: filepath.Join(programs.tmp, "base")}
		if err := goBuild(src, base.dir); err != nil {
			return fmt.Errorf("BENCH_BASE=%s: %w", rev, err)
		}
		programs.builds = append(programs.builds, base)
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"ecr-login", &programs.ecrLogin}, {"crane", &programs.crane}} {
		out, err := exec.Command("bash", filepath.Join(root, "scripts", "peers.sh"), p.name).Output()
		if err != nil {
			return fmt.Errorf("scripts/peers.sh %s: %w", p.name, err)
		}
		*p.dst = filepath.Join(programs.tmp, p.name)
		if err := install(strings.TrimSpace(string(out)), *p.dst); err != nil {
			return err
		}
	}
	if programs.dockerCLI, err = exec.LookPath("docker"); err != nil {
		return fmt.Errorf("the docker CLI is not on PATH (only the CLI is needed, no engine): %w", err)
	}
	return nil
}

// goBuild builds the programs of the tree at src into dir with `make build`,
// so the figures are those of what ships (build tags, flags and all), then
// installs them there as `make install` does.
func goBuild(src, dir string) error {
	if err := run(src, nil, "make", "--no-print-directory", "build", "BIN="+dir+".build"); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir + ".build")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if err := install(filepath.Join(dir+".build", e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// install copies a program to where it runs from as `make install` and the
// packages put it there, with install(1), and every contender is run from
// such a copy, the peers and the trivial binary too. The linker writes its
// output through a memory mapping, which leaves the file in the page cache
// in 4 KB pages; a file written by install, dpkg or cp is cached in larger
// pieces, which exec maps with fewer faults. Run straight from the linker,
// every figure carried a cost of its binary's size that no installed copy
// pays: 4% of the trivial binary's warm get, 8% of the lean helper's.
func install(from, to string) error {
	return run("", nil, "install", "-m", "0755", from, to)
}

func run(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// sample is what one run of a contender cost: one process, or a group of
// processes run together (a burst of gets, xargs and its cranes).
type sample struct {
	wall time.Duration
	cpu  time.Duration // user+sys of every process, their waited-for children included
	// rss is the largest single process's peak, in bytes, for runs measured
	// through peak (0 otherwise: a child's own figure from wait4 starts at
	// its parent's peak, since exec records the vforked mm's high-water mark,
	// and this test process is large).
	rss int64
	// counts are the contender's own figures for the run: AWS calls,
	// registry requests, processes.
	counts map[string]float64
}

func (s *sample) add(o sample) {
	s.wall += o.wall
	s.cpu += o.cpu
	s.rss = max(s.rss, o.rss)
	for k, v := range o.counts {
		if s.counts == nil {
			s.counts = map[string]float64{}
		}
		s.counts[k] += v
	}
}

// measure runs cmd to its end. Its stdout is returned; a failure includes
// its stderr.
func measure(cmd *exec.Cmd) (sample, []byte, error) {
	var out, errOut bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	cmd.Stderr = &errOut
	start := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(start)}
	if st := cmd.ProcessState; st != nil {
		// wait4 reports the process's usage with that of the children it
		// waited for: the AWS binary a get runs, the cranes xargs runs.
		s.cpu = st.UserTime() + st.SystemTime()
	}
	if len(cmd.Args) > 2 && cmd.Args[0] == "/usr/bin/time" {
		s.rss = peakOf(cmd)
	}
	if err != nil {
		return s, out.Bytes(), fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, errOut.Bytes())
	}
	return s, out.Bytes(), nil
}

// peak makes cmd run under GNU time, which forks it from a small process and
// reports its own peak (and its children's: the largest). measure reads it.
func peak(tb testing.TB, cmd *exec.Cmd) *exec.Cmd {
	tb.Helper()
	gnuTime, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		tb.Fatalf("peak memory is measured with GNU time: apt-get install time (%v)", err)
	}
	f, err := os.CreateTemp(tb.TempDir(), "peak-")
	if err != nil {
		tb.Fatal(err)
	}
	f.Close()
	wrapped := exec.Command(gnuTime, append([]string{"-f", "%M", "-o", f.Name(), "--", cmd.Path}, cmd.Args[1:]...)...)
	wrapped.Env, wrapped.Dir, wrapped.Stdin, wrapped.Stdout = cmd.Env, cmd.Dir, cmd.Stdin, cmd.Stdout
	return wrapped
}

// peakOf reads what GNU time wrote for a run through peak, in bytes.
func peakOf(cmd *exec.Cmd) int64 {
	for i, a := range cmd.Args {
		if a == "-o" && i+1 < len(cmd.Args) {
			b, err := os.ReadFile(cmd.Args[i+1])
			if err != nil {
				return 0
			}
			fields := strings.Fields(string(b))
			if len(fields) == 0 {
				return 0
			}
			kb, _ := strconv.ParseInt(fields[len(fields)-1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// together runs n commands at once, as compose starts its pulls, and returns
// them as one sample: wall from the start to the last exit, CPU summed.
func together(n int, mk func(i int) *exec.Cmd) (sample, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total sample
		first error
		gate  = make(chan struct{})
	)
	for i := range n {
		cmd := mk(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			s, _, err := measure(cmd)
			mu.Lock()
			defer mu.Unlock()
			total.cpu += s.cpu
			total.rss = max(total.rss, s.rss)
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	total.wall = time.Since(start)
	return total, first
}

// contender is one side of a comparison.
type contender struct {
	name string
	run  func(tb testing.TB) sample
}

// compare runs the peer and the others in turn, each round in a rotated
// order, reps times each per round (A B A B …), after one warm-up run each.
// It reports every other's median ratio to the peer, per round and paired,
// for wall time and CPU, with each contender's medians and counts.
func compare(b *testing.B, reps int, peer contender, others ...contender) {
	b.Helper()
	all := append([]contender{peer}, others...)
	for _, c := range all {
		c.run(b)
	}
	rounds := make([][]sample, len(all))
	for round := 0; b.Loop(); round++ {
		sums := make([]sample, len(all))
		for range reps {
			for k := range all {
				i := (k + round) % len(all)
				sums[i].add(all[i].run(b))
			}
		}
		for i := range all {
			rounds[i] = append(rounds[i], sums[i])
		}
	}
	b.StopTimer()
	var lines []string
	for i, c := range all {
		wall := durations(rounds[i], func(s sample) time.Duration { return s.wall })
		cpu := durations(rounds[i], func(s sample) time.Duration { return s.cpu })
		rss := int64(0)
		for _, s := range rounds[i] {
			rss = max(rss, s.rss)
		}
		per := float64(reps)
		b.ReportMetric(ms(median(wall))/per, c.name+"-ms")
		b.ReportMetric(ms(median(cpu))/per, c.name+"-cpu-ms")
		line := fmt.Sprintf("%-10s wall %7.1f ms [%.1f–%.1f]  cpu %7.1f ms", c.name,
			ms(median(wall))/per, ms(slices.Min(wall))/per, ms(slices.Max(wall))/per, ms(median(cpu))/per)
		if rss > 0 {
			b.ReportMetric(float64(rss)/(1<<20), c.name+"-peak-MB")
			line += fmt.Sprintf("  peak %.1f MB", float64(rss)/(1<<20))
		}
		if i > 0 {
			wr := ratios(rounds[i], rounds[0], func(s sample) time.Duration { return s.wall })
			cr := ratios(rounds[i], rounds[0], func(s sample) time.Duration { return s.cpu })
			b.ReportMetric(medianF(wr), c.name+"/"+peer.name)
			b.ReportMetric(medianF(cr), c.name+"/"+peer.name+"-cpu")
			line += fmt.Sprintf("  ×%s: wall %.2f [p10 %.2f p90 %.2f]  cpu %.2f", peer.name, medianF(wr), pct(wr, 10), pct(wr, 90), medianF(cr))
		}
		keys := countKeys(rounds[i])
		for _, k := range keys {
			total := 0.0
			for _, s := range rounds[i] {
				total += s.counts[k]
			}
			v := total / float64(len(rounds[i])) / per
			b.ReportMetric(v, c.name+"-"+k+"/op")
			line += fmt.Sprintf("  %s %g", k, v)
		}
		lines = append(lines, line)
	}
	b.Logf("%d rounds × %d runs each, interleaved:\n%s", len(rounds[0]), reps, strings.Join(lines, "\n"))
}

func countKeys(ss []sample) []string {
	seen := map[string]bool{}
	for _, s := range ss {
		for k := range s.counts {
			seen[k] = true
		}
	}
	var keys []string
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func durations(ss []sample, f func(sample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func ratios(a, b []sample, f func(sample) time.Duration) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = float64(f(a[i])) / float64(f(b[i]))
	}
	return out
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianF(f []float64) float64 { return pct(f, 50) }

func pct(f []float64, p int) float64 {
	s := slices.Clone(f)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// environ is a clean environment: none of the developer's AWS_*, CURRENTS_*
// or DOCKER_* settings, only what a benchmark sets.
func environ(kv map[string]string) []string {
	var out []string
	if _, ok := kv["PATH"]; !ok {
		out = append(out, "PATH="+os.Getenv("PATH"))
	}
	for k, v := range kv {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
