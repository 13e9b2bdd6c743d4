package bench

import (
	"os/exec"
	"strings"
	"testing"
)

// checkRun is `docker currents check` of build bd through the docker CLI,
// as a user runs it, with the registry's requests counted, and its processes
// by a second run, under strace (untimed).
func (w *pluginWorld) checkRun(bd string) func(tb testing.TB) sample {
	return func(tb testing.TB) sample {
		w.src.Reset()
		s, out, err := measure(w.command(bd, "docker", "currents", "check"))
		if err != nil {
			tb.Fatalf("%v\n%s", err, out)
		}
		s.counts = map[string]float64{}
		registryCounts("registry-", w.src, s.counts)
		s.counts["processes"] = processes(tb, w.command(bd, "docker", "currents", "check"))
		return s
	}
}

// craneRun is `xargs -P8 -n1 crane digest` over the stack's images, the
// usual way to ask a registry for many digests at once.
func (w *pluginWorld) craneRun() func(tb testing.TB) sample {
	digests := func() *exec.Cmd {
		cmd := w.command("ours", "xargs", "-P8", "-n1", programs.crane, "digest")
		cmd.Stdin = strings.NewReader(strings.Join(w.images, "\n") + "\n")
		return cmd
	}
	return func(tb testing.TB) sample {
		w.src.Reset()
		s, out, err := measure(digests())
		if err != nil {
			tb.Fatalf("%v\n%s", err, out)
		}
		if n := strings.Count(string(out), "sha256:"); n != len(w.images) {
			tb.Fatalf("crane printed %d digests for %d images:\n%s", n, len(w.images), out)
		}
		s.counts = map[string]float64{}
		registryCounts("registry-", w.src, s.counts)
		s.counts["processes"] = processes(tb, digests())
		return s
	}
}

// BenchmarkCheckSmall is §2: the whole `docker currents check` of the
// six-service stack (docker CLI hop, compose load, credentials, probes)
// against `xargs -P8 -n1 crane digest` of its six images, both through our
// warm helper, at 50 ms per registry request.
func BenchmarkCheckSmall(b *testing.B) {
	w := newPluginWorld(b, 1)
	crane := contender{"crane-P8", w.craneRun()}
	var ours []contender
	for _, bd := range programs.builds {
		ours = append(ours, contender{bd.name, w.checkRun(bd.name)})
	}
	compare(b, 1, crane, ours...)
}

// BenchmarkCheckLarge is §3: a 300-image stack (fifty tags of the six
// services) against the six-image one, each build against itself, at 50 ms
// per registry request; and the 300-image check's peak memory, of the plugin
// process itself (run directly under GNU time: through the docker CLI it
// would start from the CLI's own peak).
func BenchmarkCheckLarge(b *testing.B) {
	small := newPluginWorld(b, 1)
	large := newPluginWorld(b, 50)
	for _, bd := range programs.builds {
		b.Run(bd.name, func(b *testing.B) {
			six := contender{"6-images", small.checkRun(bd.name)}
			many := contender{"300-images", func(tb testing.TB) sample {
				s := large.checkRun(bd.name)(tb)
				direct := peak(tb, large.command(bd.name, bd.plugin(), "currents", "check"))
				p, out, err := measure(direct)
				if err != nil {
					tb.Fatalf("%v\n%s", err, out)
				}
				s.counts["plugin-peak-MB"] = float64(p.rss) / (1 << 20)
				return s
			}}
			compare(b, 1, six, many)
		})
	}
}
