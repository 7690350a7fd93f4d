#!/usr/bin/env bash
# The issue-16 figure, long version (not in CI): 20 consecutive handovers under
# a mixed load, with a 10 s hit-ratio window after each. Needs only loopback.
#   DNSCORE=build/dnscore tests/e2e/handover_long.sh
# QPS (default 2000) is spread over LOADERS Python load generators.
export HANDOVERS=${HANDOVERS:-20} QPS=${QPS:-2000} WINDOW=${WINDOW:-10} LOADERS=${LOADERS:-2}
exec bash "$(dirname "$0")/handover.sh"
