#!/usr/bin/python3
"""Benchmark peer for `linstab hessians` (issue 5): per-sample exact Hessians
of an MLP checkpoint with PyTorch (CPU, float64,
torch.autograd.functional.hessian per sample), in linstab's parameter order
(W1 row-major, b1, W2, b2, ...).  A benchmark peer and cross-check only.

  hessians_peer.py MODEL_DIR X.npy Y.npy [--ce] [--smoothing A] [--count N] [--compare H.npy]

Prints JSON: samples, seconds, and (with --compare) the largest relative
difference max|H_torch - H_linstab| / max|H_torch| over the samples done.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("X")
    ap.add_argument("Y")
    ap.add_argument("--ce", action="store_true")
    ap.add_argument("--smoothing", type=float, default=0.0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--compare")
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.model, "model.json")))
    sizes, bias = cfg["layers"], cfg.get("bias", True)
    act = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
           "softplus": torch.nn.functional.softplus,
           "gelu": lambda z: torch.nn.functional.gelu(z)}[cfg["activation"]]
    shapes, parts = [], []
    for l in range(1, len(sizes)):
        W = np.load(os.path.join(a.model, f"W{l}.npy"))
        parts.append(W.reshape(-1)); shapes.append(("W", W.shape))
        if bias:
            b = np.load(os.path.join(a.model, f"b{l}.npy"))
            parts.append(b.reshape(-1)); shapes.append(("b", b.shape))
    theta0 = torch.tensor(np.concatenate(parts))
    X = torch.tensor(np.load(a.X))
    Y = torch.tensor(np.load(a.Y))
    n = X.shape[0] if a.count <= 0 else min(a.count, X.shape[0])

    def f(theta, x):
        off, h = 0, x
        L = len(sizes) - 1
        for l in range(L):
            W = theta[off:off + sizes[l + 1] * sizes[l]].reshape(sizes[l + 1], sizes[l]); off += W.numel()
            h = W @ h
            if bias:
                h = h + theta[off:off + sizes[l + 1]]; off += sizes[l + 1]
            if l < L - 1:
                h = act(h)
        return h

    def loss(theta, x, y):
        z = f(theta, x)
        if not a.ce:
            return 0.5 * ((z - y) ** 2).sum()
        K = z.shape[0]
        q = torch.full((K,), a.smoothing / K)
        q[int(y)] += 1.0 - a.smoothing
        return -(q * torch.log_softmax(z, 0)).sum()

    t0 = time.perf_counter()
    Hs = [torch.autograd.functional.hessian(lambda th: loss(th, X[i], Y[i]), theta0) for i in range(n)]
    t1 = time.perf_counter()
    out = {"samples": n, "seconds": t1 - t0}
    if a.compare:
        H = np.load(a.compare, mmap_mode="r")
        rel = 0.0
        for i in range(n):
            ht = Hs[i].numpy()
            rel = max(rel, float(np.abs(ht - H[i]).max() / max(np.abs(ht).max(), 1e-300)))
        out["max_rel_diff"] = rel
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
