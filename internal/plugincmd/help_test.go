package plugincmd

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagHelpNamesOnlyValues: pflag takes a `backquoted` word in a flag's
// usage for the name of its value, so prose in backquotes turned the help of
// `policy push` into "--to mirror --to". Every flag's value name is its
// type's (or none, for a boolean), never words from its description.
func TestFlagHelpNamesOnlyValues(t *testing.T) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			if strings.Contains(f.Usage, "`") || strings.Contains(name, " ") {
				t.Errorf("%s --%s: help shows %q as the value's name (usage %q)", c.CommandPath(), f.Name, name, f.Usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand(nil))
}

// `docker currents help COMMAND` shows that command's help, as
// `docker currents COMMAND --help` does and as cobra's help command does in
// docker's own CLI: docker passes "help" to the plugin, whose root had no
// such command ("unknown command"). Through the real docker CLI.
func TestHelpCommand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, path := range [][]string{{"check"}, {"mirror"}, {"up"}, {"policy", "push"}} {
		want := w.docker(append(append([]string{"currents"}, path...), "--help")...)
		if want.code != 0 || !strings.Contains(want.stdout, "docker currents "+strings.Join(path, " ")) {
			t.Fatalf("%v --help: exit %d\n%s%s", path, want.code, want.stdout, want.stderr)
		}
		r := w.docker(append([]string{"currents", "help"}, path...)...)
		if r.code != 0 || r.stdout != want.stdout {
			t.Errorf("help %v: exit %d\n%s%s\nwant what --help prints:\n%s", path, r.code, r.stdout, r.stderr, want.stdout)
		}
	}
	if r := w.docker("currents", "help"); r.code != 0 || !strings.Contains(r.stdout, "check") || !strings.Contains(r.stdout, "mirror") {
		t.Errorf("help: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := w.docker("currents", "help", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, "unknown help topic") || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("help nosuch: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
