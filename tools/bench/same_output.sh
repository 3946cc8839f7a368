#!/usr/bin/env bash
# The same commands with two linstab binaries, outputs compared byte for
# byte (issue 11: a reorganisation changes no number).  README's examples
# (the Dexter diagonal family) and the same for dense and factored
# families, small (dense eigensolver path) and large (matrix-free path).
#
#   tools/bench/same_output.sh OLD_LINSTAB NEW_LINSTAB
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-same.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$new" gen --kind dexter --n 100 --sigma 5 --out "$tmp/dexter.npy" >/dev/null
"$new" gen --kind rank1 --n 200 --d 30 --seed 3 --out "$tmp/r1.npy" >/dev/null
"$new" gen --kind lowrank --n 80 --d 12 --rank 3 --seed 4 --out "$tmp/lr.npy" >/dev/null
"$new" gen --kind rank1 --n 300 --d 70 --seed 5 --out "$tmp/r1big.npy" >/dev/null
"$new" gen --kind wishart --n 60 --d 8 --seed 6 --out "$tmp/w.npy" >/dev/null
"$new" gen --kind wishart --n 40 --d 66 --seed 7 --out "$tmp/wbig.npy" >/dev/null
cmds=(
    "check --diag dexter.npy --eta 0.8 --batch 20 --sampling bernoulli"
    "critical --diag dexter.npy --batches 1,5,10,20,45,100 --sampling bernoulli"
    "check --factors r1.npy --eta 0.5 --batch 10 --rho 0.05 --json"
    "critical --factors r1.npy --batches 1,2,5,10,50 --rho 0.05 --csv"
    "check --factors lr.npy --eta 0.3 --batch 5 --rho 0.1 --sampling with --json"
    "check --factors r1big.npy --eta 0.5 --batch 10 --json"
    "critical --factors r1big.npy --batches 1,10 --json"
    "check --family w.npy --eta 0.05 --batch 10 --rho 0.05 --json"
    "critical --family w.npy --batches 1,5,20 --rho 0.05 --csv"
    "check --family wbig.npy --eta 0.01 --batch 10 --json"
)
bad=0
for c in "${cmds[@]}"; do
    # shellcheck disable=SC2086
    (cd "$tmp" && "$old" $c >old.out 2>old.err; echo "exit $?" >>old.err) || true
    # shellcheck disable=SC2086
    (cd "$tmp" && "$new" $c >new.out 2>new.err; echo "exit $?" >>new.err) || true
    if cmp -s "$tmp/old.out" "$tmp/new.out" && cmp -s "$tmp/old.err" "$tmp/new.err"; then
        echo "same  ($(wc -c <"$tmp/new.out") bytes, $(tail -1 "$tmp/new.err"))  linstab $c"
    else
        echo "DIFFERENT  linstab $c"
        diff "$tmp/old.out" "$tmp/new.out" | head -10 || true
        diff "$tmp/old.err" "$tmp/new.err" | head -5 || true
        bad=1
    fi
done
exit $bad
