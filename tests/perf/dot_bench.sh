#!/usr/bin/env bash
# DNS over TLS hit workload: dnscore's tls:// listener against unbound's DoT,
# side by side, in ../shared/bench's style (pinned CPUs, server CPU from
# /proc/PID/stat of the server's process group, dnsperf). Not part of CI.
#   tests/perf/dot_bench.sh [DNSCORE_BINARY]        (default build/dnscore)
# Both servers are caching forwarders in front of the same upstream (a plain
# unbound answering 100 names svc-N.ns.svc.cluster.local from a
# local-zone, as the bench's hit workload, on the
# client's CPU) and use the same self-signed certificate: dnscore with
# `tls CERT KEY`, `cache 30`, `forward`; unbound with tls-service-pem/key,
# one thread, forward-zone. Each is warmed with one pass over the names, then
# `dnsperf -m dot` loops over them for DURATION seconds over CLIENTS
# connections. Loopback only. Knobs: DURATION (5), CLIENTS (8), OUTSTANDING
# (200), CLIENT_CPU (0), SERVER_CPU (1), PORT_BASE (5450), DOT_WORK.
set -euo pipefail
set +m
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/dnscore}
DURATION=${DURATION:-5}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-200}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
PORT_BASE=${PORT_BASE:-5450}
W=${DOT_WORK:-/tmp/dnscore-dot-bench}
UP=$PORT_BASE DNSCORE_PORT=$((PORT_BASE + 1)) UNBOUND_PORT=$((PORT_BASE + 2))
rm -rf "$W"; mkdir -p "$W/up" "$W/unbound"
export PATH="$PATH:/usr/sbin:/sbin"
for b in "$bin" unbound dnsperf openssl kdig taskset; do command -v "$b" >/dev/null || { echo "missing $b"; exit 1; }; done

declare -a STARTED=()
start_bg() { # cpus logfile cmd... -> LAST_PID (its own process group)
  local cpus=$1 logf=$2; shift 2
  taskset -c "$cpus" setsid "$@" >"$logf" 2>&1 </dev/null &
  LAST_PID=$!; STARTED+=("$LAST_PID")
}
stop_pid() { kill -TERM -- "-$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cleanup() { local p; for p in "${STARTED[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
group_ticks() { # user+sys ticks of a process group's live processes
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
    awk -v pg="$1" '{ sub(/^.*\) /, ""); if ($3 == pg) t += $12 + $13 + $14 + $15 } END { printf "%d\n", t }'
}
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
CLK_TCK=$(getconf CLK_TCK)

# the shared self-signed certificate (name dot.test, IP 127.0.0.1)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=dot.test \
  -addext subjectAltName=DNS:dot.test,IP:127.0.0.1 -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null

for i in $(seq 0 99); do echo "svc-$i.ns.svc.cluster.local A"; done >"$W/hit.txt"

unbound_conf() { # dir port extra...
  local d=$1 p=$2; shift 2
  printf '%s\n' "server:" "  interface: 127.0.0.1@$p" "  do-ip6: no" "  do-daemonize: no" "  username: \"\"" \
    "  chroot: \"\"" "  directory: \"$d\"" "  pidfile: \"\"" "  use-syslog: no" "  logfile: \"\"" "  verbosity: 0" \
    "  num-threads: 1" "  access-control: 127.0.0.0/8 allow" "  do-not-query-localhost: no" \
    "  module-config: \"iterator\"" "  qname-minimisation: no" "  statistics-interval: 0" "$@" \
    "remote-control:" "  control-enable: no" >"$d/unbound.conf"
}
# upstream: a local-zone with the 100 names, on the client's CPU like the bench's knotd
{
  echo '  local-zone: "cluster.local." static'
  for i in $(seq 0 99); do echo "  local-data: \"svc-$i.ns.svc.cluster.local. 300 IN A 10.96.0.$((i + 1))\""; done
} >"$W/up/zone"
mapfile -t zone <"$W/up/zone"
unbound_conf "$W/up" "$UP" "${zone[@]}"
start_bg "$CLIENT_CPU" "$W/up.log" unbound -d -c "$W/up/unbound.conf"

printf 'tls://.:%s {\n    bind 127.0.0.1\n    tls %s %s\n    errors\n    cache 30\n    forward . 127.0.0.1:%s\n}\n' \
  "$DNSCORE_PORT" "$W/cert.pem" "$W/key.pem" "$UP" >"$W/Corefile"
unbound_conf "$W/unbound" "$UNBOUND_PORT" "  tls-port: $UNBOUND_PORT" "  tls-service-pem: \"$W/cert.pem\"" \
  "  tls-service-key: \"$W/key.pem\"" "  do-udp: no" "  domain-insecure: \".\"" "  msg-cache-size: 64m" \
  "  rrset-cache-size: 128m" "  num-queries-per-thread: 4096" "  incoming-num-tcp: 1000" \
  "forward-zone:" "  name: \".\"" "  forward-addr: 127.0.0.1@$UP"

ready() { # port: answers svc-1 over TLS
  local i
  for i in $(seq 100); do
    kdig @127.0.0.1 -p "$1" +tls +time=1 +retry=0 +short svc-1.ns.svc.cluster.local A 2>/dev/null | grep -q '^10\.96\.' && return 0
    sleep 0.2
  done
  echo "server on $1 did not answer over TLS"; return 1
}

printf '| server | QPS | server CPU µs/q | lost | response codes | other CPU (share of a core) |\n|---|---|---|---|---|---|\n' >"$W/table.md"
run() { # name port cmd...
  local name=$1 port=$2; shift 2
  start_bg "$SERVER_CPU" "$W/$name.log" "$@"; local pid=$LAST_PID
  ready "$port"
  taskset -c "$CLIENT_CPU" dnsperf -m dot -s 127.0.0.1 -p "$port" -d "$W/hit.txt" -c "$CLIENTS" -q "$OUTSTANDING" \
    -n 1 >"$W/$name.warm" 2>&1
  local t0 t1 b0 b1 w0 w1 cli
  t0=$(group_ticks "$pid"); b0=$(busy_ticks); w0=$(date +%s.%N)
  local cmd=(dnsperf -m dot -s 127.0.0.1 -p "$port" -d "$W/hit.txt" -c "$CLIENTS" -q "$OUTSTANDING" -l "$DURATION")
  echo "taskset -c $CLIENT_CPU ${cmd[*]}" >"$W/$name.cmd"
  local TIMEFORMAT='%U %S'
  { time taskset -c "$CLIENT_CPU" "${cmd[@]}" >"$W/$name.out" 2>&1; } 2>"$W/$name.time"
  t1=$(group_ticks "$pid"); b1=$(busy_ticks); w1=$(date +%s.%N)
  stop_pid "$pid"
  awk -v t0="$t0" -v t1="$t1" -v b0="$b0" -v b1="$b1" -v w0="$w0" -v w1="$w1" -v h="$CLK_TCK" -v n="$name" \
      -v tf="$W/$name.time" '
    BEGIN { getline t < tf; split(t, a, " "); cli = a[1] + a[2] }
    /Queries completed:/ { done = $3 } /Queries lost:/ { lost = $3 } /Queries per second:/ { qps = $4 }
    /Response codes:/ { rc = $0; sub(/.*Response codes: */, "", rc) }
    END { srv = (t1 - t0) / h
          other = ((b1 - b0) / h - srv - cli) / (w1 - w0); if (other < 0) other = 0
          printf "| %s | %.0f | %.1f | %d | %s | %.2f |\n", n, qps, done ? srv / done * 1e6 : 0, lost, rc, other }' \
    "$W/$name.out" >>"$W/table.md"
}
run dnscore "$DNSCORE_PORT" "$bin" -conf "$W/Corefile"
run unbound "$UNBOUND_PORT" unbound -d -c "$W/unbound/unbound.conf"
echo "# $(date -u) $(uname -srm) nproc=$(nproc); DURATION=$DURATION CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING"
echo "# client: $(cat "$W/dnscore.cmd")"
echo "# $(unbound -V | head -1)"
cat "$W/table.md"
