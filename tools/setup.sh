#!/usr/bin/env bash
# setup.sh -- build linstab on Debian 12 (installing missing packages) and
# run the demo or the test suite.
#
#   tools/setup.sh run     build, then run the main job on an embedded example
#   tools/setup.sh test    build, run every test (plain and ASan+UBSan builds),
#                          then each libFuzzer harness of tests/fuzz for 10 s
#                          (tools/fuzz.sh --time 10, clang build in
#                          build-fuzz), end with the line "N passed, N failed":
#                          the Criterion cases, plus one "passed" per harness
#                          that ran clean and one "failed" per harness that
#                          crashed (or whose build failed)
#   tools/setup.sh build   build only
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

packages="meson ninja-build pkg-config gcc liblapacke-dev libopenblas-dev libgsl-dev
libarpack2-dev zlib1g-dev libcriterion-dev libplplot-dev plplot-driver-cairo clang"

install_missing() {
    local missing=()
    for p in $packages; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing missing Debian packages: ${missing[*]}" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() { # build DIR [meson options...]
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null
    fi
    ninja -C "$dir" >/dev/null
}

# Sum Criterion's "Synthesis" lines of a meson test log; a test executable
# that died without one counts as one failure.
count() { # LOGFILE
    awk '/Synthesis: Tested:/ {
            for (i = 1; i <= NF; i++) {
                if ($i == "Passing:") p += $(i + 1)
                if ($i == "Failing:" || $i == "Crashing:") f += $(i + 1)
            }
         }
         END { print p + 0, f + 0 }' "$1"
}

install_missing
case "$mode" in
build)
    build build
    ;;
run)
    build build
    ex=$(mktemp -d)
    trap 'rm -rf "$ex"' EXIT
    ./build/tools/linstab gen --kind dexter --n 100 --sigma 5 --out "$ex/dexter.npy" >/dev/null
    echo "# Dexter et al. (2024)'s Section 5.1 construction (n = 100, sigma = 5), SGD with eta = 0.8, B = 20, Bernoulli sampling"
    ./build/tools/linstab check --diag "$ex/dexter.npy" --eta 0.8 --batch 20 --sampling bernoulli
    echo
    echo "# Dexter et al. (2024), Figure 1 (eta = 0.8): divergence map over (sigma, B) with the exact boundaries"
    ./build/tools/linstab map --dexter 100 --sampling bernoulli --eta 0.8 --x sigma=1:50:2 --y batch=1:100:2 --out out/figure1 --quiet
    echo "open out/figure1/map.png"
    ;;
test)
    total_p=0; total_f=0; status=0
    for cfg in plain asan; do
        if [ $cfg = plain ]; then
            dir=build; opts=()
        else
            dir=build-asan; opts=(-Db_sanitize=address,undefined -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug)
        fi
        build "$dir" "${opts[@]}"
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        export LSAN_OPTIONS=suppressions=$PWD/tools/lsan.supp:print_suppressions=0
        if meson test -C "$dir" --print-errorlogs --no-rebuild >"$dir/test-output.txt" 2>&1; then :; else status=1; fi
        tail -n 12 "$dir/test-output.txt" | sed "s/^/[$cfg] /"
        read -r p f < <(count "$dir/meson-logs/testlog.txt")
        nfail_exe=$(grep -E '^(Fail|Timeout): *[0-9]+' "$dir/test-output.txt" | awk '{s+=$2} END {print s+0}')
        # an executable that failed but reported no failing case (crash before the synthesis)
        if [ "$nfail_exe" -gt 0 ] && [ "$f" -eq 0 ]; then f=$nfail_exe; fi
        total_p=$((total_p + p)); total_f=$((total_f + f))
    done
    # Fuzzing: every harness for a bounded time from its seed corpus (which
    # holds the inputs of every crash found so far, so a regression fails
    # at once).  One "passed" per harness that ran clean, one "failed" per
    # harness that crashed; a failed build counts one failure per harness
    # source.
    nh=$(ls tests/fuzz/fuzz_*.c | wc -l)
    if (export CC=clang; build build-fuzz -Dfuzz=true -Dtests=false); then
        if tools/fuzz.sh --time 10 >build-fuzz/fuzz-output.txt 2>&1; then :; else status=1; fi
        sed 's/^/[fuzz] /' build-fuzz/fuzz-output.txt
        p=$(grep -cE '^fuzz_[a-z_0-9]+: [0-9]+ executions, 0 crashes$' build-fuzz/fuzz-output.txt || true)
        f=$(grep -cE '^fuzz_[a-z_0-9]+: [0-9]+ executions, [1-9][0-9]* crashes' build-fuzz/fuzz-output.txt || true)
        # a harness that could not run at all (fuzz.sh stopped with an error)
        if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=$nh; fi
    else
        echo "[fuzz] the fuzz build failed (CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false)"
        status=1; p=0; f=$nh
    fi
    total_p=$((total_p + p)); total_f=$((total_f + f))
    echo "$total_p passed, $total_f failed"
    exit $status
    ;;
*)
    echo "usage: tools/setup.sh run|test|build" >&2
    exit 2
    ;;
esac
