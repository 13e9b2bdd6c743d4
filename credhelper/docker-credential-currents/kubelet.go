package main

import (
	"context"
	"os"

	"github.com/currentsdev/currents/internal/kubelet"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/refresh"
)

// serveKubelet is `docker-credential-currents kubelet`, the kubelet's image
// credential provider: a warm request is answered here, from the same
// config and cache as a warm get; anything else by the AWS binary.
func serveKubelet() {
	log := logging.FromEnv(name)
	cache := openCache(log)
	cfg, err := loadSettings(cache)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), refresh.Budget(cfg.Timeout))
		err = kubelet.ServeLean(ctx, &kubelet.Answerer{Config: cfg, Cache: cache, Getenv: os.Getenv, Log: log}, os.Stdin, os.Stdout)
		cancel()
	}
	if err != nil {
		kubelet.Report(os.Stderr, err)
		os.Exit(1)
	}
}
