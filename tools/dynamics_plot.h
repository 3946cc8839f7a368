/* dynamics_plot.h -- the figures of `linstab dynamics` (--plot, --plot-loss,
 * --plot-box): options checked before the run, figures drawn after it. */
#ifndef LINSTAB_DYNAMICS_PLOT_H
#define LINSTAB_DYNAMICS_PLOT_H

#include <stddef.h>

#include "linstab/objective.h"
#include "linstab/trajectory.h"

typedef struct dyn_figures {
    const char *heat, *loss;          /* --plot, --plot-loss (NULL: none) */
    const char *heat_dev, *loss_dev;  /* pngcairo / svgcairo, from the extension */
    int have_box;
    double box[4];                    /* --plot-box X0,X1,Y0,Y1 */
} dyn_figures;

#define DYN_FIGURES_USAGE                                                                          \
    "  --plot FIG.png|FIG.svg the loss (d = 2) over a box around the path, log colour\n"         \
    "                         scale and contours, with the iterates on top (and\n"             \
    "                         Theorem 2's cycle for normalized SAM on a quadratic)\n"   \
    "  --plot-box X0,X1,Y0,Y1 the box of --plot (default: the path's, 10% margin)\n"             \
    "  --plot-loss FIG.png|FIG.svg\n"                                                             \
    "                         the loss per step on a log axis, with the predicted\n"            \
    "                         escape rate's line over its window (--switch)\n"

/* --plot (which 'h'), --plot-loss ('l') or --plot-box ('b') with its
 * argument; 0 or a usage error's exit status (printed). */
int dyn_figures_option(const char *cmd, int which, const char *arg, dyn_figures *f);

/* Before any work: a build with figures, --plot only for d = 2, --plot-box
 * only with --plot, and each figure's folder writable.  0 or an exit
 * status (printed; 2 for usage errors, 1 for a build without PLplot). */
int dyn_figures_check(const char *cmd, const dyn_figures *f, size_t d);

/* Draw the figures of the run t on o; title e.g. "bartlett, sam-normalized".
 * cycle > 0 (a quadratic): Theorem 2's 2-cycle amplitude, whose points
 * +-cycle v1 are marked on the heat map.  The rate line (rate > 0) is
 * drawn over steps e0..e1 from the loss at e0 with the label name.  0 or 1
 * (printed). */
int dyn_figures_draw(const char *cmd, const dyn_figures *f, const linstab_objective *o,
                     const linstab_trajectory *t, const char *title, double cycle, double rate,
                     size_t e0, size_t e1, const char *name);

#endif
