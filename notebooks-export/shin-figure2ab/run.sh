#!/usr/bin/env bash
# Shin et al. (2023), Figure 2 (a, b): the training loss along the dominant
# Hessian eigenvector at the minimum SGD finds and at the one SAM finds, and
# the sharpness lambda1(H) of each.  The paper: MNIST, a 784-3000-1000-10 MLP,
# squared loss, constant learning rate 0.1, batch 128.  Here (what trains in
# well under 30 minutes on 2 cores): Fashion-MNIST (the packaged data set),
# the first 10000 training images, the paper's 1x width 784-300-100-10 (ReLU),
# batch 128, 100 epochs (7800 steps), SAM rho = 0.05.  PyTorch's MSELoss
# averages over the 10 outputs, ours is ||f - y||^2 / 2, so the paper's
# learning rate 0.1 is eta = 0.02 here (the same steps).  About 12 minutes.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
FM=/usr/share/datasets/fashion-mnist
[[ -r $FM/train-images-idx3-ubyte.gz ]] || { echo "install dataset-fashion-mnist (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
common=(--layers 784,300,100,10 --activation relu --idx-images $FM/train-images-idx3-ubyte.gz
        --idx-labels $FM/train-labels-idx1-ubyte.gz --subset 10000 --loss mse --eta 0.02 --batch 128
        --steps 7800 --seed 1 --log-every 780 --quiet --save-data)
for opt in sgd sam; do
    nice "$L" train "${common[@]}" --optimizer $opt --rho 0.05 --out runs/model-$opt
    nice "$L" landscape --model runs/model-$opt --data runs/model-$opt/X.npy --targets runs/model-$opt/Y.npy \
        --loss mse --direction eigvec --range -0.6:0.6 --points 25 --out slice-$opt.csv --quiet
done
/usr/bin/python3 - <<'PY'
import csv
a = list(csv.DictReader(open('slice-sgd.csv'))); b = list(csv.DictReader(open('slice-sam.csv')))
with open('slices.csv', 'w') as f:
    f.write('t,SGD loss,SAM loss,SGD curvature,SAM curvature\n')
    for x, y in zip(a, b):
        f.write(f"{x['t']},{x['loss']},{y['loss']},{x['curvature']},{y['curvature']}\n")
PY
"$L" plot --csv slices.csv --x t --y "SGD loss,SAM loss" --xlabel "t (unit top eigenvector)" --ylabel "training loss" \
    --title "Shin et al. (2023) Fig. 2(a,b): loss along the top Hessian eigenvector" --out figure.png
rm -rf runs
# the notebook: README.md (written by hand from these outputs), then code cells that re-run this
# script and recompute the page's numbers from the slices (check_slices.py)
/usr/bin/python3 ../nbwrite.py --page README.md --out shin-figure2ab --minutes 12 --csv slices.csv --code check_slices.py
