#!/usr/bin/env bash
# Benchmark `linstab hessians` (issue 5): exact per-sample Hessians of an MLP
# 10-32-32-3 (tanh, p = 1507) at n = 200 samples, side by side with PyTorch
# (tools/bench/hessians_peer.py: torch.autograd.functional.hessian per
# sample, CPU, float64), and their largest relative difference.
#   tools/bench/bench_hessians.sh [BUILD_DIR]     (COUNT=N: torch on the first N samples)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build}/tools/linstab
py=${PYTHON:-/usr/bin/python3}
count=${COUNT:-200}
[[ -x $bin ]] || { echo "bench_hessians: no $bin" >&2; exit 1; }
"$py" -c 'import torch, numpy' 2>/dev/null || { echo "bench_hessians: $py lacks torch (apt-get install python3-torch)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bhess.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$py" - "$tmp" <<'PY'
import json, os, sys
import numpy as np
d = sys.argv[1]; rng = np.random.default_rng(0); sizes = [10, 32, 32, 3]
os.makedirs(f"{d}/mdl")
json.dump({"layers": sizes, "activation": "tanh", "bias": True}, open(f"{d}/mdl/model.json", "w"))
for l in range(1, 4):
    np.save(f"{d}/mdl/W{l}.npy", rng.standard_normal((sizes[l], sizes[l - 1])) / np.sqrt(sizes[l - 1]))
    np.save(f"{d}/mdl/b{l}.npy", 0.1 * rng.standard_normal(sizes[l]))
np.save(f"{d}/X.npy", rng.standard_normal((200, 10)))
np.save(f"{d}/Y.npy", rng.standard_normal((200, 3)))
PY
prof=$(LINSTAB_PROFILE=1 "$bin" hessians --model "$tmp/mdl" --data "$tmp/X.npy" --targets "$tmp/Y.npy" --loss mse --out "$tmp/H.npy" --quiet 2>&1 >/dev/null)
lc=$(echo "$prof" | sed -n 's/.*compute \([0-9.]*\) s.*/\1/p'); lw=$(echo "$prof" | sed -n 's/.*write \([0-9.]*\) s.*/\1/p')
peer=$("$py" "$here/hessians_peer.py" "$tmp/mdl" "$tmp/X.npy" "$tmp/Y.npy" --count "$count" --compare "$tmp/H.npy")
pt=$(echo "$peer" | "$py" -c 'import json,sys; j=json.load(sys.stdin); print(j["seconds"] * 200 / j["samples"])')
rel=$(echo "$peer" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["max_rel_diff"])')
echo "exact per-sample Hessians, MLP 10-32-32-3 (p = 1507), n = 200:"
printf "  linstab compute %8.2f s   (+ %.2f s writing the 3.6 GB NPY)\n" "$lc" "$lw"
printf "  PyTorch         %8.2f s   (%s samples timed, scaled to 200)\n" "$pt" "$count"
printf "  ratio           %8.1fx   max relative difference %s\n" "$(awk -v a="$pt" -v b="$lc" 'BEGIN { print a / b }')" "$rel"
