#!/usr/bin/env bash
# The coherence sigma of trained networks (Dexter et al. (2024), Section 6, ask for "the value
# of sigma in realistic neural networks"): an MLP 784-64-10 (tanh, squared
# loss) on the first 1000 Fashion-MNIST images, trained with SGD at batch
# sizes 8, 32 and 128 (eta = 0.02, 6000 steps).  At each end point, on all
# 1000 training images: sharpness, s_2 and the Gauss-Newton coherence sigma
# (NTK blocks assembled layer by layer, matrix-free), and what Dexter et al.'s
# Theorem 1 says for the batch size used.  Needs dataset-fashion-mnist;
# about 5 minutes.  The end points are kept (model-b*/: W1.npy, b1.npy, W2.npy,
# b2.npy, 400 kB), for `linstab check --model model-b8` and the like.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
FM=/usr/share/datasets/fashion-mnist
# the figures, the page and the notebook from results.csv and narrative.md
# (`./run.sh --page-only` redoes just this part)
page() {
    # linstab plot reads numeric columns only: results.csv less its text column
    /usr/bin/python3 -c 'import csv, sys; r = list(csv.reader(open("results.csv"))); k = [i for i, h in enumerate(r[0]) if h != sys.argv[1]]
print("\n".join(",".join(x[i] for i in k) for x in r))' thm1_diverges > .plot.csv
    "$L" plot --csv .plot.csv --x batch --y sharpness,s2 --out geometry.png \
        --title "End points of SGD (eta = 0.02): curvature" --xlabel "batch size B" --ylabel "sharpness, s#d2#u"
    "$L" plot --csv .plot.csv --x batch --y sigma --out sigma.png \
        --title "Coherence #gs of the Gauss-Newton Hessians (1000 images)" --xlabel "batch size B" --ylabel "#gs"
    "$L" plot --csv .plot.csv --x batch --y eta_star_100,eta --out eta-star.png \
        --title "Exact mean-square critical eta* vs the eta that trained" --xlabel "batch size B" --ylabel "learning rate"
    rm -f .plot.csv
    /usr/bin/python3 - <<'PY'
import csv
rows = list(csv.DictReader(open('results.csv')))
t = ["| batch | train loss | accuracy | sharpness | s_2 | sigma (GN, 1000 samples) | Theorem 1 threshold | Theorem 1 says | exact eta* (100 samples, B/10) |", "|---|---|---|---|---|---|---|---|---|"]
t += [f"| {r['batch']} | {float(r['train_loss']):.4f} | {float(r['train_accuracy']):.3f} | {float(r['sharpness']):.2f} | {float(r['s2']):.2f} | {float(r['sigma']):.1f} | {float(r['thm1_threshold']):.0f} | {'diverges' if r['thm1_diverges'] == 'true' else 'nothing'} | {float(r['eta_star_100']):.4f} |" for r in rows]
figs = [("sigma.png", "sigma against the batch size"), ("geometry.png", "sharpness and s_2 against the batch size"),
        ("eta-star.png", "exact eta* against the training eta")]
md = "\n".join(["# The coherence sigma of trained MLPs (Dexter et al.'s open question)", "", open('narrative.md').read().strip(), "",
                "## Results", "", *t, "", *[f"![{alt}]({f})" for f, alt in figs], "",
                "Data: [`results.csv`](results.csv); the end points in `model-b*/` (weights and training log).", ""])
open('README.md.tmp', 'w').write(md)
PY
    mv README.md.tmp README.md
    /usr/bin/python3 ../nbwrite.py --page README.md --out coherence --minutes 5 --csv results.csv --code check_models.py
}
if [[ ${1:-} == --page-only ]]; then
    page
    exit 0
fi
[[ -r $FM/train-images-idx3-ubyte.gz ]] || { echo "install dataset-fashion-mnist" >&2; exit 1; }
/usr/bin/python3 - <<'PY'
import gzip, numpy as np
X = np.frombuffer(gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz').read()[16:], np.uint8).reshape(-1, 784)[:1000] / 255.0
lab = np.frombuffer(gzip.open('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz').read()[8:], np.uint8)[:1000]
np.save('X.npy', X); np.save('Y.npy', np.eye(10)[lab])
np.save('X100.npy', X[:100]); np.save('Y100.npy', np.eye(10)[lab][:100])
PY
echo "batch,eta,train_loss,train_accuracy,sharpness,s2,sigma,thm1_threshold,thm1_diverges,eta_star_100" > results.csv
for B in 8 32 128; do
    "$L" train --layers 784,64,10 --idx-images $FM/train-images-idx3-ubyte.gz --idx-labels $FM/train-labels-idx1-ubyte.gz \
        --subset 1000 --loss mse --eta 0.02 --batch $B --steps 6000 --seed 1 --log-every 6000 --quiet --out model-b$B >/dev/null
    last=$(tail -n 1 model-b$B/train_log.csv)
    mf=$("$L" hessians --model model-b$B --data X.npy --targets Y.npy --loss mse --matrix-free --sigma)
    # exact mean-square critical eta of SGD at this batch size (n = 100 sub-sample, same B/n ratio)
    Bs=$(( B * 100 / 1000 > 0 ? B * 100 / 1000 : 1 ))
    es=$("$L" critical --model model-b$B --data X100.npy --targets Y100.npy --batches $Bs --json --quiet |
         /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0]["critical_eta"])')
    /usr/bin/python3 - "$B" "$last" "$mf" "$es" >> results.csv <<'PY'
import json, math, sys
B = int(sys.argv[1]); last = sys.argv[2].split(','); mf = json.loads(sys.argv[3]); es = float(sys.argv[4])
eta, n = 0.02, 1000   # Dexter et al. Theorem 1 with the training set size and batch
thr = mf['sigma_gn'] / eta / math.sqrt(n / B - 1)
div = mf['sharpness'] > min(2 / eta, thr)
print(f"{B},{eta},{last[3]},{last[4]},{mf['sharpness']},{mf['s2']},{mf['sigma_gn']},{thr},{str(div).lower()},{es}")
PY
done
rm -f X.npy Y.npy X100.npy Y100.npy
page
cat results.csv
