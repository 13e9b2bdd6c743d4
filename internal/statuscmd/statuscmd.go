// Package statuscmd is the command line of `docker-credential-currents
// status`. The lean helper runs it itself (no cobra, no AWS SDK: status costs
// what a warm get costs); the AWS binary's cobra command hands it the same
// arguments, so both parse them here, once.
package statuscmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/status"
	"github.com/currentsdev/currents/internal/tokencache"
)

// Usage is the command's help text.
const Usage = `Usage: ` + product.HelperCommand + ` status [--format table|json|prometheus] [--textfile PATH]

Show, for each registry in currents.yaml: where its credentials come from and
the role, when the session and token expire, when the next refresh falls due,
and when the last refresh ran, how it went and its last error. It reads the
token cache only: no AWS configuration, no network.

  --format table|json|prometheus   output format (default table); json has
                                   "schemaVersion": 1
  --textfile PATH                  also write the Prometheus format to PATH
                                   atomically (mode 0644), for node_exporter's
                                   textfile collector; PATH must end in .prom

Exit status: 0 when the status was shown (whatever it says), 1 when
currents.yaml is invalid or the textfile cannot be written, 2 on bad flags.
`

// Run runs `status args...` and returns the exit code; load gives the
// settings (the lean binary's from their compiled form, the AWS binary's
// parsed).
func Run(args []string, out, errOut io.Writer, load func() (*settings.Config, error)) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "table", "")
	textfile := fs.String("textfile", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, Usage)
			return 0
		}
		fmt.Fprintf(errOut, "%s status: %v\n\n%s", product.HelperCommand, err, Usage)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "%s status: unexpected argument %q\n\n%s", product.HelperCommand, fs.Arg(0), Usage)
		return 2
	}
	var write func(status.Report, io.Writer) error
	switch *format {
	case "table":
		write = status.Report.WriteTable
	case "json":
		write = status.Report.WriteJSON
	case "prometheus":
		write = status.Report.WritePrometheus
	default:
		fmt.Fprintf(errOut, "%s status: --format %q: use table, json or prometheus\n", product.HelperCommand, *format)
		return 2
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(errOut, "%s status: %v\n", product.HelperCommand, err)
		return 1
	}
	cache, err := tokencache.Open()
	if err != nil {
		cache = tokencache.Disabled(err)
	}
	rep := status.Collect(cfg, cache, os.Getenv, cache.Clock().Now())
	if err := write(rep, out); err != nil {
		fmt.Fprintf(errOut, "%s status: %v\n", product.HelperCommand, err)
		return 1
	}
	if *textfile != "" {
		if err := rep.WriteTextfile(*textfile); err != nil {
			fmt.Fprintf(errOut, "%s status: %v\n", product.HelperCommand, err)
			return 1
		}
	}
	return 0
}
