#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/Package.swift) and runs each for RUNS inputs
# (default 100000), starting from seeds made of the project's own files. A crash
# leaves its input in $OUT/crashes/<fuzzer>/ and fails the script.
# Usage: Tests/Fuzz/run.sh [RUNS]     (OUT defaults to /tmp/phc-fuzz)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
runs=${1:-100000}
out=${OUT:-/tmp/phc-fuzz}
mkdir -p "$out"
swift build -c release --sanitize=fuzzer --package-path "$here" --scratch-path "$out/.build" 2>&1 | tail -3
bin="$out/.build/release"

seed() {  # seed corpus for one fuzzer from files of the repository
    local dir="$out/corpus/$1"; shift
    mkdir -p "$dir"
    for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/$(basename "$f")-$RANDOM" || true; done
}
printf '%s\n' '{:process 0, :type :invoke, :f :cas, :key "k", :value [1 2], :time 1}' \
    '{:process 0, :type :fail, :f :cas, :key "k", :value [1 2], :time 2}' > "$out/seed-history.edn"
seed FuzzHistory "$out/seed-history.edn"
seed FuzzLedger "$top"/Scenarios/ledgers/*.json
printf '[{"name":"node01","domain":"phc-x-node01","sshPort":2222,"hostKey":"ssh-ed25519 AAAA","clusterAddress":"10.0.0.1","console":"/c"}]' \
    > "$out/seed-nodes.json"
seed FuzzNodes "$out/seed-nodes.json"
printf "error: The option \`services.chainfire.joinAddr' does not exist. Definition values:\n       - In \`/nix/store/x-source/nix/test-cluster/node02.nix'\n" \
    > "$out/seed-nix.txt"
seed FuzzNixFailure "$out/seed-nix.txt"

# libFuzzer, not Swift's backtracer, must see a crash: it saves the input that caused it.
export SWIFT_BACKTRACE=enable=no
status=0
for fuzzer in FuzzHistory FuzzLedger FuzzNodes FuzzNixFailure; do
    mkdir -p "$out/crashes/$fuzzer"
    start=$(date +%s)
    if "$bin/$fuzzer" -runs="$runs" -max_len=4096 -timeout=20 -max_total_time=1800 \
        -artifact_prefix="$out/crashes/$fuzzer/" "$out/corpus/$fuzzer" > "$out/$fuzzer.log" 2>&1; then
        result=ok
    else
        result=CRASH; status=1
    fi
    done_line=$(grep -E "^Done [0-9]+ runs" "$out/$fuzzer.log" | tail -1 || true)
    echo "$fuzzer: $result; ${done_line:-see $out/$fuzzer.log}; $(( $(date +%s) - start )) s; corpus $(ls "$out/corpus/$fuzzer" | wc -l) inputs"
done
exit $status
