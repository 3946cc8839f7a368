#!/usr/bin/env bash
# bench_dynamics.sh [STEPS] [REPS] -- linstab dynamics against its Python
# peer (tools/bench/dynamics_peer.py) on Bartlett et al. (2023)'s objective
# with normalized SAM (eta 0.2, rho 1, start (1, 1)), STEPS steps (default
# 10^6).  REPS (default 7, at least 5) runs of each, alternated (ours, the
# peer's, ours, ...), each timed the same way: wall time from process start
# to exit (date before and after), so the peer's Python start and numpy
# import count as linstab's own start-up does.  linstab writes no --log
# CSV; it logs loss, gradient norm and iterate in memory at every step and
# runs its analyses (cycle, drift); the peer keeps the loss per step.
# Two peers: the strongest loop (plain Python floats, in a function) and
# the plain numpy loop on 2-vectors that the issue names (dynamics_peer.py
# STEPS numpy; 5 alternated runs against linstab).
# Prints each run, both medians and their ratio (and the fastest runs':
# on a shared machine noise only adds), the peer's own in-process
# compute timer (median), the same medians for 1 step (the start-up floor
# of each side), and the final iterates of both, which must agree to
# 1e-12 relative (exit 1 if not).
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-1000000}; reps=${2:-7}
[ "$reps" -ge 5 ] || { echo "bench_dynamics: REPS must be at least 5 (got $reps)" >&2; exit 2; }
bin=${LINSTAB_BENCH_BIN:-build/tools/linstab}  # another build: LINSTAB_BENCH_BIN=path
py=/usr/bin/python3
[ -x "$bin" ] || { echo "build first: tools/setup.sh build" >&2; exit 1; }
args=(dynamics --objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 1,1 --json)

med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
low() { printf '%s\n' "$@" | sort -g | head -1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-dynamics.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# wall FILE CMD...: run CMD with its stdout into FILE; print the seconds
wall() {
    local f=$1 s e; shift
    s=$(date +%s.%N); "$@" >"$f"; e=$(date +%s.%N)
    awk -v a="$s" -v b="$e" 'BEGIN { printf "%.4f\n", b - a }'
}

# bench N VERBOSE: REPS alternated runs of N steps; sets ours_med, peer_med,
# comp_med; the last outputs stay in $tmp/ours and $tmp/peer
bench() {
    local n=$1 verbose=$2 ours=() peer=() comp=() r to tp
    for r in $(seq "$reps"); do
        to=$(wall "$tmp/ours" "$bin" "${args[@]}" --steps "$n")
        tp=$(wall "$tmp/peer" "$py" tools/bench/dynamics_peer.py "$n" $mode)
        ours+=("$to"); peer+=("$tp"); comp+=("$(awk '{print $3}' "$tmp/peer")")
        if [ "$verbose" = 1 ]; then
            echo "run $r: linstab $to s, peer $tp s (peer's own compute timer ${comp[-1]} s)"
        fi
    done
    ours_med=$(med "${ours[@]}"); peer_med=$(med "${peer[@]}"); comp_med=$(med "${comp[@]}")
    ours_min=$(low "${ours[@]}"); peer_min=$(low "${peer[@]}")
}

mode=""
bench "$steps" 1
echo "median of $reps, $steps steps: linstab $ours_med s, peer $peer_med s, ratio" \
     "$(awk -v a="$peer_med" -v b="$ours_med" 'BEGIN { printf "%.1f", a / b }')x" \
     "(peer's own compute timer $comp_med s)"
echo "fastest of $reps: linstab $ours_min s, peer $peer_min s, ratio" \
     "$(awk -v a="$peer_min" -v b="$ours_min" 'BEGIN { printf "%.1f", a / b }')x (the machine's noise only adds)"
f1=$(tr -d ' \n' <"$tmp/ours" | sed 's/.*"final":\[\([^]]*\)\].*/\1/' | tr ',' ' ')
f2=$(sed 's/.*final //' "$tmp/peer")
echo "linstab final: $f1"
echo "peer final:    $f2"
agree=$(awk -v a="$f1" -v b="$f2" 'BEGIN { split(a, x, " "); split(b, y, " "); ok = 1
    for (i = 1; i <= 2; i++) { d = x[i] - y[i]; if (d < 0) d = -d; s = y[i] < 0 ? -y[i] : y[i]; if (s < 1) s = 1
        if (!(d <= 1e-12 * s)) ok = 0 }
    print ok }')
[ "$agree" = 1 ] && echo "final iterates agree to 1e-12" || { echo "bench_dynamics: the final iterates disagree" >&2; exit 1; }
bench 1 0
echo "start-up floor (1 step, median of $reps): linstab $ours_med s, peer $peer_med s"
mode=numpy; full=$reps; reps=5
bench "$steps" 1
echo "plain numpy loop (2-vectors), median of $reps, $steps steps: linstab $ours_med s, numpy peer $peer_med s, ratio" \
     "$(awk -v a="$peer_med" -v b="$ours_med" 'BEGIN { printf "%.1f", a / b }')x (peer's own compute timer $comp_med s)"
f3=$(sed 's/.*final //' "$tmp/peer")
echo "numpy peer final: $f3"
agree=$(awk -v a="$f1" -v b="$f3" 'BEGIN { split(a, x, " "); split(b, y, " "); ok = 1
    for (i = 1; i <= 2; i++) { d = x[i] - y[i]; if (d < 0) d = -d; s = y[i] < 0 ? -y[i] : y[i]; if (s < 1) s = 1
        if (!(d <= 1e-12 * s)) ok = 0 }
    print ok }')
[ "$agree" = 1 ] && echo "final iterates agree to 1e-12" || { echo "bench_dynamics: the numpy peer's final iterate disagrees" >&2; exit 1; }
reps=$full
