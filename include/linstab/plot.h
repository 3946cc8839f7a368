/*
 * plot.h -- phase-diagram figures with PLplot's cairo driver (PNG, SVG).
 *
 * Cells are coloured by the fraction of divergent runs (blue: none, red:
 * all) with a colour bar; lines are zero contours: Dexter et al. Thm 1 (solid)
 * and Thm 2 (dashed) as in their figures, the exact mean-square
 * boundary (log radius = 0) and the almost-sure boundary (Lyapunov
 * exponent = 0); a legend; white background.  PLplot keeps global state:
 * call from one thread.
 *
 * PLplot is optional (meson -Dplots=disabled): a build without it keeps
 * these functions, which then draw nothing, touch no file and return
 * LINSTAB_ENOTSUP ("figures are not available in this build ...").
 */
#ifndef LINSTAB_PLOT_H
#define LINSTAB_PLOT_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/error.h"
#include "linstab/map.h"
#include "linstab/objective.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this build draws figures (linked with PLplot), 0 when the
 * functions below return LINSTAB_ENOTSUP.  No errors. */
LINSTAB_API int linstab_plot_available(void);

typedef struct linstab_plot_map {
    size_t nx, ny;
    const double *xv, *yv;   /* axis values (nx, ny), increasing */
    int xlog, ylog;          /* logarithmic axes */
    const char *xlabel, *ylabel, *title; /* PLplot text: #gs = sigma, #gy = eta, #gr = rho */
    const double *frac;      /* ny x nx (row iy), fraction divergent */
    const double *thm1, *thm2;      /* margins (zero contour = line), or NULL */
    const double *log_radius;       /* log of the mean-square radius, or NULL */
    const double *lyapunov;         /* Lyapunov exponent, or NULL */
    const double *thm9;             /* Shin et al. Thm 9 margin lambda_max(P) - 1, or NULL */
    /* the exact mean-square boundary as points (x, y) in axis values, a NaN
     * pair breaking the curve (linstab_plot_map_boundary), drawn instead
     * of the zero contour of log_radius; NULL: the contour */
    const double *boundary;
    size_t nboundary;
} linstab_plot_map;

/*
 * The figure's layout: the title (split at a newline into two lines, the
 * second smaller) above the plot box, the colour bar to the right of it
 * and the legend below the x axis label, outside the box, so that no
 * curve or cell is covered.  The legend's background is colour
 * (254, 254, 254), which nothing else uses (a test finds the legend's box
 * in an SVG by it).
 */

/*
 * The exact mean-square boundary of the map (src, p, x, y) -- the radius
 * of linstab_map_cell_compute equal to 1 -- solved per line of the grid:
 * along y for each x value when y is continuous (eta, rho, or batch for
 * SGD, whose sampling coefficients are smooth in a real B), else along x
 * for each y value; sigma (a construction per integer) is never solved
 * along.  Each pair of neighbouring cells of a line whose radii (radius,
 * ny x nx, the map's radius column) lie on both sides of 1 brackets a
 * crossing, found by bisection (in log10 of the value on a log axis) to a
 * relative width rtol (<= 0: 1e-12).  OUT pts (room for 2 (nx + 1) (ny + 1)
 * doubles): the k-th crossing of every line in grid order, then a NaN pair,
 * for k = 1, 2, ...; *npts points; *along = 1 (along y), 2 (along x) or 0
 * (nothing solvable: normalized SAM, no exact columns, two discrete axes,
 * or one cell per line; *npts = 0).  Errors: LINSTAB_ENOMEM, and those of
 * linstab_map_dexter, linstab_secmom_radius_at, linstab_sam_radius.
 * Available in every build.
 */
LINSTAB_API linstab_status linstab_plot_map_boundary(const linstab_map_source *src, const linstab_map_params *p,
                                                     const linstab_map_axis *x, const linstab_map_axis *y,
                                                     const double *radius, double rtol, double *pts, size_t *npts,
                                                     int *along, linstab_error *err);

/* Draw to path with device "pngcairo", "svg" (PLplot's own SVG driver:
 * text as <text> elements, compact) or "svgcairo" (text as outlines).  The figure is
 * written to a temporary file beside path and renamed into place only when
 * every write, the fsync and the close succeeded, PLplot reported no error
 * and the bytes form a whole PNG (signature ... IEND) or SVG ("<?xml" or
 * "<svg" ... "</svg>"); otherwise the temporary is removed and path is
 * untouched.  Errors: LINSTAB_EIO naming path and the reason ("writing
 * F.png: No space left on device", a missing cairo driver, PLplot's own
 * message), LINSTAB_ENOMEM, LINSTAB_EINVAL (device, sizes), LINSTAB_ENOTSUP
 * (a build without PLplot). */
LINSTAB_API linstab_status linstab_plot_map_draw(const linstab_plot_map *pm, const char *device,
                                                 const char *path, linstab_error *err);

/*
 * Curves y_k(x) (k = 0..ncurves-1, each of n points, markers and lines)
 * with a legend (names[k]); each curve joins its own finite points (and,
 * with logy, positive ones): a NaN -- an empty CSV cell -- is skipped, not
 * a break.  Drawn with device "pngcairo", "svg" or "svgcairo" to path,
 * checked and renamed into place as in linstab_plot_map_draw (same errors;
 * LINSTAB_EINVAL also for no curves, more than 8, or no finite value;
 * LINSTAB_ENOTSUP in a build without PLplot).
 *
 * A logarithmic axis (logy here, xlog and ylog of linstab_plot_map, the
 * loss axis of linstab_plot_loss_rate) whose window holds fewer than two
 * powers of ten, where PLplot's own would label one tick or none, is
 * labelled at 1, 2 and 5 x 10^k, else at every digit x 10^k, else at the
 * multiples of a 1, 2 or 5 x 10^k step of the values; beyond 0.001 ..
 * 99999 the labels count units of the largest tick's power of ten, written
 * once at the end of the axis, "(x10^e)".
 */
LINSTAB_API linstab_status linstab_plot_lines(size_t n, const double *x, size_t ncurves,
                                              const double *const *y, const char *const *names,
                                              const char *xlabel, const char *ylabel,
                                              const char *title, int logy, const char *device,
                                              const char *path, linstab_error *err);

/*
 * A 2-D objective's values on a grid with an optimizer's path on top
 * (Bartlett et al. (2023), Figures 1-4): cells coloured by z (or log10 z)
 * with a colour bar, optional contour lines, the path as a polyline with a
 * marker at every point (the first one a green disc, the last a magenta
 * square) and an optional second overlay (e.g. predicted cycle points:
 * open cyan diamonds on top, or a dashed cyan line under the path).
 * Grid point (ix, iy) is (x0 + ix (x1 - x0)/(nx - 1), y0 + iy (y1 - y0)/(ny - 1)),
 * its value z[iy * nx + ix] (linstab_plot_objective_grid fills it).
 */
typedef struct linstab_plot_heatmap {
    size_t nx, ny;               /* >= 2 each */
    double x0, x1, y0, y1;       /* the box, x0 < x1, y0 < y1, finite */
    const double *z;             /* ny x nx (row iy); non-finite cells are left white */
    int logz;                    /* colour by log10 z; cells with z <= 0 take the colour of the
                                    smallest positive value (or 1e-12 of the largest) */
    int contours;                /* number of contour lines at evenly spaced levels (0: none) */
    const char *xlabel, *ylabel, *title, *zlabel; /* PLplot text; NULL: "" */
    size_t npath;                /* >= 1 */
    const double *path;          /* npath x 2 (x, y), row-major; non-finite points are skipped */
    const char *path_name;       /* legend text, NULL: "iterates" */
    size_t nextra;               /* second overlay: 0 for none */
    const double *extra;         /* nextra x 2 */
    const char *extra_name;      /* legend text, NULL: "predicted" */
    int extra_joined;            /* 1: the overlay is a dashed line, 0: markers only */
} linstab_plot_heatmap;

/* Draw hm with device "pngcairo" or "svgcairo" (1000 x 800 pixels) to path,
 * checked and renamed into place as in linstab_plot_map_draw (same errors;
 * LINSTAB_EINVAL also for a grid smaller than 2 x 2, a bad box, no path,
 * no finite grid value). */
LINSTAB_API linstab_status linstab_plot_heatmap_path(const linstab_plot_heatmap *hm, const char *device,
                                                     const char *path, linstab_error *err);

/*
 * A loss on a logarithmic axis against the step, with a straight reference
 * line of a per-step growth factor over a window (Zhou et al. (2025),
 * Figure 4): log10 L(t) = log10 l0 + (t - t0) log10 r for t0 <= t <= t1.
 */
typedef struct linstab_plot_rate {
    size_t t0, t1;               /* the window, t0 < t1 */
    double l0;                   /* the loss at t0, > 0 */
    double r;                    /* growth factor per step, > 0 */
    const char *name;            /* legend text, NULL: "predicted rate r = <r>" */
} linstab_plot_rate;

/* The reference line's end points: y[0] = l0 and y[1] = l0 r^(t1 - t0),
 * computed as 10^(log10 l0 + (t - t0) log10 r).  OUT y (2).  Returns 1, or
 * 0 (y untouched) for a window or values that do not make a line with
 * finite ends.  Available in every build. */
LINSTAB_API int linstab_plot_rate_line(const linstab_plot_rate *rate, double *y);

/* Draw loss[0..n) against step[0..n) (increasing) on a log axis ("measured";
 * values <= 0 or non-finite break the line) with rate's line (red, NULL:
 * none) and a legend, with device "pngcairo" or "svgcairo" (900 x 600
 * pixels), checked and renamed into place as in linstab_plot_map_draw.
 * More than 4000 points are drawn as the smallest and largest loss of
 * 2000 consecutive ranges (an envelope that keeps the oscillations).
 * Errors as linstab_plot_lines; LINSTAB_EINVAL also for a rate that makes
 * no line. */
LINSTAB_API linstab_status linstab_plot_loss_rate(size_t n, const double *step, const double *loss,
                                                  const linstab_plot_rate *rate, const char *title,
                                                  const char *device, const char *path,
                                                  linstab_error *err);

/*
 * The box [x0, x1] x [y0, y1] around the finite points of path (n x 2,
 * row-major) widened on each side by margin (>= 0) times its extent, where
 * an axis's extent counts as at least a quarter of the other's (a path along
 * a line still gets a box) and as max(1, |centre|) when both are 0.  OUT box
 * (4: x0, x1, y0, y1).  Returns 1, or 0 when no point is finite or the box
 * overflows.  Available in every build.
 */
LINSTAB_API int linstab_plot_path_box(size_t n, const double *path, double margin, double *box);

/*
 * The full-mean loss of o (dimension 2) at the grid points of box (x0, x1,
 * y0, y1) as linstab_plot_heatmap lays them out: OUT z (ny x nx, row iy;
 * overwritten).  Errors: LINSTAB_EINVAL (dimension not 2, nx or ny < 2, a
 * box that is not finite and increasing).  Available in every build.
 */
LINSTAB_API linstab_status linstab_plot_objective_grid(const linstab_objective *o, const double *box,
                                                       size_t nx, size_t ny, double *z,
                                                       linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
