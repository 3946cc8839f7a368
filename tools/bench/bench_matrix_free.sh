#!/usr/bin/env bash
# Matrix-free geometry of a 784-300-100-10 MLP (266,610 parameters) at
# n = 1000 Fashion-MNIST samples (issue 5): time and peak memory of the
# sharpness, s_2 and the Gauss-Newton coherence sigma, none of which forms a
# p x p matrix.
#
#   tools/bench/bench_matrix_free.sh [BUILD_DIR]
#
# Needs Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
# and /usr/bin/python3 with numpy (to write the first 1000 training images as
# X.npy, pixels / 255, and their one-hot labels as Y.npy).  The network is
# trained by `linstab train` (tanh, squared loss, SGD, eta 0.01, B 32, 300
# steps, seed 1) so that the geometry is that of a point an optimizer
# reached, then `linstab hessians --matrix-free --sigma` prints one JSON
# line with sharpness, s2, sigma_gn, the seconds of each and the peak RSS.
# A cross-check follows: sigma on the first 20 samples both from the NTK
# blocks and from the explicit Gauss-Newton factors (20 x 266,610 x 10,
# 427 MB) through `linstab check --factors`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/tools/linstab
py=${PYTHON:-/usr/bin/python3}
fm=/usr/share/datasets/fashion-mnist
[[ -x $bin ]] || { echo "bench_matrix_free: no $bin; build first" >&2; exit 1; }
[[ -f $fm/train-images-idx3-ubyte.gz ]] || { echo "bench_matrix_free: $fm missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
"$py" -c 'import numpy' 2>/dev/null || { echo "bench_matrix_free: $py lacks numpy (apt-get install python3-numpy)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bmf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$py" - "$fm" "$tmp" <<'EOF'
import gzip, sys
import numpy as np
fm, out = sys.argv[1], sys.argv[2]
with gzip.open(f"{fm}/train-images-idx3-ubyte.gz") as fh:
    x = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 784)[:1000] / 255.0
with gzip.open(f"{fm}/train-labels-idx1-ubyte.gz") as fh:
    lab = np.frombuffer(fh.read(), np.uint8, offset=8)[:1000]
y = np.eye(10)[lab]
np.save(f"{out}/X.npy", x)
np.save(f"{out}/Y.npy", y)
np.save(f"{out}/X20.npy", x[:20])
np.save(f"{out}/Y20.npy", y[:20])
EOF

"$bin" train --layers 784,300,100,10 --activation tanh --loss mse --data "$tmp/X.npy" --targets "$tmp/Y.npy" \
    --optimizer sgd --eta 0.01 --batch 32 --steps 300 --seed 1 --quiet --out "$tmp/model" >/dev/null
echo "784-300-100-10 tanh MLP (266,610 parameters), n = 1000, after 300 SGD steps:"
"$bin" hessians --model "$tmp/model" --data "$tmp/X.npy" --targets "$tmp/Y.npy" --loss mse --matrix-free --sigma
echo
echo "cross-check of sigma on 20 samples (NTK blocks vs explicit factors):"
ntk=$("$bin" hessians --model "$tmp/model" --data "$tmp/X20.npy" --targets "$tmp/Y20.npy" --loss mse --matrix-free --sigma |
      "$py" -c 'import json, sys; print(repr(json.load(sys.stdin)["sigma_gn"]))')
"$bin" hessians --model "$tmp/model" --data "$tmp/X20.npy" --targets "$tmp/Y20.npy" --loss mse --gn --out "$tmp/U20.npy" --quiet >/dev/null
fac=$("$bin" check --factors "$tmp/U20.npy" --eta 0.1 --batch 4 --no-exact --json |
      "$py" -c 'import json, sys; print(repr(json.load(sys.stdin)["geometry"]["sigma"]))')
echo "  sigma (NTK blocks)        $ntk"
echo "  sigma (explicit factors)  $fac"
"$py" -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'  relative difference       {abs(a - b) / max(abs(a), abs(b)):.1e}')" "$ntk" "$fac"
