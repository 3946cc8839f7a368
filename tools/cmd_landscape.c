/*
 * cmd_landscape.c -- `linstab landscape`: the loss of an MLP checkpoint
 * along a direction (the top Hessian eigenvector, a random
 * filter-normalized direction, a vector from an NPY file) or on the
 * segment to a second checkpoint, with Zhou et al. (2025)'s second finite
 * difference and the exact curvature d'Hd per point; with a second
 * direction, the surface over both (their Figure 14).  The computation is
 * the library's (landscape.h); this file parses, loads, writes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "cli_options.h"
#include "linstab/json.h"
#include "linstab/landscape.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/plot.h"
#include "linstab_config.h"

static const char *const usage =
    "usage: linstab landscape --model DIR --data X.npy --targets Y.npy [--loss mse|ce]\n"
    "                         (--direction eigvec|random|FILE.npy [--row I] | --to DIR2)\n"
    "                         [--range A:B] [--points N] [--h H] [--seed S]\n"
    "                         [--direction2 eigvec|random|FILE.npy [--row2 I] [--range2 A:B]\n"
    "                          [--points2 N]] [--out FILE.csv] [--npy FILE.npy]\n"
    "                         [--plot FIG.png|FIG.svg] [--title T] [--json] [--quiet]\n"
    "\n"
    "The mean loss L of an MLP checkpoint theta along a direction d, L(t) =\n"
    "L(theta + t d), with per point Zhou et al. (2025)'s second-order finite\n"
    "difference d2_zhou = (L(t+h) + L(t-h) - 2 L(t)) / (2h)^2 (which tends to\n"
    "L''/4) and the exact curvature d'H(theta + t d)d = L''(t) from a Hessian-vector\n"
    "product (rayleigh = curvature / ||d||^2).  With --direction2, the surface\n"
    "L(theta + a d1 + b d2) instead.  Matrix-free: forward passes and\n"
    "Hessian-vector products only.  Parameter order: W1 (row-major), b1, W2, ...\n"
    "\n"
    "@model\n"
    "@activation\n"
    "@output-activation\n"
    "@data\n"
    "@targets\n"
    "@loss (default mse)\n"
    "@label-smoothing\n"
    "  --direction D          eigvec: the unit eigenvector of the largest eigenvalue\n"
    "                         lambda1 of the Hessian at theta (its largest entry\n"
    "                         positive); random: Gaussian, each neuron's row of W_l\n"
    "                         scaled to the norm of theta's row (Li et al. 2018's\n"
    "                         filter normalization), biases 0; FILE.npy: p entries,\n"
    "                         or k x p rows (linstab spectrum's eigenvectors)\n"
    "  --row I                the row of a k x p --direction file (from 0)\n"
    "  --to DIR2              the segment to a second checkpoint of the same\n"
    "                         architecture: d = theta_B - theta_A, t = lambda in\n"
    "                         theta_lambda = (1 - lambda) theta_A + lambda theta_B\n"
    "  --range A:B            the values of t, or of a (default -1:1; -0.5:1.5 with --to)\n"
    "  --points N             grid points, >= 2 (default 41; 21 for a surface)\n"
    "  --h H                  the step of d2_zhou, > 0 (default 0.1, Zhou et al.'s)\n"
    "  --direction2 D         a second direction (as --direction): the surface\n"
    "  --row2 I               the row of a k x p --direction2 file\n"
    "  --range2 A:B           the values of b (default -1:1)\n"
    "  --points2 N            grid points along d2, >= 2 (default 21)\n"
    "@seed (random directions: the first draws stream 1, the second stream 2)\n"
    "@threads\n"
    "@out=FILE.csv the table (atomically; default: on standard output): "
    "t,loss,d2_zhou,curvature,rayleigh; for a surface a,b,loss\n"
    "  --npy FILE.npy         a surface's loss grid, shape (points, points2),\n"
    "                         [i, j] = L(a_i, b_j)\n"
    "  --plot FIG             a figure (.png or .svg): loss, d2_zhou and d'Hd/4\n"
    "                         against t; a surface as a heatmap with contours\n"
    "  --title T              the figure's title\n"
    "@json: a JSON summary on standard output (1-D: with every point)\n"
    "@quiet\n"
    "  -h, --help             this help\n";

enum {
    OPT_DIRECTION = 256,
    OPT_ROW,
    OPT_TO,
    OPT_RANGE,
    OPT_POINTS,
    OPT_H,
    OPT_DIRECTION2,
    OPT_ROW2,
    OPT_RANGE2,
    OPT_POINTS2,
    OPT_NPY,
    OPT_PLOT,
    OPT_TITLE
};

static const struct option own_opts[] = {
    {"direction", required_argument, NULL, OPT_DIRECTION},
    {"row", required_argument, NULL, OPT_ROW},
    {"to", required_argument, NULL, OPT_TO},
    {"range", required_argument, NULL, OPT_RANGE},
    {"points", required_argument, NULL, OPT_POINTS},
    {"h", required_argument, NULL, OPT_H},
    {"direction2", required_argument, NULL, OPT_DIRECTION2},
    {"row2", required_argument, NULL, OPT_ROW2},
    {"range2", required_argument, NULL, OPT_RANGE2},
    {"points2", required_argument, NULL, OPT_POINTS2},
    {"npy", required_argument, NULL, OPT_NPY},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"title", required_argument, NULL, OPT_TITLE},
    {NULL, 0, NULL, 0}};
static const char *const required[] = {"model", "data", "targets", NULL};
static const cli_command landscape_cmd = {
    "landscape",
    CLI_OPT_BIT(CLI_OPT_MODEL) | CLI_OPT_BIT(CLI_OPT_DATA) | CLI_OPT_BIT(CLI_OPT_TARGETS) | CLI_OPT_BIT(CLI_OPT_LOSS) |
        CLI_OPT_BIT(CLI_OPT_LABEL_SMOOTHING) | CLI_OPT_BIT(CLI_OPT_ACTIVATION) |
        CLI_OPT_BIT(CLI_OPT_OUTPUT_ACTIVATION) | CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_THREADS) |
        CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_JSON) | CLI_OPT_BIT(CLI_OPT_QUIET),
    own_opts, required, usage, 25};

#define POINTS_MAX 100000
#define GRID_MAX 4000000

/* --range A:B into lo < hi: 0 or a usage error's exit status. */
static int parse_range(const char *cmd, const char *opt, const char *s, double *lo, double *hi)
{
    /* the separator is the first ':' after the first character (A may be negative) */
    const char *c = s[0] != '\0' ? strchr(s + 1, ':') : NULL;
    char a[128];
    if (c == NULL || (size_t)(c - s) >= sizeof a)
        return cli_usage_error(cmd, "%s '%s': expected A:B, two decimal numbers with A < B", opt, s);
    memcpy(a, s, (size_t)(c - s));
    a[c - s] = '\0';
    int rc = cli_parse_double(cmd, opt, a, lo);
    if (rc == 0) rc = cli_parse_double(cmd, opt, c + 1, hi);
    if (rc != 0) return rc;
    if (!(*lo < *hi)) return cli_usage_error(cmd, "%s '%s': needs A < B", opt, s);
    if (!isfinite(*hi - *lo)) return cli_usage_error(cmd, "%s '%s': B - A overflows", opt, s);
    return 0;
}

static const char *device_of(const char *path)
{
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".png") == 0) return "pngcairo";
    if (n > 4 && strcmp(path + n - 4, ".svg") == 0) return "svgcairo";
    return NULL;
}

/* One direction of the command line. */
typedef enum { DIR_NONE, DIR_EIGVEC, DIR_RANDOM, DIR_FILE, DIR_SEGMENT } dir_kind;

typedef struct dir_spec {
    dir_kind kind;
    const char *file;   /* DIR_FILE: the NPY file; DIR_SEGMENT: the second checkpoint */
    size_t row;         /* LINSTAB_LANDSCAPE_NO_ROW when not given */
    double *d;          /* p */
    double lambda1;     /* DIR_EIGVEC */
    double norm;
} dir_spec;

static dir_kind parse_kind(const char *s)
{
    if (strcmp(s, "eigvec") == 0) return DIR_EIGVEC;
    if (strcmp(s, "random") == 0) return DIR_RANDOM;
    return DIR_FILE;
}

static const char *kind_name(dir_kind k)
{
    switch (k) {
    case DIR_EIGVEC: return "eigvec";
    case DIR_RANDOM: return "random";
    case DIR_FILE: return "file";
    case DIR_SEGMENT: return "segment";
    default: return "none";
    }
}

static void describe(const dir_spec *ds, char *buf, size_t len)
{
    switch (ds->kind) {
    case DIR_EIGVEC: snprintf(buf, len, "the top Hessian eigenvector (lambda1 = %.6g)", ds->lambda1); break;
    case DIR_RANDOM: snprintf(buf, len, "a random filter-normalized direction"); break;
    case DIR_FILE:
        if (ds->row != LINSTAB_LANDSCAPE_NO_ROW)
            snprintf(buf, len, "row %zu of %s", ds->row, ds->file);
        else
            snprintf(buf, len, "%s", ds->file);
        break;
    case DIR_SEGMENT: snprintf(buf, len, "the segment to %s", ds->file); break;
    default: snprintf(buf, len, "?");
    }
}

typedef struct progress_ctx {
    cli_progress_state bar; /* points evaluated of the grid's */
} progress_ctx;

static void on_progress(size_t done, size_t total, void *vctx)
{
    progress_ctx *c = vctx;
    cli_progress_update(&c->bar, done, total);
}

/* Make ds->d (p) for the model; which = 1 or 2 (the option's number).
 * Returns 0 or an exit status after printing. */
static int make_direction(const char *cmd, dir_spec *ds, int which, const linstab_landscape_model *lm,
                          const linstab_mlp *to, unsigned long long seed, int quiet)
{
    const linstab_mlp *m = lm->m;
    linstab_error err = {0};
    linstab_status st = LINSTAB_OK;
    ds->d = malloc(m->p * sizeof *ds->d);
    if (ds->d == NULL) {
        fprintf(stderr, "linstab %s: error: out of memory for a direction of %zu parameters\n", cmd, m->p);
        return 1;
    }
    switch (ds->kind) {
    case DIR_EIGVEC:
        cli_progress("eigvec", 0, 1, quiet);
        st = linstab_landscape_eigvec(lm, NULL, &ds->lambda1, ds->d, &err);
        if (st == LINSTAB_OK) cli_progress("eigvec", 1, 1, quiet);
        break;
    case DIR_RANDOM: st = linstab_landscape_random(m, seed, (uint64_t)which, ds->d, &err); break;
    case DIR_FILE: st = linstab_landscape_direction_load(ds->file, m->p, ds->row, ds->d, &err); break;
    case DIR_SEGMENT: st = linstab_landscape_segment(m, to, ds->d, &err); break;
    default: break;
    }
    if (st != LINSTAB_OK) {
        if (ds->kind == DIR_SEGMENT)
            fprintf(stderr, "linstab %s: error: --to %s: cannot interpolate between the two checkpoints: %s\n", cmd,
                    ds->file, cli_msg(&err));
        else if (strcmp(err.param, "row") == 0)
            fprintf(stderr, "linstab %s: error: --row%s: %s\n", cmd, which == 2 ? "2" : "", err.msg);
        else
            fprintf(stderr, "linstab %s: error: --direction%s: %s\n", cmd, which == 2 ? "2" : "", cli_msg(&err));
        return st == LINSTAB_EINVAL ? 2 : cli_exit_code(st);
    }
    double s = 0.0;
    for (size_t j = 0; j < m->p; j++) s += ds->d[j] * ds->d[j];
    ds->norm = sqrt(s);
    return 0;
}

/* The index of v in t (n), or n. */
static size_t find_value(const double *t, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] == v) return i;
    return n;
}

static void write_slice_csv(FILE *fp, size_t n, const double *t, const double *L, const double *D2, const double *C,
                            double norm2)
{
    fprintf(fp, "t,loss,d2_zhou,curvature,rayleigh\n");
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "%.17g,%.17g,%.17g,%.17g,%.17g\n", t[i], L[i], D2[i], C[i], C[i] / norm2);
}

static void write_surface_csv(FILE *fp, size_t na, const double *a, size_t nb, const double *b, const double *S)
{
    fprintf(fp, "a,b,loss\n");
    for (size_t ia = 0; ia < na; ia++)
        for (size_t ib = 0; ib < nb; ib++) fprintf(fp, "%.17g,%.17g,%.17g\n", a[ia], b[ib], S[ia * nb + ib]);
}

int cmd_landscape(int argc, char **argv)
{
    const char *cmd = "landscape";
    dir_spec d1 = {DIR_NONE, NULL, LINSTAB_LANDSCAPE_NO_ROW, NULL, NAN, NAN};
    dir_spec d2 = d1;
    const char *dir1_arg = NULL, *to_path = NULL, *npy = NULL, *plot = NULL, *title = NULL;
    double lo = NAN, hi = NAN, lo2 = -1.0, hi2 = 1.0, h = 0.1;
    size_t points = 0, points2 = 21;
    int have_range = 0, have_row = 0, have_row2 = 0, rc = 0;
    cli_common_opts co = cli_common_defaults();
    cli_parser ps = cli_options_start(&landscape_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_DIRECTION:
            dir1_arg = optarg;
            d1.kind = parse_kind(optarg);
            d1.file = optarg;
            break;
        case OPT_DIRECTION2:
            d2.kind = parse_kind(optarg);
            d2.file = optarg;
            break;
        case OPT_TO: to_path = optarg; break;
        case OPT_ROW:
            have_row = 1;
            ps.status = cli_parse_count(cmd, "--row", optarg, 0, SIZE_MAX - 1, &d1.row);
            break;
        case OPT_ROW2:
            have_row2 = 1;
            ps.status = cli_parse_count(cmd, "--row2", optarg, 0, SIZE_MAX - 1, &d2.row);
            break;
        case OPT_RANGE:
            have_range = 1;
            ps.status = parse_range(cmd, "--range", optarg, &lo, &hi);
            break;
        case OPT_RANGE2: ps.status = parse_range(cmd, "--range2", optarg, &lo2, &hi2); break;
        case OPT_POINTS: ps.status = cli_parse_count(cmd, "--points", optarg, 2, POINTS_MAX, &points); break;
        case OPT_POINTS2: ps.status = cli_parse_count(cmd, "--points2", optarg, 2, POINTS_MAX, &points2); break;
        case OPT_H: ps.status = cli_parse_number(cmd, "--h", optarg, 0.0, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &h); break;
        case OPT_NPY: npy = optarg; break;
        case OPT_PLOT: plot = optarg; break;
        case OPT_TITLE: title = optarg; break;
        }
    }
    /* ---- what was asked: checked before any work ---- */
    if ((dir1_arg != NULL) == (to_path != NULL))
        return cli_usage_error(cmd, "give exactly one of --direction and --to");
    if (to_path != NULL) {
        d1.kind = DIR_SEGMENT;
        d1.file = to_path;
    }
    int surface = d2.kind != DIR_NONE;
    if (have_row && d1.kind != DIR_FILE) return cli_usage_error(cmd, "--row applies to a --direction FILE.npy");
    if (have_row2 && d2.kind != DIR_FILE) return cli_usage_error(cmd, "--row2 applies to a --direction2 FILE.npy");
    if (!surface) {
        const char *only2[] = {"range2", "points2"};
        for (int k = 0; k < 2; k++)
            if (cli_options_own_given(&ps, only2[k]))
                return cli_usage_error(cmd, "--%s applies to a surface (--direction2)", only2[k]);
        if (npy != NULL) return cli_usage_error(cmd, "--npy writes a surface's grid: give --direction2");
    } else if (cli_options_own_given(&ps, "h")) {
        return cli_usage_error(cmd, "--h applies to a 1-D slice (a surface has no d2_zhou column)");
    }
    if (surface && d1.kind == DIR_EIGVEC && d2.kind == DIR_EIGVEC)
        return cli_usage_error(cmd, "--direction2 eigvec repeats --direction eigvec");
    if (surface && d1.kind == DIR_FILE && d2.kind == DIR_FILE && strcmp(d1.file, d2.file) == 0 && d1.row == d2.row)
        return cli_usage_error(cmd, "--direction2 repeats --direction (%s)", d1.file);
    if (!have_range) {
        lo = d1.kind == DIR_SEGMENT ? -0.5 : -1.0;
        hi = d1.kind == DIR_SEGMENT ? 1.5 : 1.0;
    }
    if (points == 0) points = surface ? 21 : 41;
    if (surface && (double)points * (double)points2 > GRID_MAX)
        return cli_usage_error(cmd, "--points %zu x --points2 %zu: more than %d grid points", points, points2,
                               GRID_MAX);
    const char *device = NULL;
    if (plot != NULL && (device = device_of(plot)) == NULL)
        return cli_usage_error(cmd, "--plot %s: the name must end in .png or .svg", plot);
    const char *outs[3] = {co.out, npy, plot}, *oname[3] = {"--out", "--npy", "--plot"};
    for (int k = 0; k < 3; k++)
        for (int k2 = k + 1; k2 < 3; k2++)
            if (outs[k] != NULL && outs[k2] != NULL && strcmp(outs[k], outs[k2]) == 0)
                return cli_usage_error(cmd, "%s and %s name the same file %s", oname[k], oname[k2], outs[k]);
    for (int k = 0; k < 3; k++)
        if (outs[k] != NULL && (rc = cli_probe_writable(cmd, oname[k], outs[k])) != 0) return rc;
    if (plot != NULL && !linstab_plot_available()) {
        fprintf(stderr, "linstab %s: error: --plot: figures are not available in this build (linstab was built "
                        "without PLplot)\n", cmd);
        return 1;
    }

    /* ---- load ---- */
    linstab_mlp *m = NULL, *mb = NULL;
    linstab_array X = {0}, Y = {0};
    double *t = NULL, *t2 = NULL, *L = NULL, *D2 = NULL, *C = NULL, *z = NULL;
    rc = cli_model_load(cmd, &co.src, &m, &X, &Y);
    if (rc != 0) goto done;
    if (to_path != NULL) {
        cli_family_source sb = co.src;
        sb.model = to_path;
        rc = cli_model_open(cmd, &sb, &mb);
        if (rc != 0) goto done;
    }
    linstab_landscape_model lm = {m, &X, &Y, co.src.loss_ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE, co.src.smoothing};
    rc = make_direction(cmd, &d1, 1, &lm, mb, co.seed, co.quiet);
    if (rc == 0 && surface) rc = make_direction(cmd, &d2, 2, &lm, NULL, co.seed, co.quiet);
    if (rc != 0) goto done;

    /* ---- compute ---- */
    linstab_error err = {0};
    t = malloc(points * sizeof *t);
    t2 = malloc(points2 * sizeof *t2);
    size_t total = surface ? points * points2 : points;
    L = malloc(total * sizeof *L);
    if (!surface) {
        D2 = malloc(points * sizeof *D2);
        C = malloc(points * sizeof *C);
    }
    if (t == NULL || t2 == NULL || L == NULL || (!surface && (D2 == NULL || C == NULL))) {
        fprintf(stderr, "linstab %s: error: out of memory for %zu grid points\n", cmd, total);
        rc = 1;
        goto done;
    }
    linstab_status st = linstab_landscape_grid(lo, hi, points, t, &err);
    if (st == LINSTAB_OK && surface) st = linstab_landscape_grid(lo2, hi2, points2, t2, &err);
    progress_ctx pc = {{0}};
    cli_progress_begin(&pc.bar, "landscape", 0, total, co.quiet);
    linstab_landscape_opts lo_opts = linstab_landscape_defaults();
    lo_opts.h = h;
    lo_opts.threads = co.threads;
    lo_opts.progress = on_progress;
    lo_opts.progress_ctx = &pc;
    const double *to_theta = mb != NULL ? mb->theta : NULL;
    if (st == LINSTAB_OK && !surface) st = linstab_landscape_slice(&lm, d1.d, to_theta, points, t, &lo_opts, L, D2, C, &err);
    if (st == LINSTAB_OK && surface)
        st = linstab_landscape_surface(&lm, d1.d, to_theta, d2.d, points, t, points2, t2, &lo_opts, L, &err);
    if (st == LINSTAB_OK) cli_progress_end(&pc.bar);
    else cli_progress_stop(&pc.bar);
    if (st != LINSTAB_OK) {
        rc = cli_fail(cmd, &err);
        goto done;
    }

    /* ---- summary values ---- */
    size_t imin = 0;
    for (size_t i = 1; i < total; i++)
        if (L[i] < L[imin]) imin = i;
    size_t i0 = find_value(t, points, 0.0), j0 = surface ? find_value(t2, points2, 0.0) : 0;
    double loss0 = i0 < points && j0 < (surface ? points2 : 1) ? L[surface ? i0 * points2 + j0 : i0] : NAN;
    double norm2 = d1.norm * d1.norm;
    char what1[600], what2[600];
    describe(&d1, what1, sizeof what1);
    describe(&d2, what2, sizeof what2);

    /* ---- write: the table, the grid, the figure (each atomically) ---- */
    if (co.out != NULL || (!co.json)) {
        cli_output o;
        FILE *fp = stdout;
        if (co.out != NULL) {
            rc = cli_output_open(cmd, co.out, &o);
            if (rc != 0) goto done;
            fp = o.fp;
        } else {
            printf("# %s: the loss along %s%s%s, n = %zu, p = %zu\n", co.src.model, what1, surface ? " (a) and " : "",
                   surface ? what2 : "", X.shape[0], m->p);
        }
        if (surface)
            write_surface_csv(fp, points, t, points2, t2, L);
        else
            write_slice_csv(fp, points, t, L, D2, C, norm2);
        if (co.out != NULL && (rc = cli_output_close(cmd, &o, 1)) != 0) goto done;
    }
    if (npy != NULL) {
        size_t shape[2] = {points, points2};
        if (linstab_npy_write(npy, L, 2, shape, &err) != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
    }
    if (plot != NULL) {
        char tbuf[1300];
        if (title == NULL) {
            if (surface)
                snprintf(tbuf, sizeof tbuf, "loss: a along %s, b along %s", what1, what2);
            else
                snprintf(tbuf, sizeof tbuf, "loss along %s", what1);
            title = tbuf;
        }
        if (!surface) {
            z = malloc(points * sizeof *z);
            if (z == NULL) {
                fprintf(stderr, "linstab %s: error: --plot %s: out of memory\n", cmd, plot);
                rc = 1;
                goto done;
            }
            for (size_t i = 0; i < points; i++) z[i] = C[i] / 4.0;
            char zname[64];
            snprintf(zname, sizeof zname, "L'' (Zhou et al., h = %g)", h);
            const double *ys[3] = {L, D2, z};
            const char *names[3] = {"loss", zname, "d'Hd / 4 (exact)"};
            st = linstab_plot_lines(points, t, 3, ys, names, d1.kind == DIR_SEGMENT ? "#gl (0: --model, 1: --to)" : "t",
                                    "loss, curvature", title, 0, device, plot, &err);
        } else {
            z = malloc(total * sizeof *z);
            if (z == NULL) {
                fprintf(stderr, "linstab %s: error: --plot %s: out of memory\n", cmd, plot);
                rc = 1;
                goto done;
            }
            for (size_t ia = 0; ia < points; ia++)
                for (size_t ib = 0; ib < points2; ib++) z[ib * points + ia] = L[ia * points2 + ib];
            double pts[4] = {0.0, 0.0, 1.0, 0.0};
            linstab_plot_heatmap hm = {0};
            hm.nx = points;
            hm.ny = points2;
            hm.x0 = lo;
            hm.x1 = hi;
            hm.y0 = lo2;
            hm.y1 = hi2;
            hm.z = z;
            hm.contours = 12;
            hm.xlabel = "a (along the first direction)";
            hm.ylabel = "b (along the second direction)";
            hm.zlabel = "loss";
            hm.title = title;
            hm.npath = d1.kind == DIR_SEGMENT ? 2 : 1;
            hm.path = pts;
            hm.path_name = d1.kind == DIR_SEGMENT ? "--model (disc), --to (square)" : "checkpoint";
            st = linstab_plot_heatmap_path(&hm, device, plot, &err);
        }
        if (st != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
    }

    /* ---- the summary ---- */
    if (co.json) {
        linstab_json j;
        linstab_json_init(&j, stdout);
        linstab_json_begin(&j, NULL);
        linstab_json_string(&j, "linstab_version", LINSTAB_VERSION);
        linstab_json_string(&j, "model", co.src.model);
        linstab_json_string(&j, "loss", co.src.loss_ce ? "ce" : "mse");
        linstab_json_int(&j, "n", (long long)X.shape[0]);
        linstab_json_int(&j, "p", (long long)m->p);
        const dir_spec *ds[2] = {&d1, &d2};
        for (int k = 0; k < (surface ? 2 : 1); k++) {
            linstab_json_begin(&j, k == 0 ? "direction" : "direction2");
            linstab_json_string(&j, "kind", kind_name(ds[k]->kind));
            if (ds[k]->kind == DIR_FILE) linstab_json_string(&j, "file", ds[k]->file);
            else linstab_json_null(&j, "file");
            if (ds[k]->kind == DIR_FILE && ds[k]->row != LINSTAB_LANDSCAPE_NO_ROW) linstab_json_int(&j, "row", (long long)ds[k]->row);
            else linstab_json_null(&j, "row");
            if (ds[k]->kind == DIR_SEGMENT) linstab_json_string(&j, "to", ds[k]->file);
            else linstab_json_null(&j, "to");
            if (ds[k]->kind == DIR_RANDOM) linstab_json_int(&j, "seed", (long long)co.seed);
            else linstab_json_null(&j, "seed");
            linstab_json_number(&j, "lambda1", ds[k]->lambda1);
            linstab_json_number(&j, "norm", ds[k]->norm);
            linstab_json_end(&j);
        }
        linstab_json_begin_array(&j, "range");
        linstab_json_number(&j, NULL, lo);
        linstab_json_number(&j, NULL, hi);
        linstab_json_end_array(&j);
        linstab_json_int(&j, "points", (long long)points);
        if (surface) {
            linstab_json_begin_array(&j, "range2");
            linstab_json_number(&j, NULL, lo2);
            linstab_json_number(&j, NULL, hi2);
            linstab_json_end_array(&j);
            linstab_json_int(&j, "points2", (long long)points2);
            linstab_json_number(&j, "loss_at_centre", loss0);
            linstab_json_number(&j, "min_loss", L[imin]);
            linstab_json_number(&j, "a_min", t[imin / points2]);
            linstab_json_number(&j, "b_min", t2[imin % points2]);
        } else {
            linstab_json_number(&j, "h", h);
            linstab_json_number(&j, "loss_at_0", loss0);
            linstab_json_number(&j, "curvature_at_0", i0 < points ? C[i0] : NAN);
            linstab_json_number(&j, "min_loss", L[imin]);
            linstab_json_number(&j, "t_min", t[imin]);
        }
        if (co.out != NULL) linstab_json_string(&j, "out", co.out);
        else linstab_json_null(&j, "out");
        if (npy != NULL) linstab_json_string(&j, "npy", npy);
        else linstab_json_null(&j, "npy");
        if (plot != NULL) linstab_json_string(&j, "plot", plot);
        else linstab_json_null(&j, "plot");
        if (!surface) {
            linstab_json_begin_array(&j, "rows");
            for (size_t i = 0; i < points; i++) {
                linstab_json_begin(&j, NULL);
                linstab_json_number(&j, "t", t[i]);
                linstab_json_number(&j, "loss", L[i]);
                linstab_json_number(&j, "d2_zhou", D2[i]);
                linstab_json_number(&j, "curvature", C[i]);
                linstab_json_number(&j, "rayleigh", C[i] / norm2);
                linstab_json_end(&j);
            }
            linstab_json_end_array(&j);
        }
        linstab_json_end(&j);
    } else if (co.out == NULL) { /* the table went to stdout: the files as comments after it */
        if (npy != NULL) printf("# wrote %s (%zu x %zu)\n", npy, points, points2);
        if (plot != NULL) printf("# wrote %s\n", plot);
    } else {
        printf("%s: the loss along %s%s%s (n = %zu, p = %zu)\n", co.src.model, what1, surface ? " (a) and " : "",
               surface ? what2 : "", X.shape[0], m->p);
        if (surface)
            printf("%zu x %zu points, a in [%g, %g], b in [%g, %g]; min loss %.6g at (a, b) = (%g, %g)\n", points,
                   points2, lo, hi, lo2, hi2, L[imin], t[imin / points2], t2[imin % points2]);
        else
            printf("%zu points, t in [%g, %g]; min loss %.6g at t = %g%s\n", points, lo, hi, L[imin], t[imin],
                   i0 < points ? "" : " (t = 0 is not on the grid)");
        if (!surface && i0 < points)
            printf("at t = 0: loss %.6g, d2_zhou %.6g, curvature d'Hd %.6g, rayleigh %.6g\n", L[i0], D2[i0], C[i0],
                   C[i0] / norm2);
        if (co.out != NULL) printf("wrote %s\n", co.out);
        if (npy != NULL) printf("wrote %s (%zu x %zu)\n", npy, points, points2);
        if (plot != NULL) printf("wrote %s\n", plot);
    }
done:
    free(d1.d);
    free(d2.d);
    free(t);
    free(t2);
    free(L);
    free(D2);
    free(C);
    free(z);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
    linstab_mlp_free(mb);
    return rc;
}
