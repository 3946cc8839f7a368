#!/usr/bin/env bash
# Dexter et al. (2024), Figure 2: (eta, B) divergence maps of their construction, n = 100,
# sigma = 5; log eta axis, and a linear eta^2 axis.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
"$L" map --dexter 100 --sampling bernoulli --sigma 5 --x eta=log:0.01:1:60 --y batch=1:100 --seed 2 --quiet \
    --title "Dexter et al. (2024), Figure 2: n = 100, #gs = 5 (log #gy)" --out log-eta
# eta^2 evenly spaced in (0, 1]
etas=$(awk 'BEGIN { for (k = 1; k <= 60; k++) printf "%s%.10g", (k > 1 ? "," : ""), sqrt(k / 60) }')
"$L" map --dexter 100 --sampling bernoulli --sigma 5 --x "eta=$etas" --y batch=1:100 --seed 3 --quiet --plot-eta-squared \
    --title "Dexter et al. (2024), Figure 2: n = 100, #gs = 5 (linear #gy#u2#d)" --out eta-squared
rm -f log-eta/map.checkpoint eta-squared/map.checkpoint log-eta/map.svg eta-squared/map.svg log-eta/*.npy eta-squared/*.npy
../build_page.py --title "Dexter et al. (2024), Figure 2 — learning rate vs batch size" --narrative narrative.md \
    --map "log-eta=log eta axis" --map "eta-squared=linear eta^2 axis" --out figure2 --minutes 0.3
