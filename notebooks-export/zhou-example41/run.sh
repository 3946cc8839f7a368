#!/usr/bin/env bash
# Zhou et al. (2025), "Sharpness-Aware Minimization Efficiently Selects
# Flatter Minima Late in Training", Figure 4 (a-c) on their Example 4.1,
# L(u, v) = tanh^2(v tanh u)/2 (`linstab dynamics --objective tanh2`): GD
# reaches a sharp minimum on the valley floor v = 0, then SAM (their Eq. 4,
# unnormalized, same batch: `sam-same`) escapes it at the predicted rate and
# settles at a flatter minimum of the same valley.  Every number on the page
# is computed here (results.json).  About 15 seconds.
set -euo pipefail
cd "$(dirname "$0")"
L=${LINSTAB:-../../build/tools/linstab}
N=(nice -n 10)
PY=/usr/bin/python3
SEED=0
T=30           # the switching step
mkdir -p data runs
# (a) the central run, as in the paper's panel: GD, then SAM from step T
"${N[@]}" "$L" dynamics --objective tanh2 --optimizer gd --switch $T:sam-same --eta 1.5 --rho 1 --start 1.5,0.3 --steps 600 \
    --log data/central.csv --json --out data/central.json --plot-loss loss-central.png
"${N[@]}" "$L" dynamics --objective tanh2 --optimizer gd --eta 1.5 --start 1.5,0.3 --steps 600 --json --out data/central-gd.json
# the escape rate against the theory for several eta, rho and starts
echo "eta,rho,u0,v0,gd_u,rate,predicted_rate,window0,window1,end_u,end_v,end_loss" > data/table.csv
for eta in 1.2 1.5 1.8; do
    for rho in 0.5 1 2; do
        for st in 1.2,0.3 1.5,0.3 2,0.3; do
            "${N[@]}" "$L" dynamics --objective tanh2 --optimizer gd --switch $T:sam-same --eta $eta --rho $rho --start $st --steps 4000 \
                --log runs/run.csv --json --out runs/run.json
            $PY - $eta $rho $st $T >> data/table.csv <<'PY'
import csv, json, sys
eta, rho, st, T = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
j = json.load(open("runs/run.json"))
rows = list(csv.DictReader(open("runs/run.csv")))
e = j["escape"] or {}
win = e.get("window") or ["", ""]
f = lambda x: "" if x is None else repr(x)
print(",".join([eta, rho, st, rows[T]["w1"], f(e.get("rate")), f(e.get("predicted_rate")), str(win[0]), str(win[1]),
                f(j["final"][0]), f(j["final"][1]), f(j["loss_final"])]))
PY
        done
    done
done
# (b) 100 starts drawn from seed $SEED: the loss after the switch
$PY -c 'import numpy as np, sys; r = np.random.default_rng(int(sys.argv[1]))
for u, v in zip(r.uniform(1.45, 1.9, 100), r.uniform(0.1, 0.4, 100)): print(f"{u!r},{v!r}")' $SEED > data/starts.csv
i=0
while IFS=, read -r u v; do
    "${N[@]}" "$L" dynamics --objective tanh2 --optimizer gd --switch $T:sam-same --eta 1.5 --rho 1 --start "$u,$v" --steps 600 \
        --log runs/start$i.npy --json --out runs/start$i.json
    i=$((i + 1))
done < data/starts.csv

# SGD with isotropic gradient noise (a one-sample objective has no batch noise): 20 seeds, switch at step 300
for sd in $(seq 1 20); do
    "${N[@]}" "$L" dynamics --objective tanh2 --optimizer sgd --noise 0.001 --switch 300:sam-same --eta 1.5 --rho 1 --start 1.5,0.3 \
        --steps 800 --seed $sd --log runs/noisy$sd.npy --json --out runs/noisy$sd.json
done
"${N[@]}" "$L" dynamics --objective tanh2 --optimizer sgd --noise 0.001 --switch 300:sam-same --eta 1.5 --rho 1 --start 1.5,0.3 \
    --steps 800 --seed 1 --plot-loss loss-noisy.png >/dev/null

$PY - $SEED $T <<'PY'
import csv, json, sys
import numpy as np
seed, T = int(sys.argv[1]), int(sys.argv[2])
eta, rho = 1.5, 1.0
R = {"seed": seed, "T": T}
loss = lambda u, v: 0.5 * np.tanh(v * np.tanh(u)) ** 2
sharp = lambda u: float(np.tanh(u) ** 2)                       # ||H||_2 on the floor v = 0
edge = lambda u, eta, rho: eta * sharp(u) * (1 + rho * sharp(u))  # |1 - this| = the linearized SAM factor at (u, 0)
# (a) the central run
rows = list(csv.DictReader(open("data/central.csv")))
w = np.array([[float(r["w1"]), float(r["w2"])] for r in rows])
lo = np.array([float(r["loss"]) for r in rows])
j = json.load(open("data/central.json")); g = json.load(open("data/central-gd.json"))
uG, uS = float(w[T, 0]), float(j["final"][0])
R.update(a_gd_u=uG, a_gd_sharp=sharp(uG), a_gd_edge=edge(uG, eta, rho), a_gd_edge_gd=eta * sharp(uG),
         a_gd_only_u=g["final"][0], a_gd_only_loss=g["loss_final"],
         a_sam_u=uS, a_sam_v=float(j["final"][1]), a_sam_sharp=sharp(uS), a_sam_edge=edge(uS, eta, rho),
         a_rate=j["escape"]["rate"], a_pred=j["escape"]["predicted_rate"], a_window=j["escape"]["window"],
         a_rate_relerr=abs(j["escape"]["rate"] / j["escape"]["predicted_rate"] - 1),
         a_pred_closed=(1 - edge(uG, eta, rho)) ** 2, a_loss_switch=float(lo[T]),
         a_vmax=float(np.abs(w[T:, 1]).max()), a_peak_loss=float(lo[T:].max()), a_peak_step=int(T + lo[T:].argmax()),
         a_loss_final=j["loss_final"])
R["a_settle"] = int(np.nonzero(np.abs(w[:, 0] - uS) >= 1e-6)[0].max() + 1)   # |u - u_end| < 1e-6 from here on
R["a_settle_after_peak"] = R["a_settle"] - R["a_peak_step"]
with open("data/central-gd-part.csv", "w") as fp:
    fp.write("u,v\n"); [fp.write(f"{a!r},{b!r}\n") for a, b in w[:T + 1]]
with open("data/central-sam-part.csv", "w") as fp:
    fp.write("u,v\n"); [fp.write(f"{a!r},{b!r}\n") for a, b in w[T:]]
us, vs = np.linspace(0.9, 1.7, 161), np.linspace(-0.35, 0.35, 141)
with open("data/grid.csv", "w") as fp:
    fp.write("x,y,z\n")
    for v in vs:
        for u in us: fp.write(f"{u!r},{v!r},{loss(u, v)!r}\n")
# the table
tab = list(csv.DictReader(open("data/table.csv")))
lines, errs, errs_stable, same, nesc = [], [], [], 0, 0
for r in tab:
    e, rh, gu = float(r["eta"]), float(r["rho"]), float(r["gd_u"])
    ed = edge(gu, e, rh)
    closed = (1 - ed) ** 2
    esc = ed > 2
    eu, ev = float(r["end_u"]), float(r["end_v"])
    if esc:
        nesc += 1
        errs.append(abs(float(r["rate"]) / float(r["predicted_rate"]) - 1))
        same += abs(ev) < 1e-6 and 0 < eu < gu
    else:
        errs_stable.append(abs(float(r["rate"]) / closed - 1))
    lines.append(f"| {r['eta']} | {r['rho']} | ({r['u0']}, {r['v0']}) | {gu:.4f} | {ed:.3f} | {'yes' if esc else 'no'} | "
                 f"{float(r['rate']):.6f} | {float(r['predicted_rate']):.6f} | {closed:.6f} | {r['window0']}..{r['window1']} | "
                 f"{eu:.4f} | {ev:.0e} | {sharp(gu):.4f} → {sharp(eu):.4f} | {edge(eu, e, rh):.3f} |")
R["table"] = "\n".join(lines)
R["table_n"], R["table_escaped"], R["table_same_flatter"] = len(tab), nesc, int(same)
R["table_maxrelerr"] = max(errs)
R["table_stable_n"], R["table_stable_maxrelerr"] = len(errs_stable), max(errs_stable)
R["table_end_edge_max"] = max(edge(float(r["end_u"]), float(r["eta"]), float(r["rho"])) for r in tab)
# (b) 100 starts
starts = np.loadtxt("data/starts.csv", delimiter=",")
ratios, rates, preds, gdu, endu = [], [], [], [], []
for i in range(len(starts)):
    a = np.load(f"runs/start{i}.npy")            # columns step, loss, grad_norm, u, v
    jj = json.load(open(f"runs/start{i}.json"))
    ratios.append(a[T:, 1] / a[T, 1])
    rates.append(jj["escape"]["rate"]); preds.append(jj["escape"]["predicted_rate"])
    gdu.append(a[T, 3]); endu.append(jj["final"][0])
ratios = np.array(ratios); rates = np.array(rates); preds = np.array(preds)
lg = np.log10(ratios)
K = 200                                           # the window drawn: t' = 0..K
with open("data/escape-100.csv", "w") as fp:
    fp.write("t',mean,10 % quantile,90 % quantile,predicted: t' x mean log10 r\n")
    for t in range(K + 1):
        fp.write(f"{t},{lg[:, t].mean()!r},{np.quantile(lg[:, t], 0.1)!r},{np.quantile(lg[:, t], 0.9)!r},"
                 f"{t * np.log10(preds).mean()!r}\n")
rel = np.abs(rates / preds - 1)
peaks = [int(np.argmax(x)) for x in ratios]                    # t' of the loss's peak after the switch
l0 = [float(np.load(f"runs/start{i}.npy")[T, 1]) for i in range(len(starts))]
pk = [float(np.load(f"runs/start{i}.npy")[T:, 1].max()) for i in range(len(starts))]
a_e = (-1 + np.sqrt(1 + 4 * 2 / (eta * rho) * rho)) / (2 * rho)   # a (1 + rho a) = 2/eta
R.update(b_peak_min=min(peaks), b_peak_max=max(peaks), b_l0_min=min(l0), b_l0_max=max(l0), b_pk_min=min(pk),
         b_pk_max=max(pk), b_u_edge=float(np.arctanh(np.sqrt(a_e))))
R.update(b_n=len(starts), b_relerr_max=float(rel.max()), b_relerr_median=float(np.median(rel)),
         b_pred_min=float(preds.min()), b_pred_max=float(preds.max()), b_gdu_min=float(min(gdu)), b_gdu_max=float(max(gdu)),
         b_flatter=int(sum(1 for a, b in zip(gdu, endu) if 0 < b < a)), b_endu_min=float(min(endu)), b_endu_max=float(max(endu)),
         b_slope_meas=float(np.polyfit(np.arange(0, 21), lg[:, :21].mean(axis=0), 1)[0]),
         b_slope_pred=float(np.log10(preds).mean()))
# noisy SGD, then SAM
TN, nl0, npk, nrate, nclosed, nend, ngdu = 300, [], [], [], [], [], []
for sd in range(1, 21):
    a = np.load(f"runs/noisy{sd}.npy"); jj = json.load(open(f"runs/noisy{sd}.json"))
    nl0.append(a[TN, 1]); npk.append(int(np.argmax(a[TN:TN + 100, 1])))
    nrate.append(jj["escape"]["rate"]); ngdu.append(a[TN, 3]); nend.append(jj["final"][0])
    nclosed.append((1 - edge(a[TN, 3], eta, rho)) ** 2)
R.update(n_l0_med=float(np.median(nl0)), n_pk_min=min(npk), n_pk_max=max(npk), n_pk_med=float(np.median(npk)),
         n_rate_med=float(np.median(nrate)), n_closed_med=float(np.median(nclosed)), n_gdu_min=float(min(ngdu)),
         n_gdu_max=float(max(ngdu)), n_end_min=float(min(nend)), n_end_max=float(max(nend)),
         n_flatter=int(sum(1 for g, e in zip(ngdu, nend) if 0 < e < g)), n_pred_null=int(sum(1 for sd in range(1, 21)
         if json.load(open(f"runs/noisy{sd}.json"))["escape"]["predicted_rate"] is None)))
# (c) the 1-D interpolation theta_lambda = (1 - lambda) theta_SAM + lambda theta_GD, and its second difference
tS, tG = np.array(j["final"]), w[T]
h = 0.1
lam = np.round(np.arange(-0.5, 1.5 + 1e-9, 0.05), 10)
Lf = lambda l: loss(*((1 - l) * tS + l * tG))
with open("data/interpolation.csv", "w") as fp:
    fp.write("lambda,L,L'',sharpness tanh^2 u\n")
    for l in lam:
        th = (1 - l) * tS + l * tG
        fp.write(f"{l!r},{Lf(l)!r},{(Lf(l + h) + Lf(l - h) - 2 * Lf(l)) / (2 * h) ** 2!r},{sharp(th[0])!r}\n")
L01 = [Lf(l) for l in np.linspace(0, 1, 101)]
Lpp = lambda l: (Lf(l + h) + Lf(l - h) - 2 * Lf(l)) / (2 * h) ** 2
pp = [Lpp(l) for l in np.linspace(0, 1, 21)]
R.update(c_maxL=float(max(L01)), c_sharp0=sharp(tS[0]), c_sharp1=sharp(tG[0]), c_h=h, c_Lpp0=float(Lpp(0.0)),
         c_Lpp1=float(Lpp(1.0)), c_Lpp_monotone=int(all(b > a for a, b in zip(pp, pp[1:]))),
         c_vS=float(tS[1]), c_vG=float(tG[1]), c_uS=float(tS[0]), c_uG=float(tG[0]))
# the loss across the valley at each end point (the paper's L'' is the curvature along theta_lambda; here that
# direction is the valley floor, so it is ~0: the curvature across the valley is the sharpness)
json.dump(R, open("results.json", "w"), indent=1)
PY

P=(plot --contours 12)
"$L" "${P[@]}" --heatmap data/grid.csv --path data/central-sam-part.csv --columns u,v --extra data/central-gd-part.csv --extra-joined \
    --logz --zlabel loss --path-name "SAM (sam-same) from step $T" --extra-name "GD, steps 0..$T" \
    --title "(a) GD to a sharp minimum, then SAM to a flatter one (#gy = 1.5, #gr = 1)" \
    --xlabel u --ylabel v --out fig-a.png
"$L" plot --csv data/escape-100.csv --x "t'" --y "mean,10 % quantile,90 % quantile,predicted: t' x mean log10 r" \
    --xlabel "steps t' after the switch" --ylabel "log#d10#u L(#gh#ut+t'#d)/L(#gh#ut#d)" \
    --title "(b) the escape after the switch, 100 starts (seed $SEED)" --out fig-b.png
"$L" plot --csv data/interpolation.csv --x lambda --y "L,L''" --xlabel "#gl" --ylabel "loss, second difference (h = 0.1)" \
    --title "(c) L(#gh#d#gl#u), #gh#d#gl#u = (1 - #gl) #gh#dSAM#u + #gl #gh#dGD#u" --out fig-c.png
"$L" plot --csv data/interpolation.csv --x lambda --y "sharpness tanh^2 u" --xlabel "#gl" --ylabel "tanh#u2#d u at #gh#d#gl#u" \
    --title "(c) the sharpness across the valley along #gh#d#gl#u" --out fig-c-sharpness.png
rm -rf runs data/grid.csv
$PY ../build_doc.py --title "Zhou et al. (2025), Figure 4 on Example 4.1 — SAM escapes the sharp minimum exponentially fast and settles at a flatter one" \
    --narrative narrative.md --values results.json --out zhou-example41 --minutes 0.3 --csv data/table.csv
