#!/usr/bin/env python3
"""dynamics_peer.py STEPS: the numpy peer of `linstab dynamics` on
Bartlett et al. (2023)'s objective w1^2/(1 + w2^2/2) + w2^2/2 with
normalized SAM (eta 0.2, rho 1, start (1, 1)): the loop a researcher
writes (the dynamics are sequential, so there is nothing to vectorise
across steps), with closed-form gradients, recording the loss per step as
linstab does.  Prints the compute time and the final iterate."""
import sys, time
import numpy as np

def grad(w):
    q = 1.0 + 0.5 * w[1] * w[1]
    return np.array([2.0 * w[0] / q, -w[0] * w[0] * w[1] / (q * q) + w[1]])

def loss(w):
    return w[0] * w[0] / (1.0 + 0.5 * w[1] * w[1]) + 0.5 * w[1] * w[1]

steps = int(sys.argv[1])
eta, rho = 0.2, 1.0
w = np.array([1.0, 1.0])
L = np.empty(steps + 1)
t0 = time.perf_counter()
for t in range(steps):
    L[t] = loss(w)
    g = grad(w)
    n = np.linalg.norm(g)
    x = w + (rho / n) * g if n > 0 else w
    w = w - eta * grad(x)
L[steps] = loss(w)
t1 = time.perf_counter()
print(f"peer compute {t1 - t0:.3f} s final {w[0]:.17g} {w[1]:.17g}")
