#!/bin/sh
# The slowest request each in-guest stand-in served, from the services logs that test
# runs keep (RUN_DIR/node*.services.log: each node's /var/log/phc-http.log, one line a
# request with its duration). Usage: Tests/Bench/slowest-requests.sh RUN_DIR...
[ $# -gt 0 ] || { echo "usage: $0 RUN_DIR..." >&2; exit 2; }
for d in "$@"; do
  for f in "$d"/node*.services.log; do
    [ -f "$f" ] && sed -n "s|^\([a-z-]*-rest\[[0-9]*\] at .*\)|$(basename "$f" .services.log) \1|p" "$f"
  done
done | sort -u | awk '
  match($0, / in [0-9]+ ms/) {
    ms = substr($0, RSTART + 4, RLENGTH - 7) + 0; server = $2; sub(/\[.*/, "", server)
    n[server]++
    if (ms > max[server]) { max[server] = ms; line[server] = $0 } }
  END {
    if (length(n) == 0) { print "no requests logged" > "/dev/stderr"; exit 1 }
    for (s in n) printf "%-16s %6d requests, slowest %6d ms: %s\n", s, n[s], max[s], line[s] }' | sort
