#!/usr/bin/env bash
# End-to-end for crash-only serving (-supervise; docs/operations.md "Crashes"):
# under a continuous UDP query load (tests/e2e/dnsload.py), the serving
# process is killed with SIGKILL KILLS times; the supervisor restarts it at
# once on the same sockets. Measures, for each kill, the time until a query
# sent right after the kill is answered (service back), and over the whole
# run the failed and timed-out client queries (only queries inside the killed
# process may be lost). Then SIGTERM to the supervisor stops everything with
# status 0. Loopback only. KILLS/QPS tune it (crash_long.sh: 20 kills).
source "$(dirname "$0")/lib.sh"
KILLS=${KILLS:-3}
QPS=${QPS:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
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

STOP=$WORK/load.stop
python3 "$HERE/dnsload.py" --port "$P" --qps "$QPS" --stop-file "$STOP" --uncached 0.1 --names 200 \
    > "$WORK/load.txt" 2>&1 &
LOADPID=$!
PIDS+=("$LOADPID")
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
    check "kill $n: a new serving process runs" [ -n "$c2" ] && [ "$c2" != "$c" ]
    sleep 1
done
touch "$STOP"
wait "$LOADPID"
cat "$WORK/load.txt"
read -r sent failed timeout < <(sed -n 's/^sent=\([0-9]*\) ok=[0-9]* failed=\([0-9]*\) timeout=\([0-9]*\).*/\1 \2 \3/p' "$WORK/load.txt")
echo "# $KILLS kills at $QPS qps: sent=$sent failed=$failed timeout=$timeout; worst time to service back ${worst} ms"
check "no failed answer (queries are lost, never answered wrongly)" [ "${failed:-1}" -eq 0 ]
# What may be lost is what the killed process held: at most a read batch
# (64 datagrams per socket) plus the forwarded queries in flight, per kill.
check "lost queries within what a killed process can hold ($timeout <= $((KILLS * 64)))" [ "${timeout:-1}" -le $((KILLS * 64)) ]
check "service back after every kill (worst ${worst} ms < 2000)" [ "$worst" -lt 2000 ]
check "the restarts are logged" bash -c "[ \$(grep -c 'was killed by signal 9; restarting it' '$WORK/sup.out') -eq $KILLS ]"
kill -TERM "$SUP"
for _ in $(seq 1 100); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.1; done
wait "$SUP"
check "SIGTERM to the supervisor stops the server and exits 0" [ $? -eq 0 ]
check "no serving process left" [ -z "$(pgrep -P "$SUP" 2>/dev/null)" ]
finish
