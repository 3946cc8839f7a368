#!/usr/bin/python3
"""Strong benchmark peer for `linstab map --dexter N` (issue 14): Dexter et
al. (2024)'s Section 5.1 protocol on their construction, in numpy,
vectorised over ALL cells and runs at once, finished runs compacted out of
the working arrays.

  map_peer_vec.py --n 100 --eta 0.8 --sigmas 1:50 --batches 1:100 --runs 5 --steps 1000
                  [--seed S] [--count0 bernoulli|binomial] [--uniform32] [--compare DIR]

The construction (linstab gen --kind dexter): d = n - sigma + 1 diagonal
coordinates, H_i = m e_0 e_0' for the first sigma samples and m e_j e_j'
(j = i - sigma + 1) for the others, m = 2 n / sigma.  SGD with Bernoulli
batches (each sample with probability B/n), Hhat = (1/B) sum_{i in S} H_i,
w <- (I - eta Hhat) w.  A run starts at a Gaussian unit vector, diverges at
1000x growth of ||w||, converges (and stops) at 1000x shrinkage, at most
`steps` steps; a cell is divergent when most of its runs diverge
(2 ndiv > runs), as in linstab's map_cell.c.

All runs of all cells live in one (R, width) array, width = the largest d
among the live runs (zero-padded).  Each step draws the R x (width)
Bernoulli hits at once: column j >= 1 of a run is its one-sample coordinate
j, and the count of the coordinate 0 (sigma samples) is the sum of the hits
of the sigma remaining sample slots -- or, with --count0 binomial, a
Binomial(sigma, B/n) draw (equal in law: only the count matters).  Runs
With --uniform32 the hits compare float32 uniforms with B/n
(hit probability exact to ~6e-8, about 2x faster draws).  Runs
that finish are compacted out once they are 1/16 of the live ones (or at
the end).  Equal in law to linstab's protocol, with a different random
stream: the divergence maps agree except near the boundary.

Prints JSON: cells, runs, seconds (compute only: from the first draw to the
last verdict, no import or output), frac_divergent ((len(batches),
len(sigmas)) as linstab's frac_divergent.npy), and with --compare DIR
(a `linstab map` output folder) the agreement of the majority verdicts.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def int_range(s):
    parts = [int(x) for x in s.split(":")]
    if len(parts) == 1:
        return parts
    step = parts[2] if len(parts) == 3 else 1
    return list(range(parts[0], parts[1] + 1, step))


def simulate(n, sigmas, batches, eta, runs, steps, seed, count0="bernoulli", grow=1000.0, shrink=1000.0,
             uniform32=False):
    """(ny, nx) divergent fractions; rows are batches, columns sigmas."""
    rng = np.random.default_rng(seed)
    nx, ny = len(sigmas), len(batches)
    ncell = nx * ny
    S = np.tile(np.asarray(sigmas, dtype=np.int64), ny)           # cell -> sigma
    Bc = np.repeat(np.asarray(batches, dtype=np.int64), nx)       # cell -> B
    cell = np.repeat(np.arange(ncell), runs)                      # run -> cell
    sig = S[cell]
    d = n - sig + 1
    p = (Bc[cell] / n).astype(np.float64)
    coef = eta * (2.0 * n / sig) / Bc[cell]                       # eta m / B
    width = int(d.max())
    cols = np.arange(width)
    W = rng.standard_normal((cell.size, width))
    W[cols[None, :] >= d[:, None]] = 0.0
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    # hit slots that count for the coordinate 0: slot 0 and slots >= d
    # (sigma of the n slots; slots 1..d-1 are the one-sample coordinates)
    lg, ls = np.log(grow), -np.log(shrink)
    logn = np.zeros(cell.size)
    outcome = np.zeros(cell.size, dtype=np.int8)                  # by original run index
    idx = np.arange(cell.size)                                    # live row -> original run
    live = np.ones(cell.size, dtype=bool)                         # among the rows
    nfinished = 0
    tail = None
    if count0 == "bernoulli":
        tail = np.arange(n)[None, :] >= d[:, None]
        tail[:, 0] = True
    udt = np.float32 if uniform32 else np.float64
    pu = p.astype(udt)[:, None]
    for t in range(steps):
        R = W.shape[0]
        if count0 == "binomial":
            hits = rng.random((R, width), dtype=udt) < pu
            c0 = rng.binomial(sig, p).astype(np.float64)
        else:
            hits = rng.random((R, n), dtype=udt) < pu
            c0 = np.count_nonzero(hits & tail, axis=1).astype(np.float64)
            hits = hits[:, :width]
        F = 1.0 - coef[:, None] * hits
        F[:, 0] = 1.0 - coef * c0
        W *= F
        nr = np.sqrt(np.einsum("ij,ij->i", W, W))
        zero = nr == 0.0
        nr[zero] = 1.0
        W /= nr[:, None]
        logn += np.log(nr)
        div = live & (logn >= lg)
        conv = live & ((logn <= ls) | zero) & ~div
        fin = div | conv
        if fin.any():
            outcome[idx[div]] = 1
            outcome[idx[conv]] = -1
            live &= ~fin
            nfinished += int(np.count_nonzero(fin))
        if nfinished and (nfinished * 16 >= R or t == steps - 1):
            keep = live
            W, logn, idx, live = W[keep], logn[keep], idx[keep], live[keep]
            sig, d, p, pu, coef = sig[keep], d[keep], p[keep], pu[keep], coef[keep]
            if tail is not None:
                tail = tail[keep]
            nfinished = 0
            if W.shape[0] == 0:
                break
            nw = int(d.max())
            if nw < width:
                width = nw
                W = np.ascontiguousarray(W[:, :width])
    ndiv = np.bincount(cell, weights=(outcome == 1), minlength=ncell)
    return (ndiv / runs).reshape(ny, nx)


def compare(frac, runs, folder):
    lf = np.load(os.path.join(folder, "frac_divergent.npy"))
    if lf.shape != frac.shape:
        raise SystemExit(f"map_peer_vec: {folder}/frac_divergent.npy has shape {lf.shape}, peer {frac.shape}")
    pv = 2 * np.rint(frac * runs) > runs
    lv = 2 * np.rint(lf * runs) > runs
    agree = pv == lv
    # "clear" cells: both tools unanimous (all runs one way), away from the boundary
    clear = ((lf == 0) | (lf == 1)) & ((frac == 0) | (frac == 1))
    return {"verdict_agreement": float(agree.mean()),
            "cells_disagreeing": int((~agree).sum()),
            "divergent_cells_linstab": int(lv.sum()), "divergent_cells_peer": int(pv.sum()),
            "clear_cells": int(clear.sum()),
            "clear_cells_agreement": float(agree[clear].mean()) if clear.any() else None,
            "mean_abs_frac_diff": float(np.abs(lf - frac).mean())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--eta", type=float, default=0.8)
    ap.add_argument("--sigmas", default="1:50")
    ap.add_argument("--batches", default="1:100")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count0", choices=("bernoulli", "binomial"), default="bernoulli")
    ap.add_argument("--uniform32", action="store_true",
                    help="float32 uniforms for the Bernoulli hits (P(hit) = B/n to ~6e-8)")
    ap.add_argument("--compare", metavar="DIR")
    a = ap.parse_args()
    sigmas, batches = int_range(a.sigmas), int_range(a.batches)
    if min(sigmas) < 1 or max(sigmas) > a.n or min(batches) < 1 or max(batches) > a.n:
        raise SystemExit("map_peer_vec: sigma and B must be in [1, n]")
    t0 = time.perf_counter()
    frac = simulate(a.n, sigmas, batches, a.eta, a.runs, a.steps, a.seed, a.count0, uniform32=a.uniform32)
    t1 = time.perf_counter()
    out = {"cells": int(frac.size), "runs": a.runs, "seconds": t1 - t0, "count0": a.count0, "uniform32": a.uniform32}
    if a.compare:
        out["compare"] = compare(frac, a.runs, a.compare)
    out["frac_divergent"] = frac.tolist()
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
