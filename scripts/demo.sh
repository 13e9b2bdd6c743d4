#!/usr/bin/env bash
# make demo: the whole product against the embedded ECR stand-in — no AWS account, no Docker engine.
#
#   BIN=bin bash scripts/demo.sh
#
# It starts currents-standin (STS + ECR + an ECR-auth registry on 127.0.0.1), seeds the vendor's six-service
# stack into that registry, and then does what a customer does on a real host, in a throwaway HOME and
# DOCKER_CONFIG: `configure`, `doctor`, a credential `get`, and `docker currents check` on testdata/stack.
# Everything it starts or writes is removed on exit, also when a step fails; the exit status is non-zero then.
set -Eeuo pipefail

BIN=${BIN:-bin}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ "$BIN" = /* ]] || BIN=$repo/$BIN
for f in docker-credential-currents docker-credential-currents-aws docker-currents currents-plugin currents-standin; do
	if [[ ! -x "$BIN/$f" ]]; then
		echo "demo: $BIN/$f is missing; run 'make build' (or 'make demo', which builds first)" >&2
		exit 1
	fi
done

if [[ -t 1 ]]; then bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' green=$'\e[32m' off=$'\e[0m'; else bold='' dim='' red='' green='' off=''; fi
current="starting"
step() {
	current=$1
	printf '\n%s==> %s%s\n' "$bold" "$1" "$off"
}
say() { printf '    %s\n' "$@"; }
# show runs a command, echoing it first so the reader can repeat it on a real host.
show() {
	printf '%s$ %s%s\n' "$dim" "$*" "$off"
	"$@"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/currents-demo.XXXXXX")
standin_pid=
cleanup() {
	local status=$?
	trap - EXIT INT TERM ERR
	if [[ -n "$standin_pid" ]] && kill -0 "$standin_pid" 2>/dev/null; then
		kill "$standin_pid" 2>/dev/null || true
		wait "$standin_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
	if [[ $status -ne 0 ]]; then
		printf '\n%sdemo FAILED during: %s (exit %d)%s\n' "$red" "$current" "$status" "$off" >&2
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A clean room: nothing from this machine's AWS or docker set-up leaks in, and nothing leaks out.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(AWS_|CURRENTS_|DOCKER_)' || true)
export HOME=$work/home
export DOCKER_CONFIG=$HOME/.docker
export CURRENTS_CACHE_DIR=$work/cache
export AWS_CONFIG_FILE=$work/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$work/no-aws-credentials
export PATH=$BIN:$PATH # as `make install` would: docker finds docker-credential-currents on PATH
mkdir -p "$HOME"

step "Start the local AWS stand-in (STS + ECR) and an ECR-style registry"
"$BIN/currents-standin" -external-id demo-external-id -seed currents/on-prem:staging \
	-env-file "$work/standin.env" >"$work/standin.log" 2>&1 &
standin_pid=$!
for _ in $(seq 1 300); do
	[[ -s "$work/standin.env" ]] && break
	if ! kill -0 "$standin_pid" 2>/dev/null; then
		cat "$work/standin.log" >&2
		echo "demo: currents-standin exited before it was ready" >&2
		exit 1
	fi
	sleep 0.1
done
[[ -s "$work/standin.env" ]] || { cat "$work/standin.log" >&2; echo "demo: currents-standin did not start within 30s" >&2; exit 1; }
# The env file points the AWS SDK at the stand-in and holds a throwaway source user's key, as ~/.aws would.
set -a
# shellcheck disable=SC1091
. "$work/standin.env"
set +a
say "STS and ECR answer at $STANDIN_URL; the registry is $STANDIN_REGISTRY"
say "seeded: api director change-streams scheduler writer webhooks under $STANDIN_REGISTRY/currents/on-prem (tag staging)"
say "the vendor's role: $STANDIN_ROLE_ARN (external ID required); this host's user: $STANDIN_USER_ARN"

counts() { curl -fsS "$STANDIN_URL/_standin/counts" 2>/dev/null || true; }
count_of() { [[ "$1" =~ \"$2\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?"; }

step "configure: register the helper for the registry (step 1 of a real set-up)"
say "The registry is a local alias, so configure is told which ECR account and region it stands for."
say "The vendor's external ID is read from a file, so it never shows in the process list."
(umask 077 && printf '%s\n' "$STANDIN_EXTERNAL_ID" >"$work/vendor-external-id")
show docker-credential-currents configure --registry "$STANDIN_REGISTRY" \
	--account "$STANDIN_ACCOUNT" --region "$STANDIN_REGION" \
	--role-arn "$STANDIN_ROLE_ARN" --external-id-file "$work/vendor-external-id"
say "" "It wrote $DOCKER_CONFIG/config.json:"
sed 's/^/      /' "$DOCKER_CONFIG/config.json"
say "" "and $DOCKER_CONFIG/currents.yaml:"
sed 's/^/      /' "$DOCKER_CONFIG/currents.yaml"
say "" "Run again, it changes nothing:"
show docker-credential-currents configure --registry "$STANDIN_REGISTRY" \
	--account "$STANDIN_ACCOUNT" --region "$STANDIN_REGION" \
	--role-arn "$STANDIN_ROLE_ARN" --external-id-file "$work/vendor-external-id"

step "doctor: check every step a pull depends on (step 2 of a real set-up)"
show docker-credential-currents doctor --registry "$STANDIN_REGISTRY"

step "get: what docker runs before every pull"
c0=$(counts)
printf '%s$ echo %s | docker-credential-currents get%s\n' "$dim" "$STANDIN_REGISTRY" "$off"
answer=$(printf '%s\n' "$STANDIN_REGISTRY" | docker-credential-currents get)
[[ "$answer" =~ \"Username\":\"([^\"]*)\" ]] && user=${BASH_REMATCH[1]} || user=
[[ "$answer" =~ \"Secret\":\"([^\"]*)\" ]] && secret_len=${#BASH_REMATCH[1]} || secret_len=0
if [[ "$user" != AWS || "$secret_len" -lt 100 ]]; then
	echo "demo: get did not return an ECR credential" >&2
	exit 1
fi
say "docker receives Username=$user and a $secret_len-character ECR token (not shown: it is a secret)"
c1=$(counts)
printf '%s\n' "$STANDIN_REGISTRY" | docker-credential-currents get >/dev/null
c2=$(counts)
# calls NAME FROM TO: how many NAME calls AWS answered between two snapshots of the stand-in's counters.
calls() { echo $(($(count_of "$3" "$1") - $(count_of "$2" "$1"))); }
if [[ -n "$c2" ]]; then
	say "AWS calls, first get (empty cache):   AssumeRole $(calls AssumeRole "$c0" "$c1"), GetAuthorizationToken $(calls GetAuthorizationToken "$c0" "$c1")" \
		"AWS calls, second get (cached token): AssumeRole $(calls AssumeRole "$c1" "$c2"), GetAuthorizationToken $(calls GetAuthorizationToken "$c1" "$c2")"
fi
say "the cache holds $(find "$CURRENTS_CACHE_DIR" -name '*.json' | wc -l) file(s), mode 0600, in $CURRENTS_CACHE_DIR (mode 0700)"

step "docker currents check: prove every image of the stack is pullable (step 3 of a real set-up)"
mkdir -p "$DOCKER_CONFIG/cli-plugins"
# A link to the plugin's front: it runs the full plugin, currents-plugin, from beside the file the link names.
ln -sf "$BIN/docker-currents" "$DOCKER_CONFIG/cli-plugins/docker-currents"
say "The plugin is installed in $DOCKER_CONFIG/cli-plugins; the stack's .env points at the vendor's ECR," \
	"and DC_CURRENTS_REGISTRY (the environment wins over .env, as in docker compose) redirects it here."
cd "$repo/testdata/stack"
export DC_CURRENTS_REGISTRY=$STANDIN_REGISTRY
if command -v docker >/dev/null 2>&1; then
	show docker currents check
else
	say "(no docker CLI on this machine: running the plugin binary directly, as docker would)"
	show docker-currents currents check
fi

c3=$(counts)
[[ -n "$c3" ]] && say "" "AWS calls during the check: AssumeRole $(calls AssumeRole "$c2" "$c3"), GetAuthorizationToken $(calls GetAuthorizationToken "$c2" "$c3") (docker asked the helper, which answered from the cache)"

if command -v curl >/dev/null 2>&1; then
	step "doctor when something is wrong: the vendor's role stops trusting this host"
	curl -fsS -X POST "$STANDIN_URL/_standin/control" -d "{\"refuse_role\":\"$STANDIN_ROLE_ARN\"}" >/dev/null
	rc=0
	docker-credential-currents doctor --registry "$STANDIN_REGISTRY" >"$work/doctor.txt" || rc=$?
	printf '%s$ docker-credential-currents doctor --registry %s%s\n' "$dim" "$STANDIN_REGISTRY" "$off"
	grep -E '^  (FAIL|    )|fix:' "$work/doctor.txt" || true
	if [[ $rc -ne 1 ]]; then
		echo "demo: doctor should have failed (exit 1) with the role refused, got exit $rc" >&2
		exit 1
	fi
	say "doctor exited 1, named the failing step, the caller the vendor must trust, and the fix."
	curl -fsS -X POST "$STANDIN_URL/_standin/control" -d "{\"allow_role\":\"$STANDIN_ROLE_ARN\"}" >/dev/null
fi

current="summary"
printf '\n%sdemo passed%s\n' "$green" "$off"
say "What happened:" \
	"- configure wrote the role for $STANDIN_REGISTRY to currents.yaml and registered credHelpers in config.json;" \
	"- doctor assumed the vendor's role with the external ID, got a 12-hour ECR token and logged in to the registry;" \
	"- get handed docker the token, cached, so repeated pulls make no AWS calls until it nears expiry;" \
	"- docker currents check loaded the compose stack as docker compose does and found all six images pullable;" \
	"- with the role refused, doctor failed at assume-role and said what to fix." \
	"On a real host: make install; docker-credential-currents configure --registry <ECR host> --role-arn <ARN> ...;" \
	"docker currents check. Everything the demo started or wrote is being removed now."
