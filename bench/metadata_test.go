package bench

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkPluginMetadata is the question the docker CLI asks the plugin
// before every `docker currents …` (and for `docker info`, `docker --help`):
// `docker-currents docker-cli-plugin-metadata`, which the plugin's front
// answers (ours, and BENCH_BASE's plugin), against the floor, the trivial Go
// binary; "full" is the same answer from our full plugin, what every docker
// command paid before the front. Each run's peak memory comes from a second,
// untimed run under GNU time.
func BenchmarkPluginMetadata(b *testing.B) {
	setup(b)
	run := func(path string) func(tb testing.TB) sample {
		return func(tb testing.TB) sample {
			s, out, err := measure(exec.Command(path, "docker-cli-plugin-metadata"))
			if err != nil {
				tb.Fatal(err)
			}
			if !json.Valid(out) {
				tb.Fatalf("%s answered %q", path, out)
			}
			p, _, err := measure(peak(tb, exec.Command(path, "docker-cli-plugin-metadata")))
			if err != nil {
				tb.Fatal(err)
			}
			s.rss = p.rss
			return s
		}
	}
	var ours []contender
	for _, bd := range programs.builds {
		ours = append(ours, contender{bd.name, run(bd.plugin())})
		if full := filepath.Join(bd.dir, "currents-plugin"); bd.name == "ours" {
			if _, err := os.Stat(full); err != nil {
				b.Fatal(err)
			}
			ours = append(ours, contender{"full", run(full)})
		}
	}
	compare(b, 20, contender{"trivial", run(programs.trivial)}, ours...)
}
