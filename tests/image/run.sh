#!/usr/bin/env bash
# The node-cache image, built and run: stages the rootfs with
# image/stage-rootfs.sh (the script the Dockerfile's build stage runs),
# builds an image from it with podman, and runs that image in a network
# namespace this test creates, with the stock manifest's arguments and a
# knotd playing kube-dns. Checks answers on both local IPs over UDP and TCP,
# /health, the 24 rules, teardown on `podman stop`, the image size; then the
# image on a legacy-iptables host (kube-proxy-like rules, backend detected)
# and with -nftables.
#
# The image is built from the Dockerfile's final stage only (`FROM scratch`,
# `COPY --from=build /rootfs /`, ENV, EXPOSE, ENTRYPOINT) with the staged
# rootfs given as the "build" stage: the Dockerfile's build stage would need
# debian:bookworm from a registry (or one made with debootstrap) and compile
# everything again, while its /rootfs is this same script's output. So what
# runs here is what the Dockerfile ships, with the binary under test.
#
# podman's settings for this host live in a private containers.conf and
# storage.conf under the test's temp dir (CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF), never in /etc; images and containers in the temp
# dir too, removed at exit.
#
# Usage (root): tests/image/run.sh [NODECACHE]   (or env NODECACHE)
# Skips (exit 77) with the reason when podman is missing or cannot run a
# container here.
set -u
NODECACHE=${1:-${NODECACHE:-}}
[ -n "$NODECACHE" ] || { echo "usage: $0 path/to/node-cache (or env NODECACHE)" >&2; exit 2; }
NODECACHE=$(readlink -f "$NODECACHE")
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MAX_BYTES=$((30 * 1000 * 1000))  # the size target: 30 MB uncompressed

skip() { echo "SKIP: $*"; exit 77; }
FAILS=0
pass() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
START=$SECONDS

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, podman with NET_ADMIN)"
command -v podman >/dev/null || skip "podman not installed (apt-get install podman)"
for tool in ip knotd dig curl iptables-nft-save iptables-legacy iptables-legacy-save nft; do
    command -v "$tool" >/dev/null || skip "$tool not installed"
done
[ -x "$NODECACHE" ] || { echo "FAIL - $NODECACHE is not an executable"; exit 1; }

NS=nc-img-$$
NAME=nc-img-$$
IMAGE=localhost/dnscore-node-cache-test:$$
T=$(mktemp -d /tmp/nodecache-image.XXXXXX)
KNOT_PID=
export CONTAINERS_CONF=$T/containers.conf CONTAINERS_STORAGE_CONF=$T/storage.conf
cleanup() {
    podman rm -f -t 0 "$NAME" >/dev/null 2>&1
    podman rmi -f "$IMAGE" >/dev/null 2>&1
    [ -n "$KNOT_PID" ] && kill "$KNOT_PID" 2>/dev/null
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    # Overlay layers of our private storage are mounted under $T.
    grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

# --- podman, configured for this host in private files --------------------
# crun refuses hybrid cgroup hosts (v1 controllers plus a v2 "unified"
# mount): "cgroups in hybrid mode not supported"; runc runs there.
RUNTIME=crun
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] && grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/mounts; then
    command -v runc >/dev/null || skip "hybrid cgroup v1/v2 host: crun cannot run containers here and runc is not installed"
    RUNTIME=runc
fi
command -v "$RUNTIME" >/dev/null || skip "no OCI runtime ($RUNTIME) installed"
# podman's root defaults (nofile and nproc 1048576) exceed what root may set
# where CAP_SYS_RESOURCE is withheld (containers in containers, CI runners):
# "setrlimit RLIMIT_NOFILE: Operation not permitted". Stay within ours.
NOFILE_HARD=$(ulimit -Hn); NOFILE_SOFT=$(ulimit -Sn)
NPROC=4096
case "$(ulimit -Hu)" in unlimited) ;; *) [ "$(ulimit -Hu)" -lt $((NPROC * 2)) ] && NPROC=$(( $(ulimit -Hu) / 2 )) ;; esac
cat > "$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE_SOFT:$NOFILE_HARD", "nproc=$NPROC:$NPROC"]
[engine]
runtime = "$RUNTIME"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/events.log"
EOF
cat > "$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$T/storage"
runroot = "$T/runroot"
EOF

# --- the image --------------------------------------------------------------
mkdir -p "$T/ctx" "$T/stage"
"$SRCDIR/image/stage-rootfs.sh" "$NODECACHE" "$T/stage/rootfs" >"$T/stage.log" 2>&1 ||
    { cat "$T/stage.log"; echo "FAIL - image/stage-rootfs.sh"; exit 1; }
# The Dockerfile's own final stage (FROM scratch to the end), its
# `COPY --from=build /rootfs /` reading the staged directory as the "build"
# context; podman < 4.2 has no --build-context: the same lines by hand.
sed -n '/^FROM scratch/,$p' "$SRCDIR/Dockerfile" > "$T/ctx/Containerfile"
if grep -q 'COPY --from=build /rootfs /' "$T/ctx/Containerfile" && podman build --help 2>/dev/null | grep -q -- --build-context; then
    BUILD_ARGS=(--build-context "build=$T/stage")
else
    mv "$T/stage/rootfs" "$T/ctx/rootfs"
    printf 'FROM scratch\nCOPY rootfs /\nENV PATH=/usr/sbin:/usr/bin:/sbin:/bin\nEXPOSE 53/udp 53/tcp\nENTRYPOINT ["/node-cache"]\n' > "$T/ctx/Containerfile"
    BUILD_ARGS=()
fi
if ! podman build -q "${BUILD_ARGS[@]}" -t "$IMAGE" "$T/ctx" >"$T/build.log" 2>&1; then
    cat "$T/build.log"
    skip "podman cannot build an image here (see above)"
fi
# Can podman start a container at all? The image's own loader needs nothing
# else from the image, so a failure here is the host's, not the image's.
if ! podman run --rm --network none --entrypoint /lib64/ld-linux-x86-64.so.2 "$IMAGE" --version >"$T/probe.log" 2>&1; then
    cat "$T/probe.log"
    skip "podman cannot run containers on this host (runtime $RUNTIME; see above)"
fi
HOW="a FROM scratch Containerfile"
[ ${#BUILD_ARGS[@]} = 0 ] || HOW="the Dockerfile's final stage"
pass "image built from the staged rootfs with $HOW (runtime $RUNTIME)"

SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
NC_FILE=$(find "$T/stage" "$T/ctx" -maxdepth 2 -name node-cache -type f | head -1)
SIZE_MB=$(( (SIZE + 500000) / 1000000 ))
echo "# image size: $SIZE bytes ($SIZE_MB MB) uncompressed; /node-cache $(stat -c %s "$NC_FILE") bytes stripped"
# The target is for the shipped build; an ASan/UBSan binary drags in its
# runtime and instrumentation (over 100 MB), so there only the figure is shown.
if ldd "$NODECACHE" 2>/dev/null | grep -q 'libasan\|libubsan'; then
    echo "# image size not checked: $NODECACHE is a sanitizer build"
else
    check "image size $SIZE <= $MAX_BYTES bytes" [ "$SIZE" -le "$MAX_BYTES" ]
fi
check "exposes 53/udp and 53/tcp" bash -c "podman image inspect --format '{{json .Config.ExposedPorts}}' $IMAGE | grep -q '53/udp' && podman image inspect --format '{{json .Config.ExposedPorts}}' $IMAGE | grep -q '53/tcp'"
check "entrypoint is /node-cache" bash -c "[ \"\$(podman image inspect --format '{{json .Config.Entrypoint}}' $IMAGE)\" = '[\"/node-cache\"]' ]"

# --- the namespace: a node with kube-dns (knotd) at 10.244.0.5 -------------
ip netns add "$NS" 2>/dev/null || skip "the kernel refuses network namespaces (ip netns add)"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up || skip "cannot bring lo up in the namespace"
in_ns ip addr add 10.244.0.5/32 dev lo

mkdir -p "$T/coredns" "$T/kube-dns"
source "$SRCDIR/tests/e2e/kube_dns_knot.sh"
start_kube_dns_knot "$NS" "$T/knot" || skip "knotd did not start in the namespace"

# The ConfigMap volume: the stock template after the operator's sed
# (kube-proxy iptables mode). The node's resolv.conf (for `.`) names knotd.
sed -e 's/__PILLAR__LOCAL__DNS__/169.254.20.10/g' -e 's/__PILLAR__DNS__DOMAIN__/cluster.local/g' \
    -e 's/__PILLAR__DNS__SERVER__/10.96.0.10/g' "$SRCDIR/nodecache/testdata/Corefile.base" > "$T/coredns/Corefile.base"
echo "nameserver 10.244.0.5" > "$T/resolv.conf"
touch "$T/xtables.lock"

DUMMY=1
if ! in_ns ip link add nc-probe type dummy 2>/dev/null; then
    DUMMY=0
    echo "NOTE: this kernel has no dummy link type; pre-creating 'nodelocaldns' as a bridge"
else
    in_ns ip link del nc-probe
fi
prepare_link() { [ $DUMMY = 1 ] || in_ns ip link add nodelocaldns type bridge; }

wait_for() {  # seconds command...
    local n=$(( $1 * 5 )); shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.2; done
    return 1
}
count_in() { in_ns "$1" 2>/dev/null | grep -c 'NodeLocal DNS Cache'; }
count_all() { echo $(( $(count_in iptables-nft-save) + $(count_in iptables-legacy-save) )); }

# The DaemonSet's pod: hostNetwork (here: the namespace), NET_ADMIN (plus
# NET_RAW, in Kubernetes' default set but not podman's), the stock args, the
# three volumes, kube-dns-upstream's service variable.
start_image() {  # extra node-cache args...
    prepare_link
    podman run -d --name "$NAME" --network "ns:/run/netns/$NS" --cap-add NET_ADMIN,NET_RAW \
        -e KUBE_DNS_UPSTREAM_SERVICE_HOST=10.244.0.5 -e KUBE_DNS_UPSTREAM_SERVICE_PORT=53 \
        -v "$T/coredns:/etc/coredns:ro" -v "$T/kube-dns:/etc/kube-dns:ro" \
        -v "$T/xtables.lock:/run/xtables.lock" -v "$T/resolv.conf:/etc/resolv.conf:ro" \
        "$IMAGE" -localip 169.254.20.10,10.96.0.10 -conf /etc/Corefile -upstreamsvc kube-dns-upstream \
        -pidfile /tmp/node-cache.pid "$@" >"$T/run.log" 2>&1 ||
        { cat "$T/run.log"; fail "podman run"; return 1; }
}
stop_image() {  # -> the container's exit status
    podman stop -t 20 "$NAME" >/dev/null 2>&1
    local st
    st=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
    podman logs "$NAME" >"$T/last.log" 2>&1
    podman rm -f "$NAME" >/dev/null 2>&1
    return "$st"
}
show_logs() { echo "--- container log"; podman logs "$NAME" 2>&1 | grep -v plugin/errors | tail -30; }

echo "# run 1: the stock manifest's arguments (a host with no rules: iptables-nft)"
start_image
check "24 rules installed (12 per IP)" wait_for 30 bash -c "[ \$(ip netns exec $NS iptables-nft-save 2>/dev/null | grep -c 'NodeLocal DNS Cache') = 24 ]"
check "none in iptables-legacy" [ "$(count_in iptables-legacy-save)" = 0 ]
SAVE=$(in_ns iptables-nft-save)
check "raw PREROUTING NOTRACK udp rule for 169.254.20.10" \
    grep -Eq -- '-A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -m comment --comment "NodeLocal DNS Cache: skip conntrack" -j (NOTRACK|CT --notrack)' <<<"$SAVE"
check "filter INPUT ACCEPT tcp rule for 10.96.0.10" \
    grep -q -- '-A INPUT -d 10.96.0.10/32 -p tcp -m tcp --dport 53 -m comment --comment "NodeLocal DNS Cache: allow DNS traffic" -j ACCEPT' <<<"$SAVE"
check "interface nodelocaldns carries both IPs" bash -c "ip netns exec $NS ip -4 addr show dev nodelocaldns | grep -q '169.254.20.10/32' && ip netns exec $NS ip -4 addr show dev nodelocaldns | grep -q '10.96.0.10/32'"
check "backend choice logged" bash -c "podman logs $NAME 2>&1 | grep -q 'Using iptables-nft for the rules'"
check "pidfile /tmp/node-cache.pid written in the container" bash -c "podman cp $NAME:/tmp/node-cache.pid $T/pid && grep -Eq '^[0-9]+' $T/pid"
for ip in 169.254.20.10 10.96.0.10; do
    check "UDP cluster.local via $ip" wait_for 10 bash -c "ip netns exec $NS dig +short +time=2 +tries=1 @$ip kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1"
    check "TCP cluster.local via $ip" bash -c "ip netns exec $NS dig +tcp +short +time=2 +tries=2 @$ip kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1"
    check "UDP . via $ip (resolv.conf upstream)" bash -c "ip netns exec $NS dig +short +time=2 +tries=2 @$ip www.example A | grep -qx 192.0.2.80"
    check "TCP . via $ip" bash -c "ip netns exec $NS dig +tcp +short +time=2 +tries=2 @$ip www.example A | grep -qx 192.0.2.80"
done
check "GET /health on 169.254.20.10:8080 -> 200 OK" bash -c "[ \"\$(ip netns exec $NS curl -s -o /dev/stderr -w '%{http_code}' --max-time 3 http://169.254.20.10:8080/health 2>&1)\" = 'OK200' ]"
check "metrics on :9253" bash -c "ip netns exec $NS curl -s --max-time 3 http://169.254.20.10:9253/metrics | grep -q '^coredns_dns_requests_total'"
[ $FAILS = 0 ] || show_logs
stop_image; st=$?
check "podman stop: exit status 0 (got $st)" [ "$st" = 0 ]
check "podman stop: rules removed" [ "$(count_all)" = 0 ]
check "podman stop: interface removed" bash -c "! ip netns exec $NS ip link show nodelocaldns >/dev/null 2>&1"
check "'Tearing down' logged" grep -q '\[INFO\] Tearing down' "$T/last.log"

echo "# run 2: a legacy-iptables host with kube-proxy-like rules (extensions beyond node-cache's)"
# The image's iptables-legacy-save must read all of it for the detection.
check "legacy host: kube-proxy-like rules made" bash -c "
ip netns exec $NS iptables-legacy -w 5 -t mangle -N KUBE-IPTABLES-HINT &&
ip netns exec $NS iptables-legacy -w 5 -t nat -N KUBE-SVC-TEST &&
ip netns exec $NS iptables-legacy -w 5 -t nat -A KUBE-SVC-TEST -p tcp -m comment --comment default/kubernetes:https \
    -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.0.9:443 &&
ip netns exec $NS iptables-legacy -w 5 -t filter -A INPUT -m conntrack --ctstate INVALID -m mark --mark 0x8000/0x8000 -j DROP"
check "legacy host: the image's iptables-legacy-save reads them (all extensions staged)" bash -c "
podman run --rm --network ns:/run/netns/$NS --cap-add NET_ADMIN,NET_RAW --entrypoint /usr/sbin/iptables-legacy-save $IMAGE >$T/save.out 2>&1;
grep -q -- '-m statistic --mode random' $T/save.out && grep -q -- '-m conntrack --ctstate INVALID' $T/save.out" || cat "$T/save.out"
start_image
check "legacy host: 24 rules in iptables-legacy" wait_for 30 bash -c "[ \$(ip netns exec $NS iptables-legacy-save 2>/dev/null | grep -c 'NodeLocal DNS Cache') = 24 ]"
check "legacy host: none in iptables-nft" [ "$(count_in iptables-nft-save)" = 0 ]
check "legacy host: choice logged" bash -c "podman logs $NAME 2>&1 | grep -q 'Using iptables-legacy for the rules'"
check "legacy host: answers via 10.96.0.10 (TCP)" wait_for 10 bash -c "ip netns exec $NS dig +tcp +short +time=2 +tries=1 @10.96.0.10 kubernetes.default.svc.cluster.local A | grep -qx 10.96.0.1"
[ $FAILS = 0 ] || show_logs
stop_image
check "legacy host: teardown removes the rules" [ "$(count_all)" = 0 ]
check "legacy host: kube-proxy's rules stay" bash -c "ip netns exec $NS iptables-legacy-save | grep -q -- '-m statistic --mode random' && ip netns exec $NS iptables-legacy-save | grep -q -- '-m conntrack --ctstate INVALID'"
in_ns iptables-legacy -w 5 -t filter -F INPUT
in_ns iptables-legacy -w 5 -t nat -F KUBE-SVC-TEST
in_ns iptables-legacy -w 5 -t nat -X KUBE-SVC-TEST
in_ns iptables-legacy -w 5 -t mangle -X KUBE-IPTABLES-HINT

echo "# run 3: -nftables (the image's nft)"
start_image -nftables
check "-nftables: 24 rules in table inet nodelocaldns" wait_for 30 bash -c "[ \$(ip netns exec $NS nft list table inet nodelocaldns 2>/dev/null | grep -c 'NodeLocal DNS Cache') = 24 ]"
check "-nftables: no iptables rules" [ "$(count_all)" = 0 ]
check "-nftables: answers via 169.254.20.10 (UDP)" wait_for 10 bash -c "ip netns exec $NS dig +short +time=2 +tries=1 @169.254.20.10 www.example A | grep -qx 192.0.2.80"
[ $FAILS = 0 ] || show_logs
stop_image
check "-nftables: teardown deletes the table" bash -c "! ip netns exec $NS nft list table inet nodelocaldns >/dev/null 2>&1"

echo "# image size: $SIZE bytes; test runtime $((SECONDS - START)) s"
if [ $FAILS -gt 0 ]; then
    echo "--- last container log"; tail -30 "$T/last.log" 2>/dev/null
    echo "$FAILS check(s) failed"; exit 1
fi
echo "all checks passed"
