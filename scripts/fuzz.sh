#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzXxx in a _test.go file) for a bounded time each and fails when any
# of them finds an input that crashes or breaks its property. New targets are found by name: nothing to
# register. FUZZTIME (default 20s) is the time per target; FUZZ (a regexp) picks targets.
#
# A failing input is written to the package's testdata/fuzz/<Target>/ and replayed by a plain `go test`:
# commit it with the fix, so it stays a regression seed.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-20s}
pick=${FUZZ:-.}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

targets=()
while IFS=: read -r file line; do
  name=${line#func }
  name=${name%%(*}
  [[ $name =~ $pick ]] && targets+=("./$(dirname "${file#./}") $name")
done < <(grep -rE --include='*_test.go' '^func Fuzz[A-Z0-9_][A-Za-z0-9_]*\(f \*testing\.F\)' . | sed -E 's/^([^:]*):(func [A-Za-z0-9_]+).*/\1:\2/' | sort)

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no target matches $pick" >&2
  exit 1
fi

failed=0
summary=()

# deadline_race: the log's only failure is the coordinator's own deadline, with no failing input.
deadline_race() {
  grep -q '^    context deadline exceeded$' "$1" && ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$1"
}
for t in "${targets[@]}"; do
  pkg=${t% *}
  name=${t#* }
  log="$logs/${pkg//\//_}.$name.log"
  # Minimising each new interesting input costs more executions than it saves in a bounded run;
  # a crasher is still recorded, unminimised.
  corpus="$pkg/testdata/fuzz/$name"
  before=$(ls "$corpus" 2>/dev/null | wc -l)
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1x "$pkg" >"$log" 2>&1; then
    status=ok
  elif deadline_race "$log" && [ "$(ls "$corpus" 2>/dev/null | wc -l)" -eq "$before" ]; then
    # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a failure when a
    # worker is mid-call as it expires (go.dev/issue/75804, fixed in Go 1.27): no input failed
    # and none was written. Any failing input is still written, and fails the run.
    status=ok
    echo "== $pkg $name: the fuzztime ended in Go's coordinator race (go.dev/issue/75804); no input failed"
  else
    status=FAILED
    failed=$((failed + 1))
    echo "== $pkg $name FAILED:"
    grep -v '^fuzz: elapsed' "$log" | tail -40
  fi
  execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  summary+=("$(printf '%-7s %-28s %-24s %10s execs in %s' "$status" "$pkg" "$name" "${execs:-0}" "$fuzztime")")
done

echo "== fuzzing, $fuzztime per target"
printf '%s\n' "${summary[@]}"
echo "fuzz: ${#targets[@]} targets, $failed failed"
[ "$failed" -eq 0 ]
