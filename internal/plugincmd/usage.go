package plugincmd

import (
	"fmt"
	"strings"

	"github.com/docker/cli/cli"

	"github.com/currentsdev/currents/internal/exitcode"
)

// usageError is a flag value the command cannot use: exit 125, as docker's
// own flag errors, with err (which names the flag and what it takes)
// printed as printFixed does. Commands check their flags before loading
// the project or asking a registry, so the status says "you typed it
// wrong", not something about the stack.
func usageError(err error) error {
	var b strings.Builder
	printFixed(&b, err)
	return cli.StatusError{StatusCode: exitcode.Usage, Status: strings.TrimSuffix(b.String(), "\n")}
}

// checkFormat refuses a --format other than table or json.
func checkFormat(format string) error {
	if format == "table" || format == "json" {
		return nil
	}
	return usageError(fmt.Errorf("invalid argument %q for \"--format\" flag: use table or json", format))
}

// checkJobs refuses a --jobs that bounds nothing: 0 or less left the check
// at its default and mirror at one transfer, as if the flag had not been
// given or meant something else.
func checkJobs(n, def int) error {
	if n >= 1 {
		return nil
	}
	return usageError(fmt.Errorf("invalid argument \"%d\" for \"--jobs\" flag: use a whole number of 1 or more (default %d)", n, def))
}
