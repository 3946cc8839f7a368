#!/usr/bin/python3
"""Strong benchmark peer for the exact mean-square eta* of SGD on a dense
family (issue 14), as a numerical analyst would write it in numpy/scipy:

  1. H = mean H_i, its eigenbasis (range restriction, numpy's rank rule);
     H_i <- V' H_i V, so H = diag(l);
  2. (1/n) sum_i H_i (x) H_i by ONE GEMM: G = [vec H_1; ...; vec H_n]
     (n x r^2), S = G'G / n, and the Kronecker sum is S with its middle
     two indices swapped;
  3. the operator on symmetric matrices in svec coordinates (upper
     triangle, off-diagonal entries scaled by sqrt 2: T symmetric);
  4. Q = a diag(l_j l_k) + b M,  eta* = 1 / lambda_max(D Q D) with
     D = diag(1 / sqrt(l_j + l_k)) (docs/math.md §3), by scipy eigsh
     (ARPACK, 'LA', tol 1e-12: what linstab's critical_eta does).

  kron_gemm_peer.py (--family F.npy | --factors U.npy | --diag D.npy) --batch B
                    [--sampling without|with|bernoulli] [--dense-check]

Prints JSON {"critical_eta", "seconds" (compute only: after loading, up to
eta*), "r", "m"} and with --dense-check also eta* from a full LAPACK eigh of
the same matrix.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_family import coeffs, eigenbasis  # noqa: E402


def svec_operator(Hs, l, a, b):
    """D Q D on svec coordinates of Sym(R^r)."""
    n, r, _ = Hs.shape
    G = Hs.reshape(n, r * r)
    S = (G.T @ G) / n                                   # the one GEMM
    # the Kronecker sum K[(j,k),(l,m)] = (1/n) sum_i H_i[j,l] H_i[k,m] = S[(j,l),(k,m)]
    K = np.ascontiguousarray(S.reshape(r, r, r, r).transpose(0, 2, 1, 3)).reshape(r * r, r * r)
    ju, ku = np.triu_indices(r)
    off = ju != ku
    # M(E_q)_{jk} for the svec basis E_q, read off at the upper triangle and scaled as svec
    rows = K[ju * r + ku]
    Ks = rows[:, ju * r + ku] + rows[:, ku * r + ju]
    rp = np.where(off, np.sqrt(2.0), 1.0)
    cq = np.where(off, 1.0 / np.sqrt(2.0), 0.5)
    Q = b * (rp[:, None] * Ks * cq[None, :])
    Q[np.diag_indices_from(Q)] += a * l[ju] * l[ku]
    dsc = 1.0 / np.sqrt(l[ju] + l[ku])
    return dsc[:, None] * Q * dsc[None, :]


def main():
    p = argparse.ArgumentParser()
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--family")
    g.add_argument("--factors")
    g.add_argument("--diag")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--sampling", default="without")
    p.add_argument("--dense-check", action="store_true")
    a = p.parse_args()
    if a.family:
        Hs = np.load(a.family)
    elif a.factors:
        U = np.load(a.factors)
        Hs = U @ U.transpose(0, 2, 1)
    else:
        D = np.load(a.diag)
        Hs = np.stack([np.diag(x) for x in D])
    Hs = np.ascontiguousarray(Hs, dtype=np.float64)
    t0 = time.perf_counter()
    n = Hs.shape[0]
    l, V = eigenbasis(Hs.mean(axis=0))
    if l.size == 0 or l.min() <= 0:
        raise SystemExit("kron_gemm_peer: H has no positive eigenvalue")
    Hr = np.ascontiguousarray(V.T @ Hs @ V)             # (n, r, r): the family on range(H)
    ca, cb = coeffs(a.sampling, n, a.batch)
    A = svec_operator(Hr, l, ca, cb)
    mu = scipy.sparse.linalg.eigsh(A, k=1, which="LA", tol=1e-12, return_eigenvectors=False)[0]
    t1 = time.perf_counter()
    out = {"critical_eta": float(1.0 / mu) if mu > 0 else float("inf"), "seconds": t1 - t0,
           "r": int(l.size), "m": int(A.shape[0])}
    if a.dense_check:
        out["critical_eta_eigh"] = float(1.0 / scipy.linalg.eigh(A, eigvals_only=True)[-1])
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
