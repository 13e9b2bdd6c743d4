#!/usr/bin/env bash
# The real-engine tier: a private dockerd, Debian's distribution registry behind the ECR stand-in, the compose v2
# plugin built from its Go module, and the project's binaries from $BIN. It sets the environment up, hands it to the
# Go scenarios in e2e/ (build tag e2e) through E2E_* variables, and tears everything down again.
#
# It must run as root on Linux with dockerd, docker and docker-registry installed (.ci/run installs them). Whenever
# the machine cannot run an engine it says why and exits non-zero: this tier never passes by skipping.
#
# Knobs: BIN (default bin), COMPOSE_VERSION and E2E_CACHE (see e2e/compose.sh),
# E2E_KEEP=1 (keep the temp dir for a post-mortem), E2E_RUN (go test -run pattern), E2E_TIMEOUT,
# E2E_TRANSCRIPT=1 (print what docker printed for passing scenarios too; failing ones always print it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BIN=${BIN:-bin}

say() { printf 'e2e: %s\n' "$*" >&2; }
die() { printf 'e2e: FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

START=$(now)

# ---- preconditions: each one a clear reason, never a silent skip -------------------------------------------------
[ "$(uname -s)" = Linux ] || die "needs Linux to run dockerd (this is $(uname -s))"
[ "$(id -u)" -eq 0 ] || die "needs root to start dockerd (run as root, as .ci/run does)"
for cmd in dockerd docker docker-registry go setpriv; do
  command -v "$cmd" >/dev/null || die "'$cmd' is not installed (on Debian: apt-get install docker.io docker-registry)"
done
BIN=$(cd "$BIN" 2>/dev/null && pwd) || die "BIN directory '${BIN}' does not exist: run 'make build' first"
for b in docker-credential-currents docker-credential-currents-aws docker-currents currents-plugin currents-standin; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run 'make build' first"
done

# The tier is a user of its own: none of the host's AWS, currents or docker settings may reach it (CURRENTS_CONFIG
# would point the helper at another file, CURRENTS_LOG would print on every pull, an AWS_SESSION_TOKEN would go out
# with the stand-in's keys, DOCKER_CONTEXT could pick another engine).
for v in $(compgen -e | grep -E '^(AWS|CURRENTS)_'); do unset "$v"; done
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONFIG

T=$(mktemp -d /tmp/currents-e2e.XXXXXX)
chmod 0700 "$T"
PIDS=()        # every background process this script started, stopped in reverse order
DOCKERD_PID=
COMPOSE_PID=
GOTEST_PID=

cleanup() {
  local rc=$?
  set +e
  if [ -n "$GOTEST_PID" ] && kill -0 "$GOTEST_PID" 2>/dev/null; then
    kill -TERM -- "-$GOTEST_PID" 2>/dev/null; wait "$GOTEST_PID" 2>/dev/null
  fi
  if [ -n "$COMPOSE_PID" ] && kill -0 "$COMPOSE_PID" 2>/dev/null; then
    kill -TERM -- "-$COMPOSE_PID" 2>/dev/null; wait "$COMPOSE_PID" 2>/dev/null
  fi
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    # Remove containers first: dockerd would otherwise spend its shutdown timeout stopping them one by one.
    ids=$(DOCKER_HOST="unix://$T/docker.sock" timeout 20 docker ps -aq 2>/dev/null)
    [ -n "$ids" ] && DOCKER_HOST="unix://$T/docker.sock" timeout 30 docker rm -f $ids >/dev/null 2>&1
    # A compose project's network is a bridge interface in the host's namespace, named br-<network id>; dockerd
    # leaves it behind when it stops (an interrupted `up` has one), and with the data root gone nothing reuses it.
    bridges=$(DOCKER_HOST="unix://$T/docker.sock" timeout 20 docker network ls -q --no-trunc --filter driver=bridge 2>/dev/null)
    DOCKER_HOST="unix://$T/docker.sock" timeout 30 docker network prune -f >/dev/null 2>&1
    kill -TERM "$DOCKERD_PID"
    for _ in $(seq 1 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
      say "dockerd did not stop in 30s; killing it"
      kill -KILL "$DOCKERD_PID"
    fi
    wait "$DOCKERD_PID" 2>/dev/null
  fi
  # containerd is dockerd's child and normally leaves with it; make sure, by its own pidfile.
  pf="$T/exec/containerd/containerd.pid"
  if [ -s "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null; then kill -KILL "$(cat "$pf")"; fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null && wait "${PIDS[$i]}" 2>/dev/null
  done
  for id in ${bridges:-}; do
    if [ -e "/sys/class/net/br-${id:0:12}" ]; then
      ip link delete "br-${id:0:12}" 2>/dev/null || say "could not remove the bridge br-${id:0:12} dockerd left behind"
    fi
  done
  # A dockerd that died hard can leave overlay and netns mounts under its roots; rm -rf cannot cross them.
  findmnt -rn -o TARGET | grep -F "$T/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  if [ "$rc" -ne 0 ]; then
    for log in dockerd.log registry.log standin.log; do
      # 404s for blobs and tags are how a push asks what is missing; they are not what went wrong.
      lines=$(grep -v -e 'blob unknown' -e 'manifest unknown' -e 'Error getting v2 registry' "$T/$log" 2>/dev/null | tail -n 25)
      [ -n "$lines" ] && { say "--- last lines of $log"; printf '%s\n' "$lines" >&2; }
    done
  fi
  if [ "${E2E_KEEP:-}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
  say "tier wall time $(since "$START")s (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS PID DESCRIPTION COMMAND...: poll COMMAND until it succeeds; fail fast if PID died.
wait_for() {
  local secs=$1 pid=$2 what=$3; shift 3
  local deadline=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "$what exited during start-up"
    [ "$(date +%s)" -lt "$deadline" ] || die "$what did not become ready in ${secs}s"
    sleep 0.2
  done
}

# http_ok URL: whether a plain-HTTP GET of URL on loopback answers 200 (bash's /dev/tcp; no curl needed). The body
# is a subshell because a refused connection makes `exec` end the shell it runs in.
http_ok() (
  rest=${1#http://}
  hostport=${rest%%/*} path=/${rest#*/}
  exec 9<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&9
  read -r -t 5 _ status _ <&9 || exit 1
  [ "$status" = 200 ]
)

# free_port: a loopback TCP port nobody listens on right now, below the kernel's ephemeral range so that no
# outgoing connection takes it in the meantime. The caller retries if it loses the race anyway.
free_port() {
  local p low
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  for _ in $(seq 1 50); do
    p=$((10000 + RANDOM % (low - 10000)))
    (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free loopback port found"
}

# ---- 1. the compose v2 plugin, built from its Go module once per machine (e2e/compose.sh), in the background ----
# Its own process group, so that cleanup can stop go build and the compilers under it.
set -m
bash "$ROOT/e2e/compose.sh" >"$T/compose.path" 2>"$T/compose-build.log" &
COMPOSE_PID=$!
set +m

# ---- 2. dockerd on its own socket, data root, exec root and pidfile ------------------------------------------------
# --bridge=none and --iptables=false keep this engine off the host's docker0 and iptables, which another engine on
# the same machine may own. Compose still creates its own bridge network per project, and published ports still
# work through docker-proxy; the tier proves both.
# Its own process group too: a Ctrl-C at the terminal goes to the whole foreground group, and a dockerd that began
# shutting down with it could no longer remove the containers and networks cleanup asks it to. Out of the group, a
# SIGKILL of the group (a CI timeout) would not reach it, so it is told to stop when this script dies (setpriv is
# util-linux's, on every Debian).
export DOCKER_HOST="unix://$T/docker.sock"
set -m
setpriv --pdeathsig TERM dockerd --host "$DOCKER_HOST" --data-root "$T/data" --exec-root "$T/exec" --pidfile "$T/dockerd.pid" \
  --bridge=none --iptables=false --ip-masq=false --userland-proxy=true --log-level=warn \
  >"$T/dockerd.log" 2>&1 &
DOCKERD_PID=$!
set +m
wait_for 60 "$DOCKERD_PID" dockerd docker version
say "dockerd $(docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}})') up after $(since "$START")s; docker CLI $(docker version -f '{{.Client.Version}}') at $(command -v docker)"

# ---- 3. Debian's distribution registry on loopback, with deletes enabled for the missing-image scenario ------------
mkdir -p "$T/registry"
for attempt in 1 2 3; do
  REG_PORT=$(free_port)
  cat >"$T/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REG_PORT
  secret: $(head -c 24 /dev/urandom | base64)
EOF
  docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 1 50); do
    http_ok "http://127.0.0.1:$REG_PORT/v2/" 2>/dev/null && break
    kill -0 "$REG_PID" 2>/dev/null || break
    sleep 0.2
  done
  if http_ok "http://127.0.0.1:$REG_PORT/v2/" 2>/dev/null; then PIDS+=("$REG_PID"); break; fi
  kill "$REG_PID" 2>/dev/null || true
  wait "$REG_PID" 2>/dev/null || true
  say "docker-registry did not come up on port $REG_PORT (attempt $attempt): $(tail -n 1 "$T/registry.log")"
  [ "$attempt" -lt 3 ] || die "docker-registry did not start"
done
UPSTREAM="http://127.0.0.1:$REG_PORT"
say "registry $(docker-registry --version | awk '{print $NF}') on $UPSTREAM"

# ---- 4. the STS + ECR stand-in, fronting the registry with ECR-style Basic auth -------------------------------------
source "$ROOT/e2e/standin.sh"
start_standin "$UPSTREAM"

# ---- 5. the user's side: DOCKER_CONFIG with our helper and plugins, currents.yaml, a cold cache ---------------------
wait "$COMPOSE_PID" || { cat "$T/compose-build.log" >&2; die "building compose failed (e2e/compose.sh)"; }
COMPOSE_PID=
COMPOSE=$(cat "$T/compose.path")
if [ -s "$T/compose-build.log" ]; then say "$(tail -n 1 "$T/compose-build.log")"; else say "compose: cached at $COMPOSE"; fi
"$COMPOSE" version >/dev/null || die "$COMPOSE does not run"

# The scenarios get a HOME of their own (docker and the helper must not see the host's); Go keeps the host's caches.
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH) GOENV=$(go env GOENV)
export GOCACHE GOMODCACHE GOPATH GOENV
export HOME="$T/home" DOCKER_CONFIG="$T/home/.docker" CURRENTS_CACHE_DIR="$T/cache"
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$COMPOSE" "$DOCKER_CONFIG/cli-plugins/docker-compose"
ln -s "$BIN/docker-currents" "$DOCKER_CONFIG/cli-plugins/docker-currents"
export PATH="$BIN:$PATH"
export AWS_EC2_METADATA_DISABLED=true NO_COLOR=1
write_user_config

# ---- 6. the scenarios -----------------------------------------------------------------------------------------------
export E2E_TMP="$T" E2E_UPSTREAM="$UPSTREAM" E2E_ROOT="$ROOT"
say "environment ready after $(since "$START")s; running the scenarios"
t0=$(now)
# In the background, in a process group of its own, so that an interrupt reaches this script at once (wait returns)
# and cleanup can stop go test, the test binary and whatever docker command it is running.
set -m
(go test -tags e2e -count=1 -v -timeout "${E2E_TIMEOUT:-15m}" -run "${E2E_RUN:-.}" ./e2e/ 2>&1 | tee "$T/scenarios.log") &
GOTEST_PID=$!
set +m
rc=0
wait "$GOTEST_PID" || rc=$?
GOTEST_PID=
say "scenarios took $(since "$t0")s"
# The source user's secret key is the one secret this script knows (the helper's own leak test covers the rest):
# neither docker's output nor any daemon's log may hold it.
if grep -qF -- "$AWS_SECRET_ACCESS_KEY" "$T"/*.log; then die "a log under $T holds the source user's secret access key"; fi
[ "$rc" -eq 0 ] || die "scenarios failed"
grep -q -- '--- PASS' "$T/scenarios.log" || die "no scenario ran"
