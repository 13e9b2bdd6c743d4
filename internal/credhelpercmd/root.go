// Package credhelpercmd holds the command line of docker-credential-currents
// as its AWS half runs it. The lean binary answers warm `get`s itself and
// hands every other command line to docker-credential-currents-aws (by exec),
// so users see a single command. Each command parses its flags, calls one
// function of its domain package, renders the result and maps errors to an
// exit code; NewRoot registers every one of them.
package credhelpercmd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/protocol"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/tokencache"
)

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
	// compile keeps the parsed file's compiled form; Execute runs it when
	// the command is done.
	compile func()
}

// Config loads currents.yaml from the environment's location (once), and
// keeps what parsing it gave in its compiled form for the lean binary.
func (a *App) Config() (*config.Config, error) {
	a.cfgOnce.Do(func() {
		c, path, data, err := config.FromEnvFile()
		if data != nil {
			// Compiled now: CURRENTS_TIMEOUT, applied next, is not the file's.
			b := settings.Compile(path, data, c, err)
			a.compile = func() { a.keepCompiled(path, data, b) }
		}
		if err == nil {
			err = settings.ApplyEnv(c)
		}
		a.cfg, a.cfgErr = c, err
		if err != nil {
			a.cfg = nil
		}
	})
	return a.cfg, a.cfgErr
}

// keepCompiled writes the compiled form of the file (path, data), unless the
// one kept already answers for it.
// The lean binary then serves this file without parsing YAML. It is written
// once the command is done: a lean process that finds it must find the
// command's refresh done too, or it would start a refresh of its own; until
// then the lean processes of a burst wait on the compile lock, which the one
// that became this process holds until it exits.
func (a *App) keepCompiled(path string, data, compiled []byte) {
	cache, err := a.Cache()
	if err != nil {
		return // Fetcher says what is wrong with the cache
	}
	if _, err := settings.Decompile(cache.ReadCompiled(), path, data); !errors.Is(err, settings.ErrNotCompiled) {
		return
	}
	if err := cache.WriteCompiled(compiled); err != nil {
		a.Log.Debug("currents.yaml's compiled form not kept; the lean binary parses it with this binary until it is", "err", err)
	}
}

// Cache opens the token cache.
func (a *App) Cache() (*tokencache.Cache, error) {
	return tokencache.Open(tokencache.WithLogger(a.Log))
}

// AWS returns a client bounded by the configured timeout, which loads the
// SDK configuration once: every command of this binary ends within one run.
func (a *App) AWS() (*awsapi.Client, error) {
	cfg, err := a.Config()
	if err != nil {
		return nil, err
	}
	return awsapi.New(awsapi.WithTimeout(cfg.Timeout), awsapi.WithLogger(a.Log), awsapi.WithConfigReuse()), nil
}

// Helper builds the protocol helper that refreshes in-process.
func (a *App) Helper() (*protocol.Helper, error) {
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
	inherited := refresh.InheritedLock()
	f := &refresh.Fetcher{Cache: cache, AWS: aws, Timeout: cfg.Timeout, Log: a.Log, Inherited: inherited}
	opts := []protocol.Option{protocol.WithLogger(a.Log), protocol.WithErrorOutput(a.Err)}
	if inherited == nil {
		// Not run by the lean binary for a refresh, which has read the
		// request already and hands it over at once, but exec'd by it (or
		// run directly) before the request was read.
		opts = append(opts, protocol.WithPrefetch())
	}
	return protocol.New(cfg, cache, f, opts...), nil
}

// exitError carries an exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// NewRoot builds the command tree.
func NewRoot(a *App) *cobra.Command {
	root := &cobra.Command{
		Use:   product.HelperCommand,
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
	root.AddCommand(
		newConfigCmd(a),
		newConfigureCmd(a),
		newDoctorCmd(a),
		newKubeletCmd(a),
		newRefreshCmd(a),
		newStatusCmd(a),
	)
	return root
}

// Execute runs the AWS binary with args and returns its exit code.
func Execute(args []string) int {
	a := &App{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Log: logging.FromEnv(product.AWSHelperCommand)}
	root := NewRoot(a)
	root.SetArgs(args)
	err := root.Execute()
	if a.compile != nil {
		a.compile()
	}
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
