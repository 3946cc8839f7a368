#!/usr/bin/env bash
# Count the allocations of one second-moment operator apply (and of whole
# matrix-free critical-eta and radius solves) with tools/bench/count_allocs.c,
# whose malloc/calloc/realloc interpose those of every library it loads.
#
#   tools/bench/count_allocs.sh [BUILD_DIR] [OLD_TREE OLD_BUILD_DIR]
#
# BUILD_DIR (default build): a configured and built tree of this checkout.
# OLD_TREE / OLD_BUILD_DIR: optionally the same for a tree from before the
# operator callbacks returned a status (issue 11), built with -DOLD_APPLY for
# comparison.  Expected here: 0 allocations per apply after the first call
# with one BLAS thread; with several, threaded OpenBLAS allocates its own
# job buffer in dsymm (2 per factored SGD apply, 512 KB each).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-allocs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# the link line of a test executable of that build, without criterion
link_args() {
    awk '/^build tests\/test_eigen: /{f=1} f&&/LINK_ARGS/{sub(/^ *LINK_ARGS = /, ""); print; exit}' "$1/build.ninja" |
        sed -e "s#src/liblinstab.a#$1/src/liblinstab.a#g" -e 's#[^ ]*libcriterion[^ ]*##g'
}

run() { # TREE BUILD LABEL [CFLAGS]
    local tree=$1 b=$2 label=$3
    ninja -C "$b" src/liblinstab.a >/dev/null
    # shellcheck disable=SC2046
    gcc -O2 -std=c17 -fopenmp ${4:-} -I"$tree/include" -I"$b/include" "$here/count_allocs.c" \
        -o "$tmp/count_$label" $(link_args "$b")
    echo "== $label ($tree), one BLAS thread"
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 "$tmp/count_$label"
    # threaded OpenBLAS allocates a job buffer inside some level-3 calls
    # (dsymm_thread_*, 512 KB): its own, not the library's
    echo "== $label ($tree), 2 BLAS threads"
    OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 "$tmp/count_$label"
}

if [[ $# -ge 3 ]]; then run "$(cd "$2" && pwd)" "$(cd "$3" && pwd)" old -DOLD_APPLY; fi
run "$root" "$build" new
