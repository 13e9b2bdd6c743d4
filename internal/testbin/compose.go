package testbin

import (
	"os"
	"path/filepath"
)

// RealCompose is the path of the real compose v2 CLI plugin, built from its
// Go module once per machine by e2e/compose.sh (which .ci/run runs before
// `make test`, and make e2e too); CURRENTS_COMPOSE_PLUGIN names another. The
// file need not exist: callers say how to build it.
func RealCompose() string {
	if p := os.Getenv("CURRENTS_COMPOSE_PLUGIN"); p != "" {
		return p
	}
	cache := os.Getenv("E2E_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			base = filepath.Join(os.Getenv("HOME"), ".cache")
		}
		cache = filepath.Join(base, "currents-e2e")
	}
	// The version e2e/compose.sh pins.
	return filepath.Join(cache, "compose-v2.40.3", "docker-compose")
}
