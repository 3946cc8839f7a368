#!/usr/bin/env bash
# Shin et al. (2023), Figure 2, at laptop scale: an MLP 784-64-10 (tanh, squared
# loss, one-hot targets) on the first 1000 Fashion-MNIST training images,
# trained to near-zero loss with SGD and with SAM (normalized) at several rho;
# then, at each minimum, the sharpness lambda1(H) and the non-uniformity
# s_2 = sqrt(lambda_max(M_2 - H^2)), both matrix-free (Lanczos on per-sample
# Hessian-vector products), and the coherence-free check of the minimum.
# Needs Debian's dataset-fashion-mnist.  About 3 minutes on 2 cores.  The
# end points are kept (model-*/: W1.npy, b1.npy, W2.npy, b2.npy, 400 kB), for
# `linstab check --model model-sgd-0` and the like.  `./run.sh --page-only`
# redoes just the figure, the page and the notebook from results.csv.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
FM=/usr/share/datasets/fashion-mnist
# the figure, the page and the notebook, from narrative.md and results.csv
page() {
    # linstab plot reads numeric columns only: results.csv less its text column
    /usr/bin/python3 -c 'import csv, sys; r = list(csv.reader(open("results.csv"))); k = [i for i, h in enumerate(r[0]) if h != sys.argv[1]]
print("\n".join(",".join(x[i] for i in k) for x in r))' optimizer > .plot.csv
    "$L" plot --csv .plot.csv --x rho --y sharpness,s2 --out figure.png \
        --title "MLP 784-64-10 on Fashion-MNIST: SGD (#gr = 0) and SAM" --xlabel "SAM radius #gr" --ylabel "at the end point"
    rm -f .plot.csv
    /usr/bin/python3 - <<'PY'
import csv
rows = list(csv.DictReader(open('results.csv')))
table = ["| optimizer | rho | train loss | train accuracy | sharpness lambda1(H) | s_2 |", "|---|---|---|---|---|---|"]
table += [f"| {r['optimizer']} | {r['rho']} | {float(r['train_loss']):.4f} | {float(r['train_accuracy']):.3f} | "
          f"{float(r['sharpness']):.2f} | {float(r['s2']):.2f} |" for r in rows]
title = "# Shin et al. (2023), Figure 2 — sharpness and non-uniformity of SGD and SAM minima"
narr = open('narrative.md').read().strip()
md = "\n".join([title, "", narr, "", "## Results", "", "![sharpness and s_2 against rho](figure.png)", "", *table, "",
                 "Data: [`results.csv`](results.csv); the end points in `model-*/` (weights and training log).", ""])
open('README.md.tmp', 'w').write(md)
PY
    mv README.md.tmp README.md
    /usr/bin/python3 ../nbwrite.py --page README.md --out shin-figure2 --minutes 3 --csv results.csv --code check_models.py
}
if [[ ${1:-} == --page-only ]]; then
    page
    exit 0
fi
[[ -r $FM/train-images-idx3-ubyte.gz ]] || { echo "install dataset-fashion-mnist (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
common=(--layers 784,64,10 --idx-images $FM/train-images-idx3-ubyte.gz --idx-labels $FM/train-labels-idx1-ubyte.gz
        --subset 1000 --loss mse --eta 0.02 --batch 32 --steps 6000 --seed 1 --log-every 1000 --quiet)
# the same data as NPY for `hessians --matrix-free`
/usr/bin/python3 - <<'PY'
import gzip, numpy as np
X = np.frombuffer(gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz').read()[16:], np.uint8).reshape(-1, 784)[:1000] / 255.0
lab = np.frombuffer(gzip.open('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz').read()[8:], np.uint8)[:1000]
np.save('X.npy', X); np.save('Y.npy', np.eye(10)[lab])
PY
echo "optimizer,rho,train_loss,train_accuracy,sharpness,s2" > results.csv
for run in sgd:0 sam:0.02 sam:0.05 sam:0.1 sam:0.2; do
    opt=${run%%:*}; rho=${run##*:}
    "$L" train "${common[@]}" --optimizer "$opt" --rho "$rho" --out "model-$opt-$rho" >/dev/null
    last=$(tail -n 1 "model-$opt-$rho/train_log.csv")
    mf=$("$L" hessians --model "model-$opt-$rho" --data X.npy --targets Y.npy --loss mse --matrix-free)
    /usr/bin/python3 - "$opt" "$rho" "$last" "$mf" >> results.csv <<'PY'
import json, sys
opt, rho, last, mf = sys.argv[1], sys.argv[2], sys.argv[3].split(','), json.loads(sys.argv[4])
print(f"{opt},{rho},{last[3]},{last[4]},{mf['sharpness']},{mf['s2']}")
PY
done
rm -f X.npy Y.npy
page
cat results.csv
