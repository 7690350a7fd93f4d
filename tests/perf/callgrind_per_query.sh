#!/usr/bin/env bash
# Instructions per query under callgrind: load-independent, so two builds can
# be compared on a busy machine. Not part of CI.
#   tests/perf/callgrind_per_query.sh BINARY LABEL
# dnscore (bind 127.0.0.1, errors, cache 30, forward) in front of knotd
# serving ../shared/bench's zones (generate them once: bench/run.sh gen),
# dnsperf at 200 qps so every wake-up handles one datagram; the count is
# taken between two callgrind dumps around the measured run. Loopback only.
set -euo pipefail
bin=$1; label=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SHARED:-$root/../shared}
D=${BENCH_WORK:-$shared/bench/.work}/data
W=${CG_WORK:-/tmp/dnscore-cg}/$label; rm -rf "$W"; mkdir -p "$W/knot"
[ -f "$D/queries/hit.txt" ] || { echo "no bench data in $D (run bench/run.sh gen)"; exit 1; }
sed -e "s#@RUN@#$W/knot#g; s#@PORT@#5390#; s#@UDP_WORKERS@#1#; s#@ZONES@#$D/zones#" \
    "$shared/bench/conf/knot.conf.in" > "$W/knot.conf"
knotd -c "$W/knot.conf" > "$W/knot.log" 2>&1 & kpid=$!
trap 'kill $kpid 2>/dev/null || true' EXIT
sleep 1
printf ".:5391 {\n    bind 127.0.0.1\n    errors\n    cache 30\n    forward . 127.0.0.1:5390\n}\n" > "$W/Corefile"
for wl in hit miss; do
    taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$W/cg.$wl" "$bin" -conf "$W/Corefile" \
        > "$W/dns.$wl.log" 2>&1 & vpid=$!
    for _ in $(seq 50); do
        dig +short +time=1 +tries=1 @127.0.0.1 -p 5391 svc-0.ns.svc.cluster.local >/dev/null 2>&1 && break
        sleep 0.5
    done
    if [ $wl = hit ]; then
        cp "$D/queries/hit.txt" "$W/q.txt"; n=20
        taskset -c 0 dnsperf -s 127.0.0.1 -p 5391 -d "$W/q.txt" -n 1 -Q 2000 >/dev/null 2>&1  # warm the cache
    else
        head -2000 "$D/queries/miss.txt" > "$W/q.txt"; n=1
    fi
    callgrind_control -d "$vpid" >/dev/null 2>&1 || true  # dump 1: start-up and warm-up
    sleep 1
    taskset -c 0 dnsperf -s 127.0.0.1 -p 5391 -d "$W/q.txt" -n $n -Q 200 > "$W/perf.$wl.txt" 2>&1
    callgrind_control -d "$vpid" >/dev/null 2>&1 || true  # dump 2: the measured run
    sleep 1
    kill -TERM $vpid; wait $vpid || true
    q=$(awk '/Queries completed/{print $3}' "$W/perf.$wl.txt")
    ir=$(grep -E '^(summary|totals):' "$W/cg.$wl.2" | head -1 | awk '{print $2}')
    echo "$label $wl: $ir instructions / $q queries = $(( ir / q )) per query"
done
