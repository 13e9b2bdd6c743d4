package bench

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/standin/seed"
)

// mirrorPrefix is where both tools copy the stack to, in the target registry.
const mirrorPrefix = "mirror/currents/"

// mirrorRun is `docker currents mirror --to TARGET/mirror/currents/` of build
// bd through the docker CLI; first says whether the target is wiped before
// (the first mirror) or primed with a copy (the no-op rerun).
func (w *pluginWorld) mirrorRun(bd string, first bool) func(tb testing.TB) sample {
	mirror := func() *exec.Cmd {
		return w.command(bd, "docker", "currents", "mirror", "--to", w.dst.Host()+"/"+mirrorPrefix)
	}
	return w.copyRun(first, mirror, func(tb testing.TB) {
		if _, out, err := measure(mirror()); err != nil {
			tb.Fatalf("%v\n%s", err, out)
		}
	})
}

// craneCopyRun is `crane copy` of every image, six at once (xargs -P6), as
// a script replacing docker pull/tag/push would run it.
func (w *pluginWorld) craneCopyRun(first bool) func(tb testing.TB) sample {
	var pairs []string
	for _, ref := range w.images {
		repo := ref[strings.LastIndex(ref, "/")+1:]
		pairs = append(pairs, ref, w.dst.Host()+"/"+mirrorPrefix+repo)
	}
	copies := func() *exec.Cmd {
		cmd := w.command("ours", "xargs", "-P6", "-n2", programs.crane, "copy")
		cmd.Stdin = strings.NewReader(strings.Join(pairs, "\n") + "\n")
		return cmd
	}
	return w.copyRun(first, copies, func(tb testing.TB) {
		if _, out, err := measure(copies()); err != nil {
			tb.Fatalf("%v\n%s", err, out)
		}
	})
}

// copyRun times one copy into the target: emptied first, or holding the
// stack already (prime copies it there, untimed). Counted: the requests
// each registry saw, the bytes the target received, the AWS calls, and the
// processes (a second run under strace, in the same state).
func (w *pluginWorld) copyRun(first bool, run func() *exec.Cmd, prime func(testing.TB)) func(tb testing.TB) sample {
	prepare := func(tb testing.TB) {
		w.dst.Wipe()
		if !first {
			prime(tb)
		}
		w.src.Reset()
		w.dst.Reset()
		w.aws.Reset()
	}
	return func(tb testing.TB) sample {
		prepare(tb)
		s, out, err := measure(run())
		if err != nil {
			tb.Fatalf("%v\n%s", err, out)
		}
		s.counts = map[string]float64{}
		registryCounts("source-", w.src, s.counts)
		registryCounts("target-", w.dst, s.counts)
		s.counts["target-MB-in"] = float64(w.dst.Requests().BytesIn) / (1 << 20)
		c := w.aws.Counts()
		s.counts["aws-calls"] = float64(c.AssumeRole + c.GetAuthorizationToken + c.CreateRepository + c.DescribeRepositories)
		prepare(tb)
		s.counts["processes"] = processes(tb, run())
		return s
	}
}

// BenchmarkMirror is §4: `docker currents mirror` of the six-service stack
// (6 images, three layers of 1.4 MB each: 25 MB) from one ECR-style registry
// to another, both at 50 ms per request, against `crane copy` of each image,
// six at once; a first copy into an empty target, and a rerun with nothing
// left to copy.
func BenchmarkMirror(b *testing.B) {
	w := newPluginWorld(b, 1, seed.Size(1400<<10, 3))
	for _, first := range []bool{true, false} {
		name := "first"
		if !first {
			name = "noop"
		}
		b.Run(name, func(b *testing.B) {
			crane := contender{"crane-P6", w.craneCopyRun(first)}
			var ours []contender
			for _, bd := range programs.builds {
				ours = append(ours, contender{bd.name, w.mirrorRun(bd.name, first)})
			}
			compare(b, 1, crane, ours...)
		})
	}
}
