#!/usr/bin/python3
"""Strong benchmark peer for the sharpness of `linstab hessians --matrix-free`
(issue 14): lambda_max of the mean Hessian H of the loss of an MLP
checkpoint, by PyTorch double-backward Hessian-vector products and scipy
eigsh (ARPACK, 'LA', tol 1e-8, ncv 20: linstab's settings, mlp_top_opts).

  sharpness_torch_peer.py MODEL_DIR X.npy Y.npy [--loss mse|ce] [--smoothing A]
                          [--threads T] [--tol 1e-8]

The loss is L = (1/n) sum_i l_i (docs/math.md §8: mse l_i = ||f - y||^2/2,
ce softmax cross-entropy with label smoothing), float64, CPU.  The
gradient's graph is built once (create_graph=True) and every HVP is one
backward pass through it (retain_graph=True): H v = d(g . v)/dw.

Prints JSON: n, p, sharpness, hvps, seconds (compute only: from the model
in memory to the eigenvalue -- the forward pass, the gradient graph, the
HVPs and ARPACK), threads.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.sparse.linalg
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_import import import_checkpoint  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("X")
    ap.add_argument("Y")
    ap.add_argument("--loss", choices=("mse", "ce"), default="mse")
    ap.add_argument("--smoothing", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.set_default_dtype(torch.float64)
    model = import_checkpoint(a.model).double()
    params = [q for q in model.parameters()]
    P = sum(q.numel() for q in params)
    X = torch.from_numpy(np.ascontiguousarray(np.load(a.X), dtype=np.float64))
    Yn = np.load(a.Y)
    n = X.shape[0]
    if a.loss == "ce":
        K = model(X[:1]).shape[1]
        lab = Yn.argmax(axis=1) if Yn.ndim == 2 else Yn.astype(np.int64)
        Yn = np.full((n, K), a.smoothing / K)
        Yn[np.arange(n), lab] += 1.0 - a.smoothing
    Y = torch.from_numpy(np.ascontiguousarray(Yn, dtype=np.float64))
    count = [0]

    t0 = time.perf_counter()
    Z = model(X)
    if a.loss == "mse":
        L = 0.5 * ((Z - Y) ** 2).sum() / n
    else:
        L = -(Y * torch.log_softmax(Z, 1)).sum() / n
    g = torch.autograd.grad(L, params, create_graph=True)

    def hvp(v):
        count[0] += 1
        vt = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(-1))
        parts, off = [], 0
        for q in params:
            parts.append(vt[off:off + q.numel()].view_as(q))
            off += q.numel()
        hv = torch.autograd.grad(g, params, grad_outputs=parts, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).numpy()

    op = scipy.sparse.linalg.LinearOperator((P, P), matvec=hvp, dtype=np.float64)
    v0 = np.random.default_rng(a.seed).standard_normal(P)
    lam = scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=a.tol, ncv=20, v0=v0, return_eigenvectors=False)[0]
    t1 = time.perf_counter()
    json.dump({"n": n, "p": P, "sharpness": float(lam), "hvps": count[0], "seconds": t1 - t0,
               "threads": torch.get_num_threads()}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
