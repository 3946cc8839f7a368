#!/usr/bin/env bash
# bench_dynamics_mlp.sh [STEPS] [REPS] -- the MLP path of `linstab dynamics`
# against `linstab train` on the same model, data, optimizer, batch and
# steps: a 20-64-10 tanh network on 2048 teacher samples, SGD at batch 32
# (and SAM, unnormalized, same batch).  Two settings: the full-data
# evaluation only at the end (LOG = STEPS: the cost of a step alone), and
# every 100 steps on both sides (dynamics --log-every 100 evaluates the
# full loss AND gradient, for the gradient norm it logs; train --log-every
# 100 the loss and accuracy, a forward pass).  REPS
# (default 5) alternated runs of each, whole processes timed alike; prints
# the medians, the time per step and the ratio.  The two draw their
# batches differently (train: per-epoch permutations; dynamics: a fresh
# batch per step), so their iterates differ; the cost per step is the
# comparison.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-3000}; reps=${2:-5}
bin=${LINSTAB_BENCH_BIN:-build/tools/linstab}
[ -x "$bin" ] || { echo "build first: tools/setup.sh build" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-dynmlp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$bin" train --layers 20,64,10 --teacher 2048 --batch 32 --eta 0.05 --steps 1 --seed 1 --save-data \
    --out "$tmp/m0" --quiet >/dev/null
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
wall() {
    local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    awk -v a="$s" -v b="$e" 'BEGIN { printf "%.4f\n", b - a }'
}
for every in "$steps" 100; do
for opt in sgd:sgd sam-same:sam-unnormalized; do
    dopt=${opt%%:*}; topt=${opt##*:}
    dyn=(); trn=()
    for r in $(seq "$reps"); do
        dyn+=("$(wall "$bin" dynamics --model "$tmp/m0" --data "$tmp/m0/X.npy" --targets "$tmp/m0/Y.npy" \
                 --optimizer "$dopt" --rho 0.05 --batch 32 --eta 0.05 --steps "$steps" --log-every "$every")")
        trn+=("$(wall "$bin" train --init-from "$tmp/m0" --data "$tmp/m0/X.npy" --targets "$tmp/m0/Y.npy" \
                 --optimizer "$topt" --rho 0.05 --batch 32 --eta 0.05 --steps "$steps" --log-every "$every" \
                 --out "$tmp/m1" --quiet)")
    done
    d=$(med "${dyn[@]}"); t=$(med "${trn[@]}")
    awk -v d="$d" -v t="$t" -v n="$steps" -v o="$dopt" -v k="$every" 'BEGIN {
        printf "%s, %d steps, full-data log every %d: median dynamics %.3f s (%.1f us/step), train %.3f s (%.1f us/step), train/dynamics %.2f\n",
               o, n, k, d, 1e6 * d / n, t, 1e6 * t / n, t / d }'
done
done
