#!/usr/bin/env bash
# Default thread settings against the best explicit setting (issue 14: no
# oversubscription; defaults within 1.3x of the best).  Each workload runs
# under four settings, rotated RUNS times (default 3), end to end:
#   default (nothing set) | OMP 1, BLAS 1 | OMP 2, BLAS 1 | OMP 1, BLAS 2
# and prints the medians and default / best.  Workloads: a map over a dense
# (200, 10, 10) Wishart family (16 x 16 cells), Dexter et al.'s Figure 1
# grid (Monte Carlo, 50 x 100 cells), check with the exact section on
# rank-one n = d = 500, critical on rank-one n = d = 1000.
#   tools/bench/bench_threads.sh [BUILD_DIR]   (RUNS)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build}/tools/linstab
runs=${RUNS:-3}
[[ -x $bin ]] || { echo "bench_threads: no $bin; build first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bthreads.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS
"$bin" gen --kind wishart --n 200 --d 10 --seed 3 --out "$tmp/dw.npy" >/dev/null
"$bin" gen --kind rank1 --n 500 --d 500 --seed 7 --out "$tmp/u500.npy" >/dev/null
"$bin" gen --kind rank1 --n 1000 --d 1000 --seed 7 --out "$tmp/u1000.npy" >/dev/null
work=(
    "map-dense|map --family $tmp/dw.npy --x eta=log:0.01:2:16 --y batch=1:200:16 --quiet"
    "map-fig1|map --dexter 100 --sampling bernoulli --eta 0.8 --x sigma=1:50 --y batch=1:100 --quiet"
    "check-exact|check --factors $tmp/u500.npy --eta 0.5 --batch 10 --rho 0.05 --json --quiet"
    "critical|critical --factors $tmp/u1000.npy --batches 10 --json --quiet"
)
settings=("default|" "omp1-blas1|OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1" "omp2-blas1|OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1" "omp1-blas2|OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2")
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for w in "${work[@]}"; do
    name=${w%%|*}; cmd=${w#*|}
    for ((r = 0; r < runs; r++)); do
        for ((q = 0; q < ${#settings[@]}; q++)); do
            s=${settings[(q + r) % ${#settings[@]}]}; sn=${s%%|*}; se=${s#*|}
            out=$tmp/out.$RANDOM
            [[ $name == map-* ]] && cmd_run="$cmd --out $out" || cmd_run=$cmd
            t0=$(date +%s.%N)
            # shellcheck disable=SC2086
            env $se "$bin" $cmd_run >"$tmp/last.out" 2>"$tmp/last.err" || { cat "$tmp/last.err" >&2; exit 1; }
            t1=$(date +%s.%N)
            rm -rf "$out"
            awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >>"$tmp/$name.$sn"
        done
    done
    line="$name:"; best=""; def=""
    for s in "${settings[@]}"; do
        sn=${s%%|*}; m=$(median "$tmp/$name.$sn"); line+=" $sn $m s;"
        [[ $sn == default ]] && def=$m
        if [[ -z $best ]] || awk -v a="$m" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$m; fi
    done
    echo "$line default / best $(awk -v a="$def" -v b="$best" 'BEGIN { printf "%.2f", a / b }')"
done
