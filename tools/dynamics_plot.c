/*
 * dynamics_plot.c -- the figures of `linstab dynamics`: the loss of a 2-D
 * objective as a heat map with the run's iterates on top (Bartlett, Long &
 * Bousquet (2023), The Dynamics of Sharpness-Aware Minimization, Figures
 * 1-4) and the loss per step on a log axis with the predicted escape
 * rate's line (Zhou et al. (2025), Figure 4).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_options.h"
#include "dynamics_plot.h"
#include "linstab/plot.h"

enum { GRID = 200 };

static const char *device_of(const char *path)
{
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".png") == 0) return "pngcairo";
    if (n > 4 && strcmp(path + n - 4, ".svg") == 0) return "svgcairo";
    return NULL;
}

int dyn_figures_option(const char *cmd, int which, const char *arg, dyn_figures *f)
{
    if (which == 'b') {
        double v[4];
        const char *p = arg;
        for (int k = 0; k < 4; k++) {
            const char *c = strchr(p, ',');
            size_t len = c != NULL ? (size_t)(c - p) : strlen(p);
            char num[64];
            if ((k < 3) != (c != NULL) || len == 0 || len >= sizeof num)
                return cli_usage_error(cmd, "--plot-box '%s': expected X0,X1,Y0,Y1", arg);
            memcpy(num, p, len);
            num[len] = '\0';
            int rc = cli_parse_number(cmd, "--plot-box", num, -INFINITY, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &v[k]);
            if (rc != 0) return rc;
            p = c != NULL ? c + 1 : p + len;
        }
        if (!(v[1] > v[0] && v[3] > v[2]))
            return cli_usage_error(cmd, "--plot-box '%s': needs X0 < X1 and Y0 < Y1", arg);
        memcpy(f->box, v, sizeof v);
        f->have_box = 1;
        return 0;
    }
    const char *opt = which == 'h' ? "--plot" : "--plot-loss", *dev = device_of(arg);
    if (dev == NULL) return cli_usage_error(cmd, "%s %s: the name must end in .png or .svg", opt, arg);
    if (which == 'h') {
        f->heat = arg;
        f->heat_dev = dev;
    } else {
        f->loss = arg;
        f->loss_dev = dev;
    }
    return 0;
}

int dyn_figures_check(const char *cmd, const dyn_figures *f, size_t d)
{
    if (f->have_box && f->heat == NULL) return cli_usage_error(cmd, "--plot-box is an option of --plot");
    if (f->heat == NULL && f->loss == NULL) return 0;
    if (f->heat != NULL && d != 2)
        return cli_usage_error(cmd, "--plot draws objectives of dimension 2; this one has dimension %zu", d);
    if (f->heat != NULL && f->loss != NULL && strcmp(f->heat, f->loss) == 0)
        return cli_usage_error(cmd, "--plot and --plot-loss name the same file %s", f->heat);
    int rc = f->heat != NULL ? cli_probe_writable(cmd, "--plot", f->heat) : 0;
    if (rc == 0 && f->loss != NULL) rc = cli_probe_writable(cmd, "--plot-loss", f->loss);
    if (rc == 0 && !linstab_plot_available()) {
        fprintf(stderr, "linstab %s: error: %s: figures are not available in this build (linstab was built "
                        "without PLplot)\n", cmd, f->heat != NULL ? "--plot" : "--plot-loss");
        rc = 1;
    }
    return rc;
}

/* Bartlett et al. (2023), Theorem 2: normalized SAM on a quadratic ends on
 * the 2-cycle +-a v1, v1 the top eigenvector of the (constant) Hessian,
 * here formed from two Hessian-vector products.  OUT pts (2 x 2). */
static void theorem2_cycle(const linstab_objective *o, double a, double *pts)
{
    double w0[2] = {0, 0}, e1[2] = {1, 0}, e2[2] = {0, 1}, c1[2], c2[2];
    linstab_objective_hvp(o, w0, NULL, 0, e1, c1);
    linstab_objective_hvp(o, w0, NULL, 0, e2, c2);
    /* [[p, q], [q, r]]: the eigenvector of the larger eigenvalue */
    double p = c1[0], q = 0.5 * (c1[1] + c2[0]), r = c2[1];
    double th = 0.5 * atan2(2.0 * q, p - r), v[2] = {cos(th), sin(th)};
    pts[0] = a * v[0];
    pts[1] = a * v[1];
    pts[2] = -a * v[0];
    pts[3] = -a * v[1];
}

static int draw_heat(const char *cmd, const dyn_figures *f, const linstab_objective *o, const linstab_trajectory *t,
                     const char *title, double cycle)
{
    linstab_error err = {0};
    size_t npath = t->steps + 1;
    double box[4];
    if (f->have_box) {
        memcpy(box, f->box, sizeof box);
    } else if (!linstab_plot_path_box(npath, t->iterates, 0.1, box)) {
        fprintf(stderr, "linstab %s: error: --plot %s: the path has no finite point\n", cmd, f->heat);
        return 1;
    }
    double *z = malloc((size_t)GRID * GRID * sizeof *z);
    if (z == NULL) {
        fprintf(stderr, "linstab %s: error: --plot %s: out of memory\n", cmd, f->heat);
        return 1;
    }
    if (linstab_plot_objective_grid(o, box, GRID, GRID, z, &err) != LINSTAB_OK) {
        free(z);
        return cli_fail(cmd, &err);
    }
    linstab_plot_heatmap hm = {0};
    hm.nx = hm.ny = GRID;
    hm.x0 = box[0];
    hm.x1 = box[1];
    hm.y0 = box[2];
    hm.y1 = box[3];
    hm.z = z;
    hm.logz = 1;
    hm.contours = 12;
    hm.xlabel = "w#d1#u";
    hm.ylabel = "w#d2#u";
    hm.title = title;
    hm.zlabel = "loss";
    hm.npath = npath;
    hm.path = t->iterates;
    hm.path_name = "iterates w#dt#u";
    double pts[4];
    if (cycle > 0.0 && linstab_objective_kind_of(o) == LINSTAB_OBJECTIVE_QUADRATIC) {
        theorem2_cycle(o, cycle, pts);
        hm.nextra = 2;
        hm.extra = pts;
        hm.extra_name = "Theorem 2 cycle";
    }
    linstab_status st = linstab_plot_heatmap_path(&hm, f->heat_dev, f->heat, &err);
    free(z);
    return st == LINSTAB_OK ? 0 : cli_fail(cmd, &err);
}

static int draw_loss(const char *cmd, const dyn_figures *f, const linstab_trajectory *t, const char *title,
                     double rate, size_t e0, size_t e1, const char *name)
{
    linstab_error err = {0};
    size_t n = t->steps + 1;
    double *step = malloc(n * sizeof *step);
    if (step == NULL) {
        fprintf(stderr, "linstab %s: error: --plot-loss %s: out of memory\n", cmd, f->loss);
        return 1;
    }
    for (size_t i = 0; i < n; i++) step[i] = (double)i;
    linstab_plot_rate r = {e0, e1, e0 < n ? t->loss[e0] : NAN, rate, name};
    int line = rate > 0.0 && e1 > e0 && e1 < n && linstab_plot_rate_line(&r, (double[2]){0, 0});
    linstab_status st = linstab_plot_loss_rate(n, step, t->loss, line ? &r : NULL, title, f->loss_dev, f->loss, &err);
    free(step);
    return st == LINSTAB_OK ? 0 : cli_fail(cmd, &err);
}

int dyn_figures_draw(const char *cmd, const dyn_figures *f, const linstab_objective *o, const linstab_trajectory *t,
                     const char *title, double cycle, double rate, size_t e0, size_t e1, const char *name)
{
    if (f->heat != NULL) {
        if (t->iterates == NULL || t->d != 2) {
            fprintf(stderr, "linstab %s: error: --plot %s: the run kept no 2-D iterates\n", cmd, f->heat);
            return 1;
        }
        int rc = draw_heat(cmd, f, o, t, title, cycle);
        if (rc != 0) return rc;
    }
    return f->loss != NULL ? draw_loss(cmd, f, t, title, rate, e0, e1, name) : 0;
}
