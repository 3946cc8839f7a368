#!/usr/bin/env bash
# Matrix-free exact eta* of SGD on a rank-one family (n = d = N, default
# 1000; B = 10, without replacement): `linstab critical --factors` against
# the strong scipy peer (tools/bench/mf_eta_peer.py: eigsh on d x d matrices
# X with X -> W diag(W'XW) W'/n), alternating, RUNS times (default 3).
# linstab critical has no internal timer: its compute column is "-".
#   tools/bench/bench_strong_mf_eta.sh [BUILD_DIR]   (RUNS, THREADS, N)
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
n=${N:-1000}
"$bin" gen --kind rank1 --n "$n" --d "$n" --seed 7 --out "$tmp/u.npy" >/dev/null
for ((r = 0; r < runs; r++)); do
    timed L "$bin" critical --factors "$tmp/u.npy" --batches 10 --json --quiet
    timed P "$py" "$here/mf_eta_peer.py" --factors "$tmp/u.npy" --batch 10
    record P "$(jget "$tmp/P.out" '["seconds"]')"
done
el=$(jget "$tmp/L.out" '["rows"][0]["critical_eta"]'); ep=$(jget "$tmp/P.out" '["critical_eta"]')
echo "matrix-free exact eta*, rank-one n = d = $n, B = 10, without replacement:"
report "linstab critical --factors" "scipy peer (eigsh, $(jget "$tmp/P.out" '["matvecs"]') operator products)"
echo "eta*: linstab $el, peer $ep, relative difference $(awk -v a="$el" -v b="$ep" 'BEGIN { x = (a - b) / b; if (x < 0) x = -x; printf "%.2e", x }')"
