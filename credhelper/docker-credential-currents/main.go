// Command docker-credential-currents is the Docker credential helper for ECR.
//
// It is deliberately lean: it links neither the AWS SDK nor any other heavy
// library, because docker starts it before every pull and Go runs every linked
// package's init first. A warm `get` reads currents.yaml and the token cache
// and answers; anything needing AWS runs docker-credential-currents-aws.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/protocol"
	"github.com/currentsdev/currents/internal/refresh"
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
		os.Exit(statuscmd.Run(os.Args[2:], os.Stdout, os.Stderr))
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
	execAWS()
}

func serve() {
	log := logging.FromEnv(name)
	h, err := build(log)
	if err != nil && os.Args[1] == "store" {
		// store keeps nothing, so a broken config must not fail a stray
		// `docker login`; the problem is still said.
		log.Warn("store ignored, but the helper cannot serve pulls until this is fixed", "err", err)
		h, err = protocol.New(&config.Config{}, tokencache.Disabled(err), nil, protocol.WithLogger(log)), nil
	}
	if err != nil {
		// The protocol puts errors on stdout, where docker reads them; stderr
		// is where docker 28, which ignores them, still shows them.
		protocol.ReportError(os.Stderr, err)
		fmt.Fprintln(os.Stdout, err)
		os.Exit(1)
	}
	credentials.Serve(h)
}

func build(l *slog.Logger) (*protocol.Helper, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	cache, err := tokencache.Open(tokencache.WithLogger(l))
	if err != nil {
		// The AWS binary, which every get now runs, warns about it.
		l.Debug("no usable cache directory", "err", err)
		cache = tokencache.Disabled(err, tokencache.WithLogger(l))
	}
	r := refresh.Subprocess{Cache: cache, Timeout: cfg.Timeout, Log: l}
	return protocol.New(cfg, cache, r, protocol.WithLogger(l)), nil
}

// execAWS replaces this process with the AWS binary for every non-protocol
// command (config, configure, doctor, --help), so the user sees one command.
func execAWS() {
	path, err := refresh.AWSHelperPath()
	if err == nil {
		err = syscall.Exec(path, append([]string{name}, os.Args[1:]...), os.Environ())
	}
	fmt.Fprintf(os.Stderr, "%s: cannot run %s: %v; reinstall (make install) so both binaries sit side by side, or set %s\n",
		name, product.AWSHelperCommand, err, product.EnvAWSHelper)
	os.Exit(1)
}
