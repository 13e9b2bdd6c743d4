// Package cliflags reads command lines the way pflag parses them, for
// wrappers that pick some flags out of an argument list and pass the rest on
// untouched: `docker currents up` (compose's project flags, then compose up's
// services) and the compose shim (docker's and compose's global flags).
//
// The flags come from the real definitions (docker/cli's ClientOptions,
// compose's project options), never from a table kept by hand, so a value
// flag cannot be mistaken for a service or a command.
package cliflags

import (
	"strings"

	"github.com/spf13/pflag"
)

// Next looks at args[0]. When it is a flag defined in fs it returns the
// flag, its value, and how many arguments it spans: 1 (`--file=x`, `-fx`,
// or a boolean flag) or 2 (`--file x`). n is 0 for anything else: a
// positional argument, "--", "-", a flag fs does not define, or a value flag
// missing its value (left for the real command to reject).
func Next(fs *pflag.FlagSet, args []string) (f *pflag.Flag, value string, n int) {
	if len(args) == 0 {
		return nil, "", 0
	}
	a := args[0]
	switch {
	case a == "--" || a == "-" || !strings.HasPrefix(a, "-"):
		return nil, "", 0
	case strings.HasPrefix(a, "--"):
		name, v, eq := strings.Cut(a[2:], "=")
		if f = fs.Lookup(name); f == nil {
			return nil, "", 0
		}
		if eq {
			return f, v, 1
		}
	default:
		if f = fs.ShorthandLookup(a[1:2]); f == nil {
			return nil, "", 0
		}
		if f.NoOptDefVal == "" && len(a) > 2 {
			return f, strings.TrimPrefix(a[2:], "="), 1
		}
	}
	if f.NoOptDefVal != "" {
		// A boolean (or optional-value) flag: `-dq` combines booleans.
		return f, f.NoOptDefVal, 1
	}
	if len(args) < 2 {
		return nil, "", 0
	}
	return f, args[1], 2
}

// Split walks args from the start while they are flags: those fs defines
// are consumed with their value, unknown ones are kept as booleans. It
// returns the flag arguments as written and the rest, which starts at the
// first positional argument (or "--").
func Split(fs *pflag.FlagSet, args []string) (flags, rest []string) {
	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			break
		}
		n := 1
		if _, _, m := Next(fs, args[i:]); m > 0 {
			n = m
		}
		flags = append(flags, args[i:i+n]...)
		i += n
	}
	return flags, args[i:]
}
