package helpercmd

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/helper"
)

func newConfigCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "print the effective configuration (secrets redacted) and the paths in use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.Config()
			if err != nil {
				return err
			}
			status := "found"
			if !cfg.Found {
				status = "not found: no entries, real ECR hosts use the AWS default credential chain"
			}
			fmt.Fprintf(a.Out, "# config file: %s (%s)\n", cfg.Path, status)
			if cache, err := a.Cache(); err != nil {
				fmt.Fprintf(a.Out, "# cache dir:   unusable: %v\n", err)
			} else {
				fmt.Fprintf(a.Out, "# cache dir:   %s\n", cache.Dir())
			}
			self, _ := os.Executable()
			if p, err := filepath.EvalSymlinks(self); err == nil {
				self = p
			}
			fmt.Fprintf(a.Out, "# AWS helper:  %s\n", self)
			if p := os.Getenv(helper.EnvAWSHelper); p != "" {
				fmt.Fprintf(a.Out, "#   (%s=%s)\n", helper.EnvAWSHelper, p)
			}
			fmt.Fprintf(a.Out, "# timeout from %s\n", cfg.TimeoutFrom)
			return cfg.WriteRedacted(a.Out)
		},
	}
}
