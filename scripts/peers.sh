#!/usr/bin/env bash
# Prints the path of a peer `make bench` compares with, building it from its Go module at a pinned version first if
# this machine has not yet: once per machine, in ${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/currents-bench}.
#
#   scripts/peers.sh ecr-login   # docker-credential-ecr-login, amazon-ecr-credential-helper v0.13.0
#   scripts/peers.sh crane       # crane, go-containerregistry v0.22.1
#
# Built as their own release builds do (-trimpath, stripped), from the module proxy (scripts/modbin.sh).
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

exec bash "$(dirname "$0")/modbin.sh" "$BENCH_CACHE/$1-$version" "$module" "$version" "$pkg" "$out"
