// Command docker-credential-currents is the Docker credential helper for ECR.
//
// It is deliberately lean: it links neither the AWS SDK nor any other heavy
// library, because docker starts it before every pull and Go runs every linked
// package's init first. A warm `get` reads currents.yaml and the token cache
// and answers; anything needing AWS runs docker-credential-currents-aws.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/protocol"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/settings"
	"github.com/currentsdev/currents/internal/statuscmd"
	"github.com/currentsdev/currents/internal/tokencache"
)

const name = product.HelperCommand

func main() {
	credentials.Name = name
	credentials.Version = product.Version
	credentials.Package = product.Module
	// status reads only the cache, so it is answered here, as cheaply as a warm get.
	if len(os.Args) >= 2 && os.Args[1] == "status" {
		load := func() (*settings.Config, error) { return loadSettings(openCache(logging.Discard())) }
		os.Exit(statuscmd.Run(os.Args[2:], os.Stdout, os.Stderr, load))
	}
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case "get", "store", "erase", "list":
			serve()
			return
		case "version", "--version", "-v":
			credentials.Serve(nil) // prints the version without touching the helper
			return
		case "kubelet":
			serveKubelet()
			return
		}
	}
	execAWS(nil)
}

func serve() {
	log := logging.FromEnv(name)
	h, err := build(log)
	if err != nil && os.Args[1] == "store" {
		// store keeps nothing, so a broken config must not fail a stray
		// `docker login`; the problem is still said.
		log.Warn("store ignored, but the helper cannot serve pulls until this is fixed", "err", err)
		h, err = protocol.New(&settings.Config{}, tokencache.Disabled(err), nil, protocol.WithLogger(log)), nil
	}
	if err != nil {
		// The protocol puts errors on stdout, where docker reads them; stderr
		// is where docker 28, which ignores them, still shows them.
		protocol.ReportError(os.Stderr, err)
		fmt.Fprintln(os.Stdout, err)
		os.Exit(1)
	}
	if err := h.Serve(os.Args[1], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stdout, err)
		os.Exit(1)
	}
}

func build(l *slog.Logger) (*protocol.Helper, error) {
	cache := openCache(l)
	cfg, err := loadSettings(cache)
	if err != nil {
		return nil, err
	}
	r := refresh.Subprocess{Cache: cache, Timeout: cfg.Timeout, Log: l}
	return protocol.New(cfg, cache, r, protocol.WithLogger(l)), nil
}

func openCache(l *slog.Logger) *tokencache.Cache {
	cache, err := tokencache.Open(tokencache.WithLogger(l))
	if err != nil {
		// The AWS binary, which every get now runs, warns about it.
		l.Debug("no usable cache directory", "err", err)
		cache = tokencache.Disabled(err, tokencache.WithLogger(l))
	}
	return cache
}

// loadSettings reads currents.yaml's settings from the compiled form the AWS
// binary keeps in the cache, so this binary never parses YAML. When that form
// does not answer for the file as it is now (a new or edited file), the first
// process of a burst to take the compile lock becomes the AWS binary, which
// parses the file, keeps its compiled form and answers the command; the
// others wait for it together (it holds the lock until it exits) and read
// what it compiled. Without a usable cache every command goes to the AWS
// binary.
func loadSettings(cache *tokencache.Cache) (*settings.Config, error) {
	cfg, err := settings.FromEnvCompiled(cache.ReadCompiled)
	if !errors.Is(err, settings.ErrNotCompiled) {
		return cfg, err
	}
	var held *tokencache.Held
	if refresh.StartedInItsPlace() != nil {
		execAWS(nil) // says so: waiting here would wait for the compile lock this process holds
	}
	if cache.Usable() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), refresh.Budget(settings.DefaultTimeout))
		var werr error
		if held, werr = cache.AwaitCompile(ctx); held == nil && werr == nil {
			// Another process compiled it meanwhile (or failed to: then
			// the next to take the lock does).
			if cfg, err = settings.FromEnvCompiled(cache.ReadCompiled); !errors.Is(err, settings.ErrNotCompiled) {
				cancel()
				return cfg, err
			}
			held, _ = cache.TakeCompileLock(ctx)
		}
		cancel()
	}
	if held != nil {
		if cfg, err = settings.FromEnvCompiled(cache.ReadCompiled); !errors.Is(err, settings.ErrNotCompiled) {
			held.Unlock()
			return cfg, err
		}
	}
	// Without the lock (a lock file that cannot be used, or a wait past the
	// bound) the AWS binary still answers: only the burst is not single-flight.
	execAWS(held)
	return nil, err // not reached
}

// execAWS replaces this process with the AWS binary for every non-protocol
// command (config, configure, doctor, --help), so the user sees one command,
// and for any command when currents.yaml has no compiled form. A held lock
// stays held by the AWS binary, which inherits its file, until it exits.
func execAWS(held *tokencache.Held) {
	path, err := refresh.AWSHelperPath()
	if err == nil {
		err = refresh.StartedInItsPlace()
	}
	if err == nil && held != nil {
		_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, held.File().Fd(), syscall.F_SETFD, 0)
		if errno != 0 {
			err = errno
		}
	}
	if err == nil {
		err = refresh.CannotRun(path, syscall.Exec(path, append([]string{name}, os.Args[1:]...), refresh.StartAs(nil, path)))
	}
	msg := fmt.Sprintf("%s: %v", name, err)
	fmt.Fprintln(os.Stderr, msg)
	switch os.Args[1] {
	case "get", "store", "erase", "list":
		fmt.Fprintln(os.Stdout, msg) // where docker reads a helper's error
	}
	os.Exit(1)
}
