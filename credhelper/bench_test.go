package credhelper_test

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkWarmGet compares a warm `get` of the lean helper with the floor: a
// trivial Go binary that reads stdin and prints JSON. The AWS binary answering
// the same warm get shows what linking the SDK would cost. The "interleaved"
// case alternates trivial and lean runs so machine noise hits both alike, and
// reports their ratio (the goal is at most 1.5).
func BenchmarkWarmGet(b *testing.B) {
	w := newWorld(b)
	w.mustGet(w.reg.Host(), nil)
	env := w.environ(nil)
	run := func(b *testing.B, path string) time.Duration {
		cmd := exec.Command(path, "get")
		cmd.Env = env
		cmd.Stdin = strings.NewReader(w.reg.Host() + "\n")
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil || !strings.Contains(string(out), `"Secret"`) {
			b.Fatalf("%s: %v %s", path, err, out)
		}
		return d
	}
	for _, bm := range []struct{ name, path string }{
		{"trivial", bin.trivial},
		{"lean", bin.lean},
		{"aws-binary", bin.fat},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				run(b, bm.path)
			}
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		var trivial, lean time.Duration
		for b.Loop() {
			trivial += run(b, bin.trivial)
			lean += run(b, bin.lean)
		}
		n := float64(b.N)
		b.ReportMetric(float64(trivial.Microseconds())/n, "trivial-µs")
		b.ReportMetric(float64(lean.Microseconds())/n, "lean-µs")
		b.ReportMetric(float64(lean)/float64(trivial), "lean/trivial")
	})
	if c := w.aws.Counts(); c.AssumeRole != 1 || c.GetAuthorizationToken != 1 {
		b.Errorf("warm gets called AWS: %+v", c)
	}
}

// BenchmarkParallelColdGets runs 64 `get`s at once against an empty cache,
// as `docker compose pull` does on a fresh host, and reports the AWS calls
// each round made (the goal is exactly one of each).
func BenchmarkParallelColdGets(b *testing.B) {
	const n = 64
	w := newWorld(b)
	round := 0
	for b.Loop() {
		round++
		extra := map[string]string{"CURRENTS_CACHE_DIR": filepath.Join(w.home, "cold-"+strconv.Itoa(round))}
		_, errs := w.getAll(n, []string{w.reg.Host()}, extra)
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	c := w.aws.Counts()
	b.ReportMetric(float64(c.AssumeRole)/float64(round), "AssumeRole/round")
	b.ReportMetric(float64(c.GetAuthorizationToken)/float64(round), "GetAuthorizationToken/round")
	b.ReportMetric(n, "gets/round")
}

// BenchmarkStatus compares `status` with a warm `get`, interleaved, and
// reports their ratio (the goal is at most 2: status loads no SDK either).
// It also runs `refresh` with nothing due and reports the AWS requests it
// made (the goal is 0) and its cost against the warm get.
func BenchmarkStatus(b *testing.B) {
	w := newWorld(b)
	w.mustGet(w.reg.Host(), nil)
	env := w.environ(nil)
	run := func(b *testing.B, stdin string, args ...string) time.Duration {
		cmd := exec.Command(bin.lean, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil || len(out) == 0 {
			b.Fatalf("%v: %v %s", args, err, out)
		}
		return d
	}
	b.Run("status-vs-get", func(b *testing.B) {
		var get, table, prom time.Duration
		for b.Loop() {
			get += run(b, w.reg.Host()+"\n", "get")
			table += run(b, "", "status")
			prom += run(b, "", "status", "--format", "prometheus")
		}
		n := float64(b.N)
		b.ReportMetric(float64(get.Microseconds())/n, "get-µs")
		b.ReportMetric(float64(table.Microseconds())/n, "status-µs")
		b.ReportMetric(float64(table)/float64(get), "status/get")
		b.ReportMetric(float64(prom)/float64(get), "prometheus/get")
	})
	b.Run("refresh-nothing-due", func(b *testing.B) {
		w.aws.Reset()
		var get, refresh time.Duration
		for b.Loop() {
			get += run(b, w.reg.Host()+"\n", "get")
			refresh += run(b, "", "refresh")
		}
		b.ReportMetric(float64(sum(w.aws.Attempts()))/float64(b.N), "aws-requests/op")
		b.ReportMetric(float64(refresh)/float64(get), "refresh/get")
	})
}
