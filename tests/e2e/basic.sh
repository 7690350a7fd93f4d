#!/usr/bin/env bash
# The README's example: whoami/log/errors answered over UDP and TCP.
. "$(dirname "$0")/lib.sh"

start_server '.:0 {
    bind 127.0.0.1
    errors
    log
    whoami
}
example.org:0 {
    bind 127.0.0.1
    whoami
}
' || exit 1

out=$(q example.org A)
check "udp: NOERROR" grep -q 'status: NOERROR' <<<"$out"
check "udp: aa flag" grep -q 'flags: qr aa rd;' <<<"$out"
check "udp: client address in additional" grep -Eq '^example\.org\.[[:space:]]+0[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.0\.1' <<<"$out"
check "udp: _udp SRV" grep -Eq '^_udp\.example\.org\.[[:space:]]+0[[:space:]]+IN[[:space:]]+SRV[[:space:]]+0 0 [0-9]+ \.' <<<"$out"
check "udp: EDNS echoed" grep -q 'EDNS: version: 0, flags:; udp: 1232' <<<"$out"

out=$(q +tcp Example.COM A)
check "tcp: NOERROR" grep -q 'status: NOERROR' <<<"$out"
check "tcp: _tcp SRV with case kept" grep -Eq '^_tcp\.Example\.COM\.' <<<"$out"

out=$(q +noedns www.example.net AAAA)
check "no EDNS: no OPT in reply" bash -c '! grep -q "OPT PSEUDOSECTION" <<<"$1"' _ "$out"

# log line for a query that went through the . block (CoreDNS default format)
q +noedns logtest.example.net A >/dev/null
sleep 0.2
check "log line format" grep -Eq '^\[INFO\] 127\.0\.0\.1:[0-9]+ - [0-9]+ "A IN logtest\.example\.net\. udp [0-9]+ false 512" NOERROR qr,aa,rd [0-9]+ [0-9.]+s$' "$WORK/out.log"

# CH class with no forward on the listener -> REFUSED
out=$(q -c CH version.bind TXT)
check "CH class refused" grep -q 'status: REFUSED' <<<"$out"

# several TCP queries on one connection (dig +keepopen sends them in turn)
out=$(dig @127.0.0.1 -p "$PORT" +tcp +keepopen +time=2 +tries=1 a.example.org b.example.org c.example.org)
check "tcp: three answers on one connection" test "$(grep -c 'status: NOERROR' <<<"$out")" -eq 3

check "stops cleanly on SIGTERM" stop_server
finish
