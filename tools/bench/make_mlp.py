#!/usr/bin/env python3
"""make_mlp.py DIR LAYERS N SEED -- a random tanh MLP checkpoint for the
benchmarks: DIR/model.json, W1.npy, b1.npy, ... (PyTorch's default
initialisation scale, U(-1/sqrt(fan_in), 1/sqrt(fan_in))), inputs
DIR/X.npy (N standard normal rows) and targets DIR/Y.npy (N one-hot rows).
LAYERS: comma-separated sizes, e.g. 784,100,10."""
import json, os, sys
import numpy as np

out, layers, n, seed = sys.argv[1], [int(v) for v in sys.argv[2].split(",")], int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
os.makedirs(out, exist_ok=True)
for i in range(len(layers) - 1):
    a = 1.0 / np.sqrt(layers[i])
    np.save(f"{out}/W{i + 1}.npy", rng.uniform(-a, a, (layers[i + 1], layers[i])))
    np.save(f"{out}/b{i + 1}.npy", rng.uniform(-a, a, layers[i + 1]))
json.dump({"layers": layers, "activation": "tanh", "bias": True}, open(f"{out}/model.json", "w"))
np.save(f"{out}/X.npy", rng.standard_normal((n, layers[0])))
np.save(f"{out}/Y.npy", np.eye(layers[-1])[rng.integers(0, layers[-1], n)])
