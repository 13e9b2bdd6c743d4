# Sourced by e2e/run.sh: the STS + ECR stand-in as a process, and the user's side of the configuration.
# Needs T, BIN, PIDS, say, die and wait_for from run.sh.

# start_standin UPSTREAM: run currents-standin with its registry front proxying to UPSTREAM, wait until it has
# written its env file, and export what the helper and the scenarios need. The env file holds the source user's
# long-term key, so it stays 0600 inside the 0700 temp dir and is never printed.
start_standin() {
  local upstream=$1
  # The external ID is per run, as a vendor would issue one per customer; the role must insist on it.
  "$BIN/currents-standin" -addr 127.0.0.1:0 -registry-addr 127.0.0.1:0 -upstream "$upstream" \
    -external-id "e2e-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" -queue watch -env-file "$T/standin.env" >"$T/standin.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_for 30 "$pid" currents-standin test -s "$T/standin.env"
  set -a
  # shellcheck disable=SC1091
  . "$T/standin.env"
  set +a
  for v in AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_ECR AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY STANDIN_URL \
    STANDIN_REGISTRY STANDIN_ROLE_ARN STANDIN_EXTERNAL_ID STANDIN_ACCOUNT STANDIN_REGION STANDIN_QUEUE_URL AWS_ENDPOINT_URL_SQS; do
    [ -n "${!v:-}" ] || die "currents-standin's env file does not set $v"
  done
  wait_for 10 "$pid" "the stand-in's control API" http_ok "$STANDIN_URL/_standin/counts"
  export E2E_STANDIN_URL="$STANDIN_URL" E2E_ALIAS="$STANDIN_REGISTRY" E2E_ROLE_ARN="$STANDIN_ROLE_ARN" E2E_QUEUE_URL="$STANDIN_QUEUE_URL"
  say "stand-in: STS/ECR on $STANDIN_URL, ECR-style registry front on $STANDIN_REGISTRY -> $upstream"
}

# write_user_config: what a user has after set-up, made by the product's own set-up command: docker's config.json
# sends the alias host to our helper; currents.yaml maps the alias to the vendor's account and region and names the
# role to assume.
write_user_config() {
  "$BIN/docker-credential-currents" configure --registry "$STANDIN_REGISTRY" --account "$STANDIN_ACCOUNT" \
    --region "$STANDIN_REGION" --role-arn "$STANDIN_ROLE_ARN" --external-id-file - \
    --session-name currents-e2e <<<"$STANDIN_EXTERNAL_ID" >"$T/configure.log" 2>&1 ||
    { cat "$T/configure.log" >&2; die "configure failed"; }
  grep -q "\"$STANDIN_REGISTRY\": \"currents\"" "$DOCKER_CONFIG/config.json" \
    || die "configure did not register the helper for $STANDIN_REGISTRY in $DOCKER_CONFIG/config.json"
}
