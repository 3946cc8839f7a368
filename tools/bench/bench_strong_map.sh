#!/usr/bin/env bash
# Dexter et al. (2024) Figure 1 grid (n = 100, eta = 0.8, sigma = 1..50,
# B = 1..100, Bernoulli, 5 runs, <= 1000 steps: 5000 cells), `linstab map
# --no-exact` (Monte Carlo only, --threads THREADS) against the strong
# numpy peer vectorised over all cells and runs (tools/bench/map_peer_vec.py),
# alternating, RUNS times (default 3); medians of end-to-end wall and of
# each tool's own compute timer (linstab: the "in X s" of its summary line).
# Outputs: same protocol, different random streams: the fraction of cells
# whose majority verdict agrees, overall and on cells unanimous in both.
#   tools/bench/bench_strong_map.sh [BUILD_DIR]   (RUNS, THREADS, SIGMAS, BATCHES,
#   PEER_OPTS: e.g. "--count0 binomial --uniform32", the peer's fastest variant)
source "$(dirname "${BASH_SOURCE[0]}")/strong_lib.sh"
sig=${SIGMAS:-1:50}; bat=${BATCHES:-1:100}
for ((r = 0; r < runs; r++)); do
    rm -rf "$tmp/map"
    timed L "$bin" map --dexter 100 --sampling bernoulli --eta 0.8 --x sigma=$sig --y batch=$bat --runs 5 --steps 1000 \
        --seed $r --no-exact --no-plot --threads "$threads" --out "$tmp/map"
    record L "$(sed -n 's/.* in \([0-9.]*\) s .*/\1/p' "$tmp/L.out")"
    timed P "$py" "$here/map_peer_vec.py" --n 100 --eta 0.8 --sigmas $sig --batches $bat --runs 5 --steps 1000 \
        --seed $r ${PEER_OPTS:-} --compare "$tmp/map"
    record P "$(jget "$tmp/P.out" '["seconds"]')"
    jget "$tmp/P.out" '["compare"]' >>"$tmp/cmp"
done
echo "Dexter et al. (2024) Figure 1 grid, sigma=$sig x batch=$bat, 5 runs, <= 1000 steps, Bernoulli:"
report "linstab map --no-exact --threads $threads" "numpy peer ${PEER_OPTS:-(default)}"
echo "output comparison (majority verdicts; same protocol, independent random streams), per run:"
sed 's/^/  /' "$tmp/cmp"
