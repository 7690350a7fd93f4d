# Query load for the restart and upgrade tests (issue 16; sourced after lib.sh):
# dnsperf sends QPS UDP queries a second over 16 client sockets (so
# SO_REUSEPORT spreads them over every server socket), names from
# querymix.py (NAMES names that stay cached plus a share of never-seen
# names). Every query waits 2 s for its answer, with no retry, and is counted
# once: answered NOERROR (ok), answered with another rcode (failed), or not
# answered within 2 s (timeout; dnsperf's "lost").
LOAD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! command -v dnsperf > /dev/null; then
    echo "dnsperf not installed (Debian package dnsperf, in .ci/packages)"
    exit 1
fi
declare -A LOAD_PIDS

# load_start TAG PORT QPS [querymix.py options]: runs until load_stop TAG.
# LOAD_DNSPERF_ARGS adds dnsperf options (-v lists every query and its rcode
# or timeout in $WORK/TAG.perf, for a closer look at a loss).
load_start() {
    local tag=$1 port=$2 qps=$3
    shift 3
    rm -f "$WORK/$tag.stop"
    LOAD_BACKLOG_DROPS0=$(backlog_drops)
    python3 "$LOAD_DIR/querymix.py" --stop-file "$WORK/$tag.stop" "$@" \
        | dnsperf -s 127.0.0.1 -p "$port" -c 16 -q 20000 -Q "$qps" -t 2 ${LOAD_DNSPERF_ARGS:-} > "$WORK/$tag.perf" 2>&1 &
    LOAD_PIDS[$tag]=$!
}

# load_run TAG PORT QPS COUNT [querymix.py options]: COUNT queries, then returns.
load_run() {
    local tag=$1 port=$2 qps=$3 count=$4
    shift 4
    LOAD_BACKLOG_DROPS0=$(backlog_drops)
    python3 "$LOAD_DIR/querymix.py" --count "$count" "$@" \
        | dnsperf -s 127.0.0.1 -p "$port" -c 16 -q 20000 -Q "$qps" -t 2 > "$WORK/$tag.perf" 2>&1
    load_result "$tag"
}

# load_stop TAG: ends the stream, waits for the last answers (or their 2 s
# timeout), then load_result TAG.
load_stop() {
    touch "$WORK/$1.stop"
    wait "${LOAD_PIDS[$1]}"
    load_result "$1"
}

# load_result TAG: sets LOAD_SENT, LOAD_OK, LOAD_FAILED, LOAD_TIMEOUT,
# LOAD_RATE (queries a second dnsperf achieved) and LOAD_SUMMARY from
# dnsperf's statistics. A run without statistics counts everything as failed.
load_result() {
    local f=$WORK/$1.perf
    LOAD_SENT=$(sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$f")
    local completed
    completed=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$f")
    LOAD_OK=$(sed -n 's/^ *Response codes:.*NOERROR \([0-9]*\).*/\1/p' "$f")
    LOAD_RATE=$(sed -n 's/^ *Queries per second: *\([0-9]*\).*/\1/p' "$f")
    if [ -z "$LOAD_SENT" ] || [ -z "$completed" ]; then
        echo "# dnsperf gave no statistics:"; sed 's/^/#   /' "$f"
        LOAD_SENT=0 LOAD_OK=0 LOAD_FAILED=1 LOAD_TIMEOUT=1 LOAD_RATE=0
    else
        LOAD_OK=${LOAD_OK:-0}
        LOAD_FAILED=$((completed - LOAD_OK))
        LOAD_TIMEOUT=$((LOAD_SENT - completed))  # lost and interrupted
    fi
    LOAD_SUMMARY="sent=$LOAD_SENT ok=$LOAD_OK failed=$LOAD_FAILED timeout=$LOAD_TIMEOUT (client achieved ${LOAD_RATE} qps;"
    LOAD_SUMMARY+=" $(($(backlog_drops) - ${LOAD_BACKLOG_DROPS0:-0})) packets dropped machine-wide by a full netdev backlog meanwhile)"
    if [ "$LOAD_FAILED" -ne 0 ] || [ "$LOAD_TIMEOUT" -ne 0 ]; then
        grep -E '^ *Response codes|Timeout|Warning' "$f" | head -n 20 | sed 's/^/#   /'
    fi
}

# udp_drops PORT: datagrams the kernel dropped on the UDP sockets bound to
# PORT (receive queue full), from /proc/net/udp{,6}'s drops column: the part
# of a loss that happened before the server read the query.
udp_drops() {
    local hex
    hex=$(printf '%04X' "$1")
    cat /proc/net/udp /proc/net/udp6 2>/dev/null |
        awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { d += $NF } END { print d + 0 }'
}

# backlog_drops: packets the kernel dropped because a CPU's input backlog
# (net.core.netdev_max_backlog; loopback traffic passes through it) was full,
# summed over CPUs (/proc/net/softnet_stat, second column). Machine-wide:
# other programs' traffic counts too.
backlog_drops() {
    local sum=0 _processed dropped _rest
    while read -r _processed dropped _rest; do sum=$((sum + 0x$dropped)); done < /proc/net/softnet_stat
    echo "$sum"
}
