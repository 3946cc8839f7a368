#!/usr/bin/env python3
"""compare_reports.py A.json B.json -- the largest relative difference
between the numbers of two linstab JSON reports (timings ignored), and
every non-numeric field that differs.  Used by tools/bench/bench_*.sh."""
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
worst = [0.0, ""]
def walk(x, y, path):
    if isinstance(x, dict):
        for k in x:
            if k not in ("timing_seconds", "seconds"): walk(x[k], y.get(k) if isinstance(y, dict) else None, path + "." + k)
    elif isinstance(x, list):
        for i, (u, v) in enumerate(zip(x, y or [])): walk(u, v, f"{path}[{i}]")
    elif isinstance(x, float) and isinstance(y, float) and x != y:
        d = abs(x - y) / max(abs(x), abs(y), 1e-300)
        if d > worst[0]: worst[:] = [d, path]
    elif x != y and not isinstance(x, float):
        print(f"  differs: {path}: {x} vs {y}")
walk(a, b, "")
print(f"largest relative difference between the reports: {worst[0]:.2e} ({worst[1] or '-'})")
