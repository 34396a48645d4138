#!/bin/sh
# Steady writes from a client node: one `put` at a time through all endpoints,
# each line "SEQ INVOKE COMPLETE ok|unknown", times in seconds of this guest's
# uptime (busybox date has no sub-second format). A failed put may still have
# been applied, so its outcome is unknown, never "failed".
# Usage: writer.sh ENDPOINTS SECONDS PREFIX
eps="$1"; seconds="$2"; prefix="$3"
end=$(( $(date +%s) + seconds ))
i=0
while [ "$(date +%s)" -lt "$end" ] && [ ! -e /run/phc-writer.stop ]; do
  i=$((i + 1))
  t0=$(cut -d' ' -f1 /proc/uptime)
  if etcdctl --endpoints="$eps" --command-timeout=2s --dial-timeout=1s put "$prefix$i" "v$i" >/dev/null 2>&1; then r=ok; else r=unknown; fi
  echo "$i $t0 $(cut -d' ' -f1 /proc/uptime) $r"
done
