#!/usr/bin/env bash
# CoreDNS's command line: -plugins, -version, bad flags, extra arguments.
. "$(dirname "$0")/lib.sh"

out=$("$DNSCORE" -plugins)
check "-plugins lists dns.whoami" grep -qx '  dns.whoami' <<<"$out"
check "-plugins lists dns.log" grep -qx '  dns.log' <<<"$out"
check "-plugins has the server type" grep -qx '  dns' <<<"$out"

out=$("$DNSCORE" -version)
check "-version" grep -q '^dnscore-' <<<"$out"

"$DNSCORE" -nosuchflag >/dev/null 2>"$WORK/err"
rc=$?
check "unknown flag exits 2" test "$rc" -eq 2
check "unknown flag message" grep -qx 'flag provided but not defined: -nosuchflag' "$WORK/err"

"$DNSCORE" -conf /dev/null extra >/dev/null 2>"$WORK/err"
rc=$?
check "extra arguments exit 1" test "$rc" -eq 1
check "extra arguments message" grep -qx 'extra command line arguments: \[extra\]' "$WORK/err"

# Default Corefile when none exists: `.:PORT { whoami log }` (-dns.port given).
cd "$WORK"
"$DNSCORE" -dns.port 0 > "$WORK/def.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q '^\.:[0-9]' "$WORK/def.out" && break; sleep 0.05; done
check "default Corefile serves the root zone" grep -q '^\.:[0-9][0-9]*$' "$WORK/def.out"
kill -TERM $pid; wait $pid
check "SIGTERM exit status 0" test $? -eq 0

# pidfile written and removed
start_pid_test() {
    printf '.:0 {\n bind 127.0.0.1\n whoami\n}\n' > "$WORK/Corefile"
    "$DNSCORE" -conf "$WORK/Corefile" -pidfile "$WORK/pid" > "$WORK/p.out" 2>&1 &
    local p=$!
    for _ in $(seq 1 100); do [ -s "$WORK/pid" ] && break; sleep 0.05; done
    [ "$(cat "$WORK/pid" 2>/dev/null)" = "$p" ] || { kill $p; return 1; }
    kill -TERM $p; wait $p
    [ ! -e "$WORK/pid" ]
}
check "pidfile written and removed" start_pid_test
finish
