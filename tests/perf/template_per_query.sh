#!/usr/bin/env bash
# Instructions per query under callgrind for a template answer next to a
# cache hit (no upstream needed). Not part of CI; loopback only.
#   tests/perf/template_per_query.sh BINARY [LABEL]
# "template": `template IN A example` with a regex, named groups and
# parseInt, no cache (every query executes the templates); "cache": `cache 30`
# in front of the same rule, queries repeated (every measured query a hit).
set -euo pipefail
bin=$1; label=${2:-template}
W=${CG_WORK:-/tmp/dnscore-cg}/$label; rm -rf "$W"; mkdir -p "$W"
for i in $(seq 0 199); do echo "ip-10-0-$((i / 256))-$((i % 256)).example. A"; done > "$W/q.txt"
rule='    template IN A example {
        match "^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]$"
        answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ parseInt .Group.c 10 8 }}.{{ .Group.d }}"
    }'
for wl in template cache; do
    cache=""; [ $wl = cache ] && cache="    cache 30"
    printf ".:5392 {\n    bind 127.0.0.1\n%s\n%s\n}\n" "$cache" "$rule" > "$W/Corefile.$wl"
    taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$W/cg.$wl" "$bin" -conf "$W/Corefile.$wl" \
        > "$W/dns.$wl.log" 2>&1 & vpid=$!
    for _ in $(seq 50); do
        dig +short +time=1 +tries=1 @127.0.0.1 -p 5392 ip-10-0-0-1.example. >/dev/null 2>&1 && break
        sleep 0.5
    done
    taskset -c 0 dnsperf -s 127.0.0.1 -p 5392 -d "$W/q.txt" -n 1 -Q 2000 >/dev/null 2>&1  # warm-up (fills the cache)
    callgrind_control -d "$vpid" >/dev/null 2>&1 || true  # dump 1: start-up and warm-up
    sleep 1
    taskset -c 0 dnsperf -s 127.0.0.1 -p 5392 -d "$W/q.txt" -n 5 -Q 200 > "$W/perf.$wl.txt" 2>&1
    callgrind_control -d "$vpid" >/dev/null 2>&1 || true  # dump 2: the measured run
    sleep 1
    kill -TERM $vpid; wait $vpid || true
    q=$(awk '/Queries completed/{print $3}' "$W/perf.$wl.txt")
    ir=$(grep -E '^(summary|totals):' "$W/cg.$wl.2" | head -1 | awk '{print $2}')
    echo "$label $wl: $ir instructions / $q queries = $(( ir / q )) per query"
done
