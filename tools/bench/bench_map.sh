#!/usr/bin/env bash
# Benchmark `linstab map` on Dexter et al. (2024)'s Figure 1 grid (eta = 0.8, sigma = 1..50,
# B = 1..100, 5 runs, 1000 steps) against a plain numpy implementation of the
# same protocol vectorised over runs (tools/bench/map_peer.py), in one run;
# also 1 vs 2 OpenMP threads, and 2 MPI ranks when build-mpi/ exists
# (meson setup build-mpi -Dmpi=enabled; needs libopenmpi-dev, openmpi-bin).  Usage: tools/bench/bench_map.sh [BUILD_DIR]
# Environment: REPS (linstab runs per configuration, default 5) and PEER_REPS
# (numpy runs, default 3); every figure is a median.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/tools/linstab
py=${PYTHON:-/usr/bin/python3}
[[ -x $bin ]] || { echo "bench_map: no $bin; build first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bmap.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
grid=(--dexter 100 --sampling bernoulli --eta 0.8 --x sigma=1:50 --y batch=1:100 --runs 5 --steps 1000 --quiet --no-plot)
wall() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# medians of REPS runs (default 5) for linstab, PEER_REPS (default 3) for numpy;
# the configurations alternate so that machine noise hits them alike
reps=${REPS:-5}
peer_reps=${PEER_REPS:-3}
mpi_bin=${MPI_BIN:-$root/build-mpi/tools/linstab}
[[ -d $root/build-mpi ]] && ninja -C "$root/build-mpi" >/dev/null  # never compare a stale MPI build
have_mpi=0
[[ -x $mpi_bin ]] && command -v mpirun >/dev/null && have_mpi=1
: >"$tmp/t2.s"; : >"$tmp/t1.s"; : >"$tmp/t2n.s"; : >"$tmp/tm.s"; : >"$tmp/tp.s"
for ((r = 0; r < reps; r++)); do
    wall "$bin" map "${grid[@]}" --threads 2 --out "$tmp/t2" >>"$tmp/t2.s"; echo >>"$tmp/t2.s"
    wall "$bin" map "${grid[@]}" --threads 1 --out "$tmp/t1" >>"$tmp/t1.s"; echo >>"$tmp/t1.s"
    wall "$bin" map "${grid[@]}" --threads 2 --no-exact --out "$tmp/t2n" >>"$tmp/t2n.s"; echo >>"$tmp/t2n.s"
    if ((have_mpi)); then
        wall mpirun --allow-run-as-root --oversubscribe -n 2 "$mpi_bin" map "${grid[@]}" --threads 1 --out "$tmp/mpi" >>"$tmp/tm.s"
        echo >>"$tmp/tm.s"
    fi
    if ((r < peer_reps)); then
        wall "$py" "$here/map_peer.py" --n 100 --eta 0.8 --sigmas 1:50 --batches 1:100 --runs 5 --steps 1000 >>"$tmp/tp.s"
        echo >>"$tmp/tp.s"
    fi
done
t2=$(median <"$tmp/t2.s"); t1=$(median <"$tmp/t1.s"); t2n=$(median <"$tmp/t2n.s"); tp=$(median <"$tmp/tp.s")
tm=""
if ((have_mpi)); then
    tm=$(median <"$tmp/tm.s")
    cmp -s "$tmp/t1/map.csv" "$tmp/mpi/map.csv" && msame=identical || msame=DIFFERENT
fi
cmp -s "$tmp/t1/map.csv" "$tmp/t2/map.csv" && same=identical || same=DIFFERENT
echo "medians of $reps runs (numpy: $peer_reps)"
echo "Dexter et al. (2024) Figure 1 grid (5000 cells, 5 runs, <= 1000 steps):"
printf "  linstab, 2 threads (with exact columns)   %8s s\n" "$t2"
printf "  linstab, 1 thread  (with exact columns)   %8s s   (speed-up 1 -> 2 threads: %sx; outputs %s)\n" "$t1" "$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", a / b }')" "$same"
printf "  linstab, 2 threads, Monte Carlo only      %8s s\n" "$t2n"
[[ -n $tm ]] && printf "  linstab, 2 MPI ranks x 1 thread           %8s s   (outputs %s to the serial run)\n" "$tm" "$msame"
printf "  numpy peer (vectorised over runs)         %8s s   (ratio %sx vs linstab Monte Carlo only)\n" "$tp" "$(awk -v a="$tp" -v b="$t2n" 'BEGIN { printf "%.0f", a / b }')"
