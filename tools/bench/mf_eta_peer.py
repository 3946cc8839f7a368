#!/usr/bin/python3
"""Strong benchmark peer for the matrix-free exact eta* of SGD on a rank-one
family H_i = u_i u_i' (issue 14), in numpy/scipy:

  H = W W'/n with W = [u_1 ... u_n] (d x n); its eigenbasis (range
  restriction, numpy's rank rule), W <- V' W so H = diag(l);
  Q(X) = a L X L + b M(X),  M(X) = W diag(w_i' X w_i) W' / n
       = W diag-blocks(W' X W) W' / n  (one GEMM X W of r x r x n, then the
       rank-n update as two DSYRKs over the columns with c_i > 0 and c_i < 0);
  eta* = 1 / lambda_max(D Q D), D the entrywise scaling 1/sqrt(l_j + l_k)
  (docs/math.md §3), by scipy eigsh (ARPACK, 'LA', tol 1e-12, as linstab's
  critical_eta) on a LinearOperator over full r x r matrices X,
  symmetrised on input (the antisymmetric part is mapped to 0, so the top
  eigenvalue is that of the operator on Sym, i.e. on svec coordinates).

  mf_eta_peer.py --factors U.npy --batch B [--sampling without|with|bernoulli]
                 [--tol 1e-12]

U.npy is (n, d, 1) (or (n, d)), as `linstab gen --kind rank1` writes it.
Prints JSON {"critical_eta", "seconds" (compute only: after loading, up to
eta*), "matvecs", "r"}.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.sparse.linalg
from scipy.linalg.blas import dsyrk

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_family import coeffs, eigenbasis  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--factors", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--sampling", default="without")
    p.add_argument("--tol", type=float, default=1e-12)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    U = np.load(a.factors)
    if U.ndim == 3:
        if U.shape[2] != 1:
            raise SystemExit("mf_eta_peer: rank-one factors (n, d, 1) expected")
        U = U[:, :, 0]
    W = np.ascontiguousarray(U.T, dtype=np.float64)          # d x n
    t0 = time.perf_counter()
    d, n = W.shape
    l, V = eigenbasis((W @ W.T) / n)
    if l.size == 0:
        raise SystemExit("mf_eta_peer: H = 0")
    r = l.size
    Wr = np.ascontiguousarray(V.T @ W)                       # r x n
    ca, cb = coeffs(a.sampling, n, a.batch)
    Dm = 1.0 / np.sqrt(l[:, None] + l[None, :])
    LL = ca * np.outer(l, l)
    count = [0]

    def matvec(x):
        count[0] += 1
        X = x.reshape(r, r)
        X = 0.5 * (X + X.T) * Dm
        c = np.einsum("ji,ji->i", Wr, X @ Wr)                # diag(W' X W)
        # W diag(c) W' b/n as two rank-k updates (DSYRK, half a GEMM's flops):
        # the columns with c > 0 and those with c < 0, scaled by sqrt|c|
        Y = np.zeros((r, r), order="F")
        for sel, sgn in ((c > 0, 1.0), (c < 0, -1.0)):
            if sel.any():
                A = Wr[:, sel] * np.sqrt(np.abs(c[sel]) * cb / n)     # r x k, C order
                Y = dsyrk(sgn, A.T, beta=1.0, c=Y, trans=1, lower=0, overwrite_c=1)
        Y = np.triu(Y) + np.triu(Y, 1).T
        Y += LL * X
        Y *= Dm
        return Y.reshape(-1)

    op = scipy.sparse.linalg.LinearOperator((r * r, r * r), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(a.seed).standard_normal(r * r)
    mu = scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=a.tol, v0=v0, return_eigenvectors=False)[0]
    t1 = time.perf_counter()
    json.dump({"critical_eta": float(1.0 / mu) if mu > 0 else float("inf"), "seconds": t1 - t0,
               "matvecs": count[0], "r": int(r)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
