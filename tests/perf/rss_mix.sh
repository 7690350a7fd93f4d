#!/usr/bin/env bash
# Resident memory at start and after the bench's mix workload (issue 11's
# "RSS after the mix run" figure) without running the whole bench. Not CI.
#   tests/perf/rss_mix.sh BINARY [LABEL]
# dnscore (bind 127.0.0.1, errors, cache 30, forward) in front of knotd
# serving ../shared/bench's zones (generate them once: bench/run.sh gen),
# then dnsperf -c 16 -q 200 over the first 650k queries of mix.txt once
# (77 % NOERROR / 23 % NXDOMAIN, 45.8k distinct questions: both halves of
# `cache 30`, 9984 entries each, end full). A fixed count rather than the
# bench's -l 4: the same work whatever the machine's load (~650k queries is
# what -l 4 sends on an idle machine).
# Prints VmRSS/VmHWM and the anonymous/file split at start and after the
# run (the mappings after it in WORK/LABEL/smaps.after).
# Loopback only (ports 5392, 5393).
set -euo pipefail
bin=$(readlink -f "$1"); label=${2:-rss}
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SHARED:-$root/../shared}
D=${BENCH_WORK:-$shared/bench/.work}/data
W=${RSS_WORK:-/tmp/dnscore-rss}/$label; rm -rf "$W"; mkdir -p "$W/knot"
[ -f "$D/queries/mix.txt" ] || { echo "no bench data in $D (run bench/run.sh gen)"; exit 1; }
sed -e "s#@RUN@#$W/knot#g; s#@PORT@#5392#; s#@UDP_WORKERS@#2#; s#@ZONES@#$D/zones#" \
    "$shared/bench/conf/knot.conf.in" > "$W/knot.conf"
knotd -c "$W/knot.conf" > "$W/knot.log" 2>&1 & kpid=$!
dpid=
trap 'kill $kpid $dpid 2>/dev/null || true' EXIT
# RSS_PLUGINS: what runs before forward (e.g. "errors" alone: no cache, to
# tell the cache's share from the rest; add "prometheus 127.0.0.1:9393" to
# read the budget's cache metrics, at the cost of its thread).
plugins=${RSS_PLUGINS:-errors; cache 30}
printf ".:5393 {\n    bind 127.0.0.1\n%s\n    forward . 127.0.0.1:5392\n}\n" \
    "$(tr ';' '\n' <<< "$plugins" | sed 's/^ */    /')" > "$W/Corefile"
"$bin" -conf "$W/Corefile" > "$W/dns.log" 2>&1 & dpid=$!
for _ in $(seq 50); do
    dig +short +time=1 +tries=1 @127.0.0.1 -p 5393 svc-0.ns.svc.cluster.local 2>/dev/null | grep -q . && break
    sleep 0.2
done
mem() {  # where
    echo "$label $1: $(grep -E '^(VmRSS|VmHWM|RssAnon|RssFile)' /proc/$dpid/status | tr -s ' \t\n' ' ')"
}
sleep 1
mem "at start"
head -650000 "$D/queries/mix.txt" > "$W/mix.txt"
dnsperf -s 127.0.0.1 -p 5393 -d "$W/mix.txt" -n 1 -c 16 -q 200 > "$W/perf.txt" 2>&1
sleep 1
mem "after mix"
cat /proc/$dpid/smaps > "$W/smaps.after"  # per mapping, for a closer look
grep -E "Queries completed|Queries per second|NOERROR|NXDOMAIN" "$W/perf.txt" | sed "s/^/$label   /"
if grep -q prometheus "$W/Corefile"; then
    curl -s http://127.0.0.1:9393/metrics | grep -E '^(dnscore_memory_budget|coredns_cache_entries)' | sed "s/^/$label   /"
fi
