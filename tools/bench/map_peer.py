#!/usr/bin/python3
"""Benchmark peer for `linstab map` (issue 4): Dexter et al. (2024)'s Section 5.1 protocol in
plain numpy, vectorised over the runs of a cell, on their construction.

  map_peer.py --n 100 --eta 0.8 --sigmas 1:50 --batches 1:100 --runs 5 --steps 1000

Bernoulli batches; a run diverges at 1000x growth of ||w||, converges (and
stops) at 1000x shrinkage; a cell is divergent if most runs diverge.
Prints JSON: cells, seconds, and the divergent fraction per cell.
"""
import argparse
import json
import sys
import time

import numpy as np


def rng_range(s):
    parts = [int(x) for x in s.split(":")]
    step = parts[2] if len(parts) == 3 else 1
    return list(range(parts[0], parts[1] + 1, step))


def cell(n, sigma, B, eta, runs, steps, rng):
    d = n - sigma + 1
    m = 2.0 * n / sigma
    # sample i -> coordinate (0 for i < sigma)
    coord = np.where(np.arange(n) < sigma, 0, np.arange(n) - sigma + 1)
    w = rng.standard_normal((runs, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    logn = np.zeros(runs)
    alive = np.ones(runs, dtype=bool)
    div = np.zeros(runs, dtype=bool)
    p = B / n
    for _ in range(steps):
        if not alive.any():
            break
        sel = rng.random((runs, n)) < p                   # Bernoulli batches
        c = np.zeros((runs, d))
        np.add.at(c, (np.nonzero(sel)[0], coord[np.nonzero(sel)[1]]), m)
        w = w - eta * (c / B) * w
        nr = np.linalg.norm(w, axis=1)
        nr[nr == 0] = 1e-300
        logn = np.where(alive, logn + np.log(nr), logn)
        w /= nr[:, None]
        newdiv = alive & (logn >= np.log(1000.0))
        newconv = alive & (logn <= -np.log(1000.0))
        div |= newdiv
        alive &= ~(newdiv | newconv)
    return div.mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--eta", type=float, default=0.8)
    ap.add_argument("--sigmas", default="1:50")
    ap.add_argument("--batches", default="1:100")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    frac = [[cell(a.n, s, B, a.eta, a.runs, a.steps, rng) for s in rng_range(a.sigmas)]
            for B in rng_range(a.batches)]
    t1 = time.perf_counter()
    json.dump({"cells": sum(len(r) for r in frac), "seconds": t1 - t0, "frac_divergent": frac}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
