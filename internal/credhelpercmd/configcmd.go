package credhelpercmd

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/doctor"
)

func newConfigCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "print the effective configuration (secrets redacted), the paths in use and what is cached",
		Long: `Print the effective configuration: the paths in use, the environment that
changes what the helper does (secrets shown only as [set], an access key ID
by its last four characters, passwords in URLs redacted), currents.yaml with derived values filled in and the external ID
redacted, and for each registry the credentials it uses and the state of its
cached token and role session. Nothing here reaches AWS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := doctor.New(awsapi.New(awsapi.WithLogger(a.Log)), doctor.WithConfig(a.Config), doctor.WithCache(a.Cache))
			eff, err := d.Effective()
			if err != nil {
				return err
			}
			return renderEffective(a.Out, eff)
		},
	}
}

func renderEffective(w io.Writer, e *doctor.Effective) error {
	cfg := e.Config
	status := "found"
	if !cfg.Found {
		status = "not found: no entries, real ECR hosts use the AWS default credential chain"
	}
	fmt.Fprintf(w, "# config file: %s (%s)\n", cfg.Path, status)
	if e.CacheErr != nil {
		fmt.Fprintf(w, "# cache dir:   unusable: %v\n", e.CacheErr)
	} else {
		fmt.Fprintf(w, "# cache dir:   %s\n", e.CacheDir)
	}
	fmt.Fprintf(w, "# AWS helper:  %s\n", e.AWSHelper)
	fmt.Fprintf(w, "# timeout:     %s (from %s)\n", config.FormatDuration(cfg.Timeout), cfg.TimeoutFrom)
	if len(e.Env) == 0 {
		fmt.Fprintln(w, "# environment: nothing that changes the helper is set")
	} else {
		fmt.Fprintln(w, "# environment:")
		for _, v := range e.Env {
			fmt.Fprintf(w, "#   %s=%s\n", v.Name, v.Value)
		}
	}
	fmt.Fprintln(w, "# Hosts without an entry: any ECR hostname, served from the AWS SDK default credential chain.")
	if err := config.WriteRedacted(w, cfg); err != nil {
		return err
	}
	if len(e.Registries) > 0 {
		fmt.Fprintln(w, "# Per registry (from the cache; nothing here called AWS):")
	}
	for _, r := range e.Registries {
		fmt.Fprintf(w, "#   %s\n#     credentials: %s\n", r.Host, r.Credentials)
		if r.CacheFile == "" {
			continue
		}
		fmt.Fprintf(w, "#     cache file:  %s\n", r.CacheFile)
		fmt.Fprintf(w, "#     ECR token:   %s\n", r.Token)
		if r.Failure != "" {
			fmt.Fprintf(w, "#     last failed refresh, %s\n", r.Failure)
		}
		if r.Session != "" {
			fmt.Fprintf(w, "#     session:     %s\n", r.Session)
		}
	}
	return nil
}
