#!/usr/bin/env bash
# Zhou et al. (2025), Figure 4 (c) on an MLP: the loss and the second
# difference L''(lambda) = (L(lambda+h) + L(lambda-h) - 2 L(lambda)) / (2h)^2
# (their definition, h = 0.1) on theta_lambda = (1 - lambda) theta_SGD->SAM +
# lambda theta_SGD.  An MLP 784-64-10 (tanh, squared loss) on the first 1000
# Fashion-MNIST images, eta = 0.02, B = 32, 4000 steps: SGD throughout, and
# SGD with SAM (rho = 0.05) for the last 1000 steps, same initialization and
# batches.  About 2 minutes.  Example 4.1's version is in ../zhou-example41.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
FM=/usr/share/datasets/fashion-mnist
[[ -r $FM/train-images-idx3-ubyte.gz ]] || { echo "install dataset-fashion-mnist (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
common=(--layers 784,64,10 --idx-images $FM/train-images-idx3-ubyte.gz --idx-labels $FM/train-labels-idx1-ubyte.gz
        --subset 1000 --loss mse --eta 0.02 --batch 32 --steps 4000 --seed 1 --log-every 500 --quiet --save-data)
nice "$L" train "${common[@]}" --optimizer sgd --out runs/sgd
nice "$L" train "${common[@]}" --optimizer sam --rho 0.05 --sam-from 3000 --out runs/sgd-sam
nice "$L" landscape --model runs/sgd-sam --to runs/sgd --data runs/sgd/X.npy --targets runs/sgd/Y.npy --loss mse \
    --range -0.5:1.5 --points 41 --out interp.csv --quiet
"$L" plot --csv interp.csv --x t --y "loss,d2_zhou" --xlabel "#gl" --ylabel "loss, L'' (h = 0.1)" \
    --title "Zhou et al. (2025) Fig. 4(c) on an MLP: #gh#d#gl#u = (1-#gl) #gh#dSGD-SAM#u + #gl #gh#dSGD#u" --out figure.png
rm -rf runs
# the notebook: README.md (written by hand from these outputs), then code cells that re-run this
# script and recompute the page's numbers from interp.csv (check_interp.py)
/usr/bin/python3 ../nbwrite.py --page README.md --out zhou-figure4c-mlp --minutes 2 --csv interp.csv --code check_interp.py
