"""Shared helpers of the strong eta* peers (kron_gemm_peer.py, mf_eta_peer.py):
the sampling coefficients (a, b) of docs/math.md §2, reading a family, and
the range restriction of §1 (the eigenbasis of H, numpy's rank rule).
Benchmark peers and cross-checks only."""
import numpy as np


def coeffs(s, n, B):
    """(a, b) with E[Hhat X Hhat] = a H X H + b M(X) (docs/math.md §2)."""
    if s == "bernoulli":
        return 1.0, (n - B) / (n * B)
    if s == "with":
        return (B - 1) / B, 1.0 / B
    if s != "without":
        raise SystemExit(f"unknown sampling {s!r}: expected without, with or bernoulli")
    if n == 1:
        return 1.0, 0.0
    return n * (B - 1) / (B * (n - 1)), (n - B) / (B * (n - 1))


def eigenbasis(H):
    """(l, V): eigenvalues of H above d * eps * max|l| (decreasing) and their vectors."""
    l, V = np.linalg.eigh(H)
    tol = H.shape[0] * np.finfo(float).eps * max(np.abs(l).max(), 1e-300)
    keep = l > tol
    l, V = l[keep][::-1], V[:, keep][:, ::-1]
    return np.ascontiguousarray(l), np.ascontiguousarray(V)
