/*
 * plot_data.c -- the numbers behind the dynamics figures, in every build
 * (with or without PLplot): the grid of a 2-D objective's loss under its
 * path (Bartlett et al. (2023), Figures 1-4), the box around a path, and
 * the end points of a predicted escape rate's line on a log-loss plot
 * (Zhou et al. (2025), Figure 4).
 */
#include <math.h>

#include "linstab/plot.h"

int linstab_plot_rate_line(const linstab_plot_rate *rate, double *y)
{
    if (rate == NULL || !(rate->t1 > rate->t0) || !(rate->l0 > 0.0) || !(rate->r > 0.0) || !isfinite(rate->l0) ||
        !isfinite(rate->r))
        return 0;
    /* in log space, as the axis is: the line is straight there */
    double a = log10(rate->l0), b = a + (double)(rate->t1 - rate->t0) * log10(rate->r);
    double y0 = pow(10.0, a), y1 = pow(10.0, b);
    if (!(isfinite(y1) && y1 > 0.0)) return 0;
    y[0] = y0;
    y[1] = y1;
    return 1;
}

int linstab_plot_path_box(size_t n, const double *path, double margin, double *box)
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(path[2 * i]) || !isfinite(path[2 * i + 1])) continue;
        for (int k = 0; k < 2; k++) {
            lo[k] = fmin(lo[k], path[2 * i + k]);
            hi[k] = fmax(hi[k], path[2 * i + k]);
        }
    }
    if (!(hi[0] >= lo[0]) || !(margin >= 0.0) || !isfinite(margin)) return 0;
    double ext[2] = {hi[0] - lo[0], hi[1] - lo[1]}, big = fmax(ext[0], ext[1]);
    double out[4];
    for (int k = 0; k < 2; k++) {
        double e = fmax(ext[k], 0.25 * big), c = 0.5 * (lo[k] + hi[k]);
        if (!(e > 0.0)) e = fmax(1.0, fabs(c));
        /* the centre of a one-point axis keeps its place */
        double l = ext[k] < e ? c - 0.5 * e : lo[k], h = ext[k] < e ? c + 0.5 * e : hi[k];
        out[2 * k] = l - margin * e;
        out[2 * k + 1] = h + margin * e;
        if (!isfinite(out[2 * k]) || !isfinite(out[2 * k + 1]) || !(out[2 * k + 1] > out[2 * k])) return 0;
    }
    for (int k = 0; k < 4; k++) box[k] = out[k];
    return 1;
}

linstab_status linstab_plot_objective_grid(const linstab_objective *o, const double *box, size_t nx, size_t ny,
                                           double *z, linstab_error *err)
{
    if (linstab_objective_dim(o) != 2)
        return linstab_error_set(err, LINSTAB_EINVAL, "a grid of the loss needs an objective of dimension 2, not %zu",
                                 linstab_objective_dim(o));
    if (nx < 2 || ny < 2)
        return linstab_error_set(err, LINSTAB_EINVAL, "a grid of the loss needs at least 2 x 2 points, not %zu x %zu",
                                 nx, ny);
    if (!(isfinite(box[0]) && isfinite(box[1]) && isfinite(box[2]) && isfinite(box[3]) && box[1] > box[0] &&
          box[3] > box[2]))
        return linstab_error_set(err, LINSTAB_EINVAL, "the box [%g, %g] x [%g, %g] is not finite and increasing",
                                 box[0], box[1], box[2], box[3]);
    double hx = (box[1] - box[0]) / (double)(nx - 1), hy = (box[3] - box[2]) / (double)(ny - 1);
    for (size_t iy = 0; iy < ny; iy++)
        for (size_t ix = 0; ix < nx; ix++) {
            /* the last point is the box's edge itself, not a rounded sum */
            double w[2] = {ix + 1 == nx ? box[1] : box[0] + (double)ix * hx,
                           iy + 1 == ny ? box[3] : box[2] + (double)iy * hy};
            linstab_objective_eval(o, w, NULL, 0, &z[iy * nx + ix], NULL);
        }
    return LINSTAB_OK;
}
