#!/usr/bin/env bash
# Bartlett, Long & Bousquet (2023), "The Dynamics of Sharpness-Aware
# Minimization: Bouncing Across Ravines and Drifting Towards Wide Minima",
# Figures 1-5, with `linstab dynamics` (normalized SAM = their Eq. 2), plus
# two panels on the drift of their Theorem 21.  Every number on the page is
# computed here (results.json); the loss and J grids of the heat maps and the
# closed-form checks are computed with numpy.  About 10 seconds.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
N=(nice -n 10)
PY=/usr/bin/python3
SEED=1
mkdir -p data
Q=(--optimizer sam-normalized --eta 0.2 --rho 1)
# Figure 1: normalized SAM on l = (1, 1/2) from (2, 2): the first 30 iterates, and 300 steps for the cycle
"${N[@]}" "$L" dynamics --objective quadratic --spectrum 1,0.5 "${Q[@]}" --start 2,2 --steps 30 --log data/fig1.csv --json --out data/fig1.json
"${N[@]}" "$L" dynamics --objective quadratic --spectrum 1,0.5 "${Q[@]}" --start 2,2 --steps 300 --json --out data/fig1-300.json
# Figure 2: l = (1, 1/5) from w0 = (0.244, 0.0224), 25 steps (u_t = (-1)^t w_t is computed below)
"${N[@]}" "$L" dynamics --objective quadratic --spectrum 1,0.2 "${Q[@]}" --start 0.244,0.0224 --steps 25 --log data/fig2.csv --json --out data/fig2.json
# Figures 3 and 4: SAM and GD on w1^2/(1 + w2^2/2) + w2^2/2 from (0.1, 0.1) and (1, 1)
for s in 0.1,0.1 1,1; do
    "${N[@]}" "$L" dynamics --objective bartlett "${Q[@]}" --start $s --steps 100 --log data/sam-$s.csv --json --out data/sam-$s.json
    "${N[@]}" "$L" dynamics --objective bartlett --optimizer gd --eta 0.2 --start $s --steps 100 --log data/gd-$s.csv --json --out data/gd-$s.json
done
# Figure 5: SAM and SGD with isotropic gradient noise sigma = rho/(2 - eta) from (1, 1)
SIGMA=$($PY -c 'print(repr(1 / (2 - 0.2)))')
"${N[@]}" "$L" dynamics --objective bartlett "${Q[@]}" --start 1,1 --steps 300 --log data/sam5.csv --json --out data/sam5.json
"${N[@]}" "$L" dynamics --objective bartlett --optimizer sgd --noise "$SIGMA" --eta 0.2 --start 1,1 --steps 300 --seed $SEED \
    --log data/sgd5.csv --json --out data/sgd5.json
for sd in 2 3 4 5; do   # other noise seeds, for the spread of SGD's end points
    "${N[@]}" "$L" dynamics --objective bartlett --optimizer sgd --noise "$SIGMA" --eta 0.2 --start 1,1 --steps 300 --seed $sd \
        --log data/sgd5-seed$sd.csv --json --out data/sgd5-seed$sd.json
done
# the onset of the drift on the bartlett objective: the end point's |w2| against rho (eta = 0.2 and 0.1)
echo "eta,rho,w1,w2,loss,period" > data/rho-sweep.csv
for eta in 0.2 0.1; do
    for rho in $(seq 0.5 0.02 1.2); do
        "${N[@]}" "$L" dynamics --objective bartlett --optimizer sam-normalized --eta $eta --rho $rho --start 1,1 --steps 20000 --json |
            $PY -c 'import json,sys; j=json.load(sys.stdin); c=j["cycle"]; w=j["final"]; p=c["period"] if c else ""
print("%s,%s,%r,%r,%r,%s" % (sys.argv[1], sys.argv[2], w[0], w[1], j["loss_final"], p))' $eta $rho >> data/rho-sweep.csv
    done
done
# the rate at which |w2| leaves (or returns to) the floor: below and above the onset
"${N[@]}" "$L" dynamics --objective bartlett --optimizer sam-normalized --eta 0.2 --rho 0.7 --start 1,1 --steps 2000 --log data/floor-0.7.csv --json --out data/floor-0.7.json
"${N[@]}" "$L" dynamics --objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 0.25,1e-12 --steps 200 --log data/floor-1.csv --json --out data/floor-1.json
# Theorem 21 where it applies (a zero-gradient valley floor): Zhou et al. (2025)'s Example 4.1, tanh^2(v tanh u)/2
echo "rho,measured,predicted,rel_error,u_end" > data/tanh2-drift.csv
for rho in 0.005 0.01 0.02 0.04 0.08; do
    "${N[@]}" "$L" dynamics --objective tanh2 --optimizer sam-normalized --eta 0.5 --rho $rho --start 1.2,0.05 --steps 3000 --json |
        $PY -c 'import json,sys; j=json.load(sys.stdin); d=j["drift"]; m=d["measured"]; p=d["predicted"]
print("%s,%r,%r,%r,%r" % (sys.argv[1], m, p, abs(m / p - 1), j["final"][0]))' $rho >> data/tanh2-drift.csv
done

# grids of the heat maps, u_t and J's stationary points, closed-form checks, results.json
$PY - "$SIGMA" "$SEED" <<'PY'
import csv, json, sys
import numpy as np
sigma, seed = float(sys.argv[1]), int(sys.argv[2])
eta, rho = 0.2, 1.0
def log(name):
    rows = list(csv.DictReader(open(f"data/{name}.csv")))
    return np.array([[float(r["w1"]), float(r["w2"])] for r in rows])
def js(name): return json.load(open(f"data/{name}.json"))
def grid(name, f, box, n=201):
    xs, ys = np.linspace(box[0], box[1], n), np.linspace(box[2], box[3], n)
    with open(f"data/{name}.csv", "w") as fp:
        fp.write("x,y,z\n")
        for y in ys:
            for x in xs:
                fp.write(f"{x!r},{y!r},{f(x, y)!r}\n")
def points(name, pts, cols=("w1", "w2")):
    with open(f"data/{name}.csv", "w") as fp:
        fp.write(",".join(cols) + "\n")
        for p in pts: fp.write(f"{p[0]!r},{p[1]!r}\n")
R = {"seed": seed, "sigma": sigma}
# Figure 1: Theorem 2's 2-cycle +-eta rho l1/(2 - eta l1) e1
l = np.array([1.0, 0.5])
a = eta * rho * l[0] / (2 - eta * l[0])
grid("grid-fig1", lambda x, y: 0.5 * (l[0] * x * x + l[1] * y * y), (-0.3, 2.2, -0.3, 2.2))
grid("grid-fig1-zoom", lambda x, y: 0.5 * (l[0] * x * x + l[1] * y * y), (-0.2, 0.2, -0.12, 0.12))
points("cycle-fig1", [(a, 0), (-a, 0)])
j300 = js("fig1-300")
w1 = log("fig1")
R.update(fig1_a=a, fig1_amp=j300["cycle"]["amplitude"], fig1_amp_pred=j300["cycle"]["predicted_amplitude"],
         fig1_period=j300["cycle"]["period"], fig1_prop8=js("fig1")["prop8"]["max_deviation"],
         fig1_prop8_300=j300["prop8"]["max_deviation"], fig1_final=j300["final"],
         fig1_err30=float(min(np.linalg.norm(w1[30] - [a, 0]), np.linalg.norm(w1[30] + [a, 0]))),
         fig1_loss5=float(0.5 * (l * w1[5] ** 2).sum()), fig1_loss30=float(0.5 * (l * w1[30] ** 2).sum()))
R["fig1_amp_relerr"] = abs(R["fig1_amp"] / a - 1)
d = j300["drift"] or {}
R["fig1_drift"] = "n/a" if not d else f"{d['measured']:.1e} per step (Theorem 21 on a quadratic: {d['predicted']:g})"
# Figure 2: J(u) = u'Cu/2 - ||L u||, C = (2I - eta L)/(eta rho), u_t = (-1)^t w_t, Lemma 10: u_{t+1} = u_t - eta rho grad J(u_t)
l2 = np.array([1.0, 0.2])
C = (2 - eta * l2) / (eta * rho)
J = lambda u: 0.5 * (C * u * u).sum() - np.linalg.norm(l2 * u)
gJ = lambda u: C * u - l2 * l2 * u / np.linalg.norm(l2 * u)
w = log("fig2")
u = w * ((-1.0) ** np.arange(len(w)))[:, None]
points("u-fig2", u, ("u1", "u2"))
grid("grid-fig2", lambda x, y: J(np.array([x, y])), (-0.3, 0.3, -0.06, 0.06))
beta = eta * rho * l2 ** 2 / (2 - eta * l2)
stat = [(beta[0] / l2[0], 0), (-beta[0] / l2[0], 0), (0, beta[1] / l2[1]), (0, -beta[1] / l2[1])]
points("stationary-fig2", stat, ("u1", "u2"))
dev = max(np.linalg.norm(u[t + 1] - (u[t] - eta * rho * gJ(u[t]))) for t in range(len(u) - 1))
Ju = [J(x) for x in u]
R.update(fig2_stat1=beta[0] / l2[0], fig2_stat2=beta[1] / l2[1], fig2_Jmin=-beta[0] / 2, fig2_J0=Ju[0], fig2_J25=Ju[-1],
         fig2_lemma10=float(dev), fig2_prop8=js("fig2")["prop8"]["max_deviation"],
         fig2_monotone=int(all(Ju[t + 1] <= Ju[t] + 1e-15 for t in range(len(Ju) - 1))),
         fig2_u25=[float(u[-1][0]), float(u[-1][1])])
# Figures 3-5: the objective, its Hessian's top eigenvalue (closed form)
f = lambda x, y: x * x / (1 + y * y / 2) + y * y / 2
def lmax(x, y):
    q = 1 + y * y / 2
    H = np.array([[2 / q, -2 * x * y / q ** 2], [-2 * x * y / q ** 2, 1 - x * x * (1 / q ** 2 - 2 * y * y / q ** 3)]])
    return float(np.linalg.eigvalsh(H)[-1])
grid("grid-fig3", f, (-0.35, 0.35, -0.25, 0.25))
grid("grid-fig4", f, (-0.45, 1.1, -0.45, 1.1))
grid("grid-fig5", f, (-0.9, 1.1, -0.9, 1.1))
for tag, s in (("fig3", "0.1,0.1"), ("fig4", "1,1")):
    ws, wg = log(f"sam-{s}"), log(f"gd-{s}")
    c = 0.5 * (ws[-1] + ws[-2])       # the centre of SAM's 2-cycle
    R.update({f"{tag}_sam_end": [float(ws[-1][0]), float(ws[-1][1])], f"{tag}_sam_centre_w2": float(c[1]),
              f"{tag}_sam_loss": float(f(*ws[-1])), f"{tag}_sam_centre_loss": float(f(*c)),
              f"{tag}_sam_sharp": lmax(*c), f"{tag}_sam_period": js(f"sam-{s}")["cycle"]["period"],
              f"{tag}_gd_end": [float(wg[-1][0]), float(wg[-1][1])], f"{tag}_gd_loss": float(f(*wg[-1])),
              f"{tag}_gd_sharp": lmax(*wg[-1]), f"{tag}_sam_drift": js(f"sam-{s}")["drift"],
              f"{tag}_sam_w1amp": float(abs(ws[-1][0]))})
ws, wn = log("sam5"), log("sgd5")
last = slice(-100, None)
R.update(fig5_sam_absw2=float(np.abs(ws[last, 1]).mean()), fig5_sgd_absw2=float(np.abs(wn[last, 1]).mean()),
         fig5_sgd_absw2_sd=float(np.abs(wn[last, 1]).std()),
         fig5_sam_sharp=lmax(0, ws[-1, 1]), fig5_sgd_sharp=float(np.mean([lmax(0, y) for y in wn[last, 1]])),
         fig5_sgd_loss=float(np.mean([f(*p) for p in wn[last]])), fig5_sam_loss=float(f(*ws[-1])))
seeds = [np.abs(log(f"sgd5-seed{sd}")[last, 1]).mean() for sd in (2, 3, 4, 5)]
R.update(fig5_sgd_seeds_min=float(min(seeds)), fig5_sgd_seeds_max=float(max(seeds)))
with open("data/abs-w2.csv", "w") as fp:
    fp.write("step,SAM,SGD\n")
    for t in range(len(ws)): fp.write(f"{t},{abs(ws[t, 1])!r},{abs(wn[t, 1])!r}\n")
# the drift's onset against rho; first order (Theorem 21's drift against the floor's slope): rho > 1 - eta
rows = list(csv.DictReader(open("data/rho-sweep.csv")))
with open("data/rho-sweep-plot.csv", "w") as fp:
    fp.write("rho,#gy = 0.2,#gy = 0.1\n")
    for r2, r1 in zip([r for r in rows if r["eta"] == "0.2"], [r for r in rows if r["eta"] == "0.1"]):
        fp.write(f"{r2['rho']},{abs(float(r2['w2']))!r},{abs(float(r1['w2']))!r}\n")
for e in ("0.2", "0.1"):
    k = e.replace(".", "")
    rs = [(float(r["rho"]), abs(float(r["w2"])), r["period"]) for r in rows if r["eta"] == e]
    R[f"onset_{k}_below"] = max(r for r, v, p in rs if v < 1e-200)          # w2 -> 0 (geometrically)
    R[f"onset_{k}_below_w2"] = max(v for r, v, p in rs if r <= R[f"onset_{k}_below"])
    R[f"onset_{k}_above"] = min(r for r, v, p in rs if v >= 1e-2 and p == "2")  # a 2-cycle off the floor
    R[f"onset_{k}_above_w2"] = min(v for r, v, p in rs if r == R[f"onset_{k}_above"])
    R[f"onset_{k}_pred"] = 1 - float(e)
    mid = [(r, v) for r, v, p in rs if R[f"onset_{k}_below"] < r < R[f"onset_{k}_above"]]
    R[f"onset_{k}_mid"] = ", ".join(f"rho = {r:g}: w2 = {v:.2g}" for r, v in mid) or "none"
    R[f"w1amp_{k}_max_dev"] = max(abs(abs(float(r["w1"])) - float(e)) for r in rows
                                  if r["eta"] == e and abs(float(r["w2"])) >= 1e-2 and r["period"] == "2")
# the floor's linearization around Theorem 2's cycle (+-a, 0), a = eta rho l1/(2 - eta l1), l1 = 2:
# w2' = w2 [1 - eta (1 + rho (1 - a^2)/(2a)) (1 - (a + rho)^2)]; first order (Theorem 21's drift against the slope):
# w2' = w2 [1 + eta (rho^2/(1 - eta)^2 - 1)]
for tag, r0, lo, hi in (("07", 0.7, 200, 1200), ("1", 1.0, 10, 60)):
    w = log(f"floor-{tag if tag != '07' else '0.7'}")
    slope = np.polyfit(np.arange(lo, hi), np.log(np.abs(w[lo:hi, 1])), 1)[0]
    a0 = eta * r0 / (1 - eta)
    R[f"floor_{tag}_measured"] = float(np.exp(slope))
    R[f"floor_{tag}_exact"] = 1 - eta * (1 + r0 * (1 - a0 * a0) / (2 * a0)) * (1 - (a0 + r0) ** 2)
    R[f"floor_{tag}_first"] = 1 + eta * (r0 ** 2 / (1 - eta) ** 2 - 1)
    R[f"floor_{tag}_window"] = f"{lo}..{hi}"
    R[f"floor_{tag}_relerr"] = abs(R[f"floor_{tag}_measured"] / R[f"floor_{tag}_exact"] - 1)
t = list(csv.DictReader(open("data/tanh2-drift.csv")))
R["tanh2_table"] = "\n".join(f"| {r['rho']} | {float(r['measured']):.6e} | {float(r['predicted']):.6e} | "
                             f"{float(r['rel_error']):.2e} | {float(r['u_end']):.4f} |" for r in t)
R["tanh2_relerr_first"], R["tanh2_relerr_last"] = float(t[0]["rel_error"]), float(t[-1]["rel_error"])
R["fig3_gd_end_str"] = "(%.2e, %.2e)" % tuple(R["fig3_gd_end"])
R["fig4_gd_end_str"] = "(%.2e, %.2e)" % tuple(R["fig4_gd_end"])
json.dump(R, open("results.json", "w"), indent=1)
PY

# figures
P=(plot --contours 12)
"$L" "${P[@]}" --heatmap data/grid-fig1.csv --path data/fig1.csv --extra data/cycle-fig1.csv --logz --zlabel loss \
    --extra-name "Theorem 2: ±#gy#gr#gl#d1#u/(2-#gy#gl#d1#u) e#d1#u" --path-name "SAM iterates w#dt#u" \
    --title "Fig. 1a: normalized SAM, #gl = (1, 1/2), #gy = 1/5, #gr = 1, from (2, 2), 30 steps" --xlabel "w#d1#u" --ylabel "w#d2#u" --out fig1a.png
"$L" "${P[@]}" --heatmap data/grid-fig1-zoom.csv --path data/fig1.csv --extra data/cycle-fig1.csv --logz --zlabel loss \
    --extra-name "Theorem 2's 2-cycle" --path-name "SAM iterates w#dt#u" \
    --title "Fig. 1b: the same iterates near the origin" --xlabel "w#d1#u" --ylabel "w#d2#u" --out fig1b.png
"$L" "${P[@]}" --heatmap data/grid-fig2.csv --path data/u-fig2.csv --columns u1,u2 --extra data/stationary-fig2.csv --zlabel "J(u)" \
    --extra-name "stationary points of J" --path-name "u#dt#u = (-1)#ut#d w#dt#u, t = 0..25" \
    --title "Fig. 2: J(u) = u'Cu/2 - ||#gLu||, #gl = (1, 1/5), #gy = 1/5, #gr = 1" --xlabel "u#d1#u" --ylabel "u#d2#u" --out fig2.png
"$L" "${P[@]}" --heatmap data/grid-fig3.csv --path data/sam-0.1,0.1.csv --extra data/gd-0.1,0.1.csv --extra-joined --logz --zlabel loss \
    --path-name "SAM" --extra-name "GD" --title "Fig. 3: w#d1#u#u2#d/(1 + w#d2#u#u2#d/2) + w#d2#u#u2#d/2 from (0.1, 0.1), #gy = 1/5, #gr = 1" \
    --xlabel "w#d1#u" --ylabel "w#d2#u" --out fig3.png
"$L" "${P[@]}" --heatmap data/grid-fig4.csv --path data/sam-1,1.csv --extra data/gd-1,1.csv --extra-joined --logz --zlabel loss \
    --path-name "SAM" --extra-name "GD" --title "Fig. 4: the same from (1, 1)" --xlabel "w#d1#u" --ylabel "w#d2#u" --out fig4.png
"$L" "${P[@]}" --heatmap data/grid-fig5.csv --path data/sam5.csv --extra data/sgd5.csv --extra-joined --logz --zlabel loss \
    --path-name "SAM" --extra-name "SGD, #gs = #gr/(2-#gy)" --title "Fig. 5: SAM and SGD (isotropic noise) from (1, 1), 300 steps" \
    --xlabel "w#d1#u" --ylabel "w#d2#u" --out fig5.png
"$L" plot --csv data/abs-w2.csv --x step --y SAM,SGD --ylabel "|w#d2#u| (sharpness 2/(1 + w#d2#u#u2#d/2) falls with it)" \
    --title "Fig. 5: distance along the valley, SAM and SGD" --out fig5-w2.png
"$L" plot --csv data/rho-sweep-plot.csv --x rho --y "#gy = 0.2,#gy = 0.1" --xlabel "#gr" --ylabel "|w#d2#u| at the end (20000 steps)" \
    --title "SAM's end point on the bartlett objective: it leaves w#d2#u = 0 for #gr > 1 - #gy" --out rho-sweep.png
"$L" plot --csv data/tanh2-drift.csv --x rho --y rel_error --logy --xlabel "#gr" --ylabel "|measured/predicted - 1|" \
    --title "Theorem 21's drift on tanh#u2#d(v tanh u)/2: relative error against #gr" --out tanh2-drift.png

rm -f data/grid-*.csv   # the heat maps' grids (closed forms, 3 MB each): regenerated by this script
$PY ../build_doc.py --title "Bartlett, Long & Bousquet (2023), Figures 1-5 — SAM bounces across ravines and drifts towards wide minima" \
    --narrative narrative.md --values results.json --out bartlett-figures --minutes 0.2 --csv data/tanh2-drift.csv
