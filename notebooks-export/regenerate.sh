#!/usr/bin/env bash
# Regenerate every reproduction in notebooks-export/ (about 1 minute on 2 cores).
set -euo pipefail
cd "$(dirname "$0")"
for d in 004-figure1 004-figure2 sam-eta-rho; do
    echo "== $d"
    bash "$d/run.sh"
done
