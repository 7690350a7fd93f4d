#!/usr/bin/env python3
"""Steady UDP query load for the restart/handover tests: QPS queries a second
over several client sockets (so SO_REUSEPORT spreads them over every server
socket), a fixed set of names that stay cached plus a share of never-seen
names (misses that go upstream). Every query waits TIMEOUT seconds for its
answer, with no retry: a query counts as failed when its rcode is not
NOERROR, as timed out when no answer came. Runs DURATION seconds, or until
STOP_FILE exists. Prints one line: sent=.. ok=.. failed=.. timeout=..
(and the first few failures with their time) and exits 0."""
import argparse
import os
import random
import select
import socket
import struct
import time


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--qps", type=int, default=500)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--stop-file", default="")
    ap.add_argument("--names", type=int, default=200, help="cached name set size")
    ap.add_argument("--uncached", type=float, default=0.1, help="share of never-seen names")
    ap.add_argument("--zone", default="example.")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--sockets", type=int, default=16)
    a = ap.parse_args()

    socks = []
    for _ in range(a.sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((a.server, a.port))
        socks.append(s)
    pending = {}  # (sock index, id) -> (sent time, name)
    sent = ok = failed = timeout = 0
    failures = []
    start = time.monotonic()
    interval = 1.0 / a.qps
    next_send = start
    next_id = random.randrange(65536)
    stopping_at = None

    def receive(ready):
        nonlocal ok, failed
        for s in ready:
            i = socks.index(s)
            while True:
                try:
                    data = s.recv(4096)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                if len(data) < 12:
                    continue
                qid, flags = struct.unpack("!HH", data[:4])
                entry = pending.pop((i, qid), None)
                if entry is None:
                    continue
                if flags & 0xF == 0:
                    ok += 1
                else:
                    failed += 1
                    if len(failures) < 10:
                        failures.append("t=%.3f rcode=%d %s" % (entry[0] - start, flags & 0xF, entry[1]))

    while True:
        now = time.monotonic()
        done = (a.stop_file and os.path.exists(a.stop_file)) or (not a.stop_file and now - start >= a.duration)
        if done and stopping_at is None:
            stopping_at = now
        if stopping_at is None:
            while next_send <= now:
                if random.random() < a.uncached:
                    name = "u%d-%d.%s" % (os.getpid(), sent, a.zone)
                else:
                    name = "c%d.%s" % (random.randrange(a.names), a.zone)
                next_id = (next_id + 1) & 0xFFFF
                i = sent % len(socks)
                q = struct.pack("!HHHHHH", next_id, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", 1, 1)
                try:
                    socks[i].send(q)
                except (BlockingIOError, ConnectionRefusedError):
                    pass  # counted as a timeout if no answer comes
                pending[(i, next_id)] = (now, name)
                sent += 1
                next_send += interval
        # Read what has arrived before expiring anything: when this process
        # was not scheduled for a while (a loaded CI machine), the answers
        # are waiting in the sockets and must not be counted as timeouts.
        ready, _, _ = select.select(socks, [], [], 0)
        receive(ready)
        # Expire queries that waited too long.
        for key in [k for k, v in pending.items() if now - v[0] > a.timeout]:
            t, name = pending.pop(key)
            timeout += 1
            if len(failures) < 10:
                failures.append("t=%.3f timeout %s" % (t - start, name))
        if stopping_at is not None and (not pending or now - stopping_at > a.timeout + 0.5):
            break
        ready, _, _ = select.select(socks, [], [], min(interval, 0.01))
        receive(ready)
    print("sent=%d ok=%d failed=%d timeout=%d" % (sent, ok, failed, timeout + len(pending)))
    for f in failures:
        print("  " + f)


if __name__ == "__main__":
    main()
