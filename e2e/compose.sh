#!/usr/bin/env bash
# Prints the path of the compose v2 CLI plugin, building it from its Go module first if this machine has not yet:
# once per machine, in ${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/currents-e2e}/compose-VERSION/docker-compose.
# e2e/run.sh uses it, and so can anything else that needs the real compose (CI may run it before `make test`).
#
# v2.40.3 is the newest compose the Go module proxy serves. It negotiates the API version down to the engine's, and
# its pull, up --wait, ps, port and down work against Debian 12's engine 20.10 (API 1.41): `make e2e` is the proof.
set -euo pipefail

COMPOSE_VERSION=${COMPOSE_VERSION:-v2.40.3}
E2E_CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/currents-e2e}

# Named docker-compose and stamped with its version, as compose's own Makefile does.
exec bash "$(dirname "$0")/../scripts/modbin.sh" "$E2E_CACHE/compose-$COMPOSE_VERSION" github.com/docker/compose/v2 \
  "$COMPOSE_VERSION" ./cmd docker-compose "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
