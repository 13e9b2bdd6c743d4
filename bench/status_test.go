package bench

import (
	"path/filepath"
	"testing"
)

// BenchmarkStatus compares the lean binary's `status` (table and prometheus)
// with a warm `get`, interleaved (the goal is at most 2: status loads no SDK
// either), and `refresh` with nothing due, whose AWS requests it counts (the
// goal is 0).
func BenchmarkStatus(b *testing.B) {
	w := newHelperWorld(b)
	bd := programs.builds[0]
	extra := map[string]string{"CURRENTS_CACHE_DIR": filepath.Join(w.home, "cache")}
	w.mustGet(b, w.get(bd.lean(), extra))
	command := func(name string, args ...string) contender {
		return contender{name, func(tb testing.TB) sample {
			cmd := w.get(bd.lean(), extra)
			cmd.Args = append([]string{bd.lean()}, args...)
			cmd.Stdin = nil
			w.aws.Reset()
			s, out, err := measure(cmd)
			if err != nil || len(out) == 0 {
				tb.Fatalf("%v: %v %s", args, err, out)
			}
			a := w.aws.Attempts()
			s.counts = map[string]float64{"aws-requests": float64(a.AssumeRole + a.GetAuthorizationToken + a.GetCallerIdentity)}
			return s
		}}
	}
	get := contender{"get", func(tb testing.TB) sample { return w.mustGet(b, w.get(bd.lean(), extra)) }}
	compare(b, 20, get, command("status", "status"), command("prometheus", "status", "--format", "prometheus"),
		command("refresh", "refresh"))
}
