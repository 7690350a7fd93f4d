#!/usr/bin/env bash
# End-to-end for the answer-shaping plugins (issue "node-cache's answer-shaping
# plugins"): the real dnscore on a stock-like node-local Corefile plus rewrite
# (name suffix with answer auto, a type, an EDNS0 option), hosts (inline
# entries, fallthrough), dns64 and loadbalance, with a real knotd behind
# forward on loopback. Every answer is checked over UDP and TCP, once with
# cache in front and once without. Skips (77) without knotd.
source "$(dirname "$0")/lib.sh"
command -v knotd >/dev/null || { echo "SKIP: knotd not installed"; exit 77; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT=$(free_port)
mkdir -p "$WORK/knot"
cat > "$WORK/knot/cluster.local.zone" <<'Z'
$ORIGIN cluster.local.
$TTL 30
@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30
@ NS ns.dns.cluster.local.
ns.dns A 127.0.0.1
web.default.svc A 10.0.0.10
Z
cat > "$WORK/knot/example.zone" <<'Z'
$ORIGIN example.
$TTL 30
@ SOA ns.example. hostmaster.example. 1 7200 1800 86400 30
@ NS ns.example.
ns A 127.0.0.1
www A 192.0.2.80
v4only A 192.0.2.1
multi A 192.0.2.11
multi A 192.0.2.12
multi A 192.0.2.13
multi A 192.0.2.14
txt TXT "v=spf1 -all"
Z
cat > "$WORK/knot/knot.conf" <<K
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$KPORT
control:
    listen: "$WORK/knot/knot.sock"
database:
    storage: "$WORK/knot"
log:
  - target: stderr
    any: warning
zone:
  - domain: cluster.local
    file: "$WORK/knot/cluster.local.zone"
  - domain: example
    file: "$WORK/knot/example.zone"
K
knotd -c "$WORK/knot/knot.conf" > "$WORK/knot.log" 2>&1 &
KNOT_PID=$!
trap 'kill $KNOT_PID 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do
    dig +short +time=1 +tries=1 @127.0.0.1 -p "$KPORT" www.example A 2>/dev/null | grep -q 192.0.2.80 && break
    sleep 0.2
done
dig +short +time=1 +tries=1 @127.0.0.1 -p "$KPORT" www.example A | grep -q 192.0.2.80 ||
    { cat "$WORK/knot.log"; echo "SKIP: knotd did not start"; exit 77; }

corefile() {  # CACHE_LINE
    cat <<C
.:0 {
    errors
    bind 127.0.0.1
    $1
    rewrite name suffix .cluster.local .svc.cluster.local answer auto
    rewrite stop type SPF TXT
    rewrite edns0 local set 0xffee 0xabcd
    hosts {
        10.1.1.1 inline.example
        fallthrough
    }
    dns64 {
        prefix 64:ff9b::/96
        allow_ipv4
    }
    loadbalance
    forward . 127.0.0.1:$KPORT
}
C
}

for cache_line in "cache 30" ""; do
    label=${cache_line:-no cache}
    start_server "$(corefile "$cache_line")" || { not_ok "server starts ($label)"; continue; }
    for round in 1 2; do  # the second round is served from cache when cache is on
        for tr in +notcp +tcp; do
            t="$label, $tr, round $round"
            check "rewrite suffix: web.default.cluster.local -> 10.0.0.10 under the client's name ($t)" \
                bash -c "out=\$(dig @127.0.0.1 -p $PORT +time=2 +tries=1 $tr +noall +answer web.default.cluster.local A); grep -Eq '^web\.default\.cluster\.local\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+10\.0\.0\.10\$' <<<\"\$out\""
            check "rewrite keeps the client's question ($t)" \
                bash -c "dig @127.0.0.1 -p $PORT +time=2 +tries=1 $tr web.default.cluster.local A | grep -A1 'QUESTION SECTION' | grep -q '^;web.default.cluster.local.'"
            check "rewrite type SPF->TXT answered from knotd ($t)" \
                bash -c "dig @127.0.0.1 -p $PORT +time=2 +tries=1 $tr +short txt.example SPF | grep -qx '\"v=spf1 -all\"'"
            check "hosts inline entry ($t)" \
                bash -c "[ \"\$(dig @127.0.0.1 -p $PORT +time=2 +tries=1 $tr +short inline.example A)\" = 10.1.1.1 ]"
            check "hosts falls through to forward/knotd ($t)" \
                bash -c "[ \"\$(dig @127.0.0.1 -p $PORT +time=2 +tries=1 $tr +short www.example A)\" = 192.0.2.80 ]"
            check "dns64 synthesises AAAA from knotd's A ($t)" \
                bash -c "[ \"\$(dig @127.0.0.1 -p $PORT +time=2 +tries=1 $tr +short v4only.example AAAA)\" = 64:ff9b::c000:201 ]"
            check "dns64 over a hosts entry ($t)" \
                bash -c "[ \"\$(dig @127.0.0.1 -p $PORT +time=2 +tries=1 $tr +short inline.example AAAA)\" = 64:ff9b::a01:101 ]"
            check "edns0 rewrite: the answer is still knotd's ($t)" \
                bash -c "dig @127.0.0.1 -p $PORT +time=2 +tries=1 $tr multi.example A | grep -q 'status: NOERROR'"
        done
    done
    # loadbalance: four addresses, every one comes first at some point.
    firsts=""
    for _ in $(seq 40); do firsts+="$(q +short multi.example A | head -n1) "; done
    check "loadbalance: the 4 addresses all come first in 40 replies ($label)" \
        bash -c "for a in 11 12 13 14; do grep -q 192.0.2.\$a <<<'$firsts' || exit 1; done"
    check "loadbalance: the answer keeps 4 addresses ($label)" [ "$(q +short multi.example A | wc -l)" = 4 ]
    check "clean exit ($label)" stop_server
done
finish
