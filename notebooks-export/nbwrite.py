#!/usr/bin/python3
"""Write a reproduction's Jupyter notebook (nbformat 4.5) from its page.
Standard library only; used by build_page.py and build_doc.py, and as a
command by the run.sh scripts whose page is written another way:

  nbwrite.py --page README.md --out NAME [--minutes M] [--csv FILE ...]
             [--values results.json --narrative narrative.md] [--maps DIR ...]
             [--code FILE ...]

The notebook holds the page (one Markdown cell per "## " section, every
local ![caption](file.png) embedded as an attachment) and code cells:
  - one that re-runs the folder's run.sh (RERUN = True when the script
    takes at most a minute, else False: set it to retrain);
  - one per --csv file: loads it with numpy and prints its columns;
  - with --maps: recomputes the page's map summaries from DIR/map.csv with
    numpy;
  - with --values: prints every value of results.json that narrative.md
    quotes, formatted as on the page;
  - one per --code file: the file's content (a check of the page's numbers);
  - one that displays the page's figures.
The code cells are not executed here (outputs are empty); they run from
the notebook's folder.  NAME.ipynb is written to the current folder (a
temporary file, then renamed).
"""
import argparse
import base64
import json
import os
import re
import string

FIG = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")


def local_png(p):
    return p.endswith(".png") and "://" not in p


def markdown_cells(md):
    cells = []
    for sec in re.split(r"(?m)^(?=## )", md):
        if not sec.strip():
            continue
        att = {}

        def embed(m):
            cap, png = m.group(1), m.group(2)
            if not local_png(png):
                return m.group(0)
            key = png.replace("/", "_")
            att[key] = {"image/png": base64.b64encode(open(png, "rb").read()).decode()}
            return f"![{cap}](attachment:{key})"

        cell = {"cell_type": "markdown", "metadata": {}, "source": FIG.sub(embed, sec)}
        if att:
            cell["attachments"] = att
        cells.append(cell)
    return cells


def code(src):
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src.strip() + "\n"}


def rerun_cell(minutes):
    fast = minutes <= 1
    how = "under a minute" if minutes < 1 else f"about {minutes:g} minute{'s' if minutes != 1 else ''}"
    needs = "build/tools/linstab (tools/setup.sh build; LINSTAB=path overrides it)"
    if os.path.exists("run.sh") and "fashion-mnist" in open("run.sh").read():
        needs += "\n# and Debian's dataset-fashion-mnist"
    return code(f"""# Re-run this folder's script ({how} on 2 cores): it rewrites the outputs, README.md and
# this notebook.  It needs {needs}.
import subprocess
RERUN = {fast}{"" if fast else "  # True to retrain"}
if RERUN:
    subprocess.run(["bash", "run.sh"], check=True)""")


CSV_HELPER = '''import numpy as np


def load_csv(path):
    """A CSV with a header line as a numpy structured array (text columns stay text)."""
    return np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8", deletechars="")'''


def csv_cell(path):
    return code(f'''t = load_csv("{path}")
print("{path}:", t.size, "rows")
for name in t.dtype.names:
    col = np.atleast_1d(t[name])
    shown = ", ".join(f"{{v:.6g}}" if isinstance(v, (float, np.floating)) else str(v) for v in col[:12])
    print(f"  {{name}}: {{shown}}{{', ...' if col.size > 12 else ''}}")''')


def maps_cell(dirs):
    return code(f'''# the summaries under each map, recomputed from map.csv
for d in {list(dirs)!r}:
    t = np.atleast_1d(np.genfromtxt(f"{{d}}/map.csv", delimiter=",", names=True))
    n, div = t.size, t["divergent"] == 1
    print(f"{{d}}: cells: {{n}}")
    if not np.isnan(t["lyapunov"]).any():
        k = int(((t["lyapunov"] > 0) == div).sum())
        print(f"  Monte Carlo majority vs almost-sure (Lyapunov) sign: {{k}}/{{n}} agree ({{100 * k / n:.1f}} %)")
    if not np.isnan(t["radius"]).any():
        k = int(((t["radius"] > 1) == div).sum())
        print(f"  Monte Carlo majority vs mean-square verdict: {{k}}/{{n}} agree ({{100 * k / n:.1f}} %)")
        print(f"  mean-square-stable cells that diverged: {{int(((t['radius'] <= 1) & div).sum())}}")
    sam = not np.isnan(t["thm9_margin"]).all()
    if not sam:
        fired = t["thm1_margin"] > 0
        if fired.any():
            print(f"  cells Theorem 1 calls divergent: {{int(fired.sum())}}, of which divergent: {{int(div[fired].sum())}}")
        below = t["thm2_margin"] < 0
        if below.any():
            print(f"  cells below Theorem 2's line (lambda1 < threshold): {{int(below.sum())}}, "
                  f"of which divergent: {{int(div[below].sum())}}")
    else:
        sure = t["thm9_margin"] <= 0
        if sure.any():
            print(f"  cells Theorem 9 calls stable: {{int(sure.sum())}}, of which divergent: {{int(div[sure].sum())}}, "
                  f"mean-square unstable: {{int((sure & (t['radius'] > 1)).sum())}}")''')


def values_cell(values, narrative):
    keys = []
    for _, field, spec, _ in string.Formatter().parse(open(narrative).read()):
        if field is not None and (field, spec) not in keys:
            keys.append((field, spec))
    return code(f'''import json
import string

R = json.load(open("{values}"))
# every value {narrative} quotes, with the page's format (tables are drawn from the CSVs above)
for key, spec in {keys!r}:
    v = string.Formatter().get_field(key, (), R)[0]   # key may be name[index]
    if isinstance(v, str) and "\\n" in v:
        continue
    print(f"{{key}} = {{format(v, spec)}}")''')


def figures_cell(md):
    figs = []
    for m in FIG.finditer(md):
        if local_png(m.group(2)) and m.group(2) not in figs:
            figs.append(m.group(2))
    if not figs:
        return None
    return code(f'''from IPython.display import Image, display

for f in {figs!r}:
    print(f)
    display(Image(filename=f))''')


def notebook(md, minutes, csvs=(), maps=(), values=None, narrative=None, codes=()):
    cells = markdown_cells(md) + [rerun_cell(minutes)]
    if csvs or maps:
        cells.append(code(CSV_HELPER))
    cells += [csv_cell(c) for c in csvs]
    if maps:
        cells.append(maps_cell(maps))
    if values:
        cells.append(values_cell(values, narrative))
    cells += [code(open(c).read()) for c in codes]
    f = figures_cell(md)
    if f:
        cells.append(f)
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}},
            "cells": [dict(c, id=f"cell-{i}") for i, c in enumerate(cells)]}


def write(name, content):
    with open(name + ".tmp", "w") as fp:
        fp.write(content)
    os.replace(name + ".tmp", name)


def write_notebook(out, md, **kw):
    write(f"{out}.ipynb", json.dumps(notebook(md, **kw), indent=1) + "\n")


def add_arguments(ap):
    ap.add_argument("--minutes", type=float, default=1, help="how long run.sh takes (the re-run cell says so)")
    ap.add_argument("--csv", action="append", default=[], help="a CSV output to load and print")
    ap.add_argument("--code", action="append", default=[], help="a Python file: one more code cell")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--page", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--values")
    ap.add_argument("--narrative")
    ap.add_argument("--maps", action="append", default=[])
    add_arguments(ap)
    a = ap.parse_args()
    if a.values and not a.narrative:
        ap.error("--values needs --narrative")
    write_notebook(a.out, open(a.page).read(), minutes=a.minutes, csvs=a.csv, maps=a.maps, values=a.values,
                   narrative=a.narrative, codes=a.code)


if __name__ == "__main__":
    main()
