package credhelpercmd

import (
	"fmt"

	"github.com/docker/docker-credential-helpers/credentials"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/protocol"
	"github.com/currentsdev/currents/internal/tokencache"
)

// protocolCommands are docker's credential-helper actions. Like
// credentials.Serve, an error goes to stdout (where docker reads it) with exit 1.
func protocolCommands(a *App) []*cobra.Command {
	actions := []struct{ name, short string }{
		{credentials.ActionGet, "print credentials for the registry URL read from stdin (docker calls this)"},
		{credentials.ActionStore, "accept and ignore credentials (tokens come from AWS)"},
		{credentials.ActionErase, "drop the cached token of the registry URL read from stdin"},
		{credentials.ActionList, "list the configured registries"},
		{credentials.ActionVersion, "print the version"},
	}
	var cmds []*cobra.Command
	for _, act := range actions {
		cmds = append(cmds, &cobra.Command{
			Use:   act.name,
			Short: act.short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if act.name == credentials.ActionVersion {
					return credentials.PrintVersion(a.Out)
				}
				h, err := a.Helper()
				if err != nil && act.name == credentials.ActionStore {
					// As the lean binary: store keeps nothing, so a broken
					// config must not fail a stray `docker login`.
					a.Log.Warn("store ignored, but the helper cannot serve pulls until this is fixed", "err", err)
					h, err = protocol.New(&config.Config{}, tokencache.Disabled(err), nil, protocol.WithLogger(a.Log)), nil
				}
				if err != nil {
					protocol.ReportError(a.Err, err) // docker shows only stderr to the user
				} else {
					err = h.Serve(act.name, a.In, a.Out)
				}
				if err != nil {
					fmt.Fprintln(a.Out, err)
					return exitError{1}
				}
				return nil
			},
		})
	}
	return cmds
}
