#!/usr/bin/env bash
# Old build against new, alternating, on the commands whose eigensolvers
# apply second-moment operators matrix-free (issue 11, item 4: status-
# returning applies and the family workspace must be no slower).
#
#   tools/bench/bench_workspace.sh OLD_LINSTAB NEW_LINSTAB
#
# Median wall time of RUNS (default 5) runs of each binary, run one after
# the other (old, new, old, new, ...) so that load on the machine hits both
# alike; ratio = new / old (< 1: faster).  Wall time and CPU time (user +
# system, steadier on a shared machine) are both reported.  On a loaded
# machine, OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 gives the steadiest
# CPU times (threads spinning on busy cores inflate them).
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2")
runs=${RUNS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bws.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$new" gen --kind lowrank --n 1000 --d 100 --rank 4 --seed 11 --out "$tmp/lr.npy" >/dev/null
"$new" gen --kind rank1 --n 1000 --d 100 --seed 5 --out "$tmp/r1.npy" >/dev/null
"$new" gen --kind wishart --n 60 --d 80 --seed 7 --out "$tmp/w.npy" >/dev/null
"$new" gen --kind lowrank --n 300 --d 70 --rank 4 --seed 11 --out "$tmp/lrs.npy" >/dev/null
"$new" gen --kind dexter --n 100 --sigma 5 --out "$tmp/dexter.npy" >/dev/null
cases=(
    "factored k=4 n=1000 d=100, critical (m=5050)|critical --factors lr.npy --batches 10 --json"
    "rank-1 n=1000 d=100, check (m=5050)|check --factors r1.npy --eta 0.5 --batch 10 --json"
    "dense n=60 d=80, critical (m=3240)|critical --family w.npy --batches 10 --json"
    "factored k=4 n=300 d=70, SAM indep. (Arnoldi)|check --factors lrs.npy --eta 0.05 --batch 10 --rho 0.05 --sam-variant independent --json"
    "diagonal Dexter n=100, README check|check --diag dexter.npy --eta 0.8 --batch 20 --sampling bernoulli"
)
# wall: prints "WALL CPU" seconds (CPU = user + system of the command)
wall() {
    local TIMEFORMAT='%R %U %S' t
    t=$( { time (cd "$tmp" && "$@" >/dev/null 2>&1) ; } 2>&1 ) || { echo "failed: $*" >&2; exit 1; }
    awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$t"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf "%-48s %8s %8s %6s   %8s %8s %6s   (medians of %d runs, seconds)\n" "case" "old" "new" "ratio" "old_cpu" "new_cpu" "ratio" "$runs"
for c in "${cases[@]}"; do
    name=${c%%|*} cmd=${c#*|}
    : >"$tmp/to"; : >"$tmp/tn"
    for ((k = 0; k < runs; k++)); do
        # shellcheck disable=SC2086
        wall "$old" $cmd >>"$tmp/to"
        # shellcheck disable=SC2086
        wall "$new" $cmd >>"$tmp/tn"
    done
    to=$(cut -d' ' -f1 "$tmp/to" | median); tn=$(cut -d' ' -f1 "$tmp/tn" | median)
    co=$(cut -d' ' -f2 "$tmp/to" | median); cn=$(cut -d' ' -f2 "$tmp/tn" | median)
    printf "%-48s %8s %8s %6.3f   %8s %8s %6.3f\n" "$name" "$to" "$tn" "$(awk -v a="$to" -v b="$tn" 'BEGIN { print b / a }')" \
        "$co" "$cn" "$(awk -v a="$co" -v b="$cn" 'BEGIN { print b / a }')"
    echo "    wall old: $(cut -d' ' -f1 "$tmp/to" | tr '\n' ' ')  new: $(cut -d' ' -f1 "$tmp/tn" | tr '\n' ' ')"
done
