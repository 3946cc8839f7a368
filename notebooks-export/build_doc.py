#!/usr/bin/python3
"""Build a reproduction page (README.md) and the same content as a Jupyter
notebook (nbformat 4, figures embedded as attachments) from a narrative
whose numbers come from the outputs.  Standard library only.

  build_doc.py --title T --narrative narrative.md --values results.json --out NAME

narrative.md is Markdown with placeholders {key} (Python str.format
syntax, e.g. {amp:.6f}) filled from the JSON object in results.json (a
placeholder naming a missing key is an error: no page is written).  Every
figure referenced as ![caption](file.png) is embedded in the notebook; the
notebook (nbwrite.py) has one Markdown cell per "## " section, then code
cells that re-run run.sh, print every value the page quotes from
results.json, load the --csv outputs with numpy, and display the figures
(--minutes, --csv and --code as in nbwrite.py).  README.md and NAME.ipynb
are written to the current folder (temporary files, then renamed).
"""
import argparse
import json
import sys

import nbwrite


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", required=True)
    ap.add_argument("--narrative", required=True)
    ap.add_argument("--values", required=True)
    ap.add_argument("--out", required=True)
    nbwrite.add_arguments(ap)
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
    nbwrite.write("README.md", md)
    nbwrite.write_notebook(a.out, md, minutes=a.minutes, csvs=a.csv, values=a.values, narrative=a.narrative,
                           codes=a.code)


if __name__ == "__main__":
    main()
