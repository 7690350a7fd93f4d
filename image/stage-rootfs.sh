#!/usr/bin/env bash
# Collects what the node-cache image runs into a root filesystem directory:
#   image/stage-rootfs.sh BINARY OUTDIR
# BINARY becomes /node-cache; beside it only what it executes or opens:
# both iptables backends (xtables-legacy-multi, xtables-nft-multi and the
# iptables/ip6tables[-legacy|-nft][-save|-restore] names as symlinks), the
# IPv4/IPv6 xtables extensions, `nft` (for -nftables), every
# shared library these need (ldd, symlinks resolved), CA certificates and a
# minimal /etc. Used by the Dockerfile's final stage (FROM scratch) and by
# tests/image/run.sh, so the tested rootfs is the shipped one.
# Takes the tools from this machine (Debian bookworm in the Dockerfile's
# build stage); needs iptables, nftables, ca-certificates installed.
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 BINARY OUTDIR" >&2; exit 2; }
BINARY=$1
OUT=$2
[ -x "$BINARY" ] || { echo "$0: $BINARY is not an executable" >&2; exit 1; }

die() { echo "$0: $*" >&2; exit 1; }
tool() { command -v "$1" 2>/dev/null || PATH=/usr/sbin:/sbin:$PATH command -v "$1" 2>/dev/null || die "$1 not installed"; }

mkdir -p "$OUT"
# The same /lib, /lib64, /bin, /sbin layout as this machine (symlinks into
# /usr on a merged-/usr Debian), so library paths from ldd stay valid.
for d in lib lib64 bin sbin; do
    if [ -L "/$d" ]; then
        ln -sfn "$(readlink "/$d")" "$OUT/$d"
    elif [ -d "/$d" ]; then
        mkdir -p "$OUT/$d"
    fi
done
mkdir -p "$OUT/usr/sbin" "$OUT/usr/bin" "$OUT/etc/ssl/certs" "$OUT/run" "$OUT/tmp"
chmod 1777 "$OUT/tmp"

# copy_file SRC: SRC at the same path under OUT, the content of the file it
# names (symlinks followed) under SRC's own name, in its real directory.
copy_file() {
    local src=$1 dir
    dir=$(cd "$(dirname "$src")" && pwd -P)
    mkdir -p "$OUT$dir"
    [ -e "$OUT$dir/$(basename "$src")" ] || cp -L "$src" "$OUT$dir/$(basename "$src")"
}
# copy_libs ELF: every shared library ELF loads (ldd), and the loader.
copy_libs() {
    local lib
    for lib in $(ldd "$1" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'); do
        # Includes the loader (/lib64/ld-linux-x86-64.so.2, the path
        # compiled into every ELF).
        copy_file "$lib"
    done
    if ldd "$1" | grep -q 'not found'; then die "$1: library not found: $(ldd "$1" | grep 'not found')"; fi
}

install -m 0755 "$BINARY" "$OUT/node-cache"
copy_libs "$BINARY"

LEGACY=$(readlink -f "$(tool xtables-legacy-multi)")
NFT_MULTI=$(readlink -f "$(tool xtables-nft-multi)")
NFT=$(readlink -f "$(tool nft)")
install -m 0755 "$LEGACY" "$OUT/usr/sbin/xtables-legacy-multi"
install -m 0755 "$NFT_MULTI" "$OUT/usr/sbin/xtables-nft-multi"
install -m 0755 "$NFT" "$OUT/usr/sbin/nft"
for elf in "$LEGACY" "$NFT_MULTI" "$NFT"; do copy_libs "$elf"; done

# The multi binaries dispatch on argv[0]. Plain iptables/ip6tables are the
# nft variant, Debian's default; node-cache picks -legacy or -nft itself
# (-iptablesbackend), so no wrapper script is needed.
for fam in iptables ip6tables; do
    for suffix in "" -save -restore; do
        ln -sfn xtables-legacy-multi "$OUT/usr/sbin/$fam-legacy$suffix"
        ln -sfn xtables-nft-multi "$OUT/usr/sbin/$fam-nft$suffix"
        ln -sfn xtables-nft-multi "$OUT/usr/sbin/$fam$suffix"
    done
done

# xtables extensions, dlopen()ed by name from the directory compiled into
# libxtables (no ldd sees them). node-cache's own rules need only standard,
# comment, tcp, udp and CT (NOTRACK is an alias of it), but backend
# detection reads the host's whole ruleset with iptables-{legacy,nft}-save,
# and -save aborts at the first rule whose extension is missing
# ("Can't find library for match `statistic'": kube-proxy's, CNI's rules).
# So all IPv4/IPv6 extensions (about 2 MB); not the ebtables/arptables ones,
# whose commands the image does not carry.
XTLIB=$(ldd "$LEGACY" | awk '/libxtables/ { print $3 }')
XTDIR=$(cd "$(dirname "$XTLIB")" && pwd -P)/xtables
[ -d "$XTDIR" ] || die "no xtables extension directory at $XTDIR"
mkdir -p "$OUT$XTDIR"
for ext in libxt_standard libxt_comment libxt_tcp libxt_udp libxt_CT libxt_NOTRACK; do
    [ -e "$XTDIR/$ext.so" ] || die "xtables extension $XTDIR/$ext.so missing"
done
for so in "$XTDIR"/libxt_*.so "$XTDIR"/libipt_*.so "$XTDIR"/libip6t_*.so; do
    if [ -L "$so" ]; then  # aliases (NOTRACK -> CT, DNAT -> NAT) stay links
        ln -sfn "$(readlink "$so")" "$OUT$XTDIR/$(basename "$so")"
    else
        cp "$so" "$OUT$XTDIR/"
        copy_libs "$so"
    fi
done

# CA bundle (TLS upstreams), one file as OpenSSL's default path expects.
CA=/etc/ssl/certs/ca-certificates.crt
[ -f "$CA" ] || die "$CA missing (install ca-certificates)"
cp -L "$CA" "$OUT$CA"

# A minimal /etc: name lookups from files then DNS (glibc 2.34+ has
# nss_files/nss_dns built in), and root for anything that asks who it is.
printf 'hosts: files dns\npasswd: files\ngroup: files\n' > "$OUT/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/node-cache\n' > "$OUT/etc/passwd"
printf 'root:x:0:\n' > "$OUT/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "$OUT/etc/hosts"

# Strip what the tools carry but never use: nothing else is copied.
if command -v strip >/dev/null; then
    find "$OUT" -type f \( -name '*.so*' -o -perm -u+x \) ! -name 'ld-linux*' -exec strip --strip-unneeded {} + 2>/dev/null || true
fi
echo "staged $(du -sk "$OUT" | cut -f1) KiB in $OUT"
