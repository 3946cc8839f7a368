#!/usr/bin/python3
"""Write the benchmark inputs of `linstab check` (issue 2) as .npy files.

    /usr/bin/python3 tools/bench/gen_bench_data.py OUTDIR

OUTDIR/rank1_factors.npy   rank-one factored family, shape (1000, 1000, 1),
                           entries N(0, 1/d), d = 1000 (H_i = u_i u_i')
OUTDIR/wishart_dense.npy   dense Wishart-like family, shape (200, 200, 200),
                           H_i = G_i G_i' / d, G_i 200 x 200 with entries N(0, 1/d)

Fixed seeds: the same files on every run (numpy's PCG64 default_rng).
"""

import os
import sys

import numpy as np


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    n, d = 1000, 1000
    rng = np.random.default_rng(20240601)
    U = rng.standard_normal((n, d, 1)) / np.sqrt(d)
    np.save(os.path.join(out, "rank1_factors.npy"), U)

    n, d = 200, 200
    rng = np.random.default_rng(20240602)
    G = rng.standard_normal((n, d, d)) / np.sqrt(d)
    H = G @ G.transpose(0, 2, 1) / d
    H = 0.5 * (H + H.transpose(0, 2, 1))       # exactly symmetric
    np.save(os.path.join(out, "wishart_dense.npy"), H)
    return 0


if __name__ == "__main__":
    sys.exit(main())
