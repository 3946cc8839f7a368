#!/usr/bin/env bash
# `linstab spectrum` of a trained 784-300-100-10 tanh MLP (266,610
# parameters) at n = 1000 Fashion-MNIST samples against a PyHessian-style
# PyTorch peer (spectrum_peer.py: float64, one double-backward
# torch.autograd.grad per Hessian-vector product over the whole batch, the
# gradient's graph built once) on the same three workloads (issue 13):
#   top eigenvalue  ARPACK Lanczos, ncv 32, tol 1e-10, the same start vector
#   trace           Hutchinson, 100 Rademacher probes -- the very same
#                   vectors (linstab's --save-probes, read by the peer)
#   density         SLQ, 1 probe x 80 Lanczos steps, full reorthogonalization
#
#   tools/bench/bench_spectrum.sh [BUILD_DIR]      (ROUNDS=3 THREADS=2)
#
# The data (the first 1000 training images / 255 and one-hot labels) and the
# model (`linstab train`: tanh, MSE, SGD, eta 0.01, B 32, 300 steps, seed 1)
# are those of bench_matrix_free.sh, made once.  Then ROUNDS alternating
# runs of each program, each doing all three workloads in one process:
# end-to-end wall time of the process and compute-only seconds of each
# workload (linstab: LINSTAB_PROFILE's timers around each stage; the peer:
# its perf_counter around each), medians and ratios.  Outputs compared:
# the top eigenvalue (to ARPACK's tolerance), the Hutchinson samples on
# the same probes (to 1e-10 relative), the SLQ nodes and weights.
# Both run with THREADS threads (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS; the
# peer torch.set_num_threads) and OMP_WAIT_POLICY=PASSIVE unless set.
# Needs dataset-fashion-mnist, /usr/bin/python3 with numpy, scipy, torch.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/tools/linstab
py=${PYTHON:-/usr/bin/python3}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
fm=/usr/share/datasets/fashion-mnist
[[ -x $bin ]] || { echo "bench_spectrum: no $bin; build first" >&2; exit 1; }
[[ -f $fm/train-images-idx3-ubyte.gz ]] || { echo "bench_spectrum: $fm missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
"$py" -c 'import numpy, scipy, torch' 2>/dev/null || { echo "bench_spectrum: $py lacks numpy, scipy or torch" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-bsp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
# idle OpenMP threads sleep instead of spinning (libgomp spins by default, which on
# this shared, oversubscribed machine takes CPU from the working thread): for both
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

"$py" - "$fm" "$tmp" <<'EOF'
import gzip, sys
import numpy as np
fm, out = sys.argv[1], sys.argv[2]
with gzip.open(f"{fm}/train-images-idx3-ubyte.gz") as fh:
    x = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 784)[:1000] / 255.0
with gzip.open(f"{fm}/train-labels-idx1-ubyte.gz") as fh:
    lab = np.frombuffer(fh.read(), np.uint8, offset=8)[:1000]
np.save(f"{out}/X.npy", x)
np.save(f"{out}/Y.npy", np.eye(10)[lab])
EOF
"$bin" train --layers 784,300,100,10 --activation tanh --loss mse --data "$tmp/X.npy" --targets "$tmp/Y.npy" \
    --optimizer sgd --eta 0.01 --batch 32 --steps 300 --seed 1 --quiet --out "$tmp/model" >/dev/null

probes=100 steps=80 dprobes=1
run_linstab() { # $1: round
    local t0 t1
    t0=$(date +%s.%N)
    LINSTAB_PROFILE=1 "$bin" spectrum --model "$tmp/model" --data "$tmp/X.npy" --targets "$tmp/Y.npy" --loss mse \
        --top-k 1 --trace hutchinson --probes $probes --save-probes "$tmp/Z.npy" \
        --density "$tmp/density.csv" --lanczos-steps $steps --density-probes $dprobes \
        --json "$tmp/linstab$1.json" --quiet >/dev/null 2>"$tmp/linstab$1.err"
    t1=$(date +%s.%N)
    "$py" - "$tmp/linstab$1.err" "$t0" "$t1" >"$tmp/linstab$1.times" <<'EOF'
import json, re, sys
pr = re.finditer(r"\[profile\] (\S+) ([0-9.]+) s, cpu ([0-9.]+) s", open(sys.argv[1]).read())
sec = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in pr}
print(json.dumps({"top": sec["top-k"][0], "trace": sec["trace"][0], "density": sec["density"][0],
                  "top_cpu": sec["top-k"][1], "trace_cpu": sec["trace"][1], "density_cpu": sec["density"][1],
                  "wall": float(sys.argv[3]) - float(sys.argv[2])}))
EOF
}
run_peer() {
    local t0 t1
    t0=$(date +%s.%N)
    "$py" "$here/spectrum_peer.py" "$tmp/model" "$tmp/X.npy" "$tmp/Y.npy" --probes "$tmp/Z.npy" --top-k \
        --trace $probes --density-probes $dprobes --lanczos-steps $steps --threads "$threads" >"$tmp/peer$1.json"
    t1=$(date +%s.%N)
    "$py" - "$tmp/peer$1.json" "$t0" "$t1" >"$tmp/peer$1.times" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps({"top": d["top_k"]["seconds"], "trace": d["trace"]["seconds"], "density": d["density"]["seconds"],
                  "top_cpu": d["top_k"]["cpu_seconds"], "trace_cpu": d["trace"]["cpu_seconds"],
                  "density_cpu": d["density"]["cpu_seconds"], "wall": float(sys.argv[3]) - float(sys.argv[2])}))
EOF
}
# linstab's exact trace in closed form (no products), against the peer's Hutchinson estimate
run_exact() { # $1: round
    LINSTAB_PROFILE=1 "$bin" spectrum --model "$tmp/model" --data "$tmp/X.npy" --targets "$tmp/Y.npy" --loss mse \
        --trace exact --json "$tmp/exact$1.json" --quiet >/dev/null 2>"$tmp/exact$1.err"
    sed -n 's/^\[profile\] trace \([0-9.]*\) s, cpu \([0-9.]*\) s.*/{"trace": \1, "trace_cpu": \2}/p' \
        "$tmp/exact$1.err" >"$tmp/exact$1.times"
}
# linstab first: it writes the probes the peer reads (the same file every round)
for r in $(seq 1 "$rounds"); do
    run_linstab "$r"
    run_exact "$r"
    run_peer "$r"
    echo "round $r: linstab $(cat "$tmp/linstab$r.times")" >&2
    echo "round $r: peer    $(cat "$tmp/peer$r.times")" >&2
done

"$py" - "$tmp" "$rounds" "$threads" <<'EOF'
import json, sys
import numpy as np
tmp, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lt = [json.load(open(f"{tmp}/linstab{r}.times")) for r in range(1, rounds + 1)]
pt = [json.load(open(f"{tmp}/peer{r}.times")) for r in range(1, rounds + 1)]
L = json.load(open(f"{tmp}/linstab1.json"))
P = json.load(open(f"{tmp}/peer1.json"))
print(f"linstab spectrum vs PyHessian-style PyTorch peer: 784-300-100-10 tanh MLP (p = {L['operator']['dim']}), "
      f"n = {L['operator']['n']}, {threads} threads, medians of {rounds} alternating rounds")
print(f"{'workload':<28} {'linstab s':>10} {'peer s':>10} {'ratio':>7} | {'cpu: linstab':>12} {'peer':>8} {'ratio':>7}"
      f" | products linstab / peer")
rows = [("top eigenvalue (ARPACK)", "top", L["top_k"]["products"], P["top_k"]["products"]),
        ("trace (Hutchinson, 100)", "trace", L["trace"]["products"], P["trace"]["products"]),
        ("density (SLQ, 1 x 80)", "density", L["density"]["products"], P["density"]["products"]),
        ("whole process (wall)", "wall", None, None)]
for name, key, lp, pp in rows:
    a = float(np.median([t[key] for t in lt]))
    b = float(np.median([t[key] for t in pt]))
    line = f"{name:<28} {a:>10.3f} {b:>10.3f} {b / a:>6.1f}x"
    if lp is not None:
        ac = float(np.median([t[key + "_cpu"] for t in lt]))
        bc = float(np.median([t[key + "_cpu"] for t in pt]))
        line += f" | {ac:>12.3f} {bc:>8.3f} {bc / ac:>6.1f}x | {lp} / {pp}"
    print(line)
et = [json.load(open(f"{tmp}/exact{r}.times")) for r in range(1, rounds + 1)]
E = json.load(open(f"{tmp}/exact1.json"))
a = float(np.median([t["trace"] for t in et]))
ac = float(np.median([t["trace_cpu"] for t in et]))
b = float(np.median([t["trace"] for t in pt]))
bc = float(np.median([t["trace_cpu"] for t in pt]))
print(f"{'exact trace vs Hutchinson':<28} {a:>10.3f} {b:>10.3f} {b / a:>6.1f}x | {ac:>12.3f} {bc:>8.3f} {bc / ac:>6.1f}x"
      f" | 0 / {P['trace']['products']}")
print("(seconds: compute-only wall time of each workload, the whole process in the last row; cpu: the process's"
      " CPU seconds in that workload, all threads)")
print()
la, pa = L["top_k"]["eigenvalues"][0], P["top_k"]["eigenvalue"]
print(f"top eigenvalue   linstab {la:.15g}   peer {pa:.15g}   relative difference {abs(la - pa) / abs(pa):.1e} "
      f"(tol {L['top_k']['tol']:g})")
lt_, pt_ = L["trace"]["value"], P["trace"]["value"]
print(f"trace            linstab {lt_:.15g} +- {L['trace']['standard_error']:.3g}   peer {pt_:.15g} +- "
      f"{P['trace']['standard_error']:.3g}   relative difference {abs(lt_ - pt_) / abs(pt_):.1e} (same probes)")
ln = np.array(L["density"]["probes_detail"][0]["nodes"])
pn = np.array(P["density"]["probes_detail"][0]["nodes"])
lw = np.array(L["density"]["probes_detail"][0]["weights"])
pw = np.array(P["density"]["probes_detail"][0]["weights"])
scale = np.max(np.abs(pn))
print(f"SLQ nodes        max |difference| / max |node| {np.max(np.abs(ln - pn)) / scale:.1e}; "
      f"weights max |difference| {np.max(np.abs(lw - pw)):.1e}; extreme nodes linstab {ln[0]:.10g} .. {ln[-1]:.10g}, "
      f"peer {pn[0]:.10g} .. {pn[-1]:.10g}")
print(f"loss (peer)      {P['loss']:.17g}")
te = E["trace"]["value"]
print(f"exact trace      linstab {te:.15g}   (Hutchinson {lt_:.6g} +- {L['trace']['standard_error']:.3g}: "
      f"{abs(te - lt_) / L['trace']['standard_error']:.2f} standard errors away)")
checks = [("top eigenvalue to the tolerance", abs(la - pa) <= L["top_k"]["tol"] * abs(pa)),
          ("exact trace within 4 standard errors of Hutchinson's", abs(te - lt_) <= 4 * L["trace"]["standard_error"]),
          ("trace on the same probes to 1e-10", abs(lt_ - pt_) <= 1e-10 * abs(pt_)),
          ("SLQ nodes to 1e-8 of the largest", np.max(np.abs(ln - pn)) <= 1e-8 * scale),
          ("SLQ weights to 1e-8", np.max(np.abs(lw - pw)) <= 1e-8)]
bad = [name for name, ok in checks if not ok]
print("values: " + ("all agree" if not bad else "DISAGREE: " + ", ".join(bad)))
sys.exit(1 if bad else 0)
EOF
