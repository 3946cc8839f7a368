#!/usr/bin/python3
"""Strong benchmark peer for `linstab hessians` (issue 14): exact per-sample
Hessians of an MLP checkpoint with functorch's vmap(hessian) over the tuple
of parameters (torch 1.13's functorch; torch.func in later versions), in
chunks of samples, float64, CPU, flattened in linstab's parameter order
(W1 row-major, b1, W2, b2, ...: nn.Sequential's parameter order from
tools/torch_import.py).

  hessians_vmap_peer.py MODEL_DIR X.npy Y.npy [--loss mse|ce] [--smoothing A]
                        [--chunk 50] [--count N] [--threads T] [--compare H.npy]

Losses as docs/math.md §8: mse l_i = ||f(x_i) - y_i||^2 / 2, ce softmax
cross-entropy with label smoothing (Y: class labels (n,) or one-hot rows).  The
Hessians are computed chunk by chunk into one (chunk, p, p) buffer (n p^2
doubles never held at once); with --compare each chunk is compared with
linstab's H.npy (memory-mapped) outside the timer.

Prints JSON: samples, p, seconds (compute only: vmap(hessian) and the
flattening into (chunk, p, p), summed over chunks), and with --compare
max_abs_diff, max_abs (of the peer's Hessians) and max_rel_diff =
max_abs_diff / max_abs.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import functorch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_import import import_checkpoint  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("X")
    ap.add_argument("Y")
    ap.add_argument("--loss", choices=("mse", "ce"), default="mse")
    ap.add_argument("--smoothing", type=float, default=0.0)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--compare")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.set_default_dtype(torch.float64)
    model = import_checkpoint(a.model).double()
    fmodel, params = functorch.make_functional(model)
    params = tuple(q.detach() for q in params)
    sizes = [q.numel() for q in params]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    P = int(offs[-1])
    X = torch.from_numpy(np.ascontiguousarray(np.load(a.X), dtype=np.float64))
    Yn = np.load(a.Y)
    if a.loss == "ce":
        # the smoothed target distributions, outside vmap (one_hot is not batchable)
        K = model(X[:1]).shape[1]
        lab = Yn.argmax(axis=1) if Yn.ndim == 2 else Yn.astype(np.int64)
        Yn = np.full((X.shape[0], K), a.smoothing / K)
        Yn[np.arange(X.shape[0]), lab] += 1.0 - a.smoothing
    Y = torch.from_numpy(np.ascontiguousarray(Yn, dtype=np.float64))
    n = X.shape[0] if a.count <= 0 else min(a.count, X.shape[0])

    def loss(ps, x, y):
        z = fmodel(ps, x)
        if a.loss == "mse":
            return 0.5 * ((z - y) ** 2).sum()
        # log-softmax spelled out: torch 1.13 has no forward AD for its backward
        return -(y * (z - torch.logsumexp(z, 0))).sum()

    per_sample = functorch.vmap(functorch.hessian(loss, argnums=0), in_dims=(None, 0, 0))
    Href = np.load(a.compare, mmap_mode="r") if a.compare else None
    buf = torch.empty((a.chunk, P, P))
    seconds, max_diff, max_abs = 0.0, 0.0, 0.0
    for s in range(0, n, a.chunk):
        e = min(n, s + a.chunk)
        c = e - s
        t0 = time.perf_counter()
        blocks = per_sample(params, X[s:e], Y[s:e])      # blocks[u][v]: (c, *shape_u, *shape_v)
        H = buf[:c]
        for u in range(len(params)):
            for v in range(len(params)):
                H[:, offs[u]:offs[u + 1], offs[v]:offs[v + 1]] = blocks[u][v].reshape(c, sizes[u], sizes[v])
        del blocks
        seconds += time.perf_counter() - t0
        if Href is not None:
            h = H.numpy()
            max_diff = max(max_diff, float(np.abs(h - Href[s:e]).max()))
            max_abs = max(max_abs, float(np.abs(h).max()))
    out = {"samples": n, "p": P, "chunk": a.chunk, "threads": torch.get_num_threads(), "seconds": seconds}
    if Href is not None:
        out.update(max_abs_diff=max_diff, max_abs=max_abs, max_rel_diff=max_diff / max(max_abs, 1e-300))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
