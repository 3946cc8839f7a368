#!/usr/bin/env bash
# Exact per-sample Hessians of an MLP 10-32-32-3 (tanh, p = 1507) at n = N
# (default 200) samples, squared loss: `linstab hessians` (LINSTAB_PROFILE:
# compute and write times) against the strong PyTorch peer
# (tools/bench/hessians_vmap_peer.py: functorch vmap(hessian) over the tuple
# of parameters, chunks of 50, float64), alternating, RUNS times (default
# 3).  linstab's wall includes writing the (N, p, p) NPY (3.6 GB at N = 200,
# synced): it streams chunks of samples to the file while computing the
# next, and its compute figure is the Hessian kernels' thread-seconds over
# the thread count (what the computation alone takes, spread over the
# threads; the write runs beside it); the peer keeps one chunk in memory
# and writes nothing.  After the timed
# runs the peer compares its first CHECK (default 50) Hessians with
# linstab's file entry by entry (outside its timer).
#   tools/bench/bench_strong_hessians.sh [BUILD_DIR]   (RUNS, THREADS, N, CHECK, FLOAT32)
# FLOAT32=1: linstab writes '<f4' (--float32; half the bytes), the peer stays float64.
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
n=${N:-200}; check=${CHECK:-50}; f32=(); [[ ${FLOAT32:-0} == 1 ]] && f32=(--float32)
"$py" - "$tmp" "$n" <<'PY'
import json, os, sys
import numpy as np
d, n = sys.argv[1], int(sys.argv[2]); rng = np.random.default_rng(0); sizes = [10, 32, 32, 3]
os.makedirs(f"{d}/mdl")
json.dump({"layers": sizes, "activation": "tanh", "bias": True}, open(f"{d}/mdl/model.json", "w"))
for l in range(1, 4):
    np.save(f"{d}/mdl/W{l}.npy", rng.standard_normal((sizes[l], sizes[l - 1])) / np.sqrt(sizes[l - 1]))
    np.save(f"{d}/mdl/b{l}.npy", 0.1 * rng.standard_normal(sizes[l]))
np.save(f"{d}/X.npy", rng.standard_normal((n, 10)))
np.save(f"{d}/Y.npy", rng.standard_normal((n, 3)))
PY
for ((r = 0; r < runs; r++)); do
    rm -f "$tmp/H.npy"
    LINSTAB_PROFILE=1 timed L "$bin" hessians --model "$tmp/mdl" --data "$tmp/X.npy" --targets "$tmp/Y.npy" --loss mse --out "$tmp/H.npy" --quiet "${f32[@]}"
    record L "$(sed -n 's/.*compute \([0-9.]*\) s.*/\1/p' "$tmp/L.err")"
    sed -n 's/.*write \([0-9.]*\) s.*/\1/p' "$tmp/L.err" >>"$tmp/Lw.comp"
    timed P "$py" "$here/hessians_vmap_peer.py" "$tmp/mdl" "$tmp/X.npy" "$tmp/Y.npy" --chunk 50 --threads "$threads"
    record P "$(jget "$tmp/P.out" '["seconds"]')"
done
"$py" "$here/hessians_vmap_peer.py" "$tmp/mdl" "$tmp/X.npy" "$tmp/Y.npy" --chunk 50 --threads "$threads" --count "$check" --compare "$tmp/H.npy" >"$tmp/cmp.json"
echo "exact per-sample Hessians, MLP 10-32-32-3 (p = 1507), n = $n, float64 (linstab file: ${f32[*]:-float64}):"
report "linstab hessians (+ write $(median "$tmp/Lw.comp") s)" "functorch vmap(hessian), chunks of 50"
echo "first $check Hessians: max |H_peer - H_linstab| = $(jget "$tmp/cmp.json" '["max_abs_diff"]'), max |H| = $(jget "$tmp/cmp.json" '["max_abs"]'), relative $(jget "$tmp/cmp.json" '["max_rel_diff"]')"
