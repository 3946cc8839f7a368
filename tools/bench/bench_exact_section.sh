#!/usr/bin/env bash
# The exact section of `linstab check` on a rank-one family n = d = N
# (default 1000; eta 0.5, B = 10, rho 0.05, without replacement): this
# build against an older linstab binary (OLD=/path/to/linstab, e.g. a build
# of an earlier commit), alternating, RUNS times (default 3), end to end;
# then the per-stage times of this build (LINSTAB_PROFILE) and the largest
# relative difference between the two JSON reports.  Without OLD, only this
# build is timed.
#   OLD=/tmp/old/build-old/tools/linstab tools/bench/bench_exact_section.sh [BUILD_DIR]   (RUNS, THREADS, N)
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
n=${N:-1000}
"$bin" gen --kind rank1 --n "$n" --d "$n" --seed 7 --out "$tmp/u.npy" >/dev/null
args=(check --factors "$tmp/u.npy" --eta 0.5 --batch 10 --rho 0.05 --sampling without --json --quiet)
for ((r = 0; r < runs; r++)); do
    LINSTAB_PROFILE=1 timed L "$bin" "${args[@]}"
    if [[ -n ${OLD:-} ]]; then timed P "$OLD" "${args[@]}"; fi
done
echo "check with the exact section, rank-one n = d = $n, eta 0.5, B = 10, rho 0.05, without replacement:"
report "linstab (this build)" "linstab ${OLD:-(no OLD given)}"
echo "stages of this build's last run:"
sed -n 's/^\[profile\] /  /p' "$tmp/L.err"
if [[ -n ${OLD:-} ]]; then
    "$py" - "$tmp/L.out" "$tmp/P.out" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
worst = [0.0, ""]
def walk(x, y, path):
    if isinstance(x, dict):
        for k in x:
            if k not in ("timing_seconds", "seconds"): walk(x[k], y.get(k) if isinstance(y, dict) else None, path + "." + k)
    elif isinstance(x, list):
        for i, (u, v) in enumerate(zip(x, y or [])): walk(u, v, f"{path}[{i}]")
    elif isinstance(x, float) and isinstance(y, float) and x != y:
        d = abs(x - y) / max(abs(x), abs(y), 1e-300)
        if d > worst[0]: worst[:] = [d, path]
    elif x != y and not isinstance(x, float):
        print(f"  differs: {path}: {x} vs {y}")
print(f"largest relative difference between the reports: {worst[0]:.2e} ({worst[1] or '-'})")
PY
fi
