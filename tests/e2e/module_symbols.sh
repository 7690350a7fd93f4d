#!/usr/bin/env bash
# Every symbol the grpc:// and quic:// modules need is there when dnscore or
# node-cache dlopen()s them (core/transport_module.hpp): each undefined
# symbol of a module must be defined by one of the module's own libraries or
# exported by the executable (server/module_exports.sh). A symbol of
# core_lib that only a module uses is not linked into an executable, and the
# module would then fail to load at run time; grpc-e2e and doq-e2e load them
# in dnscore only, so this checks node-cache too, without running it.
#   env DNSCORE=build/dnscore NODECACHE=build/node-cache MODULE_DIR=build
. "$(dirname "$0")/lib.sh"
MODULE_DIR=${MODULE_DIR:-$(dirname "$DNSCORE")}

defined() {  # ELF...: the dynamic symbols they define, one a line
    nm -D --defined-only -P "$@" 2>/dev/null | awk '{ sub(/@.*/, "", $1); print $1 }' | grep -v ':$'
}
for module in "$MODULE_DIR"/dnscore-grpc.so "$MODULE_DIR"/dnscore-quic.so; do
    [ -f "$module" ] || { not_ok "$module missing"; continue; }
    # Strong undefined symbols only: weak ones may stay unresolved.
    nm -D --undefined-only -P "$module" | awk '$2 == "U" { sub(/@.*/, "", $1); print $1 }' | sort -u > "$WORK/need"
    # Its libraries and the loader (ld.so defines __tls_get_addr).
    defined $(ldd "$module" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }') | sort -u > "$WORK/libs"
    for exe in "$DNSCORE" "$NODECACHE"; do
        defined "$exe" | sort -u | sort -u - "$WORK/libs" > "$WORK/have"
        missing=$(comm -23 "$WORK/need" "$WORK/have" | head -5 | c++filt | tr '\n' ' ')
        check "$(basename "$module") in $(basename "$exe"): every symbol resolves${missing:+ (missing: $missing)}" \
            test -z "$missing"
    done
done
finish
