#!/usr/bin/env bash
# The issue-16 figure, long version (not in CI): 20 consecutive handovers under
# 5,000 qps of mixed load (dnsperf; 10 % never-seen names), with a 10 s
# hit-ratio window after each. Needs only loopback.
#   DNSCORE=build/dnscore tests/e2e/handover_long.sh
export HANDOVERS=${HANDOVERS:-20} QPS=${QPS:-5000} WINDOW=${WINDOW:-10}
exec bash "$(dirname "$0")/handover.sh"
