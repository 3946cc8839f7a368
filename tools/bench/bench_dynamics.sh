#!/usr/bin/env bash
# bench_dynamics.sh [STEPS] [REPS] -- linstab dynamics against its numpy peer
# (tools/bench/dynamics_peer.py) on Bartlett et al. (2023)'s objective with
# normalized SAM, runs alternated, end to end (process start to exit) for
# both; prints each run, the medians, the ratio, and whether the final
# iterates agree.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-1000000}; reps=${2:-5}
bin=build/tools/linstab
[ -x "$bin" ] || { echo "build first: tools/setup.sh build" >&2; exit 1; }
ours=(); peer=()
for r in $(seq "$reps"); do
    s=$(date +%s.%N)
    out=$($bin dynamics --objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 1,1 --steps "$steps" --json)
    e=$(date +%s.%N); ours+=("$(echo "$e - $s" | bc)")
    s=$(date +%s.%N)
    pout=$(/usr/bin/python3 tools/bench/dynamics_peer.py "$steps")
    e=$(date +%s.%N); peer+=("$(echo "$e - $s" | bc)")
    echo "run $r: linstab ${ours[-1]} s, numpy ${peer[-1]} s"
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mo=$(med "${ours[@]}"); mp=$(med "${peer[@]}")
echo "median: linstab $mo s, numpy $mp s, ratio $(echo "scale=1; $mp / $mo" | bc)x"
f1=$(echo "$out" | tr -d ' \n' | sed 's/.*"final":\[\([^]]*\)\].*/\1/')
echo "linstab final: $f1"
echo "numpy $pout"
