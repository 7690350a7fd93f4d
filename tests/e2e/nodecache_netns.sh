#!/usr/bin/env bash
# End-to-end: the node-cache binary inside a network namespace this test
# creates, with a knotd "kube-dns" at 10.244.0.5 in the same namespace.
# Nothing is configured in the root namespace; the namespace is deleted at
# exit. Needs root, `ip netns`, iptables in the namespace and knotd; skips
# (exit 77) with the reason otherwise.
# Env: NODECACHE (binary), SRCDIR (repo root).
set -u
NODECACHE=${NODECACHE:?path to node-cache}
SRCDIR=${SRCDIR:?repo root}

skip() { echo "SKIP: $*"; exit 77; }
FAILS=0
pass() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, iptables)"
for tool in ip iptables iptables-save knotd dig curl; do
    command -v "$tool" >/dev/null || skip "$tool not installed"
done

NS=nc-e2e-$$
T=$(mktemp -d /tmp/nodecache-e2e.XXXXXX)
NC_PID=
KNOT_PID=
cleanup() {
    [ -n "$NC_PID" ] && kill -9 "$NC_PID" 2>/dev/null
    [ -n "$KNOT_PID" ] && kill "$KNOT_PID" 2>/dev/null
    # Anything else still running inside our namespace (by pid).
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "/etc/netns/$NS" "$T"
}
trap cleanup EXIT

ip netns add "$NS" 2>/dev/null || skip "the kernel refuses network namespaces (ip netns add)"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up || skip "cannot bring lo up in the namespace"
in_ns iptables -w 5 -t raw -S >/dev/null 2>&1 || skip "iptables (raw table) unusable in a namespace on this kernel"
in_ns iptables -w 5 -t filter -S >/dev/null 2>&1 || skip "iptables (filter table) unusable in a namespace"

# The kube-dns pod (knotd) lives at 10.244.0.5 inside the namespace.
in_ns ip addr add 10.244.0.5/32 dev lo
# `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf:
# the node's resolver config for the `.` block, pointed at knotd.
mkdir -p "/etc/netns/$NS"
echo "nameserver 10.244.0.5" > "/etc/netns/$NS/resolv.conf"

mkdir -p "$T/coredns" "$T/kube-dns"
source "$SRCDIR/tests/e2e/kube_dns_knot.sh"
start_kube_dns_knot "$NS" "$T/knot" || skip "knotd did not start in the namespace"

# Which plugins the stock Corefile needs are built in?
PLUGINS=$("$NODECACHE" -localip 127.0.0.1 -plugins 2>/dev/null)
FULL=1
for p in errors cache reload loop bind forward prometheus health; do
    echo "$PLUGINS" | grep -q "dns.$p\$" || { echo "NOTE: plugin $p not built yet: DNS/health/metrics assertions skipped"; FULL=0; }
done

# The stock template after the operator's sed (kube-proxy iptables mode, §4.3).
sed -e 's/__PILLAR__LOCAL__DNS__/169.254.20.10/g' -e 's/__PILLAR__DNS__DOMAIN__/cluster.local/g' \
    -e 's/__PILLAR__DNS__SERVER__/10.96.0.10/g' "$SRCDIR/nodecache/testdata/Corefile.base" > "$T/coredns/Corefile.base"
if [ $FULL = 0 ]; then
    # Only plugins that exist: still proves flags, rendering, interface,
    # rules and teardown.
    printf 'cluster.local:53 {\n    errors\n    bind __PILLAR__LOCAL__DNS__\n    whoami\n}\n' > "$T/coredns/Corefile.base"
fi

DUMMY=1
if ! in_ns ip link add nc-probe type dummy 2>/dev/null; then
    DUMMY=0
    echo "NOTE: this kernel has no dummy link type; pre-creating 'nodelocaldns' as a bridge (node-cache adds its addresses to an existing link of any kind)"
else
    in_ns ip link del nc-probe
fi
prepare_link() { [ $DUMMY = 1 ] || in_ns ip link add nodelocaldns type bridge; }

rules_count() { in_ns iptables-save 2>/dev/null | grep -c 'NodeLocal DNS Cache' ; }
metric() { in_ns curl -s --max-time 3 "http://$1/metrics" | grep "^$2" ; }
query() { in_ns dig +short +time=2 +tries=2 "$@" 2>/dev/null; }

start_nodecache() {  # extra args...
    ip netns exec "$NS" env KUBE_DNS_UPSTREAM_SERVICE_HOST=10.244.0.5 "$NODECACHE" \
        -localip 169.254.20.10,10.96.0.10 -conf "$T/Corefile" -upstreamsvc kube-dns-upstream \
        -pidfile "$T/node-cache.pid" -basecorefile "$T/coredns/Corefile.base" -kubednscm "$T/kube-dns" \
        -metrics-listen-address 127.0.0.1:9353 "$@" >"$T/nc.out" 2>"$T/nc.err" &
    NC_PID=$!
}
wait_for() {  # seconds command...
    local n=$(( $1 * 5 )); shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.2; done
    return 1
}
stop_nodecache() {
    kill -TERM "$NC_PID"
    local st=0
    wait_for 20 bash -c "! kill -0 $NC_PID 2>/dev/null" || { fail "node-cache did not exit on SIGTERM"; kill -9 "$NC_PID"; }
    wait "$NC_PID"; st=$?
    NC_PID=
    return $st
}

echo "# scenario 1: the stock manifest's arguments"
rm -f "$T/node-cache.pid"
prepare_link
start_nodecache -syncinterval 2ns
check "node-cache writes its pidfile" wait_for 20 test -f "$T/node-cache.pid"
check "24 rules installed once listening (12 per IP)" wait_for 20 bash -c "[ \$(ip netns exec $NS iptables-save | grep -c 'NodeLocal DNS Cache') = 24 ]"
SAVE=$(in_ns iptables-save)
check "raw PREROUTING NOTRACK udp rule for the link-local IP" \
    grep -Eq -- '-A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -m comment --comment "NodeLocal DNS Cache: skip conntrack" -j (NOTRACK|CT --notrack)' <<<"$SAVE"
check "filter INPUT ACCEPT tcp rule for the kube-dns IP" \
    grep -q -- '-A INPUT -d 10.96.0.10/32 -p tcp -m tcp --dport 53 -m comment --comment "NodeLocal DNS Cache: allow DNS traffic" -j ACCEPT' <<<"$SAVE"
check "health-port NOTRACK rule" \
    grep -Eq -- '-A OUTPUT -s 169.254.20.10/32 -p tcp -m tcp --sport 8080 -m comment --comment "NodeLocal DNS Cache: skip conntrack" -j (NOTRACK|CT --notrack)' <<<"$SAVE"
check "'Added back nodelocaldns rule' logged" grep -q 'Added back nodelocaldns rule - {raw PREROUTING \[-p tcp -d 169.254.20.10 --dport 53 -j NOTRACK -m comment --comment NodeLocal DNS Cache: skip conntrack\]}' "$T/nc.out"
check "interface carries both IPs as /32" bash -c "ip netns exec $NS ip -4 addr show dev nodelocaldns | grep -q '169.254.20.10/32' && ip netns exec $NS ip -4 addr show dev nodelocaldns | grep -q '10.96.0.10/32'"
check "rendered Corefile has the upstream ClusterIP and no __PILLAR__" bash -c "! grep -q __PILLAR__ $T/Corefile && grep -q '/etc/resolv.conf\|whoami' $T/Corefile"
check "node-cache's metric pre-initialised on -metrics-listen-address" \
    bash -c "ip netns exec $NS curl -s --max-time 3 http://127.0.0.1:9353/metrics | grep -q '^coredns_nodecache_setup_errors_total{errortype=\"iptables_lock\"} 0'"
# promhttp.Handler() on the node-cache port: the scrape in progress is in
# flight, earlier ones are counted under code 200, 500/503 start at 0.
check "promhttp handler families on -metrics-listen-address" \
    bash -c "M=\$(ip netns exec $NS curl -s --max-time 3 http://127.0.0.1:9353/metrics); grep -q '^promhttp_metric_handler_requests_in_flight 1\$' <<<\"\$M\" && grep -Eq '^promhttp_metric_handler_requests_total\\{code=\"200\"\\} [1-9]' <<<\"\$M\" && grep -q '^promhttp_metric_handler_requests_total{code=\"503\"} 0\$' <<<\"\$M\""

# A deleted rule comes back at the next sync (2 s).
in_ns iptables -w 5 -t raw -D PREROUTING -p udp -d 169.254.20.10 --dport 53 -j NOTRACK -m comment --comment "NodeLocal DNS Cache: skip conntrack"
check "a deleted rule is re-added within the sync interval" wait_for 15 bash -c "[ \$(ip netns exec $NS iptables-save | grep -c 'NodeLocal DNS Cache') = 24 ]"

if [ $FULL = 1 ]; then
    check "cluster.local grep 10.244.0.5 in the rendered Corefile" grep -q 'forward . 10.244.0.5' "$T/Corefile"
    for ip in 169.254.20.10 10.96.0.10; do
        check "UDP cluster zone via $ip" bash -c "ip netns exec $NS dig +short +time=2 +tries=2 @$ip kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1"
        check "TCP cluster zone via $ip" bash -c "ip netns exec $NS dig +tcp +short +time=2 +tries=2 @$ip kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1"
        check "UDP . via $ip (resolv.conf upstream)" bash -c "ip netns exec $NS dig +short +time=2 +tries=2 @$ip www.example A | grep -qx 192.0.2.80"
        check "TCP . via $ip" bash -c "ip netns exec $NS dig +tcp +short +time=2 +tries=2 @$ip www.example A | grep -qx 192.0.2.80"
    done
    check "GET /health on 169.254.20.10:8080 -> 200 OK" bash -c "[ \"\$(ip netns exec $NS curl -s -o /dev/stderr -w '%{http_code}' --max-time 3 http://169.254.20.10:8080/health 2>&1)\" = 'OK200' ]"
    check "CoreDNS metrics on :9253" bash -c "ip netns exec $NS curl -s --max-time 3 http://169.254.20.10:9253/metrics | grep -q '^coredns_dns_requests_total'"
    check "setup-error metric also on :9253 (one registry)" bash -c "ip netns exec $NS curl -s --max-time 3 http://169.254.20.10:9253/metrics | grep -q '^coredns_nodecache_setup_errors_total'"
    check "promhttp handler families also on :9253 (one registry), none in flight there" bash -c "ip netns exec $NS curl -s --max-time 3 http://169.254.20.10:9253/metrics | grep -q '^promhttp_metric_handler_requests_in_flight 0\$'"
    check "CoreDNS metrics also on :9353" bash -c "ip netns exec $NS curl -s --max-time 3 http://127.0.0.1:9353/metrics | grep -q '^coredns_dns_requests_total'"

    # A stub domain appears in the kube-dns ConfigMap directory.
    echo '{"acme.local": ["10.244.0.5"]}' > "$T/kube-dns/stubDomains"
    check "stub domain block rendered after the 10 s sync" wait_for 25 grep -q '^acme.local:53 {' "$T/Corefile"
    check "stub domain served after the sync" wait_for 15 bash -c "ip netns exec $NS dig +short +time=1 +tries=1 @169.254.20.10 host.acme.local A | grep -qx 192.0.2.99"
else
    echo "SKIP (partial): DNS answers, /health, :9253 metrics, stub-domain serving need errors/cache/reload/loop/forward/prometheus/health"
    check "whoami answers on both IPs" bash -c "ip netns exec $NS dig +short +time=2 +tries=2 @169.254.20.10 whoami.cluster.local A | grep -q . && ip netns exec $NS dig +tcp +short +time=2 +tries=2 @10.96.0.10 whoami.cluster.local A | grep -q ."
fi

stop_nodecache; st=$?
check "SIGTERM: exit status 0 (got $st)" [ "$st" = 0 ]
[ "$st" = 0 ] || { echo "--- stdout"; grep -v plugin/errors "$T/nc.out" | tail -20; echo "--- stderr"; tail -20 "$T/nc.err"; }
check "SIGTERM: rules removed" [ "$(rules_count)" = 0 ]
check "SIGTERM: interface and addresses removed" bash -c "! ip netns exec $NS ip link show nodelocaldns >/dev/null 2>&1 && ! ip netns exec $NS ip -4 addr | grep -q 169.254.20.10"
check "'Tearing down' logged" grep -q '\[INFO\] Tearing down' "$T/nc.out"
check "pidfile removed" [ ! -e "$T/node-cache.pid" ]

echo "# scenario 2: -skipteardown leaves everything; a bad Corefile at the next start takes it out (fail open)"
prepare_link
start_nodecache -skipteardown
check "rules installed" wait_for 20 bash -c "[ \$(ip netns exec $NS iptables-save | grep -c 'NodeLocal DNS Cache') = 24 ]"
stop_nodecache
check "-skipteardown: rules stay" [ "$(rules_count)" = 24 ]
check "-skipteardown: interface stays" in_ns ip link show nodelocaldns
cp "$T/coredns/Corefile.base" "$T/good.base"
printf '.:53 {\n    nosuchplugin\n}\n' > "$T/coredns/Corefile.base"
start_nodecache
wait "$NC_PID"; st=$?; NC_PID=
check "bad Corefile: exit status 1" [ "$st" = 1 ]
check "bad Corefile: CoreDNS's error on stderr" grep -q "Unknown directive 'nosuchplugin'" "$T/nc.err"
check "bad Corefile: leftover rules removed" [ "$(rules_count)" = 0 ]
check "bad Corefile: interface removed" bash -c "! ip netns exec $NS ip link show nodelocaldns >/dev/null 2>&1"
cp "$T/good.base" "$T/coredns/Corefile.base"

if [ $DUMMY = 0 ]; then
    echo "# scenario 3: no dummy link type: counted, logged, serving goes on (addresses provided on lo)"
    in_ns ip addr add 169.254.20.10/32 dev lo
    in_ns ip addr add 10.96.0.10/32 dev lo
    rm -f "$T/kube-dns/stubDomains"
    start_nodecache -setupiptables=false
    check "pidfile written (serving)" wait_for 20 test -f "$T/node-cache.pid"
    check "interface_add counted" wait_for 10 bash -c "ip netns exec $NS curl -s --max-time 3 http://127.0.0.1:9353/metrics | grep -q 'errortype=\"interface_add\"} [1-9]'"
    check "interface_check counted" bash -c "ip netns exec $NS curl -s --max-time 3 http://127.0.0.1:9353/metrics | grep -q 'errortype=\"interface_check\"} [1-9]'"
    check "creation failure logged" grep -q 'Failed to add non-existent interface nodelocaldns' "$T/nc.err"
    if [ $FULL = 1 ]; then
        check "still answers" bash -c "ip netns exec $NS dig +short +time=2 +tries=2 @169.254.20.10 kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1"
    else
        check "still answers" bash -c "ip netns exec $NS dig +short +time=2 +tries=2 @169.254.20.10 whoami.cluster.local A | grep -q ."
    fi
    stop_nodecache
fi

echo "# scenario 4: the host's iptables backend is detected (legacy host, then nft host)"
if command -v iptables-legacy >/dev/null && command -v iptables-nft >/dev/null &&
    in_ns iptables-legacy -w 5 -t raw -S >/dev/null 2>&1; then
    count_in() { in_ns "$1-save" 2>/dev/null | grep -c 'NodeLocal DNS Cache'; }
    rm -f "$T/kube-dns/stubDomains"
    # A legacy host: kubelet's marker chain, a kube-proxy-like rule, and one
    # of our rules left by an earlier pod (it must not be duplicated).
    in_ns iptables-legacy -w 5 -t mangle -N KUBE-IPTABLES-HINT
    in_ns iptables-legacy -w 5 -t filter -A INPUT -p udp --dport 9 -j DROP
    in_ns iptables-legacy -w 5 -t raw -I PREROUTING -p udp -d 169.254.20.10 --dport 53 -j NOTRACK -m comment --comment "NodeLocal DNS Cache: skip conntrack"
    prepare_link
    start_nodecache
    check "legacy host: 24 rules in iptables-legacy" wait_for 20 bash -c "[ \$(ip netns exec $NS iptables-legacy-save | grep -c 'NodeLocal DNS Cache') = 24 ]"
    check "legacy host: none in iptables-nft" [ "$(count_in iptables-nft)" = 0 ]
    check "legacy host: the choice is logged" grep -q "Using iptables-legacy for the rules (kubelet's chains found in iptables-legacy)" "$T/nc.err"
    if [ $FULL = 1 ]; then
        check "legacy host: answers via 169.254.20.10" bash -c "ip netns exec $NS dig +short +time=2 +tries=2 @169.254.20.10 kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1"
    fi
    stop_nodecache
    check "legacy host: teardown removes every rule from iptables-legacy" [ "$(count_in iptables-legacy)" = 0 ]
    check "legacy host: the host's own rules stay" bash -c "ip netns exec $NS iptables-legacy-save | grep -q -- '-A INPUT -p udp -m udp --dport 9 -j DROP'"
    in_ns iptables-legacy -w 5 -t filter -D INPUT -p udp --dport 9 -j DROP
    in_ns iptables-legacy -w 5 -t mangle -X KUBE-IPTABLES-HINT

    # An nft host: the marker in the nft mangle table.
    in_ns iptables-nft -w 5 -t mangle -N KUBE-KUBELET-CANARY
    prepare_link
    start_nodecache
    check "nft host: 24 rules in iptables-nft" wait_for 20 bash -c "[ \$(ip netns exec $NS iptables-nft-save | grep -c 'NodeLocal DNS Cache') = 24 ]"
    check "nft host: none in iptables-legacy" [ "$(count_in iptables-legacy)" = 0 ]
    check "nft host: the choice is logged" grep -q "Using iptables-nft for the rules (kubelet's chains found in iptables-nft)" "$T/nc.err"
    stop_nodecache
    check "nft host: teardown removes every rule" [ "$(count_in iptables-nft)" = 0 ]
    in_ns iptables-nft -w 5 -t mangle -X KUBE-KUBELET-CANARY

    # The flag wins over detection.
    prepare_link
    start_nodecache -iptablesbackend legacy
    check "-iptablesbackend legacy: rules in iptables-legacy on an empty host" wait_for 20 bash -c "[ \$(ip netns exec $NS iptables-legacy-save | grep -c 'NodeLocal DNS Cache') = 24 ]"
    stop_nodecache
    check "-iptablesbackend legacy: removed on teardown" [ "$(count_in iptables-legacy)" = 0 ]
else
    echo "SKIP (scenario 4): iptables-legacy/iptables-nft not both installed, or the legacy raw table is unusable in a namespace on this kernel"
fi

echo "# scenario 5: -nftables installs one native table next to a kube-proxy-like nftables ruleset"
if command -v nft >/dev/null && in_ns nft list tables >/dev/null 2>&1; then
    nft_rules() { in_ns nft list table inet nodelocaldns 2>/dev/null | grep -c 'NodeLocal DNS Cache'; }
    # kube-proxy's nftables mode keeps its own table; ours must leave it alone.
    in_ns nft -f - <<'N'
table ip kube-proxy {
	chain filter-input {
		type filter hook input priority -110; policy accept;
		ct state new counter
	}
	chain nat-output {
		type nat hook output priority -100; policy accept;
	}
}
N
    prepare_link
    start_nodecache -nftables -syncinterval 2ns
    check "-nftables: 24 rules in table inet nodelocaldns" wait_for 20 bash -c "[ \$(ip netns exec $NS nft list table inet nodelocaldns 2>/dev/null | grep -c 'NodeLocal DNS Cache') = 24 ]"
    check "-nftables: no iptables rules" bash -c "[ \$(ip netns exec $NS iptables-nft-save 2>/dev/null | grep -c 'NodeLocal DNS Cache') = 0 ] && [ \$(ip netns exec $NS iptables-legacy-save 2>/dev/null | grep -c 'NodeLocal DNS Cache') = 0 ]"
    check "-nftables: the choice is logged" grep -q "Using the nftables table inet nodelocaldns for the rules (-nftables)" "$T/nc.err"
    if [ $FULL = 1 ]; then
        check "-nftables: answers via 10.96.0.10 over UDP and TCP" bash -c "ip netns exec $NS dig +short +time=2 +tries=2 @10.96.0.10 kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1 && ip netns exec $NS dig +tcp +short +time=2 +tries=2 @10.96.0.10 www.example A | grep -qx 192.0.2.80"
    fi
    in_ns nft delete table inet nodelocaldns
    check "-nftables: a deleted table comes back at the next sync" wait_for 15 bash -c "[ \$(ip netns exec $NS nft list table inet nodelocaldns 2>/dev/null | grep -c 'NodeLocal DNS Cache') = 24 ]"
    check "-nftables: 'Added back' logged" grep -q "Added back nodelocaldns nftables table inet nodelocaldns" "$T/nc.out"
    stop_nodecache
    check "-nftables: teardown deletes the table" bash -c "! ip netns exec $NS nft list table inet nodelocaldns >/dev/null 2>&1"
    check "-nftables: kube-proxy's table untouched" bash -c "ip netns exec $NS nft list table ip kube-proxy | grep -q 'chain filter-input'"
    in_ns nft delete table ip kube-proxy
else
    echo "SKIP (scenario 5): nft not installed or unusable in a namespace on this kernel"
fi

echo "# scenario 6: -handover-socket: a second node-cache takes over; the rules and the interface stay"
rm -f "$T/kube-dns/stubDomains" "$T/handover.sock"
prepare_link
start_nodecache -handover-socket "$T/handover.sock"
OLD_PID=$NC_PID
check "handover: first process installs its rules" wait_for 20 bash -c "[ \$(ip netns exec $NS iptables-save | grep -c 'NodeLocal DNS Cache') = 24 ]"
check "handover: first process listens on the handover socket" wait_for 10 test -S "$T/handover.sock"
[ $FULL = 1 ] && query @169.254.20.10 www.example A >/dev/null
cp "$T/nc.out" "$T/nc-old.out"
ip netns exec "$NS" env KUBE_DNS_UPSTREAM_SERVICE_HOST=10.244.0.5 "$NODECACHE" \
    -localip 169.254.20.10,10.96.0.10 -conf "$T/Corefile" -upstreamsvc kube-dns-upstream \
    -pidfile "$T/node-cache.pid" -basecorefile "$T/coredns/Corefile.base" -kubednscm "$T/kube-dns" \
    -metrics-listen-address 127.0.0.1:9353 -handover-socket "$T/handover.sock" >"$T/nc-new.out" 2>"$T/nc-new.err" &
NEW_PID=$!
check "handover: the old process exits by itself" wait_for 20 bash -c "! kill -0 $OLD_PID 2>/dev/null"
wait "$OLD_PID"; st=$?
check "handover: old process exit status 0 (got $st)" [ "$st" = 0 ]
NC_PID=$NEW_PID
check "handover: the old process skipped its teardown" grep -q 'Skipping teardown: a successor process serves' "$T/nc.out"
check "handover: the new process took over" grep -q 'handover: took over from the predecessor' "$T/nc-new.out"
check "handover: the 24 rules are still there (none removed, none doubled)" [ "$(rules_count)" = 24 ]
check "handover: the interface and its addresses are still there" bash -c "ip netns exec $NS ip -4 addr show dev nodelocaldns | grep -q '169.254.20.10/32'"
check "handover: pidfile holds the new process's pid" bash -c "[ \"\$(cat $T/node-cache.pid)\" = $NEW_PID ]"
if [ $FULL = 1 ]; then
    check "handover: the new process answers on both IPs" bash -c "ip netns exec $NS dig +short +time=2 +tries=1 @169.254.20.10 www.example A | grep -qx 192.0.2.80 && ip netns exec $NS dig +short +time=2 +tries=1 @10.96.0.10 kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1"
fi
kill -TERM "$NC_PID"
wait_for 20 bash -c "! kill -0 $NC_PID 2>/dev/null"
wait "$NC_PID"; st=$?; NC_PID=
check "handover: the last process, without successor, exits 0 on SIGTERM (got $st)" [ "$st" = 0 ]
check "handover: ... and tears down as without the flag" [ "$(rules_count)" = 0 ]
check "handover: ... interface removed" bash -c "! ip netns exec $NS ip link show nodelocaldns >/dev/null 2>&1"

echo "# scenario 7: -supervise: kill -9 of the serving process; the supervisor restarts it on the same sockets"
prepare_link
start_nodecache -supervise
SUP_PID=$NC_PID
check "supervise: rules installed by the serving process" wait_for 20 bash -c "[ \$(ip netns exec $NS iptables-save | grep -c 'NodeLocal DNS Cache') = 24 ]"
for n in 1 2 3; do
    c=$(pgrep -P "$SUP_PID" | head -n1)
    kill -KILL "$c"
    check "supervise: kill -9 #$n: a new serving process" wait_for 10 bash -c "c2=\$(pgrep -P $SUP_PID | head -n1); [ -n \"\$c2\" ] && [ \"\$c2\" != $c ]"
    check "supervise: kill -9 #$n: the rules never went away (24)" [ "$(rules_count)" = 24 ]
    if [ $FULL = 1 ]; then
        check "supervise: kill -9 #$n: answers on 169.254.20.10 at once" bash -c "ip netns exec $NS dig +short +time=1 +tries=1 @169.254.20.10 www.example A | grep -qx 192.0.2.80"
    fi
done
check "supervise: restarts logged" bash -c "[ \$(grep -c 'was killed by signal 9; restarting it' $T/nc.out) = 3 ]"
stop_nodecache; st=$?
check "supervise: SIGTERM: exit status 0 (got $st)" [ "$st" = 0 ]
check "supervise: SIGTERM: rules removed" [ "$(rules_count)" = 0 ]
check "supervise: SIGTERM: interface removed" bash -c "! ip netns exec $NS ip link show nodelocaldns >/dev/null 2>&1"

if [ $FAILS -gt 0 ]; then
    echo "--- node-cache stdout"; tail -50 "$T/nc.out"; echo "--- node-cache stderr"; tail -30 "$T/nc.err"
    echo "$FAILS check(s) failed"; exit 1
fi
echo "all checks passed"
