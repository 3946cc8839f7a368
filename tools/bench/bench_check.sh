#!/usr/bin/env bash
# Benchmark `linstab check` against the numpy reference (issue 2).
#
#   tools/bench/bench_check.sh [BUILD_DIR]      (default: build, relative to the repo root)
#
# Generates the two benchmark families (tools/bench/gen_bench_data.py) into a
# temporary directory, then for each family runs
#   BUILD_DIR/linstab check --no-exact --factors|--family FILE --eta 0.5 --batch 10 --rho 0.05 --sampling without --json
# and tools/bench/ref_check.py with the same arguments, 5 times each, alternating,
# and prints the median wall times (whole process), the reference's internal
# timing_seconds (computation only, no interpreter start-up or file loading),
# the speed-up, and the largest relative difference between the two JSON reports.
#
# Environment: RUNS (default 5), PYTHON (default /usr/bin/python3, Debian's
# interpreter with python3-numpy and python3-scipy).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
runs=${RUNS:-5}
py=${PYTHON:-/usr/bin/python3}
ETA=0.5 BATCH=10 RHO=0.05 SAMPLING=without

die() { echo "bench_check: $*" >&2; exit 1; }

bin=""
for cand in "$build/linstab" "$build/tools/linstab"; do
    if [[ -x $cand && -f $cand ]]; then bin=$cand; break; fi
done
[[ -n $bin ]] || die "no linstab binary in '$build' (looked for $build/linstab and $build/tools/linstab); build it first, e.g. meson setup build && meson compile -C build"
[[ -x $py ]] || die "$py not found (apt-get install -y python3 python3-numpy python3-scipy)"
"$py" -c 'import numpy, scipy' 2>/dev/null || die "$py lacks numpy/scipy (apt-get install -y python3-numpy python3-scipy)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "generating benchmark data in $tmp ..."
"$py" "$here/gen_bench_data.py" "$tmp"

# run_timed OUTFILE CMD... : runs CMD, stdout to OUTFILE, prints wall seconds
run_timed() {
    local out=$1; shift
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    "$@" >"$out" 2>"$out.err" || rc=$?
    t1=$(date +%s.%N)
    if (( rc != 0 )); then
        echo "bench_check: command failed (exit $rc): $*" >&2
        cat "$out.err" >&2
        exit 1
    fi
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -a table
for fam in rank1:--factors:rank1_factors.npy wishart:--family:wishart_dense.npy; do
    IFS=: read -r name flag file <<<"$fam"
    args=("$flag" "$tmp/$file" --eta "$ETA" --batch "$BATCH" --rho "$RHO" --sampling "$SAMPLING")
    : >"$tmp/$name.lt.times"; : >"$tmp/$name.py.times"; : >"$tmp/$name.py.internal"
    echo "running $name ($runs x linstab, $runs x numpy, alternating) ..."
    for ((k = 1; k <= runs; k++)); do
        run_timed "$tmp/$name.lt.json" "$bin" check --no-exact "${args[@]}" --json >>"$tmp/$name.lt.times"
        run_timed "$tmp/$name.py.json" "$py" "$here/ref_check.py" "${args[@]}" >>"$tmp/$name.py.times"
        "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["timing_seconds"])' \
            "$tmp/$name.py.json" >>"$tmp/$name.py.internal"
    done
    lt=$(median <"$tmp/$name.lt.times")
    pw=$(median <"$tmp/$name.py.times")
    pi=$(median <"$tmp/$name.py.internal")
    table+=("$(awk -v n="$name" -v a="$lt" -v b="$pw" -v c="$pi" \
        'BEGIN { printf "%-10s %12.3f %14.3f %16.3f %10.1fx %12.1fx", n, a, b, c, b / a, c / a }')")
done

echo
echo "median wall seconds over $runs runs (eta=$ETA batch=$BATCH rho=$RHO sampling=$SAMPLING)"
printf '%-10s %12s %14s %16s %11s %13s\n' family linstab numpy_wall numpy_internal wall_ratio internal_ratio
for row in "${table[@]}"; do echo "$row"; done

echo
echo "JSON comparison (relative difference |a-b|/max(|a|,|b|) over every numeric field present in both):"
status=0
for name in rank1 wishart; do
    "$py" - "$tmp/$name.lt.json" "$tmp/$name.py.json" "$name" <<'EOF' || status=1
import json, math, sys

def flat(x, p=""):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            out.update(flat(v, f"{p}.{k}" if p else k))
        return out
    return {p: x}

try:
    a = flat(json.load(open(sys.argv[1])))
except ValueError as exc:
    print(f"  {sys.argv[3]}: linstab output is not valid JSON: {exc}")
    sys.exit(1)
b = flat(json.load(open(sys.argv[2])))
b.pop("timing_seconds", None)
name = sys.argv[3]
missing = [k for k in b if k not in a]
diffs, mismatch = [], []
for k, y in b.items():
    if k not in a:
        continue
    x = a[k]
    num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if num(x) and num(y):
        diffs.append((abs(x - y) / max(abs(x), abs(y), 1e-300) if x != y else 0.0, k, x, y))
    elif x != y:
        mismatch.append((k, x, y))
diffs.sort(reverse=True)
worst = diffs[0] if diffs else (0.0, "-", None, None)
if worst[0] == 0.0:
    print(f"  {name}: max relative difference 0 (all {len(diffs)} numeric fields identical)")
else:
    print(f"  {name}: max relative difference {worst[0]:.3e} at {worst[1]} "
          f"(linstab {worst[2]!r}, numpy {worst[3]!r}); {len(diffs)} numeric fields compared")
for d, k, x, y in diffs[1:5]:
    if d > 0:
        print(f"      next: {d:.3e} at {k} (linstab {x!r}, numpy {y!r})")
for k, x, y in mismatch:
    print(f"      MISMATCH {k}: linstab {x!r}, numpy {y!r}")
if missing:
    print(f"      MISSING in linstab output: {', '.join(missing)}")
sys.exit(1 if mismatch or missing or worst[0] > 1e-8 else 0)
EOF
done
exit $status
