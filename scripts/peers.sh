#!/usr/bin/env bash
# Prints the path of a peer `make bench` compares with, building it from its Go module at a pinned version first if
# this machine has not yet: once per machine, in ${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/currents-bench}.
#
#   scripts/peers.sh ecr-login   # docker-credential-ecr-login, amazon-ecr-credential-helper v0.13.0
#   scripts/peers.sh crane       # crane, go-containerregistry v0.22.1
#
# Built as their own release builds do (-trimpath, stripped), from the module proxy, outside any module so that
# nothing touches this repository's go.mod or go.sum.
set -euo pipefail

ECR_LOGIN_VERSION=${ECR_LOGIN_VERSION:-v0.13.0}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
BENCH_CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/currents-bench}

case "${1:-}" in
ecr-login)
  module=github.com/awslabs/amazon-ecr-credential-helper/ecr-login version=$ECR_LOGIN_VERSION
  pkg=./cli/docker-credential-ecr-login out=docker-credential-ecr-login ;;
crane)
  module=github.com/google/go-containerregistry version=$CRANE_VERSION pkg=./cmd/crane out=crane ;;
*)
  echo "usage: $0 ecr-login|crane" >&2
  exit 2 ;;
esac

dir="$BENCH_CACHE/$1-$version"
bin="$dir/$out"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

echo "$1 $version: building from its Go module into $dir (once per machine)" >&2
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work" "$bin.tmp.$$"' EXIT
trap 'exit 143' TERM INT
src=$(cd "$work" && go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "go mod download $module@$version gave no directory" >&2; exit 1; }
# Neither module has replace directives: building in place is `go install …@version`. GOTOOLCHAIN=local: never fetch
# a toolchain; GOFLAGS=-mod=mod: the module cache is read-only, and go.sum may lack a test-only line.
(cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o "$bin.tmp.$$" "$pkg")
mv "$bin.tmp.$$" "$bin"
echo "$bin"
