#!/usr/bin/env bash
# The effect of OpenBLAS's kernel choice on linstab (issue 14): the same
# binary and library, the kernel forced with OPENBLAS_CORETYPE, runs
# alternating between kernels, median wall times and ratios to the
# detected kernel, and the outputs compared (the JSON numbers must agree to
# the solver's tolerance: the kernels round differently, nothing else; the
# Lyapunov exponent, a random product's estimate, to its standard error).
#
#   tools/bench/bench_kernel.sh [BUILD_DIR]
#
# Workloads: `check` with the exact section on a rank-one family
# n = d = N (default 300: dense d x d operators, DSYMM/DGEMM/DSYEVR bound)
# and `check --no-exact` on a dense Wishart family (n 200, d 60).
# Environment: RUNS (default 3), N (default 300), KERNELS (default
# "detected Prescott Haswell"; "detected" leaves OPENBLAS_CORETYPE unset),
# PYTHON (default /usr/bin/python3, for the JSON comparison).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/tools/linstab
runs=${RUNS:-3}
N=${N:-300}
kernels=${KERNELS:-detected Prescott Haswell}
py=${PYTHON:-/usr/bin/python3}
[[ -x $bin ]] || { echo "bench_kernel: no $bin; build first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$bin" gen --kind rank1 --n "$N" --d "$N" --seed 1 --out "$tmp/r1.npy" >/dev/null
"$bin" gen --kind wishart --n 200 --d 60 --seed 1 --out "$tmp/w.npy" >/dev/null
"$bin" --version | sed -n 2,5p
workloads=("check --factors $tmp/r1.npy --eta 0.5 --batch 10 --json --quiet"
           "check --no-exact --family $tmp/w.npy --eta 0.5 --batch 10 --json --quiet")
names=("check rank-one n=d=$N (exact)" "check --no-exact wishart 200x60")
for w in 0 1; do
    for r in $(seq "$runs"); do
        for k in $kernels; do
            env=(); [[ $k == detected ]] || env=(OPENBLAS_CORETYPE=$k)
            s=$(date +%s.%N)
            env "${env[@]}" "$bin" ${workloads[$w]} >"$tmp/out-$w-$k.json"
            e=$(date +%s.%N)
            echo "$w $k $(echo "$e - $s" | bc)" >>"$tmp/times"
        done
    done
done
"$py" - "$tmp" "${names[@]}" <<'PY'
import json, statistics, sys, glob, os
tmp, names = sys.argv[1], sys.argv[2:]
rows = [l.split() for l in open(os.path.join(tmp, "times"))]
def nums(o, pre=""):
    if isinstance(o, dict):
        for k, v in o.items(): yield from nums(v, pre + "." + k)
    elif isinstance(o, list):
        for i, v in enumerate(o): yield from nums(v, pre + f"[{i}]")
    elif isinstance(o, (int, float)) and not isinstance(o, bool) and not pre.endswith("seconds"):
        yield pre, float(o)
print(f"{'workload':34s} {'kernel':10s} {'median s':>9s} {'vs detected':>12s} {'max rel diff':>13s}")
for w, name in enumerate(names):
    ks = [r[1] for r in rows if r[0] == str(w)]
    ks = list(dict.fromkeys(ks))
    med = {k: statistics.median(float(r[2]) for r in rows if r[0] == str(w) and r[1] == k) for k in ks}
    ref = dict(nums(json.load(open(os.path.join(tmp, f"out-{w}-{ks[0]}.json")))))
    for k in ks:
        got = dict(nums(json.load(open(os.path.join(tmp, f"out-{w}-{k}.json")))))
        # deterministic numbers: relative difference; the Lyapunov exponent is a
        # random product's estimate whose rounding differences grow: in units of its stderr
        det = [key for key in ref if "lyapunov" not in key and key in got and ref[key] != 0]
        diff = max((abs(got[key] - ref[key]) / abs(ref[key]) for key in det), default=0.0)
        lk = ".exact.lyapunov.exponent"
        ly = (f"  lyapunov diff {abs(got[lk] - ref[lk]) / ref['.exact.lyapunov.stderr']:.2f} stderr"
              if lk in ref and lk in got and ref.get(".exact.lyapunov.stderr") else "")
        print(f"{name:34s} {k:10s} {med[k]:9.2f} {med[k] / med[ks[0]]:11.2f}x {diff:13.2e}{ly}")
PY
