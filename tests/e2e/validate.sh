#!/usr/bin/env bash
# -validate accepts and rejects Corefiles as a start would, opening no socket.
. "$(dirname "$0")/lib.sh"

validate() {  # validate EXPECTED_STATUS EXPECTED_STDERR COREFILE_TEXT
    printf '%s' "$3" > "$WORK/Corefile"
    local err rc
    err=$("$DNSCORE" -validate -conf "$WORK/Corefile" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -ne "$1" ]; then echo "status $rc, wanted $1: $err"; return 1; fi
    if [ -n "$2" ] && [ "$err" != "$2" ]; then echo "got:    $err"; echo "wanted: $2"; return 1; fi
    return 0
}

check "valid Corefile" validate 0 "" $'.:53 {\n    errors\n    log\n    whoami\n}\n'
check "port 53 is not bound by -validate (works unprivileged and twice)" validate 0 "" $'.:53 {\n whoami\n}\n.:54 {\n whoami\n}\n'
check "unknown directive" validate 1 "$WORK/Corefile:2 - Error during parsing: Unknown directive 'nosuch'" $'.:53 {\n nosuch\n}\n'
check "syntax error" validate 1 "$WORK/Corefile:1 - Error during parsing: Unexpected '}' because no matching opening brace" $'. { whoami }\n'
check "plugin argument error" validate 1 "plugin/whoami: $WORK/Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'x'" $'.:53 {\n whoami x\n}\n'
check "duplicate zone" validate 1 "cannot serve dns://.:53 - it is already defined" $'.:53 {\n whoami\n}\n.:53 {\n whoami\n}\n'
check "bad key" validate 1 "error inspecting server blocks: zone is not a valid domain name: " $':53 {\n whoami\n}\n'

err=$("$DNSCORE" -validate -conf "$WORK/missing" 2>&1)
check "missing -conf file" test "$err" = "loading Caddyfile via flag: open $WORK/missing: no such file or directory"

# grpc:// and quic:// are modules (core/transport_module.hpp): -validate loads
# them as a start does, and rejects the key when one cannot be loaded.
GRPC=$'.:53 {\n whoami\n}\ngrpc://.:0 {\n whoami\n}\n'
check "grpc:// with its module beside the binary" validate 0 "" "$GRPC"
mkdir -p "$WORK/nomodules"
export DNSCORE_MODULE_DIR=$WORK/nomodules
check "grpc:// without its module" validate 1 "$WORK/Corefile:4 - Error during setup: grpc:// is served by a module that could not be loaded: dnscore-grpc.so not found (looked for $WORK/nomodules/dnscore-grpc.so; set DNSCORE_MODULE_DIR to its directory)" "$GRPC"
printf '%s' "$GRPC" > "$WORK/Corefile"
err=$("$DNSCORE" -conf "$WORK/Corefile" 2>&1 >/dev/null)
rc=$?
check "a start fails the same way" test "$rc" = 1 -a "$err" = "$WORK/Corefile:4 - Error during setup: grpc:// is served by a module that could not be loaded: dnscore-grpc.so not found (looked for $WORK/nomodules/dnscore-grpc.so; set DNSCORE_MODULE_DIR to its directory)"
echo 'not an ELF' > "$WORK/nomodules/dnscore-grpc.so"
err=$("$DNSCORE" -validate -conf "$WORK/Corefile" 2>&1 >/dev/null)
check "a module that is not one: dlopen's reason" grep -qF "$WORK/Corefile:4 - Error during setup: grpc:// is served by a module that could not be loaded: cannot load $WORK/nomodules/dnscore-grpc.so: " <<< "$err"
check "quic:// without tls: the configuration error comes before the module" validate 1 "quic: tls.Config not set" $'quic://.:0 {\n whoami\n}\n'
unset DNSCORE_MODULE_DIR

# import relative to the Corefile
mkdir -p "$WORK/sub"
printf 'whoami\n' > "$WORK/sub/body"
check "import relative to the Corefile" validate 0 "" $'.:53 {\n import sub/body\n}\n'
finish
