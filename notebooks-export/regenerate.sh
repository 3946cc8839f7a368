#!/usr/bin/env bash
# Regenerate every reproduction in notebooks-export/ (about 8 minutes on 2 cores; shin-figure2 and zhou-figure3 need dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")"
for d in 004-figure1 004-figure2 sam-eta-rho shin-figure2 coherence-mlp bartlett-figures zhou-example41 zhou-figure3; do
    echo "== $d"
    bash "$d/run.sh"
done
