#!/bin/sh
# The scenario adapter for the miniature: Chainfire is etcd behind a REST front.
# Every target implements the same verbs; scenario logic is written against them.
#   put KEY VALUE | get KEY | leader | members | health | count PREFIX | elections
# `leader` prints "MEMBER_ID LEADER_ID TERM" as this node sees it; `members`
# prints "ID NAME PEER_URL STARTED" lines; `elections` prints "TERM LEADER_ID"
# for each election Raft logged on this node (IDs in `leader`'s decimal form).
EP="http://127.0.0.1:${CHAINFIRE_CLIENT_PORT:-2379}"
ctl() { etcdctl --endpoints="$EP" --command-timeout="${PHC_TIMEOUT:-3s}" "$@"; }
field() { sed -n "s/^\"$1\" : //p" | head -n1 | tr -d '"'; }
case "$1" in
  put) ctl put "$2" "$3" >/dev/null ;;
  get) ctl get "$2" --print-value-only ;;
  count) ctl get "$2" --prefix --keys-only | grep -c . ;;
  leader)
    # etcd reads leader and term separately: when the response header's term and
    # the status term differ the pair may be torn, so the leader is reported unknown (0).
    out=$(ctl endpoint status -w fields) || exit 1
    t1=$(echo "$out" | sed -n 's/^"RaftTerm" : //p' | head -n1); t2=$(echo "$out" | sed -n 's/^"RaftTerm" : //p' | tail -n1)
    leader=$(echo "$out" | field Leader); [ "$t1" = "$t2" ] || leader=0
    echo "$(echo "$out" | field MemberID) $leader $t2" ;;
  members)
    ctl member list -w fields | awk -F' : ' '
      /^"ID"/ {id=$2} /^"Name"/ {name=$2; gsub(/"/,"",name)}
      /^"PeerURL"/ {peer=$2; gsub(/"/,"",peer)}
      /^"ClientURL"/ {print id, (name==""?"-":name), peer, "started"; id=""}
      /^"IsLearner"/ && id!="" {print id, (name==""?"-":name), peer, "unstarted"; id=""}' ;;
  elections)
    # Raft logs the winner of each term it sees, in hex: "<self> became leader at
    # term T" on the winner, "elected leader <id> at term T" on every member.
    journalctl -u chainfire --no-pager | sed -n \
      -e 's/.* \([0-9a-f]\{1,16\}\) became leader at term \([0-9]\{1,\}\).*/\2 \1/p' \
      -e 's/.*elected leader \([0-9a-f]\{1,16\}\) at term \([0-9]\{1,\}\).*/\2 \1/p' |
      while read -r term id; do printf '%s %u\n' "$term" "0x$id"; done | sort -u ;;
  health) curl -sf --max-time 3 "http://127.0.0.1:${CHAINFIRE_HTTP_PORT:-8081}/health" >/dev/null ;;
  *) echo "adapter: unknown verb $1" >&2; exit 2 ;;
esac
