#!/bin/sh
# The scenario adapter for the miniature: Chainfire is etcd behind a REST front.
# Every target implements the same verbs; scenario logic is written against them.
#   put KEY VALUE | get KEY | leader | members | health | count PREFIX | keys PREFIX | elections
#   process | kill | pause | resume | start | restart | clock | clock-shift SECONDS   (the in-guest faults)
#   member-remove NAME | leave | join   (a membership change)
# `leader` prints "MEMBER_ID LEADER_ID TERM" as this node sees it; `members`
# prints "ID NAME PEER_URL STARTED" lines; `keys` prints the keys under PREFIX in
# this member's own copy (a serializable read), one a line; `elections` prints
# "TERM LEADER_ID" for each election Raft logged on this node (IDs in `leader`'s
# decimal form). `process` prints "PID STATE" of the store's process (T when stopped),
# nothing when there is none; `kill`, `pause` and `resume` send it SIGKILL, SIGSTOP and
# SIGCONT; `start` starts Chainfire again once its unit has ended; `restart` restarts its
# unit (stopped, then started, as a rolling restart does); `clock` prints the
# guest's time in seconds since the epoch, and `clock-shift` moves it. `member-remove`
# removes the member NAME from the cluster (run on another member); `leave` stops this
# node's store and erases its data and its first-boot join stamp, and `join` joins it
# again as a new member, through the first-boot join the target generates.
# Scenario waits poll these verbs on every member several times a second, and under
# TCG a Go binary (etcdctl) takes seconds to start and evicts the guest's translated
# code: each verb is one busybox wget to etcd (its v3 JSON gateway, the RPCs etcdctl
# makes; /debug/vars for `leader`), the answer taken apart by the shell, sed or awk.
# Each is bounded by PHC_TIMEOUT (5 s: a linearizable read waits out an election).
EP="http://127.0.0.1:${CHAINFIRE_CLIENT_PORT:-2379}"
v3() { timeout "${PHC_TIMEOUT:-5s}" wget -q -Y off -O - --post-data "$2" "$EP/v3/$1"; }
b64() { printf '%s' "$1" | base64 -w 0; }
# field NAME JSON: sets F to the first string field NAME of etcd's compact JSON (its
# numbers are strings too); F is empty when etcd omitted it (a zero value).
field() { F=${2#*\""$1"\":\"}; if [ "$F" = "$2" ]; then F=; else F=${F%%\"*}; fi; }
# prefix_range PREFIX: sets k and e, the base64 range from PREFIX up to PREFIX with its
# last byte plus one, as etcdctl --prefix asks.
prefix_range() {
  if [ -z "$1" ]; then k=AA== e=AA==; return; fi
  last=${1#"${1%?}"}
  k=$(b64 "$1") e=$( { printf '%s' "${1%?}"; printf "\\$(printf %03o $(( $(printf %d "'$last") + 1 )))"; } | base64 -w 0)
}
# The store's live processes, "PID STATE": etcd, found by name in /proc (not every guest
# image has pidof); a killed one not yet reaped (Z) is gone.
store() {
  for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = etcd ] && s=$(cat "$d/stat" 2>/dev/null) && s=${s##*) } && s=${s%% *} &&
      [ "$s" != Z ] && echo "${d#/proc/} $s"
  done
}
case "$1" in
  process) store; true ;;
  kill|pause|resume)
    p=$(store | cut -d' ' -f1); [ -n "$p" ] || { echo "adapter: no etcd process to $1" >&2; exit 1; }
    case "$1" in kill) s=KILL ;; pause) s=STOP ;; *) s=CONT ;; esac
    kill -"$s" $p ;;
  start)
    [ -z "$(store)" ] || exit 0
    # The unit's shell outlives its etcd by a moment; a start before it ends is a no-op.
    i=0; while systemctl is-active chainfire >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    systemctl start chainfire ;;
  restart) systemctl restart chainfire ;;
  member-remove)
    id=$("$0" members | awk -v n="$2" '$2 == n { print $1 }')
    [ -n "$id" ] || { echo "adapter: no member named '$2'" >&2; exit 1; }
    v3 cluster/member/remove "{\"ID\":\"$id\"}" >/dev/null ;;
  leave)
    # The data directory the unit gives etcd (a fixture unit's env file), else etcd's default.
    d=${CHAINFIRE_DATA_DIR:-$(sed -n "s/^CHAINFIRE_DATA_DIR='\{0,1\}\([^']*\)'\{0,1\}$/\1/p" \
      /etc/phc/units/chainfire/env 2>/dev/null)}
    # Nothing is erased under a store that did not stop.
    systemctl stop chainfire && [ -z "$(store)" ] &&
      rm -rf "${d:-/var/lib/chainfire}" /var/lib/first-boot/chainfire.joined ;;
  # restart: a oneshot that remains after exit (NixOS) does not run again on start.
  join) systemctl restart first-boot-chainfire-join && systemctl start chainfire ;;
  clock) date +%s ;;
  clock-shift)
    case "$2" in ''|*[!0-9-]*) echo "adapter: clock-shift takes whole seconds, not '$2'" >&2; exit 2 ;; esac
    date -s "@$(( $(date +%s) + $2 ))" >/dev/null && date +%s ;;
  put) v3 kv/put "{\"key\":\"$(b64 "$2")\",\"value\":\"$(b64 "$3")\"}" >/dev/null ;;
  get)
    # etcdctl get --print-value-only: the value and a newline, nothing for no key.
    out=$(v3 kv/range "{\"key\":\"$(b64 "$2")\"}") || exit 1
    case "$out" in *'"kvs":'*) field value "$out"; printf '%s' "$F" | base64 -d; echo ;; esac ;;
  count)
    prefix_range "$2"
    out=$(v3 kv/range "{\"key\":\"$k\",\"range_end\":\"$e\",\"count_only\":true}") && field count "$out" || F=
    # As `etcdctl get --keys-only | grep -c .` did: exit 1 when there is none.
    echo "${F:-0}"; [ "${F:-0}" -gt 0 ] ;;
  keys)
    prefix_range "$2"
    out=$(v3 kv/range "{\"key\":\"$k\",\"range_end\":\"$e\",\"keys_only\":true,\"serializable\":true}") || exit 1
    # Every "key" after the header is one, in base64: decoded in one awk, not a base64 per key.
    # (busybox awk has no ^ or %: powers of two from a table, remainders by hand).
    printf '%s\n' "$out" | sed 's/"key":"/\n/g' | awk -F'"' 'BEGIN {
        b = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        for (i = 0; i < 64; i++) v[substr(b, i + 1, 1)] = i
        p[0] = 1; for (i = 1; i < 8; i++) p[i] = p[i - 1] * 2 }
      NR > 1 { o = ""; bits = 0; nb = 0
        for (i = 1; i <= length($1); i++) {
          c = substr($1, i, 1); if (c == "=") break
          bits = bits * 64 + v[c]; nb += 6
          if (nb >= 8) { nb -= 8; ch = int(bits / p[nb]); o = o sprintf("%c", ch); bits -= ch * p[nb] } }
        print o }' ;;
  leader)
    # Raft's own status, one snapshot of id, term and leader (so never torn), from
    # etcd's /debug/vars: a plain HTTP handler, far cheaper under TCG than the gateway,
    # for the verb a failover polls on every member. IDs there are hex.
    out=$(timeout "${PHC_TIMEOUT:-5s}" wget -q -Y off -O - "$EP/debug/vars") || exit 1
    out=${out#*\"raft.status\": \{}
    id=${out#*\"id\":\"}; id=${id%%\"*}; lead=${out#*\"lead\":\"}; lead=${lead%%\"*}; term=${out#*\"term\":}; term=${term%%[,\}]*}
    case "$id$lead$term" in *[!0-9a-f]*|'') echo "adapter: no raft status in $EP/debug/vars" >&2; exit 1 ;; esac
    printf '%u %u %s\n' "0x$id" "0x$lead" "$term" ;;
  members)
    # A member that has not started has neither name nor client URL yet.
    v3 cluster/member/list '{}' | sed 's/{"ID":/\n&/g' | awk 'NR > 1 && /^\{"ID":/ {
        print f("ID"), f("name"), f("peerURLs"), (f("clientURLs") == "-" ? "unstarted" : "started") }
      function f(name,   s) {
        if (!match($0, "\"" name "\":\\[?\"[^\"]*\"")) return "-"
        s = substr($0, RSTART, RLENGTH); sub(/^"[^"]*":\[?"/, "", s); sub(/"$/, "", s)
        return s == "" ? "-" : s }' ;;
  elections)
    # Raft logs the winner of each term it sees, in hex: "<self> became leader at
    # term T" on the winner, "elected leader <id> at term T" on every member.
    journalctl -u chainfire --no-pager | sed -n \
      -e 's/.* \([0-9a-f]\{1,16\}\) became leader at term \([0-9]\{1,\}\).*/\2 \1/p' \
      -e 's/.*elected leader \([0-9a-f]\{1,16\}\) at term \([0-9]\{1,\}\).*/\2 \1/p' |
      while read -r term id; do printf '%s %u\n' "$term" "0x$id"; done | sort -u ;;
  # Past the 5 s the REST front gives its own read of etcd, so its answer is what counts.
  health) timeout 8 wget -q -Y off -O /dev/null "http://127.0.0.1:${CHAINFIRE_HTTP_PORT:-8081}/health" ;;
  *) echo "adapter: unknown verb $1" >&2; exit 2 ;;
esac
