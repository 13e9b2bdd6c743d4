package plugincmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/product"
)

// newVersionCommand prints the build's version, as `docker-credential-currents
// version` does, so an installed package can be checked from docker itself.
func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "docker %s (%s) %s\n", product.PluginName, product.Module, product.Version)
			return err
		},
	}
}
