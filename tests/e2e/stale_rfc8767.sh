#!/usr/bin/env bash
# End-to-end for the cache's RFC 8767 stale mode (serve_stale_rfc8767, an
# extension; plugins/cache/README.md): names seen before are answered stale
# (TTL 30, EDE 3) while the upstream does not answer (stopped with SIGSTOP:
# its socket stays, queries go unanswered, so the client-response timer
# decides); after forward gave up, within the failure-recheck time stale
# answers come at once; when the upstream is back (with changed data) fresh
# data is served within TTL + recheck. Loopback only. STALE_NAMES sets how many names.
source "$(dirname "$0")/lib.sh"
NAMES=${STALE_NAMES:-20}
RECHECK=${RECHECK:-3}  # failure-recheck time, seconds
OUTAGE=${OUTAGE:-0}  # extra seconds of outage, with every name asked every 5 s (stale_long.sh: 60)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done; cleanup' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The upstream: hosts entries n1..nNAMES.example. with TTL 2, re-read every
# second (its data changes during the outage).
write_hosts() { for i in $(seq 1 "$NAMES"); do echo "$1 n$i.example."; done > "$WORK/hosts.tmp"; mv "$WORK/hosts.tmp" "$WORK/hosts"; }
write_hosts 192.0.2.1
start_server "example.:0 {
    hosts $WORK/hosts {
        ttl 2
        reload 1s
    }
}"
UPORT=$PORT
UPID=$SERVER_PID
SERVER_PID=""
PIDS+=("$UPID")

MPORT=$(free_port)
start_server ".:0 {
    cache {
        success 10000 300 1
        denial 10000 300 1
        serve_stale_rfc8767 1h 1800ms ${RECHECK}s
    }
    forward . 127.0.0.1:$UPORT
    prometheus 127.0.0.1:$MPORT
}"
CPORT=$PORT
PIDS+=("$SERVER_PID")
q() { dig @127.0.0.1 -p "$CPORT" +time=5 +tries=1 "$@"; }
# The concurrent queries use kdig: dig (BIND 9.18) sets SO_REUSEPORT on its
# UDP socket, so two digs running at once may be given the same source port,
# both connected to the server: the same 4-tuple. The kernel then delivers
# both replies to one of them, which drops the one it did not ask for, and
# the other dig times out although the server answered it (seen as 1-2 of
# 200 concurrent digs timing out; every such dig shared its port with another
# dig of the same burst). kdig binds without it: one port per query.
kq() { kdig @127.0.0.1 -p "$CPORT" +timeout=5 +retry=0 "$@"; }
# ms_of FILES...: kdig's reply times in milliseconds, one a line.
ms_of() { sed -n 's/^;; From .* in \([0-9]*\)[.0-9]* ms$/\1/p' "$@"; }
rfc_metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | sed -n "s/^dnscore_cache_rfc8767_total{outcome=\"$1\".* //p"; }

for i in $(seq 1 "$NAMES"); do q +short "n$i.example." A > /dev/null; done
check "names cached" bash -c "dig @127.0.0.1 -p $CPORT +short n1.example. A | grep -q 192.0.2.1"

# ---- the upstream stops answering (process stopped: a black hole)
kill -STOP "$UPID"
sleep 3  # every entry expired (TTL 2)
DIGS=()
for i in $(seq 1 "$NAMES"); do kq +edns "n$i.example." A > "$WORK/stale.$i" & DIGS+=($!); done
for p in "${DIGS[@]}"; do wait "$p"; done
answered=$(grep -l "192.0.2.1" "$WORK"/stale.* | wc -l)
for f in $(grep -L 192.0.2.1 "$WORK"/stale.*); do echo "# unanswered: $(tr '\n' ' ' < "$f")"; done
check "all $NAMES names answered stale with the upstream silent ($answered)" [ "$answered" -eq "$NAMES" ]
released=$(rfc_metric client_timeout)
check "the client-response timer released $NAMES stale answers (${released:-none}), each received by its client" \
    [ "${released:-0}" -eq "$NAMES" -a "$answered" -eq "$NAMES" ]
check "stale answers carry EDE 3 (Stale Answer)" grep -q "EDE: 3 (Stale Answer)" "$WORK/stale.1"
check "stale answers carry TTL 30" bash -c "grep -A1 'ANSWER SECTION' '$WORK/stale.1' | grep -qP '\\t30\\tIN\\tA'"
slowest=$(ms_of "$WORK"/stale.* | sort -n | tail -n1)
echo "# $NAMES concurrent queries for expired names: slowest answered in ${slowest} ms (client-response timer 1800 ms)"
check "answered by the client-response timer, before the client's 5 s timeout (${slowest} ms)" [ "${slowest:-99999}" -lt 4500 ]

# Past the client's wait, forward gives up (failure): from then on, within
# the failure-recheck time, stale answers come at once.
sleep 5
DIGS=()
for i in $(seq 1 "$NAMES"); do kq "n$i.example." A > "$WORK/recheck.$i" & DIGS+=($!); done
for p in "${DIGS[@]}"; do wait "$p"; done
answered=$(grep -l "192.0.2.1" "$WORK"/recheck.* | wc -l)
check "all $NAMES names still answered stale ($answered)" [ "$answered" -eq "$NAMES" ]
fastest=$(ms_of "$WORK"/recheck.* | sort -n | head -n1)
echo "# within the failure-recheck time: fastest stale answer ${fastest} ms (no upstream wait)"
if [ "$OUTAGE" -gt 0 ]; then
    asked=0; answered=0
    end=$(( $(date +%s) + OUTAGE ))
    while [ "$(date +%s)" -lt "$end" ]; do
        # In parallel: past the failure-recheck time each name's first query
        # waits for the client-response timer again.
        DIGS=()
        for i in $(seq 1 "$NAMES"); do kq "n$i.example." A > "$WORK/round.$i" & DIGS+=($!); done
        for p in "${DIGS[@]}"; do wait "$p"; done
        asked=$((asked + NAMES))
        answered=$((answered + $(grep -l 192.0.2.1 "$WORK"/round.* | wc -l)))
        for f in $(grep -L 192.0.2.1 "$WORK"/round.*); do echo "# unanswered: $(tr '\n' ' ' < "$f")"; done
        rm -f "$WORK"/round.*
        sleep 5
    done
    echo "# ${OUTAGE}s more of outage: $answered of $asked queries for names seen before answered (stale)"
    check "every query for a name seen before answered during the outage ($answered/$asked)" [ "$answered" -eq "$asked" ]
fi
check "a name never seen gets no answer (nothing stale to give)" \
    bash -c "! dig @127.0.0.1 -p $CPORT +time=3 +tries=1 +short new.example. A | grep -q 192.0.2"

metrics=$(curl -s "http://127.0.0.1:$MPORT/metrics")
echo "$metrics" | grep '^dnscore_cache_rfc8767_total' | sed 's/^/# /'
printf '%s\n' "$metrics" > "$WORK/metrics.txt"
check "client_timeout outcomes counted" bash -c "grep '^dnscore_cache_rfc8767_total{outcome=\"client_timeout\"' '$WORK/metrics.txt' | grep -q ' [1-9]'"
check "served_stale counted" bash -c "grep '^coredns_cache_served_stale_total{' '$WORK/metrics.txt' | grep -q ' [1-9]'"

# ---- the upstream comes back with changed data: fresh within TTL + recheck
write_hosts 192.0.2.2
kill -CONT "$UPID"
sleep $((RECHECK + 2))  # hosts re-read (1 s) + failure-recheck time + margin
fresh=0
for i in $(seq 1 "$NAMES"); do
    q +short "n$i.example." A | grep -q 192.0.2.2 && fresh=$((fresh + 1))
done
check "after recovery all $NAMES names give the new data ($fresh)" [ "$fresh" -eq "$NAMES" ]
finish
