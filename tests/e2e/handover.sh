#!/usr/bin/env bash
# End-to-end for restarts and upgrades without a cold cache or failed queries
# (issue 16; docs/operations.md):
#  1. warm start: -cache-snapshot written at SIGTERM, loaded at the next start;
#     the cached names are answered with the upstream stopped (aged TTLs); a
#     corrupt snapshot is refused and the server starts cold;
#  2. upgrade handover: under a continuous UDP query load (tests/e2e/load.sh: dnsperf),
#     HANDOVERS times a new process is started with the same -handover-socket
#     and ports; each time the old one hands over its cache and exits by itself.
#     Counts failed and timed-out client queries (must be 0) and the cached
#     names that reached the upstream after each handover (the hit ratio).
# Everything on loopback. HANDOVERS/QPS/WINDOW tune it (tests/e2e/handover_long.sh
# runs the 20-handover version).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/load.sh"
HANDOVERS=${HANDOVERS:-3}
QPS=${QPS:-300}
WINDOW=${WINDOW:-3}  # seconds after each handover in which cached-name misses are counted

PIDS=()
cleanup_all() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
trap 'cleanup_all; cleanup' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The upstream: any A question under example. gets 192.0.2.1 (TTL 300); every
# query it sees is logged, so misses that reach it can be counted.
start_server 'example.:0 {
    log
    template IN A example. {
        answer "{{ .Name }} 300 IN A 192.0.2.1"
    }
}'
UPORT=$PORT
UPID=$SERVER_PID
SERVER_PID=""
PIDS+=("$UPID")
ULOG=$WORK/out.log
upstream_hits() { grep -c "\"A IN c[0-9]*\.example\. " "$ULOG"; }

P=$(free_port)
cat > "$WORK/Corefile.cache" <<C
.:$P {
    cache 300
    forward . 127.0.0.1:$UPORT
}
C
SNAP=$WORK/cache.snap
SOCK=$WORK/handover.sock

# start_cache NAME: starts a caching dnscore on port $P with both flags; sets CPID.
start_cache() {
    "$DNSCORE" -conf "$WORK/Corefile.cache" -cache-snapshot "$SNAP" -handover-socket "$SOCK" \
        > "$WORK/$1.out" 2> "$WORK/$1.err" &
    CPID=$!
    PIDS+=("$CPID")
    local i
    for i in $(seq 1 100); do
        grep -q "^\.:$P" "$WORK/$1.out" 2>/dev/null && return 0
        kill -0 "$CPID" 2>/dev/null || break
        sleep 0.05
    done
    echo "cache $1 did not start:"; cat "$WORK/$1.out" "$WORK/$1.err"
    return 1
}
# wait_exit PID: up to 15 s; returns the exit status (124 on timeout).
wait_exit() {
    local i
    for i in $(seq 1 150); do
        kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
        sleep 0.1
    done
    return 124
}
cq() { dig @127.0.0.1 -p "$P" +time=2 +tries=1 "$@"; }
# log_has FILE TEXT: the line appears within 5 s (state is restored after the banner).
log_has() {
    local i
    for i in $(seq 1 100); do grep -q "$2" "$1" && return 0; sleep 0.05; done
    return 1
}

# ---- 1. warm start
start_cache a || exit 1
for i in $(seq 0 49); do cq +short "c$i.example." A > /dev/null; done
check "50 names cached through the upstream" [ "$(upstream_hits)" -eq 50 ]
kill -TERM "$CPID"
wait_exit "$CPID"
check "SIGTERM without successor exits 0" [ $? -eq 0 ]
check "snapshot written at SIGTERM" grep -q "cache snapshot written to $SNAP" "$WORK/a.out"
check "handover socket removed at exit" [ ! -e "$SOCK" ]

kill -TERM "$UPID"; wait "$UPID" 2>/dev/null
sleep 2  # the restored entries must show their age
start_cache b || exit 1
check "snapshot loaded at start" log_has "$WORK/b.out" "restored 50 cache entries"
answered=0
aged=0
for i in $(seq 0 49); do
    out=$(cq +noall +answer "c$i.example." A)
    echo "$out" | grep -q "192.0.2.1" && answered=$((answered + 1))
    ttl=$(echo "$out" | awk '{print $2}')
    [ -n "$ttl" ] && [ "$ttl" -lt 300 ] && aged=$((aged + 1))
done
check "all 50 names answered from the restored cache with the upstream down ($answered)" [ "$answered" -eq 50 ]
check "restored TTLs are aged ($aged of 50 below 300)" [ "$aged" -eq 50 ]
dig @127.0.0.1 -p "$P" +time=8 +tries=1 never.example. A > "$WORK/never.txt"
# (forward answers FORMERR, not SERVFAIL, once its upstream went away: see the report)
check "a name never seen fails (the upstream is really down): $(grep -o 'status: [A-Z]*' "$WORK/never.txt")" \
    bash -c "grep -q 'status:' '$WORK/never.txt' && ! grep -q 'status: NOERROR' '$WORK/never.txt'"
kill -TERM "$CPID"; wait_exit "$CPID"

# A corrupt snapshot: refused with a reason, the server starts cold.
head -c 100 "$SNAP" > "$SNAP.cut" && mv "$SNAP.cut" "$SNAP"
start_cache c || exit 1
check "truncated snapshot refused with a reason" log_has "$WORK/c.out" "cache snapshot $SNAP not loaded"
dig @127.0.0.1 -p "$P" +time=8 +tries=1 c1.example. A > "$WORK/cold.txt"
check "server runs cold after a bad snapshot: $(grep -o 'status: [A-Z]*' "$WORK/cold.txt")" \
    bash -c "grep -q 'status:' '$WORK/cold.txt' && ! grep -q 'status: NOERROR' '$WORK/cold.txt'"
kill -TERM "$CPID"; wait_exit "$CPID"
rm -f "$SNAP"

# ---- 2. handover under load
start_server "example.:$UPORT {
    log
    template IN A example. {
        answer \"{{ .Name }} 300 IN A 192.0.2.1\"
    }
}"
UPID=$SERVER_PID
SERVER_PID=""
PIDS+=("$UPID")
start_cache h0 || exit 1
# Warm-up: every cached name once or more (2000 queries over 200 names).
load_run warm "$P" 1000 2000 --uncached 0 --names 200
check "warm-up answered: $LOAD_SUMMARY" [ $((LOAD_FAILED + LOAD_TIMEOUT)) -eq 0 ]

load_start main "$P" "$QPS" --uncached 0.1 --names 200
PIDS+=("${LOAD_PIDS[main]}")
sleep 1
# Steady state: the same window without a handover (the misses come from
# the store's random eviction by the never-seen names).
cached=$(( QPS * WINDOW * 9 / 10 ))
before=$(upstream_hits)
sleep "$WINDOW"
steady_misses=$(( $(upstream_hits) - before ))
steady_pm=$(( 1000 - 1000 * steady_misses / cached ))
echo "# steady state: $steady_misses cached-name misses in ${WINDOW}s (hit ratio of cached names ${steady_pm} per mille)"
prev=$CPID
worst_pm=1000
for n in $(seq 1 "$HANDOVERS"); do
    before=$(upstream_hits)
    start_cache "h$n" || break
    wait_exit "$prev"
    rc=$?
    check "handover $n: predecessor exited by itself with 0 ($rc)" [ "$rc" -eq 0 ]
    check "handover $n: successor took over" log_has "$WORK/h$n.out" "handover: took over from the predecessor"
    check "handover $n: predecessor logged the drain" grep -q "successor ready; draining" "$WORK/h$((n - 1)).out"
    sleep "$WINDOW"
    misses=$(( $(upstream_hits) - before ))
    pm=$(( 1000 - 1000 * misses / cached ))
    echo "# handover $n: $misses cached-name misses reached the upstream in ${WINDOW}s (hit ratio of cached names ${pm} per mille);" \
        "$(udp_drops "$P") queries dropped by the kernel on the successor's full sockets"
    [ "$pm" -lt "$worst_pm" ] && worst_pm=$pm
    prev=$CPID
done
# Steady state again, now that the never-seen names have filled the store
# (its random eviction then costs cached names a miss now and then).
before=$(upstream_hits)
sleep "$WINDOW"
end_misses=$(( $(upstream_hits) - before ))
end_pm=$(( 1000 - 1000 * end_misses / cached ))
echo "# steady state at the end: $end_misses cached-name misses in ${WINDOW}s (hit ratio of cached names ${end_pm} per mille)"
[ "$end_pm" -gt "$steady_pm" ] && steady_pm=$end_pm
load_stop main
echo "# load over $HANDOVERS handovers at $QPS qps: $LOAD_SUMMARY"
check "no failed or timed-out query across $HANDOVERS handovers at $QPS qps ($LOAD_SUMMARY)" \
    [ $((LOAD_FAILED + LOAD_TIMEOUT)) -eq 0 ]
check "hit ratio after every handover >= 90 % of steady state (worst ${worst_pm} vs the better steady window ${steady_pm} per mille)" [ "$worst_pm" -ge $(( steady_pm * 9 / 10 )) ]

kill -TERM "$CPID"
wait_exit "$CPID"
check "the last process, without successor, stops on SIGTERM with 0" [ $? -eq 0 ]
check "its socket file is gone" [ ! -e "$SOCK" ]
finish
