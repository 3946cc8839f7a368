# The page's numbers, from interp.csv (t = lambda: 0 is the SGD-then-SAM end point, 1 is SGD's):
# the loss on [0, 1] (monotone: no barrier), their L'' (d2_zhou) and the exact curvature at both ends,
# and the smallest L'' on [0, 1].
s = load_csv("interp.csv")
at = lambda t: np.argmin(np.abs(s["t"] - t))
seg = (s["t"] >= -1e-12) & (s["t"] <= 1 + 1e-12)
loss, d2, t = s["loss"][seg], s["d2_zhou"][seg], s["t"][seg]
print(f"loss: {s['loss'][at(0)]:.4f} at lambda = 0, {s['loss'][at(1)]:.4f} at lambda = 1; "
      f"monotone decreasing on [0, 1]: {bool(np.all(np.diff(loss) < 0))}")
print(f"L'': {s['d2_zhou'][at(0)]:.4f} at lambda = 0, {s['d2_zhou'][at(1)]:.4f} at lambda = 1; "
      f"exact curvature d'H d: {s['curvature'][at(0)]:.4f} and {s['curvature'][at(1)]:.4f}")
print(f"smallest L'' on [0, 1]: {d2.min():.4f} at lambda = {t[d2.argmin()]:.2f}; "
      f"monotone on [0, 1]: {bool(np.all(np.diff(d2) > 0))}")
