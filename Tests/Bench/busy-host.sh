#!/usr/bin/env bash
# Issue 10's busy-host measurement: the runtime scenario tests RUNS times (default 5),
# each beside a CPU hog on one of the host's cores (stress-ng --cpu 1), then the slowest
# request each in-guest stand-in served in each run. Run from the package root after a
# debug build (`swift build --build-tests`). Prints one line a run and a summary.
# FILTER (default RuntimeScenarioTests) narrows the tests, e.g. to the four the busy-host
# issue measured: 'RuntimeScenarioTests/test(BootstrapThenJoin|FailoverWith|AHealedLink)'.
set -uo pipefail
runs=${1:-5}
filter=${FILTER:-RuntimeScenarioTests}
command -v stress-ng >/dev/null || { echo "busy-host: needs stress-ng (apt-get install stress-ng)" >&2; exit 2; }
out=${BUSY_HOST_OUT:-/tmp/busy-host}
mkdir -p "$out"
state=${PHOTONCLOUD_HARNESS_STATE:-/var/lib/photoncloud-harness}
passed=0
for i in $(seq 1 "$runs"); do
  stress-ng --cpu 1 --timeout 3600 >/dev/null 2>&1 &
  hog=$!
  start=$(date +%s)
  swift test --skip-build --filter "$filter" >"$out/run-$i.log" 2>&1
  rc=$?
  kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null
  # The run directory the test bundle wrote: the newest tests-<pid> of this state directory.
  dir=$(ls -td "$state"/reports/tests-[0-9]* 2>/dev/null | head -n1)
  [ "$rc" = 0 ] && passed=$((passed + 1))
  echo "run $i: exit $rc in $(( $(date +%s) - start )) s; $(grep -E 'Executed [0-9]+ tests' "$out/run-$i.log" | tail -n1 | sed 's/^[[:space:]]*//')"
  grep -E "error:" "$out/run-$i.log" | head -n 5
  echo "  slowest requests ($dir):"
  "$(dirname "$0")/slowest-requests.sh" "$dir" | sed 's/^/    /'
done
echo "busy host: $passed of $runs runs passed"
[ "$passed" = "$runs" ]
