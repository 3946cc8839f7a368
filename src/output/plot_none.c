/*
 * plot_none.c -- the figures of plot.h in a build without PLplot
 * (meson -Dplots=disabled, or auto without it installed): nothing is drawn
 * and no file is touched; every call says so with LINSTAB_ENOTSUP.
 */
#include "linstab/plot.h"

#define NO_PLOTS "figures are not available in this build (linstab was built without PLplot)"

int linstab_plot_available(void) { return 0; }

linstab_status linstab_plot_map_draw(const linstab_plot_map *pm, const char *device, const char *path,
                                     linstab_error *err)
{
    return linstab_error_set(err, LINSTAB_ENOTSUP, "cannot draw %s: " NO_PLOTS, path ? path : "a figure");
}

linstab_status linstab_plot_lines(size_t n, const double *x, size_t ncurves, const double *const *y,
                                  const char *const *names, const char *xlabel, const char *ylabel,
                                  const char *title, int logy, const char *device, const char *path,
                                  linstab_error *err)
{
    return linstab_error_set(err, LINSTAB_ENOTSUP, "cannot draw %s: " NO_PLOTS, path ? path : "a figure");
}

linstab_status linstab_plot_heatmap_path(const linstab_plot_heatmap *hm, const char *device, const char *path,
                                         linstab_error *err)
{
    return linstab_error_set(err, LINSTAB_ENOTSUP, "cannot draw %s: " NO_PLOTS, path ? path : "a figure");
}

linstab_status linstab_plot_loss_rate(size_t n, const double *step, const double *loss,
                                      const linstab_plot_rate *rate, const char *title, const char *device,
                                      const char *path, linstab_error *err)
{
    return linstab_error_set(err, LINSTAB_ENOTSUP, "cannot draw %s: " NO_PLOTS, path ? path : "a figure");
}
