# The page's table and sentences, from the two slices: lambda1(H) is the curvature d'H d at t = 0
# (d the unit top eigenvector), the loss at t = 0 and at the ends t = -0.6, +0.6, and the largest
# curvature along each slice.
for name in ("sgd", "sam"):
    s = load_csv(f"slice-{name}.csv")
    at = lambda t: np.argmin(np.abs(s["t"] - t))
    print(f"{name.upper()}: lambda1(H) = {s['curvature'][at(0)]:.3f} ({s['curvature'][at(0)]:.12f}), "
          f"loss at t = 0: {s['loss'][at(0)]:.4f}, at t = -0.6: {s['loss'][at(-0.6)]:.3f}, "
          f"at t = +0.6: {s['loss'][at(0.6)]:.3f}; curvature up to {s['curvature'].max():.1f} "
          f"(at t = {s['t'][s['curvature'].argmax()]:.2f})")
