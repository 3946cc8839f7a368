#!/usr/bin/env bash
# SAM (one batch for ascent and descent, B = 1, with replacement: Shin et
# al.'s setting) on a rank-one family (n = 20, d = 6): (eta, rho) map with
# Shin et al. (2023)'s Theorem 9 boundary, the exact mean-square boundary and the
# almost-sure boundary.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
"$L" gen --kind rank1 --n 20 --d 6 --seed 3 --out family.npy >/dev/null
"$L" map --factors family.npy --optimizer sam-same --batch 1 --sampling with \
    --x eta=0.05:4:60 --y rho=0:2:40 --seed 4 --quiet \
    --title "SAM, B = 1: exact vs Shin et al. (2023) Theorem 9" --out map
"$L" check --factors family.npy --eta 1 --batch 1 --rho 0.5 --sampling with > check.txt
rm -f map/map.checkpoint map/map.svg map/*.npy
../build_page.py --title "SAM stability over (eta, rho): Theorem 9 vs the exact boundary" \
    --narrative narrative.md --map "map=SAM same batch, B = 1" --out sam --minutes 0.2
