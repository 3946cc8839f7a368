#!/usr/bin/env bash
# Regenerate every reproduction in notebooks-export/ (about 30 minutes on 2 cores; the networks need dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")"
for d in 004-figure1 004-figure2 sam-eta-rho shin-figure2 coherence-mlp bartlett-figures zhou-example41 zhou-figure3 \
         zhou-figure4c-mlp shin-figure2ab; do
    echo "== $d"
    bash "$d/run.sh"
done
