#!/usr/bin/env bash
# The issue-16 kill -9 figure, long version (not in CI): 20 SIGKILLs of the
# serving process under 5,000 qps of mixed load (dnsperf). Loopback only.
#   DNSCORE=build/dnscore tests/e2e/crash_long.sh
export KILLS=${KILLS:-20} QPS=${QPS:-5000} BACK_MS=${BACK_MS:-100}
exec bash "$(dirname "$0")/crash.sh"
