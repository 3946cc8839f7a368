#!/usr/bin/env bash
# The exact section of `linstab check` on a rank-one family n = d = N
# (default 1000; eta 0.5, B = 10, rho 0.05, without replacement): this
# build against an older linstab binary (OLD=/path/to/linstab, e.g. a build
# of an earlier commit), alternating, RUNS times (default 3), end to end;
# then the per-stage times of this build (LINSTAB_PROFILE) and the largest
# relative difference between the two JSON reports.  Without OLD, only this
# build is timed.
#   OLD=/tmp/old/build-old/tools/linstab tools/bench/bench_exact_section.sh [BUILD_DIR]   (RUNS, THREADS, N)
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
n=${N:-1000}
"$bin" gen --kind rank1 --n "$n" --d "$n" --seed 7 --out "$tmp/u.npy" >/dev/null
args=(check --factors "$tmp/u.npy" --eta 0.5 --batch 10 --rho 0.05 --sampling without --json --quiet)
for ((r = 0; r < runs; r++)); do
    LINSTAB_PROFILE=1 timed L "$bin" "${args[@]}"
    if [[ -n ${OLD:-} ]]; then timed P "$OLD" "${args[@]}"; fi
done
echo "check with the exact section, rank-one n = d = $n, eta 0.5, B = 10, rho 0.05, without replacement:"
report "linstab (this build)" "linstab ${OLD:-(no OLD given)}"
echo "stages of this build's last run:"
sed -n 's/^\[profile\] /  /p' "$tmp/L.err"
if [[ -n ${OLD:-} ]]; then
    "$py" "$here/compare_reports.py" "$tmp/L.out" "$tmp/P.out"
fi
