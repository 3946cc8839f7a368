#!/usr/bin/python3
"""Build a reproduction page (README.md) and the same content as a Jupyter
notebook (nbformat 4, figures embedded as attachments) from a narrative
whose numbers come from the outputs.  Standard library only.

  build_doc.py --title T --narrative narrative.md --values results.json --out NAME

narrative.md is Markdown with placeholders {key} (Python str.format
syntax, e.g. {amp:.6f}) filled from the JSON object in results.json (a
placeholder naming a missing key is an error: no page is written).  Every
figure referenced as ![caption](file.png) is embedded in the notebook; the
notebook has one cell per "## " section.  README.md and NAME.ipynb are
written to the current folder (temporary files, then renamed).
"""
import argparse
import base64
import json
import os
import re
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", required=True)
    ap.add_argument("--narrative", required=True)
    ap.add_argument("--values", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    values = json.load(open(a.values))
    text = open(a.narrative).read().strip()
    try:
        body = text.format_map(values)
    except (KeyError, IndexError) as e:
        sys.exit(f"build_doc.py: {a.narrative}: placeholder {e} has no value in {a.values}")
    except (ValueError, TypeError) as e:
        sys.exit(f"build_doc.py: {a.narrative}: a placeholder's format does not fit its value in {a.values}: {e}")
    md = f"# {a.title}\n\n{body}\n"
    sections = re.split(r"(?m)^(?=## )", md)
    cells = []
    for i, sec in enumerate(sections):
        att = {}

        def embed(m):
            cap, png = m.group(1), m.group(2)
            if not png.endswith(".png") or "://" in png:
                return m.group(0)
            key = png.replace("/", "_")
            att[key] = {"image/png": base64.b64encode(open(png, "rb").read()).decode()}
            return f"![{cap}](attachment:{key})"

        src = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", embed, sec)
        cell = {"cell_type": "markdown", "id": f"cell-{i}", "metadata": {}, "source": src}
        if att:
            cell["attachments"] = att
        cells.append(cell)
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "markdown"}}, "cells": cells}
    for name, content in (("README.md", md), (f"{a.out}.ipynb", json.dumps(nb, indent=1))):
        with open(name + ".tmp", "w") as fp:
            fp.write(content)
        os.replace(name + ".tmp", name)


if __name__ == "__main__":
    main()
