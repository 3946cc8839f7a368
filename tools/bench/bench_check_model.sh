#!/usr/bin/env bash
# `linstab check --model` on the issue-14 network workloads, this build
# against an older linstab binary (OLD=/path/to/linstab), alternating, RUNS
# times (default 3), end to end; then this build's per-stage times
# (LINSTAB_PROFILE) and the largest relative difference between the JSON
# reports.  Random tanh MLPs and data from tools/bench/make_mlp.py (fixed
# seeds), MSE (Gauss-Newton curvature, factored: k = 10 per sample):
#   exact:    784-100-10 (p = 79,510), n = 100, the exact section included
#   no-exact: 20-60-20-10 (p = 2,690), n = 500, --no-exact
#   OLD=... tools/bench/bench_check_model.sh [BUILD_DIR]   (RUNS, THREADS, WORKLOAD=exact|no-exact|both)
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
run_workload() {
    local name=$1 layers=$2 n=$3
    shift 3
    "$py" "$here/make_mlp.py" "$tmp/$name" "$layers" "$n" 14
    local args=(check --model "$tmp/$name" --data "$tmp/$name/X.npy" --targets "$tmp/$name/Y.npy" --loss mse
                --eta 0.01 --batch 10 --allow-indefinite --json --quiet "$@")
    rm -f "$tmp"/L.* "$tmp"/P.*
    for ((r = 0; r < runs; r++)); do
        LINSTAB_PROFILE=1 timed L "$bin" "${args[@]}"
        if [[ -n ${OLD:-} ]]; then timed P "$OLD" "${args[@]}"; fi
    done
    echo "check --model, $layers tanh MLP, n = $n, MSE, eta 0.01, B = 10 $*:"
    report "linstab (this build)" "linstab ${OLD:-(no OLD given)}"
    echo "stages of this build's last run:"
    sed -n 's/^\[profile\] /  /p' "$tmp/L.err"
    if [[ -n ${OLD:-} ]]; then "$py" "$here/compare_reports.py" "$tmp/L.out" "$tmp/P.out"; fi
    echo
}
w=${WORKLOAD:-both}
if [[ $w == exact || $w == both ]]; then run_workload exact 784,100,10 100; fi
if [[ $w == no-exact || $w == both ]]; then run_workload noexact 20,60,20,10 500 --no-exact; fi
