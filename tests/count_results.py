#!/usr/bin/env python3
"""Counts test cases from meson's testlog.json: Catch2 binaries report their
test cases, e2e scripts their checks ("# N passed, N failed"); anything else
counts as one. Prints "PASSED FAILED SKIPPED"; with --failures, prints the
names of the failed tests instead, one per line (tests/run.sh repeats them
at the end of its output, where CI's tail shows them)."""
import json
import re
import sys

catch_ok = re.compile(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)")
catch_mixed = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
script = re.compile(r"^# (\d+) passed, (\d+) failed", re.M)


def why(out):
    """What CI's tail should show of a failed test: each failed Catch2
    assertion (its file:line, the check and its expansion), sanitizer and
    script failure lines, then the last lines of the output."""
    lines = out.rstrip().splitlines()
    picked = []
    for i, l in enumerate(lines):
        if l.rstrip().endswith("FAILED:") or "ERROR: AddressSanitizer" in l or "runtime error:" in l \
                or l.startswith("not ok") or l.startswith("FAIL"):
            block = [l]
            for nxt in lines[i + 1:i + 8]:
                if not nxt.strip() or nxt.startswith("---") or nxt.startswith("==="):
                    break
                block.append(nxt)
            picked.extend(block)
    picked = picked[:40]
    tail = lines[-8:]
    return "\n".join("    " + l for l in picked + (["..."] if picked else []) + tail)


list_failures = "--failures" in sys.argv[1:]
log = [a for a in sys.argv[1:] if a != "--failures"][0]

passed = failed = skipped = 0
failures = []
for line in open(log, encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    result, out = t.get("result"), t.get("stdout") or ""
    if result == "SKIP":
        skipped += 1
        continue
    ok = result == "OK"
    if not ok:
        failures.append(f'{t.get("name")} ({result})\n{why(out + (t.get("stderr") or ""))}')
    m1, m2, m3 = catch_ok.search(out), catch_mixed.search(out), script.findall(out)
    if m1 and ok:
        passed += int(m1.group(1))
    elif m2:
        passed += int(m2.group(2))
        failed += int(m2.group(3)) or (0 if ok else 1)
    elif m3:
        p, f = map(int, m3[-1])
        passed += p
        failed += f if (f or ok) else 1
    elif ok:
        passed += 1
    else:
        failed += 1
if list_failures:
    for name in failures:
        print(name)
else:
    print(passed, failed, skipped)
