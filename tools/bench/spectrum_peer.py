#!/usr/bin/python3
"""Benchmark peer for `linstab spectrum` (issue 13): PyHessian-style spectral
diagnostics of an MLP checkpoint's mean-loss Hessian in PyTorch (CPU,
float64).  A benchmark peer and cross-check only; never a build or test
dependency.

  spectrum_peer.py MODEL_DIR X.npy Y.npy --probes Z.npy [--top-k] [--trace N]
                   [--density-probes P --lanczos-steps M] [--threads T]

The model is read by tools/torch_import.py (the same float64 nn.Sequential,
weights copied exactly), the loss is linstab's MSE: the mean over the n
samples of ||f(x_i) - y_i||^2 / 2.  As PyHessian (Yao et al. 2020) does, the
gradient is computed once over the whole batch with create_graph=True and
every Hessian-vector product is one torch.autograd.grad double-backward of it
(retain_graph=True), in linstab's parameter order (W1 row-major, b1, W2, ...).

  --top-k          the largest eigenvalue by ARPACK's implicitly restarted
                   Lanczos (scipy.sparse.linalg.eigsh, which='LA') with
                   linstab's settings: ncv 32, tol 1e-10 (--tol), linstab's
                   start vector 1 + 0.5 sin(1 + 12.9898 i)
  --trace N        Hutchinson with the first N probe rows of Z.npy (linstab's
                   --save-probes: the very same Rademacher vectors)
  --density-probes P --lanczos-steps M
                   SLQ: M Lanczos steps with full reorthogonalization (two
                   classical Gram-Schmidt passes per step, as linstab) from
                   each of the first P rows of Z.npy (linstab's SLQ probe j
                   is its Hutchinson probe j), the Ritz values and the squared
                   first components of the eigenvectors of T_M

Prints one JSON object: the loss, each result, its products and its
compute-only seconds (time.perf_counter around the computation, and
the process's CPU seconds, time.process_time; loading the
model, the data and the probes is outside).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_import import import_checkpoint  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("X")
    ap.add_argument("Y")
    ap.add_argument("--probes", required=True)
    ap.add_argument("--top-k", action="store_true")
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--ncv", type=int, default=32)
    ap.add_argument("--trace", type=int, default=0)
    ap.add_argument("--density-probes", type=int, default=0)
    ap.add_argument("--lanczos-steps", type=int, default=80)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    model = import_checkpoint(a.model)
    params = [q for q in model.parameters()]
    shapes = [q.shape for q in params]
    sizes = [q.numel() for q in params]
    p = sum(sizes)
    X = torch.from_numpy(np.load(a.X)).to(torch.float64)
    Y = torch.from_numpy(np.load(a.Y)).to(torch.float64)
    n = X.shape[0]
    need = max(a.trace, a.density_probes)
    Z = np.load(a.probes, mmap_mode="r")
    if Z.shape[1] != p or Z.shape[0] < need:
        sys.exit(f"spectrum_peer: {a.probes}: shape {Z.shape}, need >= {need} x {p}")
    Z = torch.from_numpy(np.array(Z[:need], dtype=np.float64))
    out = {"n": n, "p": p, "threads": torch.get_num_threads()}

    # the gradient once, with its graph (PyHessian's hessian class)
    t0 = time.perf_counter()
    f = model(X)
    loss = 0.5 * ((f - Y) ** 2).sum() / n
    grads = torch.autograd.grad(loss, params, create_graph=True)
    t_grad = time.perf_counter() - t0
    out["loss"] = loss.item()
    out["gradient_seconds"] = t_grad
    count = [0]

    def hvp(v):
        """H v for a flat float64 tensor v (p): one double-backward."""
        vs = [c.view(s) for c, s in zip(torch.split(v, sizes), shapes)]
        hv = torch.autograd.grad(grads, params, grad_outputs=vs, only_inputs=True, retain_graph=True)
        count[0] += 1
        return torch.cat([h.reshape(-1) for h in hv])

    if a.top_k:
        def matvec(x):
            return hvp(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))).numpy()

        op = scipy.sparse.linalg.LinearOperator((p, p), matvec=matvec, dtype=np.float64)
        v0 = 1.0 + 0.5 * np.sin(1.0 + 12.9898 * np.arange(p, dtype=np.float64))
        count[0] = 0
        t0, c0 = time.perf_counter(), time.process_time()
        vals = scipy.sparse.linalg.eigsh(op, k=1, which="LA", v0=v0, ncv=a.ncv, tol=a.tol,
                                         return_eigenvectors=False)
        out["top_k"] = {"eigenvalue": float(vals[-1]), "tol": a.tol, "ncv": a.ncv, "products": count[0],
                        "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}

    if a.trace > 0:
        count[0] = 0
        t0, c0 = time.perf_counter(), time.process_time()
        samples = []
        for j in range(a.trace):
            z = Z[j]
            samples.append(torch.dot(z, hvp(z)).item())
        el, cpu = time.perf_counter() - t0, time.process_time() - c0
        s = np.array(samples)
        out["trace"] = {"value": float(s.mean()),
                        "standard_error": float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else None,
                        "probes": a.trace, "samples": samples, "products": count[0], "seconds": el,
                        "cpu_seconds": cpu}

    if a.density_probes > 0:
        m = min(a.lanczos_steps, p)
        count[0] = 0
        t0, c0 = time.perf_counter(), time.process_time()
        detail = []
        for j in range(a.density_probes):
            Q = torch.empty((m, p), dtype=torch.float64)
            v = Z[j]
            Q[0] = v / torch.linalg.vector_norm(v)
            al, be = [], []
            tnorm = 0.0
            k = 0
            while True:
                w = hvp(Q[k])
                alpha = 0.0
                for _ in range(2):  # two classical Gram-Schmidt passes against q_0..q_k
                    h = Q[:k + 1] @ w
                    w = w - Q[:k + 1].T @ h
                    alpha += h[k].item()
                beta = torch.linalg.vector_norm(w).item()
                al.append(alpha)
                be.append(beta)
                tnorm = max(tnorm, abs(alpha) + beta + (be[-2] if k > 0 else 0.0))
                k += 1
                if k == m or not beta > 1e-12 * tnorm:
                    break
                Q[k] = w / beta
            nodes, vecs = scipy.linalg.eigh_tridiagonal(np.array(al), np.array(be[:k - 1]))
            detail.append({"steps": k, "nodes": nodes.tolist(), "weights": (vecs[0] ** 2).tolist()})
        out["density"] = {"lanczos_steps": m, "probes": a.density_probes, "products": count[0],
                          "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                          "probes_detail": detail}
    out["total_seconds"] = time.perf_counter() - t_start
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
