#!/usr/bin/env bash
# The issue-16 outage figure, long version (not in CI): the upstream silent
# for more than 60 s, 200 names seen before asked every 5 s. Loopback only.
#   DNSCORE=build/dnscore tests/e2e/stale_long.sh
export OUTAGE=${OUTAGE:-60} STALE_NAMES=${STALE_NAMES:-200} RECHECK=${RECHECK:-30}
exec bash "$(dirname "$0")/stale_rfc8767.sh"
