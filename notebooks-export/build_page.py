#!/usr/bin/python3
"""Build a reproduction page (Markdown) and the same content as a Jupyter
notebook (nbformat 4, figures embedded as attachments) from a hand-written
narrative and the outputs of `linstab map`.  Standard library only.

  build_page.py --title T --narrative narrative.md --map DIR=caption ... --out NAME

writes README.md and NAME.ipynb in the current folder (the notebook by
nbwrite.py: the page, then code cells that re-run run.sh, recompute the
summaries from the map.csv files with numpy and display the figures;
--minutes, --csv and --code as in nbwrite.py).  For every map it
adds the figure and a summary computed from DIR/map.csv: how often the
Monte Carlo majority verdict agrees with the almost-sure (Lyapunov) sign and
with the mean-square verdict, and whether the cells Theorem 1 calls
divergent diverge and the cells below Theorem 2's line converge.
"""
import argparse
import csv
import os

import nbwrite


def summary(path):
    rows = list(csv.DictReader(open(os.path.join(path, "map.csv"))))
    n = len(rows)
    div = [r["divergent"] == "1" for r in rows]

    def f(r, k):
        v = r.get(k, "")
        return float(v) if v not in ("", "nan") else None

    out = [f"cells: {n}"]
    ly = [f(r, "lyapunov") for r in rows]
    if all(v is not None for v in ly):
        agree = sum((v > 0) == d for v, d in zip(ly, div))
        out.append(f"Monte Carlo majority vs almost-sure (Lyapunov) sign: {agree}/{n} agree ({100 * agree / n:.1f} %)")
    rad = [f(r, "radius") for r in rows]
    if all(v is not None for v in rad):
        agree = sum((v > 1) == d for v, d in zip(rad, div))
        out.append(f"Monte Carlo majority vs mean-square verdict: {agree}/{n} agree ({100 * agree / n:.1f} %)")
        ms_stable_div = sum(1 for v, d in zip(rad, div) if v <= 1 and d)
        out.append(f"mean-square-stable cells that diverged: {ms_stable_div}")
    sam = rows[0].get("thm9_margin", "") not in ("", "nan")
    t1 = [f(r, "thm1_margin") for r in rows]
    fired = [d for v, d in zip(t1, div) if v is not None and v > 0]
    if fired and not sam:
        out.append(f"cells Theorem 1 calls divergent: {len(fired)}, of which divergent: {sum(fired)}")
    t2 = [f(r, "thm2_margin") for r in rows]
    below = [d for v, d in zip(t2, div) if v is not None and v < 0]
    if below and not sam:
        out.append(f"cells below Theorem 2's line (lambda1 < threshold): {len(below)}, of which divergent: {sum(below)}")
    t9 = [f(r, "thm9_margin") for r in rows]
    sure = [(d, rv) for v, d, rv in zip(t9, div, rad) if v is not None and v <= 0]
    if sure:
        out.append(f"cells Theorem 9 calls stable: {len(sure)}, of which divergent: {sum(d for d, _ in sure)}, "
                   f"mean-square unstable: {sum(1 for _, rv in sure if rv is not None and rv > 1)}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", required=True)
    ap.add_argument("--narrative", required=True)
    ap.add_argument("--map", action="append", default=[])
    ap.add_argument("--out", required=True)
    nbwrite.add_arguments(ap)
    a = ap.parse_args()
    narrative = open(a.narrative).read().strip()
    md = [f"# {a.title}", "", narrative, ""]
    dirs = []
    for spec in a.map:
        d, caption = spec.split("=", 1)
        dirs.append(d)
        md += [f"## {caption}", "", f"![{caption}]({d}/map.png)", "", "Data: "
               f"[`{d}/map.csv`]({d}/map.csv), parameters in [`{d}/map.json`]({d}/map.json).", ""]
        md += [f"- {x}" for x in summary(d)] + [""]
    md = "\n".join(md)
    nbwrite.write("README.md", md)
    nbwrite.write_notebook(a.out, md, minutes=a.minutes, csvs=a.csv, maps=dirs, codes=a.code)


if __name__ == "__main__":
    main()
