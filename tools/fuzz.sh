#!/usr/bin/env bash
# fuzz.sh -- build the libFuzzer harnesses of tests/fuzz (in build-fuzz, with
# clang: CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false) and run
# them, one after the other on one core, each from its seed corpus
# tests/fuzz/corpus/<harness>/.
#
#   tools/fuzz.sh [HARNESS...]            10^7 executions each (the default);
#                                         crashes are counted and fuzzing goes
#                                         on (libFuzzer's fork mode, one job)
#   tools/fuzz.sh --runs N [HARNESS...]   N executions each, the same way
#   tools/fuzz.sh --time S [HARNESS...]   S seconds each, stopping at the
#                                         first crash (what CI runs)
#
# HARNESS: fuzz_npy fuzz_family fuzz_mlp fuzz_idx fuzz_parse fuzz_csv
# fuzz_checkpoint fuzz_safetensors (default: every harness the build has).  Prints one line per harness,
#   fuzz_npy: 10000000 executions, 0 crashes
# with the crashing inputs' folder when there are any, and exits 1 if any
# harness crashed (2 on a usage error).  New corpus units, crashing inputs
# (crash-*, leak-*, oom-*, timeout-*) and the logs go to build-fuzz/fuzz/
# <harness>/; reproduce one with build-fuzz/tests/fuzz/<harness> FILE and
# shrink it with build-fuzz/tests/fuzz/<harness> -minimize_crash=1 -runs=100000 FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10000000
time_limit=
harnesses=()
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --time) time_limit=${2:?--time needs seconds}; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: error: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
    esac
done
case "$runs${time_limit}" in *[!0-9]*) echo "fuzz.sh: error: --runs and --time take whole numbers" >&2; exit 2 ;; esac

dir=${FUZZ_BUILD:-build-fuzz}  # FUZZ_BUILD=DIR: another build folder
if [ ! -f "$dir/build.ninja" ]; then
    command -v clang >/dev/null || { echo "fuzz.sh: error: clang is needed (apt-get install clang)" >&2; exit 1; }
    CC=clang meson setup "$dir" -Dfuzz=true -Dtests=false >/dev/null
fi
ninja -C "$dir" >/dev/null
if [ ${#harnesses[@]} -eq 0 ]; then
    for f in "$dir"/tests/fuzz/fuzz_*; do
        [ -f "$f" ] && [ -x "$f" ] && harnesses+=("$(basename "$f")")
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export LSAN_OPTIONS=suppressions=$PWD/tools/lsan.supp:print_suppressions=0
# one thread per harness: the machine's other cores are not ours to take
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

failed=0
for h in "${harnesses[@]}"; do
    exe=$dir/tests/fuzz/$h
    seeds=tests/fuzz/corpus/$h
    [ -x "$exe" ] && [ -d "$seeds" ] || { echo "fuzz.sh: error: no harness $h (or no $seeds)" >&2; exit 2; }
    work=$dir/fuzz/$h
    mkdir -p "$work/corpus"
    rm -f "$work"/crash-* "$work"/leak-* "$work"/oom-* "$work"/timeout-* "$work"/slow-unit-*
    common=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$work/")
    if [ -n "$time_limit" ]; then
        opts=(-max_total_time="$time_limit")
    else
        opts=(-runs="$runs" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    fi
    rc=0
    "$exe" "${common[@]}" "${opts[@]}" "$work/corpus" "$seeds" >"$work/log.txt" 2>&1 || rc=$?
    # executions: the final statistics (one process), or the fork mode's summary
    execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$work/log.txt" | awk '{s += $2} END {print s + 0}' || true)
    fork_execs=$(grep -Eo 'fuzzed for [0-9]+ iterations' "$work/log.txt" | tail -n 1 | awk '{print $3}' || true)
    [ -n "$fork_execs" ] && execs=$fork_execs
    crashes=$(find "$work" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    if [ "$crashes" -gt 0 ]; then
        failed=1
        echo "$h: $execs executions, $crashes crashes (inputs in $work/, log $work/log.txt)"
        { grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|invariant failed|SUMMARY' "$work/log.txt" |
            sed 's/^==[0-9]*== *//' | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'; } || true
    else
        echo "$h: $execs executions, 0 crashes"
    fi
done
exit $failed
