#!/usr/bin/python3
"""Benchmark peer for `linstab critical` (issue 3): the exact mean-square
critical learning rate of SGD the way a researcher would write it in numpy,
with Kronecker products on the full d^2 x d^2 space:

    A = I (x) H + H (x) I,   Q = a H (x) H + b (1/n) sum_i H_i (x) H_i,
    eta* = 1 / lambda_max(Q, A)   (scipy.linalg.eigh, generalized problem)

Usage: kron_peer.py (--family F.npy | --factors U.npy | --diag D.npy)
                    --batch B --sampling without|with|bernoulli
Prints JSON {"critical_eta": ..., "timing_seconds": ...}.  Needs H positive
definite (full rank); a peer for benchmarks and cross-checks only.
"""
import argparse
import json
import sys
import time

import numpy as np
import scipy.linalg


def coeffs(s, n, B):
    if s == "bernoulli":
        return 1.0, (n - B) / (n * B)
    if s == "with":
        return (B - 1) / B, 1.0 / B
    if n == 1:
        return 1.0, 0.0
    return n * (B - 1) / (B * (n - 1)), (n - B) / (B * (n - 1))


def main():
    p = argparse.ArgumentParser()
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--family")
    g.add_argument("--factors")
    g.add_argument("--diag")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--sampling", default="without")
    a = p.parse_args()
    if a.family:
        Hs = np.load(a.family)
    elif a.factors:
        U = np.load(a.factors)
        Hs = U @ U.transpose(0, 2, 1)
    else:
        D = np.load(a.diag)
        Hs = np.stack([np.diag(x) for x in D])
    t0 = time.perf_counter()
    n, d, _ = Hs.shape
    H = Hs.mean(axis=0)
    I = np.eye(d)
    A = np.kron(I, H) + np.kron(H, I)
    M = sum(np.kron(Hi, Hi) for Hi in Hs) / n
    ca, cb = coeffs(a.sampling, n, a.batch)
    Q = ca * np.kron(H, H) + cb * M
    mu = scipy.linalg.eigh(Q, A, eigvals_only=True, subset_by_index=[d * d - 1, d * d - 1])[0]
    t1 = time.perf_counter()
    json.dump({"critical_eta": 1.0 / mu, "timing_seconds": t1 - t0}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
