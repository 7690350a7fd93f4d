#!/usr/bin/env bash
# End-to-end for crash-only serving (-supervise; docs/operations.md "Crashes"):
# under a continuous UDP query load (tests/e2e/load.sh: dnsperf), the serving
# process is killed with SIGKILL KILLS times; the supervisor restarts it at
# once on the same sockets. Measures, for each kill, the time until a query
# sent right after the kill is answered (service back), and over the whole
# run the failed and timed-out client queries (only queries inside the killed
# process may be lost). Then SIGTERM to the supervisor stops everything with
# status 0. Loopback only. KILLS/QPS tune it (crash_long.sh: 20 kills).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/load.sh"
KILLS=${KILLS:-3}
QPS=${QPS:-300}
BACK_MS=${BACK_MS:-2000}  # bound on the time from a kill to service back (crash_long.sh: the issue's 100 ms)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; cleanup' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Upstream for names not cached yet.
start_server 'example.:0 {
    template IN A example. {
        answer "{{ .Name }} 300 IN A 192.0.2.1"
    }
}'
UPORT=$PORT
PIDS+=("$SERVER_PID")
SERVER_PID=""

P=$(free_port)
printf '.:%s {\n    cache 300\n    forward . 127.0.0.1:%s\n}\n' "$P" "$UPORT" > "$WORK/Corefile.sup"
"$DNSCORE" -conf "$WORK/Corefile.sup" -supervise > "$WORK/sup.out" 2> "$WORK/sup.err" &
SUP=$!
PIDS+=("$SUP")
for _ in $(seq 1 100); do grep -q "^\.:$P" "$WORK/sup.out" && break; sleep 0.05; done
check "supervised server started" grep -q "^\.:$P" "$WORK/sup.out"
child() { pgrep -P "$SUP" | head -n1; }

# probe [PID]: kills PID (if given) with SIGKILL, waits until it is gone,
# then sends one query; prints the milliseconds from the kill to the answer
# (or "timeout").
probe() {
    python3 - "$P" "${1:-}" <<'PY'
import os, signal, socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
q = struct.pack("!HHHHHH", 4242, 0x0100, 1, 0, 0, 0) + b"\x05probe\x07example\x00" + struct.pack("!HH", 1, 1)
t = time.monotonic()
if sys.argv[2]:
    pid = int(sys.argv[2])
    os.kill(pid, signal.SIGKILL)
    while True:  # dead once /proc says zombie or gone
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(") ")[1][0] in "ZX":
                    break
        except OSError:
            break
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
try:
    s.recv(4096)
    print("%.1f" % ((time.monotonic() - t) * 1000))
except socket.timeout:
    print("timeout")
PY
}
probe > /dev/null  # cache the probe name

load_start main "$P" "$QPS" --uncached 0.1 --names 200
PIDS+=("${LOAD_PIDS[main]}")
sleep 1
worst=0
for n in $(seq 1 "$KILLS"); do
    c=$(child)
    ms=$(probe "$c")
    echo "# kill $n (pid $c): a query sent once it was dead answered ${ms} ms after the kill"
    if [ "$ms" = timeout ]; then worst=999999; else
        ms_int=${ms%.*}
        [ "$ms_int" -gt "$worst" ] && worst=$ms_int
    fi
    for _ in $(seq 1 50); do c2=$(child); [ -n "$c2" ] && [ "$c2" != "$c" ] && break; sleep 0.02; done
    check "kill $n: a new serving process runs" [ -n "$c2" -a "$c2" != "$c" ]
    sleep 1
done
load_stop main
echo "# $KILLS kills at $QPS qps: $LOAD_SUMMARY; worst time to service back ${worst} ms;" \
    "$(udp_drops "$P") queries dropped by the kernel (a listening socket's receive queue full)"
failed=$LOAD_FAILED
timeout=$LOAD_TIMEOUT
check "no failed answer (queries are lost, never answered wrongly)" [ "${failed:-1}" -eq 0 ]
# What may be lost is what the killed process held: at most a read batch
# (64 datagrams per socket) plus the forwarded queries in flight, per kill.
check "lost queries within what a killed process can hold ($timeout <= $((KILLS * 64)))" [ "${timeout:-1}" -le $((KILLS * 64)) ]
check "service back after every kill (worst ${worst} ms < $BACK_MS)" [ "$worst" -lt "$BACK_MS" ]
check "the restarts are logged" bash -c "[ \$(grep -c 'was killed by signal 9; restarting it' '$WORK/sup.out') -eq $KILLS ]"
kill -TERM "$SUP"
for _ in $(seq 1 100); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.1; done
wait "$SUP"
check "SIGTERM to the supervisor stops the server and exits 0" [ $? -eq 0 ]
check "no serving process left" [ -z "$(pgrep -P "$SUP" 2>/dev/null)" ]
finish
