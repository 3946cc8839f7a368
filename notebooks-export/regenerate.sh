#!/usr/bin/env bash
# Regenerate every reproduction in notebooks-export/ (about 5 minutes on 2 cores; shin-figure2 needs dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")"
for d in 004-figure1 004-figure2 sam-eta-rho shin-figure2 coherence-mlp bartlett-figures zhou-example41; do
    echo "== $d"
    bash "$d/run.sh"
done
