# The "kube-dns" of the namespace tests (sourced): a knotd at 10.244.0.5 inside
# network namespace $1, state in directory $2, serving cluster.local
# (kubernetes.default.svc -> 10.96.0.1), example (www -> 192.0.2.80) and
# acme.local (host -> 192.0.2.99, for stub-domain checks). The caller has put
# 10.244.0.5 on the namespace's lo. Sets KNOT_PID; returns 1 (log printed)
# when knotd does not answer within 10 s.
start_kube_dns_knot() {
    local ns=$1 dir=$2
    mkdir -p "$dir"
    cat > "$dir/cluster.local.zone" <<'Z'
$ORIGIN cluster.local.
$TTL 30
@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30
@ NS ns.dns.cluster.local.
ns.dns A 10.244.0.5
kubernetes.default.svc A 10.96.0.1
Z
    cat > "$dir/example.zone" <<'Z'
$ORIGIN example.
$TTL 30
@ SOA ns.example. hostmaster.example. 1 7200 1800 86400 30
@ NS ns.example.
ns A 10.244.0.5
www A 192.0.2.80
Z
    cat > "$dir/acme.local.zone" <<'Z'
$ORIGIN acme.local.
$TTL 30
@ SOA ns.acme.local. hostmaster.acme.local. 1 7200 1800 86400 30
@ NS ns.acme.local.
ns A 10.244.0.5
host A 192.0.2.99
Z
    cat > "$dir/knot.conf" <<K
server:
    rundir: "$dir"
    listen: 10.244.0.5@53
control:
    listen: "$dir/knot.sock"
database:
    storage: "$dir"
log:
  - target: stderr
    any: warning
zone:
  - domain: cluster.local
    file: "$dir/cluster.local.zone"
  - domain: example
    file: "$dir/example.zone"
  - domain: acme.local
    file: "$dir/acme.local.zone"
K
    # Started with `ip netns exec` directly (not via a shell function that
    # would fork a subshell): $! is then the daemon.
    ip netns exec "$ns" knotd -c "$dir/knot.conf" >"$dir/knot.log" 2>&1 &
    KNOT_PID=$!
    local _
    for _ in $(seq 50); do
        ip netns exec "$ns" dig +short +time=1 +tries=1 @10.244.0.5 kubernetes.default.svc.cluster.local A 2>/dev/null |
            grep -q 10.96.0.1 && return 0
        sleep 0.2
    done
    cat "$dir/knot.log"
    return 1
}
