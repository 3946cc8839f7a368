# strong_lib.sh -- shared by tools/bench/bench_strong_*.sh (issue 14): sourced, not run.
# Sets here, root, bin (linstab), py, runs (RUNS, default 3), threads (THREADS,
# default nproc, exported to OMP/OpenBLAS/MKL for both tools), tmp (removed at exit).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/tools/linstab
py=${PYTHON:-/usr/bin/python3}
runs=${RUNS:-3}
threads=${THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
[[ -x $bin ]] || { echo "$(basename "$0"): no $bin; build first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bstrong.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# timed NAME CMD...: run CMD (stdout -> $tmp/NAME.out, stderr -> $tmp/NAME.err),
# append its end-to-end wall time to $tmp/NAME.wall
timed() {
    local name=$1 t0 t1
    shift
    t0=$(date +%s.%N)
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || { cat "$tmp/$name.err" >&2; echo "$(basename "$0"): failed: $*" >&2; exit 1; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >>"$tmp/$name.wall"
}
# record NAME VALUE: append a compute-only time to $tmp/NAME.comp
record() { echo "$2" >>"$tmp/$1.comp"; }
median() { [[ -s $1 ]] || { echo "-"; return; }; sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a + 0 <= 0) print "-"; else printf "%.2fx", b / a }'; }
jget() { "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); exec("v = j" + sys.argv[2]); print(repr(v) if isinstance(v, float) else v)' "$1" "$2"; }
# report LABEL_LINSTAB LABEL_PEER: the medians and ratios of linstab (L) vs peer (P)
report() {
    local lw pw lc pc
    lw=$(median "$tmp/L.wall"); pw=$(median "$tmp/P.wall"); lc=$(median "$tmp/L.comp"); pc=$(median "$tmp/P.comp")
    echo "medians of $runs alternating runs, $threads thread(s) each (OMP/OPENBLAS_NUM_THREADS=$threads)"
    printf "  %-44s wall %8s s   compute %8s s\n" "$1" "$lw" "$lc"
    printf "  %-44s wall %8s s   compute %8s s\n" "$2" "$pw" "$pc"
    printf "  %-44s wall %8s     compute %8s\n" "ratio peer / linstab" "$(ratio "$lw" "$pw")" "$(ratio "$lc" "$pc")"
}
