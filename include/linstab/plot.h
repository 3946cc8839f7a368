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
} linstab_plot_map;

/* Draw to path with device "pngcairo" or "svgcairo".  The figure is
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
 * with a legend, drawn with device "pngcairo" or "svgcairo" to path,
 * checked and renamed into place as in linstab_plot_map_draw (same errors;
 * LINSTAB_EINVAL also for no curves, more than 8, or no finite value;
 * LINSTAB_ENOTSUP in a build without PLplot).
 */
LINSTAB_API linstab_status linstab_plot_lines(size_t n, const double *x, size_t ncurves,
                                              const double *const *y, const char *const *names,
                                              const char *xlabel, const char *ylabel,
                                              const char *title, int logy, const char *device,
                                              const char *path, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
