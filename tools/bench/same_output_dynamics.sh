#!/usr/bin/env bash
# `linstab dynamics` with two binaries, outputs compared byte for byte:
# standard output, standard error, exit status and the --log file (CSV or
# NPY).  Every objective (quadratic, Bartlett et al.'s, Example 4.1, dense,
# factored and diagonal families, an MLP checkpoint) with every optimizer,
# --switch, --noise, a divergent run and a 10^6-step run.
#
#   tools/bench/same_output_dynamics.sh OLD_LINSTAB NEW_LINSTAB
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2")
py=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-same-dyn.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$new" gen --kind wishart --n 20 --d 4 --seed 3 --out "$tmp/w.npy" >/dev/null
"$new" gen --kind rank1 --n 10 --d 3 --seed 1 --out "$tmp/r.npy" >/dev/null
"$new" gen --kind dexter --n 8 --sigma 2 --out "$tmp/dx.npy" >/dev/null
(cd "$tmp" && "$py" -c "
import numpy as np
X = np.array([[np.sin(1.0 + i), np.cos(2.0 * i)] for i in range(8)])
np.save('X.npy', X); np.save('Y.npy', np.tanh(X[:, 0] - 0.5 * X[:, 1]).reshape(8, 1))" &&
    "$new" train --layers 2,3,1 --data X.npy --targets Y.npy --batch 4 --steps 5 --out m0 --quiet >/dev/null)
# LOG: the log file of the command (compared too)
cmds=(
    "--objective quadratic --spectrum 1.3,0.6,0.2 --optimizer sam-normalized --eta 0.3 --rho 0.7 --start 1,-2,0.5 --steps 3000 --json --log LOG"
    "--objective quadratic --spectrum 1.3,0.6,0.2 --optimizer sam-normalized --eta 0.3 --rho 0.7 --start 1,-2,0.5 --steps 3000"
    "--objective quadratic --spectrum 1,0.5 --optimizer gd --eta 2.5 --start 1,1 --steps 100000 --log LOG"
    "--objective quadratic --spectrum 1,0.5 --optimizer gd --eta 0.5 --start 1,1 --steps 1000 --json --log LOG"
    "--objective quadratic --spectrum 2,-0.1 --allow-indefinite --optimizer sgd --eta 0.3 --start 1,1e-3 --steps 500 --log LOG"
    "--objective quadratic --spectrum 1,0.5,0.25 --optimizer sam-same --eta 0.4 --rho 0.3 --start 1,1,1 --steps 2000 --log LOG --json"
    "--objective quadratic --spectrum 1,0.5,0.25 --optimizer sam-independent --eta 0.4 --rho 0.3 --start 1,1,1 --steps 2000 --log LOG"
    "--objective quadratic --spectrum 3,0.5 --optimizer sam-normalized --eta 0.5 --rho 0.1 --start 0.3,-0.2 --steps 2000 --noise 0.01 --seed 7 --log LOG --json"
    "--objective quadratic --spectrum 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18 --optimizer sam-normalized --eta 0.15 --rho 0.1 --start 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1 --steps 500 --log LOG --json"
    "--objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 1,1 --steps 1000000 --json"
    "--objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 1,1 --steps 20000 --log LOG"
    "--objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 1,1 --steps 20000"
    "--objective bartlett --optimizer gd --eta 0.1 --start 1,1 --steps 5000 --log LOG --json"
    "--objective bartlett --optimizer sgd --eta 0.3 --start 2,-1 --steps 5000 --log LOG"
    "--objective bartlett --optimizer sam-same --eta 0.2 --rho 0.05 --start 1,1 --steps 5000 --log LOG --json"
    "--objective bartlett --optimizer sam-independent --eta 0.2 --rho 0.05 --start 1,1 --steps 5000 --log LOG"
    "--objective bartlett --optimizer gd --switch 3000:sam-normalized --eta 0.2 --rho 0.5 --start 1,1 --steps 6000 --log LOG --json"
    "--objective bartlett --optimizer sam-normalized --eta 0.2 --rho 0.1 --start 0.5,2 --steps 5000 --noise 0.001 --seed 11 --log LOG --json"
    "--objective bartlett --optimizer gd --eta 5 --start 1,1 --steps 1000 --log LOG --json"
    "--objective tanh2 --optimizer gd --switch 200:sam-same --eta 1.5 --rho 1 --start 1.5,0.3 --steps 400 --json --log LOG"
    "--objective tanh2 --optimizer gd --switch 200:sam-same --eta 1.5 --rho 1 --start 1.5,0.3 --steps 400"
    "--objective tanh2 --optimizer sam-normalized --eta 0.5 --rho 0.02 --start 1.2,0.05 --steps 3000 --json --log LOG"
    "--objective tanh2 --optimizer sam-normalized --eta 0.5 --rho 0.02 --start 1.2,0.05 --steps 3000"
    "--objective tanh2 --optimizer sgd --eta 0.7 --start 0.5,0.5 --steps 3000 --log LOG"
    "--objective tanh2 --optimizer sam-same --eta 0.7 --rho 0.2 --start 0.5,0.5 --steps 3000 --log LOG --json"
    "--objective tanh2 --optimizer sam-normalized --switch 1000:gd --eta 0.7 --rho 0.2 --start 0.5,0.5 --steps 3000 --log LOG --json"
    "--objective tanh2 --optimizer sam-same --eta 0.7 --rho 0.2 --start 0.5,0.5 --steps 3000 --noise 0.05 --seed 5 --log LOG"
    "--objective tanh2 --optimizer sgd --switch 100:sam-independent --eta 1.5 --rho 1 --start 1.5,0.3 --steps 400 --log LOG --json"
    "--family w.npy --optimizer sgd --eta 0.2 --batch 3 --start 1,1,1,1 --steps 2000 --seed 2 --log LOG --json"
    "--family w.npy --optimizer sam-normalized --eta 0.2 --rho 0.1 --batch 5 --sampling with --start 1,1,1,1 --steps 2000 --seed 2 --log LOG --json"
    "--family w.npy --optimizer gd --switch 500:sam-independent --eta 0.2 --rho 0.1 --batch 4 --start 1,1,1,1 --steps 2000 --log LOG --json"
    "--factors r.npy --optimizer sam-same --eta 0.3 --rho 0.2 --batch 2 --start 1,-1,1 --steps 2000 --noise 0.01 --seed 4 --log LOG"
    "--diag dx.npy --optimizer sgd --eta 0.5 --batch 2 --start 1,1,1,1,1,1,1 --steps 2000 --seed 9 --log LOG --json"
    "--objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 1,1 --steps 3000 --log LOG.npy --json"
    "--objective tanh2 --optimizer sam-same --eta 0.7 --rho 0.2 --start 0.5,0.5 --steps 3000 --noise 0.05 --seed 5 --log LOG.npy"
    "--family w.npy --optimizer gd --switch 300:sam-same --eta 0.2 --rho 0.1 --batch 4 --start 1,1,1,1 --steps 1000 --log LOG --json"
    "--model m0 --data X.npy --targets Y.npy --optimizer gd --eta 0.1 --steps 200 --log LOG --json"
    "--model m0 --data X.npy --targets Y.npy --optimizer sam-normalized --eta 0.1 --rho 0.05 --batch 3 --seed 4 --steps 200 --log LOG --json"
    "--model m0 --data X.npy --targets Y.npy --optimizer sgd --switch 100:sam-same --eta 0.1 --rho 0.05 --batch 8 --steps 200 --log LOG"
    "--objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 1,1 --steps 1000000 --json --log LOG"
)
bad=0
for c in "${cmds[@]}"; do
    for who in old new; do
        bin=$old; [ "$who" = new ] && bin=$new
        a=${c//LOG/$who.log}
        # shellcheck disable=SC2086
        (cd "$tmp" && rm -f $who.log $who.log.npy && "$bin" dynamics $a >$who.out 2>$who.err; echo "exit $?" >>$who.err) || true
    done
    same=1
    cmp -s "$tmp/old.out" "$tmp/new.out" && cmp -s "$tmp/old.err" "$tmp/new.err" || same=0
    for l in log log.npy; do
        if [ -e "$tmp/old.$l" ] || [ -e "$tmp/new.$l" ]; then cmp -s "$tmp/old.$l" "$tmp/new.$l" || same=0; fi
    done
    if [ $same = 1 ]; then
        echo "same  ($(wc -c <"$tmp/new.out") bytes, $(tail -1 "$tmp/new.err"))  linstab dynamics $c"
    else
        echo "DIFFERENT  linstab dynamics $c"
        diff "$tmp/old.out" "$tmp/new.out" | head -10 || true
        diff "$tmp/old.err" "$tmp/new.err" | head -5 || true
        bad=1
    fi
done
exit $bad
