#!/usr/bin/env bash
# Prints the path of a command of a Go module at a pinned version, building it first if this machine has not yet:
# once per machine, in DIR. e2e/compose.sh (the compose plugin) and scripts/peers.sh (make bench's peers) use it.
#
#   scripts/modbin.sh DIR MODULE VERSION PKG NAME [LDFLAGS]
#
# Built as a release build is (-trimpath, stripped, plus LDFLAGS) from the module proxy, in the downloaded module
# itself, outside any module of ours, so that nothing touches this repository's go.mod or go.sum.
set -euo pipefail

[ $# -ge 5 ] || { echo "usage: $0 DIR MODULE VERSION PKG NAME [LDFLAGS]" >&2; exit 2; }
dir=$1 module=$2 version=$3 pkg=$4 name=$5 ldflags=${6:-}
bin="$dir/$name"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

echo "$name $version: building from its Go module into $dir (once per machine)" >&2
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work" "$bin.tmp.$$"' EXIT
trap 'exit 143' TERM INT
start=$(date +%s.%N)
src=$(cd "$work" && go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "go mod download $module@$version gave no directory" >&2; exit 1; }
# Without replace directives in the module (ours have none), building in place is `go install …@version`, with the
# binary named and stamped as we like. GOTOOLCHAIN=local: never fetch a toolchain; GOFLAGS=-mod=mod: the module cache
# is read-only, and go.sum may lack a test-only line.
(cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $ldflags" \
  -o "$bin.tmp.$$" "$pkg")
mv "$bin.tmp.$$" "$bin"
awk -v a="$start" -v b="$(date +%s.%N)" -v n="$name" -v v="$version" \
  'BEGIN { printf "%s %s built in %.1fs\n", n, v, b - a }' >&2
echo "$bin"
