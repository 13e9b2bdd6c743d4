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
