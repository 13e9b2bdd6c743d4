// Package plugincmd holds the cobra commands of the `docker currents` CLI
// plugin. Each command parses its flags, calls one function of its domain
// package, renders the result and maps errors to an exit code;
// NewRootCommand registers every one of them.
package plugincmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/front"
	"github.com/currentsdev/currents/internal/product"
)

// Metadata is what the plugin answers to docker-cli-plugin-metadata: its
// front's (front.Info), which docker asks in practice.
func Metadata() metadata.Metadata {
	m := front.Info()
	return metadata.Metadata{
		SchemaVersion:    m.SchemaVersion,
		Vendor:           m.Vendor,
		Version:          m.Version,
		ShortDescription: m.ShortDescription,
		URL:              m.URL,
	}
}

// NewRootCommand returns `docker currents` with every registered
// sub-command.
func NewRootCommand(dockerCli command.Cli) *cobra.Command {
	root := group(&cobra.Command{
		Use:           product.PluginName,
		Short:         Metadata().ShortDescription,
		SilenceUsage:  true,
		SilenceErrors: true,
	},
		newCheckCommand(dockerCli),
		newUpCommand(dockerCli),
		newMirrorCommand(dockerCli),
		newPolicyCommand(dockerCli),
		newShimCommand(dockerCli),
		newWatchCommand(dockerCli),
		newVersionCommand(),
	)
	root.AddCommand(newHelpCommand(root))
	return root
}

// group makes cmd a command that only holds sub-commands: run alone, it
// shows its help.
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	cmd.AddCommand(subs...)
	return cmd
}

// newHelpCommand is `help [COMMAND]` under root, as cobra's help command is
// under a program's root. Cobra adds its own only to the root it executes,
// which for a plugin is docker's wrapper around root, and it looks the
// topic up from there: docker passes "help" on to root, which had none.
func newHelpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		// Nothing to set up: no engine, no configuration.
		PersistentPreRun: func(*cobra.Command, []string) {},
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if cmd == nil || err != nil || len(rest) > 0 {
				return fmt.Errorf("unknown help topic: %s; see '%s --help'", strings.Join(args, " "), root.CommandPath())
			}
			cmd.HelpFunc()(cmd, rest)
			return nil
		},
	}
}

// loadConfig reads currents.yaml once per command. A file that cannot be
// read is a warning, not a failure: the plugin then treats real ECR hosts
// only as the helper's (a nil Config), with the default timeout.
func loadConfig(errOut io.Writer) *config.Config {
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(errOut, "warning: %v\n", err)
		return nil
	}
	return cfg
}

// ExitError ends the plugin with Code after the command has already said
// why (a report was printed); Main prints nothing more.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Main runs the plugin and returns its exit code. It is plugin.Run with the
// exit-code handling the check needs: 1 for unpullable images and 2 for a
// project that cannot be loaded, without an extra error line.
func Main() int {
	// compose-go logs warnings such as "variable is not set" through
	// logrus; the check reports those itself, with the file and the fix.
	logrus.SetOutput(io.Discard)

	dockerCli, err := command.NewDockerCli()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = plugin.RunPlugin(dockerCli, NewRootCommand(dockerCli), Metadata())
	if err == nil {
		return 0
	}
	var exit ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	var status cli.StatusError
	if errors.As(err, &status) {
		if status.Status != "" {
			fmt.Fprintln(dockerCli.Err(), status.Status)
		}
		if status.StatusCode == 0 {
			return 1
		}
		return status.StatusCode
	}
	fmt.Fprintln(dockerCli.Err(), err)
	return 1
}
