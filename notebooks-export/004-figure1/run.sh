#!/usr/bin/env bash
# Dexter et al. (2024), Figure 1: (sigma, B) divergence maps of their construction, n = 100,
# eta = 0.8 and eta = 0.5, 5 runs of at most 1000 steps per cell.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
for eta in 0.8 0.5; do
    "$L" map --dexter 100 --sampling bernoulli --eta $eta --x sigma=1:50 --y batch=1:100 --runs 5 --steps 1000 \
        --seed 1 --quiet --title "Dexter et al. (2024), Figure 1: n = 100, #gy = $eta" --out eta$eta
    rm -f eta$eta/map.checkpoint eta$eta/map.svg eta$eta/*.npy
done
../build_page.py --title "Dexter et al. (2024), Figure 1 — coherence vs batch size" --narrative narrative.md \
    --map "eta0.8=eta = 0.8" --map "eta0.5=eta = 0.5" --out figure1 --minutes 0.3
