package credhelpercmd

import (
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/statuscmd"
)

// newStatusCmd lists status in the help; the lean binary answers it before
// ever reaching this binary, and both parse its flags in statuscmd.
func newStatusCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:                "status [--format table|json|prometheus] [--textfile PATH]",
		Short:              "show each registry's session and token expiry, next refresh and last refresh, from the cache only",
		Long:               statuscmd.Usage,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := statuscmd.Run(args, a.Out, a.Err, a.Config); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}
