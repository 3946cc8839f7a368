#!/usr/bin/python3
"""Independent numpy reference for every number `linstab check --json` reports.

Written from the mathematics (now docs/math.md §1-5, §7) and issue 2, not from the C sources.
It is both the cross-check of the C numbers and the benchmark peer ("the
straightforward numpy implementation a researcher would write").

Run with Debian's interpreter (python3-numpy, python3-scipy):

    /usr/bin/python3 tools/bench/ref_check.py (--family F.npy | --factors U.npy | --diag D.npy) \
        --eta E --batch B --rho R --sampling bernoulli|without|with \
        [--allow-indefinite] [--dense]
    /usr/bin/python3 tools/bench/ref_check.py --self-test

Families: dense (n,d,d) H_i; factors (n,d,k) H_i = U_i U_i'; diagonal (n,d)
H_i = diag(D_i).  Dense and diagonal inputs are expanded to a dense (n,d,d)
stack.  Factored inputs use the factor identities of docs/math.md (Gram matrix
tr(H_i H_j) = ||U_i'U_j||_F^2, H_i^k = U_i (U_i'U_i)^(k-1) U_i'), which is what
a researcher would write for n = d = 1000 (the dense stack would be 8 GB and
take minutes); `--dense` forces the literal dense construction instead (used by
the self-test to check the two paths against each other).

Everything after the range restriction works on the projected family
Q'H_iQ (r x r), Q = eigenvectors of H with eigenvalue > lambda_max(H) * d * eps.

Output: one JSON object; +-inf and NaN are written as null; floats are written
with Python's repr (shortest string that round-trips the double exactly).
Exit status: 0 ok, 1 bad data, 2 usage error.
"""

import argparse
import json
import math
import sys
import time

import numpy as np
import scipy.linalg

EPS = np.finfo(np.float64).eps


class DataError(Exception):
    """Bad input data (exit status 1)."""


# ----------------------------------------------------------------------------
# Small linear-algebra helpers
# ----------------------------------------------------------------------------

def sym(x):
    """Symmetric part (last two axes)."""
    return 0.5 * (x + np.swapaxes(x, -1, -2))


def lmax(x):
    """Largest eigenvalue of a symmetric matrix."""
    if x.shape[-1] == 0:
        return float("nan")
    return float(np.linalg.eigvalsh(sym(x))[-1])


def signed_root(x, k):
    """sign(x) |x|^(1/k)."""
    if not math.isfinite(x):
        return x
    return math.copysign(abs(x) ** (1.0 / k), x)


# ----------------------------------------------------------------------------
# Loading and validation
# ----------------------------------------------------------------------------

def load_family(kind, path):
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - report any loading failure
        raise DataError(f"{path}: cannot read .npy file: {exc}")
    if arr.dtype not in (np.float64, np.float32):
        raise DataError(f"{path}: dtype {arr.dtype}, expected float64 or float32")
    want = {"family": 3, "factors": 3, "diag": 2}[kind]
    if arr.ndim != want:
        raise DataError(f"{path}: {arr.ndim}-dimensional array, --{kind} expects {want}")
    if kind == "family" and arr.shape[1] != arr.shape[2]:
        raise DataError(f"{path}: shape {arr.shape}, a dense family must be (n,d,d)")
    if arr.size == 0:
        raise DataError(f"{path}: empty array {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise DataError(f"{path}: non-finite entry at index {tuple(int(i) for i in idx)}")
    return arr


def check_memory(nbytes, what):
    try:
        with open("/proc/meminfo") as fh:
            info = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in fh}
        avail = info.get("MemAvailable")
    except OSError:
        avail = None
    if avail is not None and nbytes > 0.8 * avail:
        raise DataError(f"{what} needs about {nbytes / 2**30:.1f} GiB, "
                        f"only {avail / 2**30:.1f} GiB available")


def validate_dense(Hs, allow_indefinite):
    """Symmetry (relative 1e-10) and PSD (lambda_min >= -1e-10 * ||H_i||_2)."""
    scale = np.abs(Hs).max(axis=(1, 2))
    asym = np.abs(Hs - np.swapaxes(Hs, 1, 2)).max(axis=(1, 2))
    bad = np.nonzero(asym > 1e-10 * np.maximum(scale, np.finfo(float).tiny))[0]
    if bad.size:
        i = int(bad[0])
        raise DataError(f"H_{i} (sample index {i}) is not symmetric "
                        f"(max |H - H'| = {asym[i]:.3g}, max |H| = {scale[i]:.3g})")
    Hs = sym(Hs)
    if not allow_indefinite:
        ev = np.linalg.eigvalsh(Hs)
        norm = np.abs(ev).max(axis=1)
        bad = np.nonzero(ev[:, 0] < -1e-10 * norm)[0]
        if bad.size:
            i = int(bad[0])
            raise DataError(f"H_{i} (sample index {i}) is not positive semidefinite "
                            f"(smallest eigenvalue {ev[i, 0]:.6g}); "
                            "use --allow-indefinite to accept it")
    return Hs


# ----------------------------------------------------------------------------
# The computation, on the projected family
# ----------------------------------------------------------------------------

def range_basis(H):
    """rank (numpy default tolerance) and orthonormal basis of range(H)."""
    d = H.shape[0]
    rank = int(np.linalg.matrix_rank(H))
    lam, V = np.linalg.eigh(H)
    lmx = lam[-1]
    keep = lam > lmx * d * EPS if lmx > 0 else np.zeros_like(lam, dtype=bool)
    return rank, V[:, keep]


def projected_quantities_dense(Hs):
    """Hs: (n,d,d) dense symmetric stack. Returns the dict of raw quantities."""
    n, d, _ = Hs.shape
    H = Hs.mean(axis=0)
    rank, Q = range_basis(H)
    r = Q.shape[1]
    P = sym(Q.T @ Hs @ Q)                               # (n,r,r) projected family
    Hr = sym(Q.T @ H @ Q)
    ind = np.linalg.eigvalsh(P)[:, -1] if r else np.zeros(n)
    flat = P.reshape(n, r * r)
    G = flat @ flat.T                                   # G_ij = tr(H_i H_j)
    P2 = P @ P
    M2 = P2.mean(axis=0)
    M3 = (P2 @ P).mean(axis=0)
    M4 = (P2 @ P2).mean(axis=0)
    HMH = (P @ Hr @ P).mean(axis=0)                     # (1/n) sum H_i H H_i
    return dict(n=n, d=d, rank=rank, r=r, Hr=Hr, ind=ind, G=G,
                M2=M2, M3=M3, M4=M4, HMH=HMH)


def projected_quantities_factors(U):
    """U: (n,d,k) factors, H_i = U_i U_i'. Same dict as the dense version."""
    n, d, k = U.shape
    Ucat = U.transpose(1, 0, 2).reshape(d, n * k)        # [U_1 ... U_n]
    H = sym(Ucat @ Ucat.T) / n
    rank, Q = range_basis(H)
    r = Q.shape[1]
    V = Q.T @ U                                         # (n,r,k) projected factors
    Vcat = V.transpose(1, 0, 2).reshape(r, n * k)
    Hr = sym(Vcat @ Vcat.T) / n
    C = V.transpose(0, 2, 1) @ V                        # (n,k,k) U_i'U_i
    ind = np.linalg.eigvalsh(C)[:, -1]                  # lambda1(U_i U_i') = lambda1(U_i'U_i)
    Cross = Vcat.T @ Vcat                               # (nk,nk) blocks U_i'U_j
    G = (Cross ** 2).reshape(n, k, n, k).sum(axis=(1, 3))

    def mean_sandwich(Bk):                              # (1/n) sum_i V_i B_i V_i'
        W = (V @ Bk).transpose(1, 0, 2).reshape(r, n * k)
        return sym(W @ Vcat.T) / n

    C2 = C @ C
    M2 = mean_sandwich(C)                               # H_i^2 = U_i C_i U_i'
    M3 = mean_sandwich(C2)                              # H_i^3 = U_i C_i^2 U_i'
    M4 = mean_sandwich(C2 @ C)                          # H_i^4 = U_i C_i^3 U_i'
    E = V.transpose(0, 2, 1) @ (Hr @ V)                 # U_i' H U_i
    HMH = mean_sandwich(E)                              # (1/n) sum H_i H H_i
    return dict(n=n, d=d, rank=rank, r=r, Hr=Hr, ind=ind, G=G,
                M2=M2, M3=M3, M4=M4, HMH=HMH)


def geometry(q):
    Hr = q["Hr"]
    r = q["r"]
    H2 = Hr @ Hr
    H3 = H2 @ Hr
    H4 = H2 @ H2
    sharp = lmax(Hr)
    trace = float(np.trace(Hr))
    fro = float(np.linalg.norm(Hr, "fro"))
    maxind = float(np.max(q["ind"]))
    S = np.sqrt(np.maximum(sym(q["G"]), 0.0))
    l1S = lmax(S)
    sigma = l1S / maxind if maxind > 0 else float("nan")
    gaps = {2: lmax(q["M2"] - H2), 3: lmax(q["M3"] - H3), 4: lmax(q["M4"] - H4)}
    A = sym(q["HMH"] - H3)
    if r:
        mu = scipy.linalg.eigh(A, sym(Hr), eigvals_only=True)
        gamma = float(mu[0]) / fro ** 2
    else:
        gamma = float("nan")
    # A = (1/n) sum (H_i - H) H (H_i - H) is PSD: a negative mu_min is rounding.
    if gamma < 0:
        gamma = 0.0
    g = dict(sharpness=sharp, trace=trace, frobenius=fro,
             max_individual_sharpness=maxind, sigma=sigma, lambda1_S=l1S,
             s2=signed_root(gaps[2], 2), s3=signed_root(gaps[3], 3),
             s4=signed_root(gaps[4], 4),
             m2_gap=gaps[2], m3_gap=gaps[3], m4_gap=gaps[4], gamma_min=gamma)
    return g, dict(H2=H2, H3=H3, H4=H4)


def shin_P(q, pw, eta, rho):
    """Shin et al. Theorem 9 matrix on the range."""
    Hr = q["Hr"]
    I = np.eye(q["r"])
    J = I - eta * Hr - eta * rho * pw["H2"]
    return sym(J @ J
               + eta * (eta - 2 * rho) * (q["M2"] - pw["H2"])
               + 2 * eta ** 2 * rho * (q["M3"] - pw["H3"])
               + eta ** 2 * rho ** 2 * (q["M4"] - pw["H4"]))


def thm41(F2, gamma, B, eta, rho):
    lhs = F2 * (1 + rho ** 2 * gamma / B * F2)
    rhs = B / (eta ** 2 * gamma) if gamma != 0 else math.inf
    return dict(lhs=lhs, rhs=rhs, stable_necessary=bool(lhs <= rhs))


def bounds(q, g, pw, n, eta, B, rho, sampling):
    a = g["sharpness"]
    sigma = g["sigma"]
    out = {}
    out["gd"] = dict(threshold=2 / eta, diverges=bool(a > 2 / eta))
    if B < n:
        t1 = (sigma / eta) * (n / B - 1) ** -0.5
        div1 = bool(a > 2 / eta or a > t1)
    else:
        t1 = None
        div1 = bool(a > 2 / eta)
    out["dexter_thm1"] = dict(threshold=t1, diverges=div1)
    out["dexter_thm2"] = dict(threshold=2 * sigma / (eta * (sigma + n / B - 1)))
    lamP = lmax(shin_P(q, pw, eta, rho))
    out["shin_thm9"] = dict(lambda_max=lamP, stable=bool(lamP <= 1))

    def cond(lhs, rhs):
        return dict(lhs=lhs, rhs=rhs, holds=True if rhs is None else bool(lhs <= rhs))

    out["shin_eq7"] = dict(
        sharpness=cond(a * (1 + rho * a), 2 / eta),
        s2=cond(g["m2_gap"], 1 / (eta * (eta - 2 * rho)) if eta > 2 * rho else None),
        s3=cond(g["m3_gap"], 1 / (2 * eta ** 2 * rho) if rho > 0 else None),
        s4=cond(g["m4_gap"], 1 / (eta ** 2 * rho ** 2) if rho > 0 else None),
    )
    F2 = g["frobenius"] ** 2
    gamma = g["gamma_min"]
    out["sam_late_thm41"] = thm41(F2, gamma, B, eta, rho)
    if sampling == "with":
        beff = float(B)
    elif B == n:
        beff = math.inf
    elif sampling == "without":
        beff = B * (n - 1) / (n - B)
    else:  # bernoulli
        beff = n * B / (n - B)
    if math.isinf(beff):
        corr = dict(batch_eff=None, lhs=F2, rhs=None, stable_necessary=True)
    else:
        corr = dict(batch_eff=beff, **thm41(F2, gamma, beff, eta, rho))
    out["sam_late_thm41_corrected"] = corr
    return out


def compute(kind, arr, eta, B, rho, sampling, allow_indefinite=False, dense=False):
    """Full report (without timing) for a loaded array."""
    if not 1 <= B <= arr.shape[0]:
        raise ValueError(f"--batch {B} outside [1, n={arr.shape[0]}]")
    if kind == "factors" and not dense:
        q = projected_quantities_factors(arr)
    else:
        if kind == "factors":
            n, d, _ = arr.shape
            check_memory(6 * n * d * d * 8, f"dense stack {n}x{d}x{d}")
            Hs = arr @ arr.transpose(0, 2, 1)
        elif kind == "diag":
            n, d = arr.shape
            check_memory(6 * n * d * d * 8, f"dense stack {n}x{d}x{d}")
            Hs = np.zeros((n, d, d))
            idx = np.arange(d)
            Hs[:, idx, idx] = arr
        else:
            n, d, _ = arr.shape
            check_memory(5 * n * d * d * 8, f"dense stack {n}x{d}x{d}")
            Hs = arr
        Hs = validate_dense(Hs, allow_indefinite)
        q = projected_quantities_dense(Hs)
    n = q["n"]
    g, pw = geometry(q)
    b = bounds(q, g, pw, n, eta, B, rho, sampling)
    return dict(n=n, d=q["d"], rank=q["rank"], eta=eta, batch=B, rho=rho,
                sampling=sampling, geometry=g, bounds=b)


# ----------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------

def jsonable(x):
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


# ----------------------------------------------------------------------------
# Self-test: known answers (docs/math.md §3-5, §7)
# ----------------------------------------------------------------------------

def self_test():
    rng = np.random.default_rng(12345)
    fails = []
    count = [0]

    def check(name, ok, detail=""):
        count[0] += 1
        print(("ok   " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))
        if not ok:
            fails.append(name)

    def close(x, y, tol=1e-10):
        return abs(x - y) <= tol * max(1.0, abs(x), abs(y))

    def run(kind, arr, eta=0.5, B=1, rho=0.0, sampling="without", **kw):
        return compute(kind, arr, eta, B, rho, sampling, **kw)

    # identical rank-one e1 e1': S is the all-ones matrix, lambda1(S) = n, so
    # sigma = n by Definition 2 (Dexter et al. Section 3.1 says sqrt(n): an arithmetic slip
    # there; its own Theorem 2 construction with sigma = n gives n as well).
    n, d = 7, 4
    U = np.zeros((n, d, 1)); U[:, 0, 0] = 1.0
    o = run("factors", U)
    check("identical rank-one: sigma = n (factors)",
          close(o["geometry"]["sigma"], n), o["geometry"]["sigma"])
    o = run("factors", U, dense=True)
    check("identical rank-one: sigma = n (dense)",
          close(o["geometry"]["sigma"], n), o["geometry"]["sigma"])
    check("identical rank-one: lambda1_S = n", close(o["geometry"]["lambda1_S"], n))
    check("identical rank-one: rank 1", o["rank"] == 1)
    check("identical rank-one: gaps and gamma_min ~ 0",
          all(abs(o["geometry"][k]) < 1e-14 for k in ("m2_gap", "m3_gap", "m4_gap", "gamma_min")))

    # H_i = e_i e_i' (n = d) -> sigma = 1
    n = 6
    D = np.eye(n)
    o = run("diag", D)
    check("orthogonal e_i e_i': sigma = 1", close(o["geometry"]["sigma"], 1.0), o["geometry"]["sigma"])
    check("orthogonal e_i e_i': sharpness = 1/n", close(o["geometry"]["sharpness"], 1 / n))
    # Theorem 1 is tight there at B = n/2: threshold = 1/eta
    o = run("diag", D, eta=0.7, B=n // 2, sampling="bernoulli")
    check("orthogonal e_i e_i', B = n/2: Thm 1 threshold = 1/eta",
          close(o["bounds"]["dexter_thm1"]["threshold"], 1 / 0.7))

    # Dexter et al. Section 5.1 construction: sharpness 2, sigma = integer sigma
    for n, s in ((10, 2), (100, 5), (12, 3)):
        d = n - s + 1
        m = 2 * n / s
        D = np.zeros((n, d))
        D[:s, 0] = m
        for i in range(s, n):
            D[i, i - s + 1] = m
        o = run("diag", D, eta=0.8, B=10 if n >= 10 else 1, sampling="bernoulli")
        g = o["geometry"]
        check(f"Dexter construction n={n} sigma={s}: sharpness 2", close(g["sharpness"], 2.0), g["sharpness"])
        check(f"Dexter construction n={n} sigma={s}: sigma", close(g["sigma"], s), g["sigma"])
        B = 10
        t2 = 2 * s / (0.8 * (s + n / B - 1))
        check(f"Dexter construction n={n}: Thm 2 threshold", close(o["bounds"]["dexter_thm2"]["threshold"], t2))
    # worked example (docs/math.md §7): n=100, eta=0.8, sigma=5: Theorem 1 divergence for B < 9.3
    n, s = 100, 5
    d = n - s + 1
    D = np.zeros((n, d)); D[:s, 0] = 2 * n / s
    for i in range(s, n):
        D[i, i - s + 1] = 2 * n / s
    div = [run("diag", D, eta=0.8, B=B, sampling="bernoulli")["bounds"]["dexter_thm1"]["diverges"]
           for B in (9, 10)]
    check("Dexter example: Thm 1 diverges at B=9, not at B=10", div == [True, False], div)

    # P equals mean_i J_i^2, J_i = I - eta H_i - eta rho H_i^2 (full rank and rank-deficient)
    for (n, d, k) in ((5, 4, 3), (3, 8, 2)):
        U = rng.standard_normal((n, d, k)) / math.sqrt(d)
        Hs = U @ U.transpose(0, 2, 1)
        eta, rho = 0.3, 0.7
        for path in ("factors", "dense"):
            q = (projected_quantities_factors(U) if path == "factors"
                 else projected_quantities_dense(Hs))
            g, pw = geometry(q)
            P = shin_P(q, pw, eta, rho)
            # brute force on the same range basis: recompute Q from H
            H = Hs.mean(0)
            lam, V = np.linalg.eigh(H)
            Q = V[:, lam > lam[-1] * d * EPS]
            Pi = Q.T @ Hs @ Q
            I = np.eye(Q.shape[1])
            J = I - eta * Pi - eta * rho * Pi @ Pi
            Pb = (J @ J).mean(0)
            # P is basis dependent (Q may differ in sign); compare spectra
            ok = np.allclose(np.linalg.eigvalsh(P), np.linalg.eigvalsh(Pb), rtol=1e-12, atol=1e-12)
            check(f"Shin P = mean J_i^2 ({path}, n={n} d={d} k={k}, r={Q.shape[1]})", ok)

    # factors path == dense path on every reported number
    for (n, d, k) in ((6, 5, 2), (4, 9, 1), (8, 8, 3)):
        U = rng.standard_normal((n, d, k))
        for samp, B in (("without", 3), ("bernoulli", 2), ("with", 1)):
            a = jsonable(run("factors", U, eta=0.2, B=B, rho=0.1, sampling=samp))
            b = jsonable(run("factors", U, eta=0.2, B=B, rho=0.1, sampling=samp, dense=True))
            worst = max_rel_diff(a, b)
            check(f"factors vs dense n={n} d={d} k={k} {samp}", worst[0] < 1e-9, worst)

    # sigma from explicit matrix square roots; s_k from explicit eigendecompositions
    n, d = 5, 4
    G0 = rng.standard_normal((n, d, d))
    Hs = G0 @ G0.transpose(0, 2, 1) / d
    Hs[0] = np.outer(Hs[0][0], Hs[0][0])               # a singular one too
    o = run("family", Hs)
    sq = []
    for i in range(n):
        w, V = np.linalg.eigh(Hs[i])
        sq.append(V @ np.diag(np.sqrt(np.clip(w, 0, None))) @ V.T)
    S = np.array([[np.linalg.norm(sq[i] @ sq[j]) for j in range(n)] for i in range(n)])
    sig = np.linalg.eigvalsh(S)[-1] / max(np.linalg.eigvalsh(h)[-1] for h in Hs)
    check("sigma from explicit square roots", close(o["geometry"]["sigma"], sig, 1e-9),
          (o["geometry"]["sigma"], sig))
    H = Hs.mean(0)
    for k in (2, 3, 4):
        Mk = np.mean([np.linalg.matrix_power(h, k) for h in Hs], axis=0)
        gap = np.linalg.eigvalsh(Mk - np.linalg.matrix_power(H, k))[-1]
        check(f"m{k}_gap explicit", close(o["geometry"][f"m{k}_gap"], gap, 1e-9))
        check(f"s{k} signed root", close(o["geometry"][f"s{k}"], math.copysign(abs(gap) ** (1 / k), gap), 1e-9))

    # gamma_min: gamma(delta) >= gamma_min for random delta, minimum attained
    A = np.mean([h @ H @ h for h in Hs], axis=0) - H @ H @ H
    F2 = np.linalg.norm(H) ** 2
    gam = [(x @ A @ x) / (x @ H @ x) / F2 for x in rng.standard_normal((2000, d))]
    gmin = o["geometry"]["gamma_min"]
    check("gamma_min <= gamma(delta) for random delta", min(gam) >= gmin * (1 - 1e-12), (min(gam), gmin))
    mu, X = scipy.linalg.eigh(A, H)
    x = X[:, 0]
    check("gamma_min attained", close((x @ A @ x) / (x @ H @ x) / F2, gmin, 1e-8))

    # GD (B = n): corrected Theorem 4.1 says stable; as stated it can say unstable
    n, d = 10, 3
    U = rng.standard_normal((n, d, 1))
    for samp in ("without", "bernoulli"):
        o = run("factors", U, eta=1.0, B=n, rho=0.0, sampling=samp)
        c = o["bounds"]["sam_late_thm41_corrected"]
        check(f"GD B=n {samp}: corrected Thm 4.1 stable, batch_eff null",
              c["stable_necessary"] is True and c["batch_eff"] is None and c["rhs"] is None)
        check(f"GD B=n {samp}: Thm 1 threshold null",
              o["bounds"]["dexter_thm1"]["threshold"] is None)
    # H_i = e_i e_i' (n = d = 10): a = 1/n, gamma_min = (n-1)/n, so at eta = 1.9 n
    # GD is stable (eta < 2/a) but lhs/rhs of Thm 4.1 as stated = 3.61 (n-1)/n > 1.
    n = 10
    o = run("diag", np.eye(n), eta=1.9 * n, B=n, rho=0.0, sampling="without")
    st = o["bounds"]["sam_late_thm41"]
    check("GD B=n: gamma_min = (n-1)/n for e_i e_i'", close(o["geometry"]["gamma_min"], (n - 1) / n))
    check("GD B=n: Thm 4.1 as stated calls a GD-stable case unstable",
          not o["bounds"]["gd"]["diverges"] and not st["stable_necessary"]
          and close(st["lhs"] / st["rhs"], 3.61 * (n - 1) / n), st)
    check("GD B=n: corrected Thm 4.1 stable there",
          o["bounds"]["sam_late_thm41_corrected"]["stable_necessary"] is True)
    o = run("factors", U, eta=0.05, B=4, rho=0.0, sampling="with")
    check("'with' sampling: batch_eff = B, same as stated",
          o["bounds"]["sam_late_thm41_corrected"]["batch_eff"] == 4.0
          and close(o["bounds"]["sam_late_thm41_corrected"]["rhs"], o["bounds"]["sam_late_thm41"]["rhs"]))

    # Shin's s4 counterexample: d = 1, H_i = 1,1,1,0,0, eta = 0.1, rho = 18
    D = np.array([[1.0], [1.0], [1.0], [0.0], [0.0]])
    o = run("diag", D, eta=0.1, B=1, rho=18.0, sampling="with")
    e7 = o["bounds"]["shin_eq7"]
    check("Shin s4 example: m4_gap = 0.6 - 0.6^4", close(o["geometry"]["m4_gap"], 0.6 - 0.6 ** 4))
    check("Shin s4 example: s4 condition violated", e7["s4"]["holds"] is False, e7["s4"])
    check("Shin s2 vacuous when eta <= 2 rho", e7["s2"]["rhs"] is None and e7["s2"]["holds"] is True)
    # d = 1, B = 1 'same' SAM: exact T is a scalar = P; 0.886 (docs/math.md §5)
    J = 1 - 0.1 * D[:, 0] - 0.1 * 18 * D[:, 0] ** 2
    check("Shin s4 example: Thm 9 lambda_max = mean J_i^2 = 0.886",
          close(o["bounds"]["shin_thm9"]["lambda_max"], float(np.mean(J ** 2)))
          and abs(o["bounds"]["shin_thm9"]["lambda_max"] - 0.886) < 5e-4,
          o["bounds"]["shin_thm9"]["lambda_max"])
    o = run("diag", D, eta=0.1, B=1, rho=0.0, sampling="with")
    check("rho = 0: s3, s4 rhs null and hold",
          all(o["bounds"]["shin_eq7"][k]["rhs"] is None and o["bounds"]["shin_eq7"][k]["holds"]
              for k in ("s3", "s4")))

    # GD full batch: Thm 9 with identical H_i is max (1 - eta l - eta rho l^2)^2
    lam = np.array([3.0, 1.0, 0.5])
    D = np.tile(lam, (4, 1))
    o = run("diag", D, eta=0.3, B=4, rho=0.2)
    want = max((1 - 0.3 * lam - 0.3 * 0.2 * lam ** 2) ** 2)
    check("identical diag: Thm 9 lambda_max = max (1 - eta l (1 + rho l))^2",
          close(o["bounds"]["shin_thm9"]["lambda_max"], want))

    # rank-deficient range restriction: d - r null directions removed
    U = rng.standard_normal((3, 10, 2))
    o = run("factors", U)
    check("rank of 3 rank-2 factors in d=10 is 6", o["rank"] == 6, o["rank"])

    print(f"{count[0] - len(fails)} passed, {len(fails)} failed")
    return 1 if fails else 0


def flatten(x, prefix=""):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: x}


def max_rel_diff(a, b):
    fa, fb = flatten(a), flatten(b)
    worst = (0.0, None)
    for k in fa:
        x, y = fa[k], fb.get(k)
        if isinstance(x, bool) or isinstance(y, bool) or x is None or y is None or isinstance(x, str):
            if x != y:
                return (math.inf, k)
            continue
        diff = abs(x - y) / max(abs(x), abs(y), 1e-300)
        if diff > worst[0]:
            worst = (diff, k)
    return worst


# ----------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--family", metavar="F.npy", help="dense family (n,d,d)")
    src.add_argument("--factors", metavar="U.npy", help="factors (n,d,k), H_i = U_i U_i'")
    src.add_argument("--diag", metavar="D.npy", help="diagonal family (n,d)")
    ap.add_argument("--eta", type=float)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--rho", type=float, default=0.0)
    ap.add_argument("--sampling", choices=("bernoulli", "without", "with"), default="without")
    ap.add_argument("--allow-indefinite", action="store_true")
    ap.add_argument("--dense", action="store_true",
                    help="expand factors to a dense (n,d,d) stack instead of using factor identities")
    ap.add_argument("--self-test", action="store_true", help="run the known-answer tests")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if not (args.family or args.factors or args.diag):
        ap.error("one of --family, --factors, --diag is required")
    if args.eta is None or args.batch is None:
        ap.error("--eta and --batch are required")
    if not (math.isfinite(args.eta) and args.eta > 0):
        ap.error("--eta must be > 0")
    if not (math.isfinite(args.rho) and args.rho >= 0):
        ap.error("--rho must be >= 0")
    kind, path = next((k, p) for k, p in (("family", args.family), ("factors", args.factors),
                                           ("diag", args.diag)) if p)
    try:
        arr = load_family(kind, path)
        t0 = time.perf_counter()
        rep = compute(kind, arr, args.eta, args.batch, args.rho, args.sampling,
                      args.allow_indefinite, args.dense)
        rep["timing_seconds"] = time.perf_counter() - t0
    except DataError as exc:
        print(f"ref_check: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"ref_check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(jsonable(rep), indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
