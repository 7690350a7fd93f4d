#!/usr/bin/env python3
"""Query stream for dnsperf (tests/e2e/load.sh): one "NAME A" line per query,
NAMES names that stay cached (c0..cN-1.ZONE, picked at random) mixed with a
share UNCACHED of never-seen names (u<pid>-<n>.ZONE, misses that go
upstream). Writes COUNT lines, or without COUNT until STOP_FILE exists, then
exits; dnsperf reads it from a pipe, so its send rate (-Q) paces this writer.
Each write is whole lines under PIPE_BUF bytes, so dnsperf never reads a
partial line when the stream ends."""
import argparse
import fcntl
import os
import random
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=int, default=200, help="cached name set size")
    ap.add_argument("--uncached", type=float, default=0.1, help="share of never-seen names")
    ap.add_argument("--zone", default="example.")
    ap.add_argument("--count", type=int, default=0, help="lines to write (0: until --stop-file exists)")
    ap.add_argument("--stop-file", default="")
    a = ap.parse_args()
    if not a.count and not a.stop_file:
        ap.error("--count or --stop-file is required")

    pid = os.getpid()
    written = 0
    chunk = 100  # ~30 bytes a line: a chunk stays under PIPE_BUF (4096)
    out = sys.stdout.fileno()
    try:  # a small pipe: what dnsperf still sends after the stop stays short
        fcntl.fcntl(out, fcntl.F_SETPIPE_SZ, 4096)
    except OSError:
        pass  # not a pipe
    while True:
        if a.count and written >= a.count:
            break
        if a.stop_file and os.path.exists(a.stop_file):
            break
        n = chunk if not a.count else min(chunk, a.count - written)
        lines = []
        for _ in range(n):
            if random.random() < a.uncached:
                lines.append("u%d-%d.%s A\n" % (pid, written, a.zone))
            else:
                lines.append("c%d.%s A\n" % (random.randrange(a.names), a.zone))
            written += 1
        try:
            os.write(out, "".join(lines).encode())
        except BrokenPipeError:
            break


if __name__ == "__main__":
    main()
