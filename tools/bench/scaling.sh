#!/usr/bin/env bash
# Scaling of linstab's commands end to end: wall seconds and peak RSS per rung,
# the log-log growth exponent over the last rungs, for README's scaling note.
#
#   tools/bench/scaling.sh            # small defaults, about 10-15 minutes on 2 cores
#
# Options (environment):
#   BIN=build-h/tools/linstab   the linstab binary
#   REPS=2                      runs per rung; the minimum time (and its peak RSS) is kept
#   MAXSEC=90                   a rung predicted (from the last two) above MAXSEC is skipped
#   FIT=3                       rungs in the log-log fit (the last FIT measured)
#   CHECK_EXACT="250 500 1000"           N for check with the exact section (n = d = N)
#   CHECK_NOEXACT="1000 2000 4000 8000 16000"  N for check --no-exact
#   CRIT="250 500 1000 2000"             N for critical --batches 10
#   MAP_CELLS="6 12 25 50"      K (<= 100) for map --dexter 100 --x sigma=1:K --y batch=1:100 (cells 100 K)
#   MAP_N="100 200 400 800"     N for map --dexter N --x sigma=1:10 --y batch=1:20:1 (200 cells)
#   HESS_H="64 128 256 512 1024" hidden width h of a 10-h-h-3 tanh MLP (n = HESS_NFIX)
#   HESS_NFIX=1000
#   HESS_N="1000 2000 4000 8000"  n for the 10-256-256-3 MLP
#   PY=/usr/bin/python3         writes the models (numpy)
#   OUT=                        a folder for the table (default: a temporary one, removed)
# An empty ladder (e.g. CRIT="") skips that command.
# Output: one TSV line per rung (command, variable, value, seconds, peak MB) and
# one exponent line per ladder. The machine is shared: each rung runs REPS times.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${BIN:-$root/build-h/tools/linstab}
REPS=${REPS:-2}
MAXSEC=${MAXSEC:-90}
FIT=${FIT:-3}
CHECK_EXACT=${CHECK_EXACT-"250 500 1000"}
CHECK_NOEXACT=${CHECK_NOEXACT-"1000 2000 4000 8000 16000"}
CRIT=${CRIT-"250 500 1000 2000"}
MAP_CELLS=${MAP_CELLS-"6 12 25 50"}
MAP_N=${MAP_N-"100 200 400 800"}
HESS_H=${HESS_H-"64 128 256 512 1024"}
HESS_NFIX=${HESS_NFIX:-1000}
HESS_N=${HESS_N-"1000 2000 4000 8000"}
PY=${PY:-/usr/bin/python3}
[ -x "$BIN" ] || { echo "scaling.sh: no linstab binary at $BIN (set BIN=)" >&2; exit 2; }
if [ -x /usr/bin/time ]; then TIMECMD=(/usr/bin/time -f "%e %M"); else
  echo "scaling.sh: /usr/bin/time missing (apt-get install -y time)" >&2; exit 2; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
OUT=${OUT:-$tmp}; mkdir -p "$OUT"; table="$OUT/scaling.tsv"; : >"$table"

# timed LABEL VAR VALUE cmd...: REPS runs, keeps the fastest; prints "sec MB".
timed() {
  local label=$1 var=$2 val=$3; shift 3
  local best="" bestmb="" r line s kb
  for ((r = 0; r < REPS; r++)); do
    if ! "${TIMECMD[@]}" -o "$tmp/t" nice -n 5 "$@" >"$tmp/out" 2>"$tmp/err"; then
      echo "scaling.sh: $label $var=$val failed:" >&2; cat "$tmp/err" >&2; return 1; fi
    line=$(tail -n 1 "$tmp/t"); s=${line% *}; kb=${line#* }
    if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$s; bestmb=$kb; fi
  done
  bestmb=$(awk -v k="$bestmb" 'BEGIN{printf "%.1f", k/1024}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$var" "$val" "$best" "$bestmb" | tee -a "$table"
}

# skip LABEL VALUE: true when the rung is predicted above MAXSEC from the last two rungs.
skip() {
  awk -F'\t' -v L="$1" -v x="$2" -v M="$MAXSEC" '
    $1 == L { n++; xs[n] = $3; ts[n] = $4 }
    END {
      if (n == 0) exit 1
      if (n == 1) { p = ts[1] * (x / xs[1])^2 } else {
        t1 = ts[n-1] < 0.01 ? 0.01 : ts[n-1]; t2 = ts[n] < 0.01 ? 0.01 : ts[n]
        k = log(t2 / t1) / log(xs[n] / xs[n-1]); if (k < 1) k = 1
        p = t2 * (x / xs[n])^k }
      if (p > M) { printf "skip\t%s\t%s\tpredicted %.0f s > %s s\n", L, x, p, M > "/dev/stderr"; exit 0 }
      exit 1 }' "$table"
}

# fit LABEL: log-log slope of seconds against the value over the last FIT rungs.
fit() {
  awk -F'\t' -v L="$1" -v F="$FIT" '
    $1 == L { n++; x[n] = log($3); y[n] = log($4 < 0.005 ? 0.005 : $4) }
    END {
      if (n < 2) { printf "exponent\t%s\tn/a\n", L; exit }
      s = n - F + 1; if (s < 1) s = 1; m = n - s + 1
      for (i = s; i <= n; i++) { sx += x[i]; sy += y[i] }
      for (i = s; i <= n; i++) { sxx += (x[i]-sx/m)^2; sxy += (x[i]-sx/m)*(y[i]-sy/m) }
      printf "exponent\t%s\t%.2f\t(last %d rungs)\n", L, sxy/sxx, m }' "$table" | tee -a "$table"
}

gen1() { [ -f "$tmp/U$1.npy" ] || "$BIN" gen --kind rank1 --n "$1" --d "$1" --seed 7 --out "$tmp/U$1.npy" >/dev/null; }

printf 'command\tvariable\tvalue\tseconds(min of %s)\tpeak_MB\n' "$REPS" | tee -a "$table"

for N in $CHECK_EXACT; do
  skip check-exact "$N" && continue; gen1 "$N"
  timed check-exact n=d "$N" "$BIN" check --factors "$tmp/U$N.npy" --eta 0.5 --batch 10 --rho 0.05 --json --quiet
done; fit check-exact
for N in $CHECK_NOEXACT; do
  skip check-noexact "$N" && continue; gen1 "$N"
  timed check-noexact n=d "$N" "$BIN" check --factors "$tmp/U$N.npy" --eta 0.5 --batch 10 --rho 0.05 --json --quiet --no-exact
done; fit check-noexact
for N in $CRIT; do
  skip critical "$N" && continue; gen1 "$N"
  timed critical n=d "$N" "$BIN" critical --factors "$tmp/U$N.npy" --batches 10 --json --quiet
done; fit critical
rm -f "$tmp"/U*.npy

for K in $MAP_CELLS; do
  c=$((K * 100)); skip map-cells "$c" && continue; rm -rf "$tmp/map"
  timed map-cells cells "$c" "$BIN" map --dexter 100 --sampling bernoulli --eta 0.8 --x sigma=1:"$K" --y batch=1:100 --out "$tmp/map"
done; fit map-cells
for N in $MAP_N; do
  skip map-n "$N" && continue; rm -rf "$tmp/map"
  timed map-n n "$N" "$BIN" map --dexter "$N" --sampling bernoulli --eta 0.8 --x sigma=1:10 --y batch=1:20 --out "$tmp/map"
done; fit map-n

# mlp H N: a 10-H-H-3 tanh MLP and n = N standard normal inputs / targets in $tmp/m
mlp() {
  rm -rf "$tmp/m"; "$PY" - "$tmp/m" "$1" "$2" <<'EOF'
import json, os, sys
import numpy as np
d, h, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
sizes = [10, h, h, 3]
os.makedirs(f"{d}/mdl")
json.dump({"layers": sizes, "activation": "tanh", "bias": True}, open(f"{d}/mdl/model.json", "w"))
for l in range(1, len(sizes)):
    np.save(f"{d}/mdl/W{l}.npy", rng.standard_normal((sizes[l], sizes[l - 1])) / np.sqrt(sizes[l - 1]))
    np.save(f"{d}/mdl/b{l}.npy", 0.1 * rng.standard_normal(sizes[l]))
np.save(f"{d}/X.npy", rng.standard_normal((n, 10)))
np.save(f"{d}/Y.npy", rng.standard_normal((n, 3)))
EOF
}
for H in $HESS_H; do
  p=$((10 * H + H + H * H + H + 3 * H + 3)); skip hess-p "$p" && continue; mlp "$H" "$HESS_NFIX"
  timed hess-p p "$p" "$BIN" hessians --model "$tmp/m/mdl" --data "$tmp/m/X.npy" --targets "$tmp/m/Y.npy" --loss mse --matrix-free --sigma
done; fit hess-p
for N in $HESS_N; do
  skip hess-n "$N" && continue; mlp 256 "$N"
  timed hess-n n "$N" "$BIN" hessians --model "$tmp/m/mdl" --data "$tmp/m/X.npy" --targets "$tmp/m/Y.npy" --loss mse --matrix-free --sigma
done; fit hess-n
echo "table: $table" >&2
exit 0
