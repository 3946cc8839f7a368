#!/usr/bin/env bash
# Correctness of the strong peers of issue 14 against linstab on small
# instances (seconds, not a benchmark): exits 1 when an output disagrees.
#   tools/bench/check_strong_peers.sh [BUILD_DIR]
# map (Dexter grid 17 x 20 cells): majority verdicts agree on >= 99 % of cells
# and the divergent counts within 2;
# eta* dense (d = 10), eta* matrix-free (rank-one n = 100, d = 30, also
# against the dense peer): relative difference <= 1e-10; per-sample
# Hessians (10-32-32-3, n = 6, mse and ce): max relative entry difference
# <= 1e-12; sharpness of the same MLP: relative difference <= 1e-8.
export THREADS=${THREADS:-1}
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
fail=0
ok() { # ok NAME VALUE OP LIMIT
    if awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !(op == "<=" ? v <= l : v >= l) }'; then
        printf "  ok    %-48s %s %s %s\n" "$1" "$2" "$3" "$4"
    else
        printf "  FAIL  %-48s %s (wanted %s %s)\n" "$1" "$2" "$3" "$4"; fail=1
    fi
}
rel() { awk -v a="$1" -v b="$2" 'BEGIN { x = (a - b) / b; if (x < 0) x = -x; printf "%.3e", x }'; }
echo "strong peers vs linstab, small instances:"
# 17 x 20 cells; fixed seeds (linstab 0, peer 0): deterministic.  A peer
# with eta off by 6 % (0.85 for 0.8) agrees on 98.8 % and has 4 more
# divergent cells: the limits below catch it
"$bin" map --dexter 100 --sampling bernoulli --eta 0.8 --x sigma=1:50:3 --y batch=1:100:5 --no-exact --no-plot --quiet --out "$tmp/map" >/dev/null
for c in "--count0 bernoulli" "--count0 binomial" "--count0 binomial --uniform32"; do
    "$py" "$here/map_peer_vec.py" --sigmas 1:50:3 --batches 1:100:5 $c --compare "$tmp/map" >"$tmp/m.json"
    ok "map ($c): verdict agreement" "$(jget "$tmp/m.json" '["compare"]["verdict_agreement"]')" ">=" 0.99
    ok "  |divergent cells linstab - peer|" "$(jget "$tmp/m.json" '["compare"]' | "$py" -c 'import ast, sys; c = ast.literal_eval(sys.stdin.read()); print(abs(c["divergent_cells_linstab"] - c["divergent_cells_peer"]))')" "<=" 2
done
"$bin" gen --kind wishart --n 60 --d 10 --seed 3 --out "$tmp/w.npy" >/dev/null
for s in without bernoulli with; do
    "$bin" critical --family "$tmp/w.npy" --batches 7 --sampling $s --json --quiet >"$tmp/l.json"
    "$py" "$here/kron_gemm_peer.py" --family "$tmp/w.npy" --batch 7 --sampling $s >"$tmp/p.json"
    ok "eta* dense d = 10, $s" "$(rel "$(jget "$tmp/p.json" '["critical_eta"]')" "$(jget "$tmp/l.json" '["rows"][0]["critical_eta"]')")" "<=" 1e-10
done
"$bin" gen --kind rank1 --n 100 --d 30 --seed 3 --out "$tmp/u.npy" >/dev/null
for s in without bernoulli; do
    "$bin" critical --factors "$tmp/u.npy" --batches 7 --sampling $s --json --quiet >"$tmp/l.json"
    "$py" "$here/mf_eta_peer.py" --factors "$tmp/u.npy" --batch 7 --sampling $s >"$tmp/p.json"
    "$py" "$here/kron_gemm_peer.py" --factors "$tmp/u.npy" --batch 7 --sampling $s >"$tmp/k.json"
    el=$(jget "$tmp/l.json" '["rows"][0]["critical_eta"]')
    ok "eta* matrix-free rank-one n = 100, d = 30, $s" "$(rel "$(jget "$tmp/p.json" '["critical_eta"]')" "$el")" "<=" 1e-10
    ok "  the dense peer on the same family" "$(rel "$(jget "$tmp/k.json" '["critical_eta"]')" "$el")" "<=" 1e-10
done
# rank-deficient (n = 20 < d = 30): the range restriction of docs/math.md §1
"$bin" gen --kind rank1 --n 20 --d 30 --seed 3 --out "$tmp/u20.npy" >/dev/null
"$bin" critical --factors "$tmp/u20.npy" --batches 7 --json --quiet >"$tmp/l.json"
el=$(jget "$tmp/l.json" '["rows"][0]["critical_eta"]')
"$py" "$here/mf_eta_peer.py" --factors "$tmp/u20.npy" --batch 7 >"$tmp/p.json"
ok "eta* rank-one n = 20 < d = 30 (rank 20), matrix-free" "$(rel "$(jget "$tmp/p.json" '["critical_eta"]')" "$el")" "<=" 1e-10
"$py" "$here/kron_gemm_peer.py" --factors "$tmp/u20.npy" --batch 7 >"$tmp/p.json"
ok "  the dense peer on the same family" "$(rel "$(jget "$tmp/p.json" '["critical_eta"]')" "$el")" "<=" 1e-10
"$py" - "$tmp" <<'PY'
import json, os, sys
import numpy as np
d = sys.argv[1]; rng = np.random.default_rng(0); sizes = [10, 32, 32, 3]
os.makedirs(f"{d}/mdl")
json.dump({"layers": sizes, "activation": "tanh", "bias": True}, open(f"{d}/mdl/model.json", "w"))
for l in range(1, 4):
    np.save(f"{d}/mdl/W{l}.npy", rng.standard_normal((sizes[l], sizes[l - 1])) / np.sqrt(sizes[l - 1]))
    np.save(f"{d}/mdl/b{l}.npy", 0.1 * rng.standard_normal(sizes[l]))
np.save(f"{d}/X.npy", rng.standard_normal((6, 10)))
np.save(f"{d}/Y.npy", rng.standard_normal((6, 3)))
np.save(f"{d}/C.npy", rng.integers(0, 3, 6))
PY
"$bin" hessians --model "$tmp/mdl" --data "$tmp/X.npy" --targets "$tmp/Y.npy" --loss mse --out "$tmp/H.npy" --quiet >/dev/null
"$py" "$here/hessians_vmap_peer.py" "$tmp/mdl" "$tmp/X.npy" "$tmp/Y.npy" --chunk 4 --compare "$tmp/H.npy" >"$tmp/h.json"
ok "per-sample Hessians, mse (n = 6, p = 1507)" "$(jget "$tmp/h.json" '["max_rel_diff"]')" "<=" 1e-12
"$bin" hessians --model "$tmp/mdl" --data "$tmp/X.npy" --targets "$tmp/C.npy" --loss ce --label-smoothing 0.1 --out "$tmp/Hc.npy" --quiet >/dev/null
"$py" "$here/hessians_vmap_peer.py" "$tmp/mdl" "$tmp/X.npy" "$tmp/C.npy" --loss ce --smoothing 0.1 --chunk 4 --compare "$tmp/Hc.npy" >"$tmp/h.json"
ok "per-sample Hessians, ce, smoothing 0.1" "$(jget "$tmp/h.json" '["max_rel_diff"]')" "<=" 1e-12
for lo in "mse Y.npy" "ce C.npy"; do
    set -- $lo
    "$bin" hessians --model "$tmp/mdl" --data "$tmp/X.npy" --targets "$tmp/$2" --loss $1 --matrix-free >"$tmp/l.json"
    "$py" "$here/sharpness_torch_peer.py" "$tmp/mdl" "$tmp/X.npy" "$tmp/$2" --loss $1 >"$tmp/p.json"
    ok "sharpness, $1" "$(rel "$(jget "$tmp/p.json" '["sharpness"]')" "$(jget "$tmp/l.json" '["sharpness"]')")" "<=" 1e-8
done
exit $fail
