package plugincmd

import (
	"fmt"

	"github.com/docker/cli/cli"
)

// checkJobs refuses a --jobs that bounds nothing: 0 or less left the check
// at its default and mirror at one transfer, as if the flag had not been
// given or meant something else.
func checkJobs(n, def int) error {
	if n >= 1 {
		return nil
	}
	return cli.StatusError{StatusCode: 125, Status: fmt.Sprintf("invalid argument \"%d\" for \"--jobs\" flag: use a whole number of 1 or more (default %d)", n, def)}
}
