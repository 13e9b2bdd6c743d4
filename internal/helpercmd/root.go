// Package helpercmd holds the commands of docker-credential-currents-aws, the
// AWS half of the credential helper. The lean docker-credential-currents binary
// answers warm `get`s itself and hands every other command line to this one
// (by exec), so users see a single command.
//
// Commands beyond the protocol register themselves: a file in this package
// (configure.go, doctor.go, ...) calls register from its init, so adding a
// command never means editing this file.
package helpercmd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/ecr"
	"github.com/currentsdev/currents/internal/helper"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/tokencache"
)

// CommandName is the name users type; the AWS binary answers to it too.
const CommandName = helper.CommandName

// App is what every command shares: streams, the logger, and lazily loaded
// config, cache and AWS client (a command that needs none of them, such as
// `version`, loads none).
type App struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	Log *slog.Logger

	cfgOnce sync.Once
	cfg     *config.Config
	cfgErr  error
}

// Config loads currents.yaml from the environment's location (once).
func (a *App) Config() (*config.Config, error) {
	a.cfgOnce.Do(func() { a.cfg, a.cfgErr = config.FromEnv() })
	return a.cfg, a.cfgErr
}

// Cache opens the token cache.
func (a *App) Cache() (*tokencache.Cache, error) {
	return tokencache.Open(tokencache.WithLogger(a.Log))
}

// AWS returns a client bounded by the configured timeout.
func (a *App) AWS() (*ecr.Client, error) {
	cfg, err := a.Config()
	if err != nil {
		return nil, err
	}
	return ecr.New(ecr.WithTimeout(cfg.Timeout), ecr.WithLogger(a.Log)), nil
}

// Helper builds the protocol helper that refreshes in-process.
func (a *App) Helper() (*helper.Helper, error) {
	cfg, err := a.Config()
	if err != nil {
		return nil, err
	}
	cache, err := a.Cache()
	if err != nil {
		cache = tokencache.Disabled(err, tokencache.WithLogger(a.Log))
	}
	aws, err := a.AWS()
	if err != nil {
		return nil, err
	}
	f := &helper.Fetcher{Cache: cache, AWS: aws, Timeout: cfg.Timeout, Log: a.Log}
	return helper.New(cfg, cache, f, helper.WithLogger(a.Log), helper.WithErrorOutput(a.Err)), nil
}

var (
	extraMu sync.Mutex
	extra   []func(*App) *cobra.Command
)

// register adds a command to the root. Call it from an init function.
func register(newCmd func(*App) *cobra.Command) {
	extraMu.Lock()
	defer extraMu.Unlock()
	extra = append(extra, newCmd)
}

// exitError carries an exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// NewRoot builds the command tree.
func NewRoot(a *App) *cobra.Command {
	root := &cobra.Command{
		Use:   CommandName,
		Short: "Docker credential helper for Amazon ECR that assumes the configured role and caches tokens",
		Long: `docker-credential-currents is a Docker credential helper for Amazon ECR.

Register it for your registries in ~/.docker/config.json:

  "credHelpers": { "123456789012.dkr.ecr.us-east-1.amazonaws.com": "currents" }

and describe roles in currents.yaml next to config.json (see ` + "`config`" + `).
Docker calls the protocol commands (get, store, erase, list, version) itself.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(a.In)
	root.SetOut(a.Out)
	root.SetErr(a.Err)
	for _, c := range protocolCommands(a) {
		root.AddCommand(c)
	}
	root.AddCommand(newConfigCmd(a))
	extraMu.Lock()
	for _, f := range extra {
		root.AddCommand(f(a))
	}
	extraMu.Unlock()
	return root
}

// Execute runs the AWS binary with args and returns its exit code.
func Execute(args []string) int {
	a := &App{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Log: logging.FromEnv(helper.AWSBinaryName)}
	root := NewRoot(a)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(a.Err, "Error:", err)
		return 1
	}
}
