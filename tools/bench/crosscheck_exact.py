#!/usr/bin/python3
"""Cross-check the "exact" section of `linstab check --json` by brute force.

    /usr/bin/python3 tools/bench/crosscheck_exact.py [BUILD_DIR] [--seed S]

For tiny random families (n <= 5, rank <= 3, some rank-deficient) it
enumerates every mini-batch of every sampling scheme with its probability
(Bernoulli: all 2^n subsets; without replacement: all B-subsets; with
replacement: all n^B index sequences), builds the second-moment operator
X -> E[J X J'] on Sym(R) in an orthonormal basis directly from the random
update matrices J (no (a, b) coefficients, no set-partition algebra), and
compares with linstab:

  exact.sgd.radius, exact.sam.radius        spectral radius of that operator
  exact.sgd.critical_eta, sam.critical_eta  the smallest eta > 0 where the
                                            radius reaches 1 (bisection on
                                            the brute-force radius)
  exact.sgd.critical_batch                  the smallest stable B
  exact.sam.critical_rho                    sup of the stable rho at eta

Relative tolerance 1e-8 (bisections run to 1e-13).  A verification script
(needs numpy), not a test.  Exit status 1 if any value disagrees.
"""

import itertools
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def batches(n, B, sampling):
    """(probability, index list) of every batch; Hhat = mean over the list."""
    if sampling == "bernoulli":
        p = B / n
        for mask in itertools.product([0, 1], repeat=n):
            k = sum(mask)
            prob = p ** k * (1 - p) ** (n - k)
            yield prob, [i for i in range(n) if mask[i]]
    elif sampling == "without":
        combos = list(itertools.combinations(range(n), B))
        for c in combos:
            yield 1.0 / len(combos), list(c)
    else:
        for seq in itertools.product(range(n), repeat=B):
            yield 1.0 / n ** B, list(seq)


def hhat(Hs, idx, B):
    """Dexter Def. 1 / docs/math.md §2: (1/B) sum over the batch (counts kept)."""
    r = Hs.shape[1]
    if not idx:
        return np.zeros((r, r))
    return sum(Hs[i] for i in idx) / B


def sym_basis(r):
    basis = []
    for a in range(r):
        for b in range(a, r):
            E = np.zeros((r, r))
            if a == b:
                E[a, a] = 1.0
            else:
                E[a, b] = E[b, a] = 1 / math.sqrt(2)
            basis.append(E)
    return basis


def operator_matrix(Js, r):
    """Matrix of X -> sum_w w J X J' on Sym(r) (orthonormal svec basis)."""
    basis = sym_basis(r)
    m = len(basis)
    T = np.zeros((m, m))
    for c, X in enumerate(basis):
        Y = sum(w * (J @ X @ J.T) for w, J in Js)
        for q, E in enumerate(basis):
            T[q, c] = np.sum(E * Y)
    return T


def radius(Js, r):
    return float(np.max(np.abs(np.linalg.eigvals(operator_matrix(Js, r)))))


def updates(Hs, eta, rho, B, sampling, method):
    n, r, _ = Hs.shape
    I = np.eye(r)
    bl = [(p, hhat(Hs, idx, B)) for p, idx in batches(n, B, sampling)]
    if method == "sgd":
        return [(p, I - eta * H) for p, H in bl]
    if method == "same":
        return [(p, I - eta * H - eta * rho * H @ H) for p, H in bl]
    # independent ascent and descent batches
    return [(p1 * p2, I - eta * H1 @ (I + rho * H2)) for p1, H1 in bl for p2, H2 in bl]


def crossing(f, hint):
    """Smallest x > 0 with f(x) > 1 (f(0+) <= 1), by a geometric scan and bisection."""
    lo, hi = 0.0, hint
    while f(hi) <= 1.0:
        lo, hi = hi, 2 * hi
        if hi > 1e12:
            return math.inf
    # scan [lo, hi] finely so that an early crossing is not skipped
    grid = np.linspace(lo, hi, 33)[1:]
    for x in grid:
        if f(x) > 1.0:
            hi = x
            break
        lo = x
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > 1.0:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-13 * hi:
            break
    return 0.5 * (lo + hi)


def projected(Hs):
    H = Hs.mean(axis=0)
    lam, V = np.linalg.eigh(H)
    keep = lam > lam[-1] * H.shape[0] * np.finfo(float).eps
    Q = V[:, keep]
    return np.einsum("ab,nbc,cd->nad", Q.T, Hs, Q)


def rel(a, b):
    if a is None or b is None:
        return 0.0 if a is b else math.inf
    if math.isinf(a) and math.isinf(b):
        return 0.0
    m = max(abs(a), abs(b))
    return abs(a - b) / m if m > 0 else 0.0


def main():
    args = sys.argv[1:]
    seed = 11
    build = os.path.join(ROOT, "build")
    while args:
        a = args.pop(0)
        if a == "--seed":
            seed = int(args.pop(0))
        else:
            build = a
    binary = os.path.join(build, "tools", "linstab")
    rng = np.random.default_rng(seed)
    fams = []
    G = rng.standard_normal((4, 3, 2))
    fams.append(("factored n=4 r=3", G @ G.transpose(0, 2, 1)))
    G = rng.standard_normal((5, 2, 2))
    fams.append(("dense n=5 d=2", G @ G.transpose(0, 2, 1)))
    Hd = np.zeros((4, 4, 4))
    G = rng.standard_normal((4, 2, 2))
    Hd[:, :2, :2] = G @ G.transpose(0, 2, 1)
    fams.append(("rank-deficient n=4 d=4 r=2", Hd))
    D = np.zeros((3, 3, 3))
    for i in range(3):
        D[i, i, i] = 1.0 + i
    fams.append(("orthogonal rank-one n=3", D))
    failures = checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f.npy")
        for name, Hs in fams:
            np.save(path, Hs)
            n = Hs.shape[0]
            P = projected(Hs)
            r = P.shape[1]
            l1 = float(np.linalg.eigvalsh(P.mean(axis=0))[-1])
            cases = [(1.0 / l1, 1, 0.0, "without", "same"), (0.9 / l1, 2, 0.1, "bernoulli", "same"),
                     (1.2 / l1, 2, 0.3 / l1, "with", "same"), (0.7 / l1, n, 0.2 / l1, "without", "same"),
                     (0.8 / l1, 2, 0.2 / l1, "without", "independent"), (0.5 / l1, 1, 0.0, "with", "independent")]
            for eta, B, rho, samp, variant in cases:
                cmd = [binary, "check", "--json", "--family", path, "--eta", repr(eta), "--batch", str(B),
                       "--rho", repr(rho), "--sampling", samp, "--sam-variant", variant]
                res = subprocess.run(cmd, capture_output=True, text=True)
                label = f"{name}: eta {eta:.4g} B {B} rho {rho:.3g} {samp} {variant}"
                if res.returncode != 0:
                    print(f"FAIL {label}: linstab exit {res.returncode}: {res.stderr.strip()}")
                    failures += 1
                    continue
                ex = json.loads(res.stdout)["exact"]
                method = "same" if variant == "same" else "independent"
                want = {}
                want["sgd.radius"] = radius(updates(P, eta, 0.0, B, samp, "sgd"), r)
                want["sgd.critical_eta"] = crossing(lambda e: radius(updates(P, e, 0.0, B, samp, "sgd"), r), 0.5 / l1)
                stable_b = [b for b in range(1, n + 1) if radius(updates(P, eta, 0.0, b, samp, "sgd"), r) <= 1.0]
                want["sgd.critical_batch"] = min(stable_b) if stable_b else None
                if ex["sam"]["available"]:
                    want["sam.radius"] = radius(updates(P, eta, rho, B, samp, method), r)
                    want["sam.critical_eta"] = crossing(lambda e: radius(updates(P, e, rho, B, samp, method), r), 0.3 / l1)
                    if radius(updates(P, eta, 0.0, B, samp, method), r) <= 1.0:
                        want["sam.critical_rho"] = crossing(lambda q: radius(updates(P, eta, q, B, samp, method), r), 0.1 / l1)
                    else:
                        want["sam.critical_rho"] = None
                worst, bad = 0.0, []
                for key, w in want.items():
                    sec, fld = key.split(".")
                    got = ex[sec][fld]
                    if fld == "critical_batch":
                        ok = got == w
                        d = 0.0 if ok else math.inf
                    else:
                        d = rel(got, w if (w is None or math.isfinite(w)) else None)
                        ok = d <= 1e-8
                    checked += 1
                    worst = max(worst, d)
                    if not ok:
                        bad.append(f"{key} linstab {got} brute force {w}")
                if bad:
                    failures += len(bad)
                    print(f"FAIL {label}: " + "; ".join(bad))
                else:
                    print(f"ok   {label}: {len(want)} values, max rel diff {worst:.1e}")
    print(f"{checked - failures} agree, {failures} disagree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
