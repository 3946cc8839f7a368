#!/usr/bin/env bash
# tools/bench/make_golden.sh -- regenerate the golden references in tests/data/
# from the numpy peers (tools/bench/ref_check.py, tools/bench/crosscheck_exact.py;
# numpy and scipy only, run with Debian's /usr/bin/python3).
#
#   tools/bench/make_golden.sh [OUT_DIR]      (default tests/data)
#
# Writes, into OUT_DIR:
#   golden_*.npy        small PSD families (generated once, numpy seed 11,
#                       the families of crosscheck_exact.py plus a factored
#                       and a diagonal one), committed so that the C test
#                       reads exactly the inputs the peers saw;
#   golden_check.txt    ref_check.py's geometry and bounds on each family;
#   golden_exact.txt    crosscheck_exact.py's brute-force exact values (every
#                       batch enumerated; radii, critical eta / batch / rho).
# Text lines: file kind eta batch rho sampling variant key value, values as
# Python repr (round-trip exact), "null" for None, "inf" for infinity.
# tests/test_golden.c compares linstab against these in the default suite.
# The families are positive semi-definite on purpose (the exact section on
# indefinite families is tested against enumeration elsewhere).
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$here/tests/data}"
mkdir -p "$out"
exec /usr/bin/python3 - "$here" "$out" <<'EOF'
import json, math, os, subprocess, sys
import numpy as np

root, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "tools", "bench"))
import crosscheck_exact as cx  # the brute-force peer's own functions

def fmt(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))

# the families of crosscheck_exact.py (same seed, same drawing order)
rng = np.random.default_rng(11)
fams = []
G = rng.standard_normal((4, 3, 2))
fams.append(("golden_a.npy", "dense", G @ G.transpose(0, 2, 1)))     # n=4 r=3, rank 2 each
G = rng.standard_normal((5, 2, 2))
fams.append(("golden_b.npy", "dense", G @ G.transpose(0, 2, 1)))     # n=5 d=2
Hd = np.zeros((4, 4, 4))
G = rng.standard_normal((4, 2, 2))
Hd[:, :2, :2] = G @ G.transpose(0, 2, 1)
fams.append(("golden_c.npy", "dense", Hd))                            # rank-deficient d=4 r=2
D = np.zeros((3, 3, 3))
for i in range(3):
    D[i, i, i] = 1.0 + i
fams.append(("golden_d.npy", "dense", D))                             # orthogonal rank one
# two more representations for the geometry and bounds (ref_check only)
U = rng.standard_normal((6, 5, 2)) / math.sqrt(2.0)
Dg = np.abs(rng.standard_normal((8, 6)))
Dg[:, 5] = 0.0                                                        # a flat direction
Dg[0, :] *= 3.0
geo_only = [("golden_e.npy", "factors", U), ("golden_f.npy", "diag", Dg)]

for name, kind, arr in fams + geo_only:
    np.save(os.path.join(out, name), np.ascontiguousarray(arr, dtype=np.float64))

# ---- ref_check.py: geometry and bounds ----
ref = os.path.join(root, "tools", "bench", "ref_check.py")
flag = {"dense": "--family", "factors": "--factors", "diag": "--diag"}
lines = ["# ref_check.py on tests/data/golden_*.npy (tools/bench/make_golden.sh)",
         "# file kind eta batch rho sampling variant key value"]

def flatten(prefix, obj, acc):
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(prefix + "." + k if prefix else k, v, acc)
    else:
        acc.append((prefix, obj))

for name, kind, arr in fams + geo_only:
    n = arr.shape[0]
    Hs = arr if kind == "dense" else (arr @ arr.transpose(0, 2, 1) if kind == "factors"
                                       else np.stack([np.diag(x) for x in arr]))
    l1 = float(np.linalg.eigvalsh(Hs.mean(axis=0))[-1])
    for eta, B, rho, samp in [(0.9 / l1, 1, 0.0, "bernoulli"), (1.1 / l1, 2, 0.2 / l1, "without"),
                              (0.5 / l1, n, 0.3 / l1, "with")]:
        cmd = ["/usr/bin/python3", ref, flag[kind], os.path.join(out, name), "--eta", repr(eta),
               "--batch", str(B), "--rho", repr(rho), "--sampling", samp]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rep = json.loads(res.stdout)
        acc = []
        flatten("", {"geometry": rep["geometry"], "bounds": rep["bounds"]}, acc)
        for key, v in acc:
            lines.append(f"{name} {kind} {eta!r} {B} {rho!r} {samp} same {key} {fmt(v)}")
with open(os.path.join(out, "golden_check.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")

# ---- crosscheck_exact.py: exact values by enumeration of every batch ----
lines = ["# crosscheck_exact.py's brute force on tests/data/golden_[a-d].npy (tools/bench/make_golden.sh)",
         "# file kind eta batch rho sampling variant key value"]
for name, kind, Hs in fams:
    n = Hs.shape[0]
    P = cx.projected(Hs)
    r = P.shape[1]
    l1 = float(np.linalg.eigvalsh(P.mean(axis=0))[-1])
    cases = [(1.0 / l1, 1, 0.0, "without", "same"), (0.9 / l1, 2, 0.1, "bernoulli", "same"),
             (1.2 / l1, 2, 0.3 / l1, "with", "same"), (0.7 / l1, n, 0.2 / l1, "without", "same"),
             (0.8 / l1, 2, 0.2 / l1, "without", "independent"), (0.5 / l1, 1, 0.0, "with", "independent")]
    for eta, B, rho, samp, variant in cases:
        method = "same" if variant == "same" else "independent"
        want = {}
        want["sgd.radius"] = cx.radius(cx.updates(P, eta, 0.0, B, samp, "sgd"), r)
        want["sgd.critical_eta"] = cx.crossing(lambda e: cx.radius(cx.updates(P, e, 0.0, B, samp, "sgd"), r), 0.5 / l1)
        stable_b = [b for b in range(1, n + 1) if cx.radius(cx.updates(P, eta, 0.0, b, samp, "sgd"), r) <= 1.0]
        want["sgd.critical_batch"] = min(stable_b) if stable_b else None
        want["sam.radius"] = cx.radius(cx.updates(P, eta, rho, B, samp, method), r)
        want["sam.critical_eta"] = cx.crossing(lambda e: cx.radius(cx.updates(P, e, rho, B, samp, method), r), 0.3 / l1)
        if cx.radius(cx.updates(P, eta, 0.0, B, samp, method), r) <= 1.0:
            want["sam.critical_rho"] = cx.crossing(lambda q: cx.radius(cx.updates(P, eta, q, B, samp, method), r), 0.1 / l1)
        else:
            want["sam.critical_rho"] = None
        for key, v in want.items():
            lines.append(f"{name} {kind} {eta!r} {B} {rho!r} {samp} {variant} exact.{key} {fmt(v)}")
with open(os.path.join(out, "golden_exact.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"wrote {out}: {len(fams) + len(geo_only)} families, golden_check.txt, golden_exact.txt")
EOF
