#!/usr/bin/env bash
# Benchmark `linstab critical` (exact mean-square eta*, issue 3) against the
# numpy Kronecker-product approach (tools/bench/kron_peer.py), side by side.
#
#   tools/bench/bench_critical.sh [BUILD_DIR]     (default: build)
#
# 1. dense Wishart families, n = 100, d = 10..60 (operator size d(d+1)/2 up
#    to 1830, dense LAPACK path) vs numpy kron (d^2 x d^2 generalized eigh);
# 2. rank-one factored families (matrix-free ARPACK path): d = 100..1000 at
#    n = 1000, and n = 250..2000 at d = 500.
# Median of RUNS (default 3) wall times; eta* compared between the two.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/tools/linstab
py=${PYTHON:-/usr/bin/python3}
runs=${RUNS:-3}
[[ -x $bin ]] || { echo "bench_critical: no $bin; build first (tools/setup.sh build)" >&2; exit 1; }
"$py" -c 'import numpy, scipy' 2>/dev/null || { echo "bench_critical: $py lacks numpy/scipy" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bcrit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

wall() { local t0 t1; t0=$(date +%s.%N); "$@" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
eta_of() { "$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["rows"][0]["critical_eta"] if "rows" in j else j["critical_eta"])' "$1"; }

printf "%-28s %10s %10s %8s %12s\n" "family" "linstab_s" "numpy_s" "ratio" "rel_diff_eta"
for d in 10 20 30 40 60; do
    f=$tmp/w$d.npy
    "$bin" gen --kind wishart --n 100 --d $d --seed 7 --out "$f" >/dev/null
    : >"$tmp/tl"; : >"$tmp/tp"
    for ((k = 0; k < runs; k++)); do
        wall "$bin" critical --family "$f" --batches 10 --json --quiet >>"$tmp/tl"; cp "$tmp/out" "$tmp/l.json"
        wall "$py" "$here/kron_peer.py" --family "$f" --batch 10 >>"$tmp/tp"; cp "$tmp/out" "$tmp/p.json"
    done
    el=$(eta_of "$tmp/l.json"); ep=$(eta_of "$tmp/p.json")
    tl=$(median <"$tmp/tl"); tp=$(median <"$tmp/tp")
    printf "%-28s %10s %10s %7.1fx %12.2e\n" "dense n=100 d=$d (m=$((d*(d+1)/2)))" "$tl" "$tp" \
        "$(awk -v a="$tl" -v b="$tp" 'BEGIN { print b / a }')" \
        "$(awk -v a="$el" -v b="$ep" 'BEGIN { x = (a - b) / b; if (x < 0) x = -x; print x }')"
done
for nd in 1000:100 1000:250 1000:500 1000:1000 250:500 500:500 2000:500; do
    n=${nd%%:*}; d=${nd##*:}
    f=$tmp/r$n-$d.npy
    "$bin" gen --kind rank1 --n $n --d $d --seed 7 --out "$f" >/dev/null
    : >"$tmp/tl"
    for ((k = 0; k < runs; k++)); do wall "$bin" critical --factors "$f" --batches 10 --json --quiet >>"$tmp/tl"; done
    printf "%-28s %10s %10s %8s %12s\n" "rank-1 n=$n d=$d" "$(median <"$tmp/tl")" "-" "-" "eta*=$(eta_of "$tmp/out" | cut -c1-10)"
done
