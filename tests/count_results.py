#!/usr/bin/env python3
"""Counts test cases from meson's testlog.json: Catch2 binaries report their
test cases, e2e scripts their checks ("# N passed, N failed"); anything else
counts as one. Prints "PASSED FAILED SKIPPED"."""
import json
import re
import sys

catch_ok = re.compile(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)")
catch_mixed = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
script = re.compile(r"^# (\d+) passed, (\d+) failed", re.M)

passed = failed = skipped = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    result, out = t.get("result"), t.get("stdout") or ""
    if result == "SKIP":
        skipped += 1
        continue
    ok = result == "OK"
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
print(passed, failed, skipped)
