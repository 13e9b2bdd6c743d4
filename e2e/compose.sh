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
dir="$E2E_CACHE/compose-$COMPOSE_VERSION"
bin="$dir/docker-compose"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

echo "compose $COMPOSE_VERSION: building from its Go module into $dir (once per machine)" >&2
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work" "$bin.tmp.$$"' EXIT
trap 'exit 143' TERM INT
start=$(date +%s.%N)

# Outside any module, so that the download touches no go.mod or go.sum.
src=$(cd "$work" && go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" |
  sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "go mod download github.com/docker/compose/v2@$COMPOSE_VERSION gave no directory" >&2; exit 1; }

# The module has no replace directives, so building it in place is `go install …@version`, but with the binary named
# docker-compose and the version stamped as compose's own Makefile does. GOTOOLCHAIN=local: never fetch a toolchain.
(cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" -o "$bin.tmp.$$" ./cmd)
mv "$bin.tmp.$$" "$bin"
awk -v a="$start" -v b="$(date +%s.%N)" -v v="$COMPOSE_VERSION" \
  'BEGIN { printf "compose %s built in %.1fs\n", v, b - a }' >&2
echo "$bin"
