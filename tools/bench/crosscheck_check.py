#!/usr/bin/python3
"""Cross-check `linstab check --json` against the numpy reference on many families.

    /usr/bin/python3 tools/bench/crosscheck_check.py [BUILD_DIR] [--seed S] [--count N]

For every case (random dense, factored and diagonal families, rank-deficient
ones, k > 1 factors with n k below and above d, and the edge cases B = 1,
B = n, rho = 0, each sampling) it runs

    BUILD_DIR/tools/linstab check --no-exact --json ...
    tools/bench/ref_check.py ...            (numpy, written from the maths of docs/math.md)

and compares every numeric field both report: relative difference
|a - b| / max(|a|, |b|) <= 1e-8, or an absolute difference below 1e-11 times
the scale of the field (a gap lambda_max(M_k - H^k) that is zero up to
rounding has no meaningful relative error); booleans must agree.  Prints one
line per case and exits 1 if any case fails.  A verification script, not a
test (the suite must not depend on numpy).
"""

import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def flatten(x, prefix=""):
    out = {}
    if isinstance(x, dict):
        for k, v in x.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = x
    return out


def scale_of(key, flat):
    """A natural magnitude for a field, for the absolute floor."""
    a = abs(flat.get("geometry.sharpness") or 1.0)
    if "m2_gap" in key or key.endswith(".s2"):
        return a * a
    if "m3_gap" in key:
        return a ** 3
    if "m4_gap" in key:
        return a ** 4
    if "gamma_min" in key:
        return 1.0
    return a


def families(rng):
    """(name, kind, array) cases."""
    out = []

    def psd_dense(n, d, rank):
        G = rng.standard_normal((n, d, rank))
        H = G @ G.transpose(0, 2, 1) / d
        return 0.5 * (H + H.transpose(0, 2, 1))

    out.append(("dense n=7 d=5 full", "family", psd_dense(7, 5, 5)))
    out.append(("dense n=6 d=8 rank-2 samples", "family", psd_dense(6, 8, 2)))
    # rank-deficient mean: every sample lives in the first 3 coordinates
    H = np.zeros((5, 6, 6))
    H[:, :3, :3] = psd_dense(5, 3, 3)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    out.append(("dense rank-deficient H (rotated)", "family", Q @ H @ Q.T))
    out.append(("factored k=1 n=9 d=4 (nk > d)", "factors", rng.standard_normal((9, 4, 1))))
    out.append(("factored k=1 n=3 d=7 (nk < d)", "factors", rng.standard_normal((3, 7, 1))))
    out.append(("factored k=2 n=4 d=10 (nk < d)", "factors", rng.standard_normal((4, 10, 2))))
    out.append(("factored k=3 n=5 d=6 (nk > d)", "factors", rng.standard_normal((5, 6, 3))))
    u = rng.standard_normal((1, 5, 1))
    out.append(("factored identical rank-one", "factors", np.repeat(u, 6, axis=0)))
    out.append(("diagonal n=8 d=5", "diag", rng.uniform(0, 2, (8, 5))))
    D = rng.uniform(0, 1, (6, 7))
    D[:, 2] = 0.0
    out.append(("diagonal with a null coordinate", "diag", D))
    E = np.zeros((4, 4))
    np.fill_diagonal(E, rng.uniform(0.5, 2, 4))
    out.append(("diagonal orthogonal rank-one", "diag", E))
    # d >= 128: Lanczos, the full-rank certificate and the chunked sums;
    # d >= 400: Lanczos tests convergence every step
    out.append(("dense n=20 d=140 full", "family", psd_dense(20, 140, 140)))
    H = np.zeros((12, 150, 150))
    H[:, :100, :100] = psd_dense(12, 100, 100)
    Q, _ = np.linalg.qr(rng.standard_normal((150, 150)))
    out.append(("dense n=12 d=150 rank-100 H (rotated)", "family", Q @ H @ Q.T))
    out.append(("factored k=1 n=450 d=420 (nk > d)", "factors", rng.standard_normal((450, 420, 1)) / 20))
    out.append(("factored k=2 n=80 d=130 (nk > d)", "factors", rng.standard_normal((80, 130, 2)) / 10))
    return out


def main():
    args = sys.argv[1:]
    seed, count = 7, 1
    build = os.path.join(ROOT, "build")
    while args:
        a = args.pop(0)
        if a == "--seed":
            seed = int(args.pop(0))
        elif a == "--count":
            count = int(args.pop(0))
        else:
            build = a
    binary = os.path.join(build, "tools", "linstab")
    if not os.access(binary, os.X_OK):
        print(f"crosscheck_check: no {binary}; build first", file=sys.stderr)
        return 2
    flag = {"family": "--family", "factors": "--factors", "diag": "--diag"}
    failures = 0
    cases = 0
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(count):
            rng = np.random.default_rng(seed + rep)
            for name, kind, arr in families(rng):
                path = os.path.join(tmp, "f.npy")
                np.save(path, arr)
                n = arr.shape[0]
                hypers = [(0.5, 1, 0.0, "bernoulli"), (0.3, max(1, n // 2), 0.05, "without"),
                          (0.8, n, 0.1, "with"), (0.2, max(1, n - 1), 0.0, "without"),
                          (1.5, 2 if n > 2 else 1, 0.3, "with")]
                for eta, B, rho, samp in hypers:
                    common = [flag[kind], path, "--eta", str(eta), "--batch", str(B),
                              "--rho", str(rho), "--sampling", samp]
                    r1 = subprocess.run([binary, "check", "--no-exact", "--json"] + common,
                                        capture_output=True, text=True)
                    r2 = subprocess.run([sys.executable, os.path.join(HERE, "ref_check.py")] + common,
                                        capture_output=True, text=True)
                    cases += 1
                    label = f"{name}: eta {eta} B {B} rho {rho} {samp}"
                    if r1.returncode != 0 or r2.returncode != 0:
                        print(f"FAIL {label}: exit {r1.returncode}/{r2.returncode} {r1.stderr.strip()} {r2.stderr.strip()}")
                        failures += 1
                        continue
                    a, b = flatten(json.loads(r1.stdout)), flatten(json.loads(r2.stdout))
                    worst, where, bad = 0.0, "", []
                    # fields derived from a quantity that is zero within rounding
                    # (a root of noise, a bound divided by it) are not comparable
                    skip = set()
                    for k in (2, 3, 4):
                        g = f"geometry.m{k}_gap"
                        if max(abs(a.get(g) or 0), abs(b.get(g) or 0)) <= 1e-11 * scale_of(g, a):
                            skip |= {f"geometry.s{k}", f"bounds.shin_eq7.s{k}.lhs"}
                    if max(abs(a.get("geometry.gamma_min") or 0), abs(b.get("geometry.gamma_min") or 0)) <= 1e-11:
                        skip |= {k for k in a if k.startswith("bounds.sam_late_thm41")}
                    for key in sorted((set(a) & set(b)) - skip):
                        x, y = a[key], b[key]
                        if isinstance(x, bool) or isinstance(y, bool):
                            if x != y:
                                bad.append(f"{key} {x} vs {y}")
                            continue
                        if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
                            if x != y and not (x is None or y is None):
                                bad.append(f"{key} {x!r} vs {y!r}")
                            elif (x is None) != (y is None):
                                bad.append(f"{key} {x!r} vs {y!r}")
                            continue
                        m = max(abs(x), abs(y))
                        rel = abs(x - y) / m if m > 0 else 0.0
                        if rel > 1e-8 and abs(x - y) > 1e-11 * scale_of(key, a):
                            bad.append(f"{key} {x!r} vs {y!r} (rel {rel:.2e})")
                        if rel > worst and abs(x - y) > 1e-11 * scale_of(key, a):
                            worst, where = rel, key
                    if bad:
                        failures += 1
                        print(f"FAIL {label}: " + "; ".join(bad[:4]))
                    else:
                        print(f"ok   {label}: max rel diff {worst:.1e}{' at ' + where if where else ''}")
    print(f"{cases - failures} agree, {failures} disagree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
