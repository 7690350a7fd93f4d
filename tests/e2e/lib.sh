# Shared helpers for the end-to-end tests: start the real dnscore binary on a
# Corefile with port 0 (it prints the port it bound), query it with dig.
set -u
: "${DNSCORE:?path to the dnscore binary}"
WORK=$(mktemp -d /tmp/dnscore-e2e.XXXXXX)
SERVER_PID=""
PASS=0
FAIL=0

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() {  # check DESCRIPTION COMMAND...
    local d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
finish() {
    echo "# $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}

# start_server COREFILE_TEXT: writes it, starts dnscore, sets PORT from the banner.
start_server() {
    printf '%s' "$1" > "$WORK/Corefile"
    "$DNSCORE" -conf "$WORK/Corefile" > "$WORK/out.log" 2> "$WORK/err.log" &
    SERVER_PID=$!
    PORT=""
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/^[^ ]*:\([0-9][0-9]*\)\( on .*\)\{0,1\}$/\1/p' "$WORK/out.log" | head -n1)
        [ -n "$PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$PORT" ]; then
        echo "server did not start:"; cat "$WORK/out.log" "$WORK/err.log"
        return 1
    fi
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null
    local i
    for i in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    wait "$SERVER_PID"
    local rc=$?
    SERVER_PID=""
    return $rc
}

q() { dig @127.0.0.1 -p "$PORT" +time=2 +tries=1 "$@"; }
