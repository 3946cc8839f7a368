#!/usr/bin/env bash
# Sharpness lambda1(H) of the 784-300-100-10 tanh MLP (266,610 parameters)
# at n = 1000 Fashion-MNIST samples, trained as tools/bench/bench_matrix_free.sh
# trains it (linstab train: squared loss, SGD, eta 0.01, B 32, 300 steps,
# seed 1): `linstab hessians --matrix-free` (its sharpness_seconds timer;
# its wall also includes s2) against the strong PyTorch peer
# (tools/bench/sharpness_torch_peer.py: double-backward HVPs through one
# gradient graph + scipy eigsh, ARPACK tol 1e-8, ncv 20 as linstab),
# alternating, RUNS times (default 3).
#   tools/bench/bench_strong_sharpness.sh [BUILD_DIR]   (RUNS, THREADS, N)
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
fm=/usr/share/datasets/fashion-mnist
n=${N:-1000}
[[ -f $fm/train-images-idx3-ubyte.gz ]] || { echo "bench_strong_sharpness: $fm missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
"$py" - "$fm" "$tmp" "$n" <<'PY'
import gzip, sys
import numpy as np
fm, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with gzip.open(f"{fm}/train-images-idx3-ubyte.gz") as fh:
    x = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 784)[:n] / 255.0
with gzip.open(f"{fm}/train-labels-idx1-ubyte.gz") as fh:
    lab = np.frombuffer(fh.read(), np.uint8, offset=8)[:n]
np.save(f"{out}/X.npy", x)
np.save(f"{out}/Y.npy", np.eye(10)[lab])
PY
"$bin" train --layers 784,300,100,10 --activation tanh --loss mse --data "$tmp/X.npy" --targets "$tmp/Y.npy" \
    --optimizer sgd --eta 0.01 --batch 32 --steps 300 --seed 1 --quiet --out "$tmp/model" >/dev/null
for ((r = 0; r < runs; r++)); do
    timed L "$bin" hessians --model "$tmp/model" --data "$tmp/X.npy" --targets "$tmp/Y.npy" --loss mse --matrix-free
    record L "$(jget "$tmp/L.out" '["sharpness_seconds"]')"
    timed P "$py" "$here/sharpness_torch_peer.py" "$tmp/model" "$tmp/X.npy" "$tmp/Y.npy" --loss mse --threads "$threads"
    record P "$(jget "$tmp/P.out" '["seconds"]')"
done
sl=$(jget "$tmp/L.out" '["sharpness"]'); sp=$(jget "$tmp/P.out" '["sharpness"]')
echo "sharpness, 784-300-100-10 tanh MLP (p = 266,610), n = $n, squared loss:"
report "linstab hessians --matrix-free (wall: + s2)" "torch double-backward HVP + eigsh ($(jget "$tmp/P.out" '["hvps"]') HVPs)"
echo "sharpness: linstab $sl, peer $sp, relative difference $(awk -v a="$sl" -v b="$sp" 'BEGIN { x = (a - b) / b; if (x < 0) x = -x; printf "%.2e", x }')"
