#!/usr/bin/env bash
# Exact mean-square eta* of SGD on a dense Wishart family (n = 100, d = D,
# default 40; B = 10, without replacement): `linstab critical` against the
# strong numpy peer (tools/bench/kron_gemm_peer.py: eigenbasis, the
# Kronecker sum by one GEMM, svec, eigsh), alternating, RUNS times (default
# 3).  linstab critical has no internal timer: its compute column is "-".
#   tools/bench/bench_strong_kron.sh [BUILD_DIR]   (RUNS, THREADS, D, N)
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
d=${D:-40}; n=${N:-100}
"$bin" gen --kind wishart --n "$n" --d "$d" --seed 7 --out "$tmp/w.npy" >/dev/null
for ((r = 0; r < runs; r++)); do
    timed L "$bin" critical --family "$tmp/w.npy" --batches 10 --json --quiet
    timed P "$py" "$here/kron_gemm_peer.py" --family "$tmp/w.npy" --batch 10
    record P "$(jget "$tmp/P.out" '["seconds"]')"
done
el=$(jget "$tmp/L.out" '["rows"][0]["critical_eta"]'); ep=$(jget "$tmp/P.out" '["critical_eta"]')
echo "exact eta*, dense Wishart n = $n, d = $d (svec dimension $((d * (d + 1) / 2))), B = 10, without replacement:"
report "linstab critical" "numpy peer (one GEMM, svec, eigsh)"
echo "eta*: linstab $el, peer $ep, relative difference $(awk -v a="$el" -v b="$ep" 'BEGIN { x = (a - b) / b; if (x < 0) x = -x; printf "%.2e", x }')"
