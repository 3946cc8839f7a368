/*
 * cmd_plot.c -- `linstab plot`: curves from the columns of a CSV file (for
 * example a training log or a results table) as PNG or SVG with PLplot;
 * or (--heatmap) a function tabulated on a regular grid as a heat map with
 * a path on top (Bartlett, Long & Bousquet (2023), Figure 2: the potential J
 * of their Proposition 8 with the sign-alternated SAM iterates).
 */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "cli.h"
#include "cli_options.h"
#include "csv.h"
#include "linstab/plot.h"

static const char *const usage =
    "usage: linstab plot --csv FILE --x COLUMN --y COLUMN[,COLUMN...] --out FIG.png|FIG.svg\n"
    "                    [--labels A,B,...] [--title T] [--xlabel L] [--ylabel L]\n"
    "                    [--logy]\n"
    "       linstab plot --heatmap GRID.csv --path PATH.csv --out FIG.png|FIG.svg\n"
    "                    [--columns X,Y] [--extra PTS.csv] [--extra-joined]\n"
    "                    [--path-name T] [--extra-name T] [--logz] [--contours N]\n"
    "                    [--title T] [--xlabel L] [--ylabel L] [--zlabel L]\n"
    "\n"
    "Draw columns of a CSV file (header row, numeric cells) as curves against\n"
    "another column: up to 8 curves, with a legend; the format follows the\n"
    "extension of --out.  PLplot text escapes work in labels (#gs = sigma).\n"
    "--labels names the curves in the legend, one name per --y column, in order\n"
    "(default: the column names).  --logy: a logarithmic y axis; when the values\n"
    "span less than two decades it is labelled at 1, 2, 5 (or finer) x 10^k\n"
    "rather than at the powers of ten alone.  An empty cell is a missing value:\n"
    "each curve joins its own values (a training log's sharpness every K steps).\n"
    "\n"
    "--heatmap: GRID.csv has columns x, y, z whose rows are the points of a\n"
    "regular grid (at least 2 x 2, evenly spaced x and y values, every point\n"
    "once, in any order; z may be nan: a white cell).  The path (columns X,Y of\n"
    "PATH.csv, default w1,w2 as in `linstab dynamics --log`) is drawn on top,\n"
    "its first point marked by a circle and its last by a square; --extra adds\n"
    "the points of PTS.csv (same columns) as markers, or as a dashed line with\n"
    "--extra-joined.  --logz colours by log10 z, --contours N draws N contour\n"
    "lines (default 10, 0: none).  A grid that is not regular is refused (exit\n"
    "1) with the reason, and no figure is written.\n"
    "--quiet is accepted, as by every command (plot shows no progress).\n";

enum { OPT_CSV = 256, OPT_X, OPT_Y, OPT_TITLE, OPT_XL, OPT_YL, OPT_LOGY, OPT_HEATMAP, OPT_PATH, OPT_COLUMNS,
       OPT_EXTRA, OPT_EXTRA_JOINED, OPT_PATH_NAME, OPT_EXTRA_NAME, OPT_LOGZ, OPT_CONTOURS, OPT_ZL,
       OPT_LABELS };

static const struct option own_opts[] = {
    {"csv", required_argument, NULL, OPT_CSV},     {"x", required_argument, NULL, OPT_X},
    {"y", required_argument, NULL, OPT_Y},         {"title", required_argument, NULL, OPT_TITLE},
    {"xlabel", required_argument, NULL, OPT_XL},   {"ylabel", required_argument, NULL, OPT_YL},
    {"logy", no_argument, NULL, OPT_LOGY},         {"heatmap", required_argument, NULL, OPT_HEATMAP},
    {"path", required_argument, NULL, OPT_PATH},   {"columns", required_argument, NULL, OPT_COLUMNS},
    {"extra", required_argument, NULL, OPT_EXTRA}, {"extra-joined", no_argument, NULL, OPT_EXTRA_JOINED},
    {"path-name", required_argument, NULL, OPT_PATH_NAME}, {"extra-name", required_argument, NULL, OPT_EXTRA_NAME},
    {"logz", no_argument, NULL, OPT_LOGZ},         {"contours", required_argument, NULL, OPT_CONTOURS},
    {"zlabel", required_argument, NULL, OPT_ZL},   {"labels", required_argument, NULL, OPT_LABELS},
    {NULL, 0, NULL, 0}};
static const cli_command plot_cmd = {"plot", CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_QUIET), own_opts, NULL, usage, 22};

/* Say why the CSV file at path was refused: "FILE:LINE:COL: what" for a
 * place in the file (msg starts with a digit, csv.h), else "FILE: what". */
static void csv_error(const char *cmd, const char *path, const char *msg)
{
    fprintf(stderr, "linstab %s: error: %s:%s%s\n", cmd, path, msg[0] >= '0' && msg[0] <= '9' ? "" : " ", msg);
}

/* Points (columns xc, yc) of the CSV file at path: OUT *pts (n x 2, malloc'd), *n.  Returns 0, or 1 after
 * printing why. */
static int read_points(const char *cmd, const char *path, const char *xc, const char *yc, double **pts, size_t *n)
{
    cli_csv tab;
    char msg[512];
    if (cli_csv_read(path, &tab, msg, sizeof msg) != 0) {
        csv_error(cmd, path, msg);
        return 1;
    }
    long cx = cli_csv_column(&tab, xc), cy = cli_csv_column(&tab, yc);
    int rc = 0;
    if (cx < 0 || cy < 0) {
        fprintf(stderr, "linstab %s: error: %s: no column '%s' (--columns %s,%s)\n", cmd, path, cx < 0 ? xc : yc, xc,
                yc);
        rc = 1;
    } else if (tab.nrow == 0) {
        fprintf(stderr, "linstab %s: error: %s: no rows\n", cmd, path);
        rc = 1;
    } else if ((*pts = malloc(tab.nrow * 2 * sizeof **pts)) == NULL) {
        fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, path);
        rc = 1;
    } else {
        for (size_t i = 0; i < tab.nrow; i++) {
            (*pts)[2 * i] = tab.values[i * tab.ncol + (size_t)cx];
            (*pts)[2 * i + 1] = tab.values[i * tab.ncol + (size_t)cy];
        }
        *n = tab.nrow;
    }
    cli_csv_free(&tab);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The distinct values of v[0..n) (finite), sorted, evenly spaced: OUT u (n), *nu, *lo, *hi.  Returns NULL, or
 * the reason the values do not make a regular axis. */
static const char *regular_axis(const double *v, size_t n, double *u, size_t *nu, double *lo, double *hi)
{
    memcpy(u, v, n * sizeof *u);
    qsort(u, n, sizeof *u, cmp_double);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || u[i] != u[k - 1]) u[k++] = u[i];
    *nu = k;
    if (k < 2) return "fewer than 2 distinct values";
    *lo = u[0];
    *hi = u[k - 1];
    double h = (*hi - *lo) / (double)(k - 1);
    for (size_t i = 0; i < k; i++)
        if (fabs(u[i] - (*lo + (double)i * h)) > 1e-6 * h) return "values not evenly spaced";
    return NULL;
}

static int heatmap(const char *cmd, const char *grid, const char *pathf, const char *cols, const char *extraf,
                   int joined, const char *pname, const char *ename, int logz, size_t contours, const char *title,
                   const char *xl, const char *yl, const char *zl, const char *out, const char *device)
{
    char xc[256] = "w1", yc[256] = "w2";
    if (cols != NULL) {
        const char *c = strchr(cols, ',');
        if (c == NULL || c == cols || c[1] == '\0' || strchr(c + 1, ',') != NULL || (size_t)(c - cols) >= sizeof xc ||
            strlen(c + 1) >= sizeof yc)
            return cli_usage_error(cmd, "--columns '%s': expected two column names X,Y", cols);
        memcpy(xc, cols, (size_t)(c - cols));
        xc[c - cols] = '\0';
        strcpy(yc, c + 1);
    }
    cli_csv tab;
    char msg[512];
    if (cli_csv_read(grid, &tab, msg, sizeof msg) != 0) {
        csv_error(cmd, grid, msg);
        return 1;
    }
    int rc = 0;
    long gx = cli_csv_column(&tab, "x"), gy = cli_csv_column(&tab, "y"), gz = cli_csv_column(&tab, "z");
    size_t n = tab.nrow, nx = 0, ny = 0;
    double *col = NULL, *u = NULL, *z = NULL, *path = NULL, *extra = NULL, box[4];
    const char *why = NULL;
    if (gx < 0 || gy < 0 || gz < 0) {
        fprintf(stderr, "linstab %s: error: %s: the grid needs columns x, y and z\n", cmd, grid);
        rc = 1;
    } else if ((col = malloc((n + 1) * sizeof *col)) == NULL || (u = malloc((n + 1) * sizeof *u)) == NULL) {
        fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, grid);
        rc = 1;
    }
    for (int a = 0; rc == 0 && a < 2; a++) {
        long c = a == 0 ? gx : gy;
        for (size_t i = 0; i < n; i++) {
            col[i] = tab.values[i * tab.ncol + (size_t)c];
            if (!isfinite(col[i])) {
                fprintf(stderr, "linstab %s: error: %s: row %zu: %s is not finite\n", cmd, grid, i + 2, a ? "y" : "x");
                rc = 1;
                break;
            }
        }
        if (rc == 0 && (why = regular_axis(col, n, u, a ? &ny : &nx, &box[2 * a], &box[2 * a + 1])) != NULL) {
            fprintf(stderr, "linstab %s: error: %s: column %s: %s: not a regular grid\n", cmd, grid, a ? "y" : "x", why);
            rc = 1;
        }
    }
    if (rc == 0 && nx * ny != n) {
        fprintf(stderr, "linstab %s: error: %s: %zu rows for %zu x %zu grid points: not a regular grid\n", cmd, grid, n,
                nx, ny);
        rc = 1;
    }
    if (rc == 0 && (z = malloc(n * sizeof *z)) == NULL) {
        fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, grid);
        rc = 1;
    }
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) z[i] = -INFINITY; /* not yet set */
        double hx = (box[1] - box[0]) / (double)(nx - 1), hy = (box[3] - box[2]) / (double)(ny - 1);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            double x = tab.values[i * tab.ncol + (size_t)gx], y = tab.values[i * tab.ncol + (size_t)gy];
            size_t ix = (size_t)llround((x - box[0]) / hx), iy = (size_t)llround((y - box[2]) / hy);
            if (z[iy * nx + ix] != -INFINITY) {
                fprintf(stderr, "linstab %s: error: %s: row %zu: the point (%g, %g) appears twice: not a regular grid\n",
                        cmd, grid, i + 2, x, y);
                rc = 1;
            } else {
                double v = tab.values[i * tab.ncol + (size_t)gz];
                z[iy * nx + ix] = v == -INFINITY ? NAN : v;
            }
        }
    }
    size_t npath = 0, nextra = 0;
    if (rc == 0) rc = read_points(cmd, pathf, xc, yc, &path, &npath);
    if (rc == 0 && extraf != NULL) rc = read_points(cmd, extraf, xc, yc, &extra, &nextra);
    if (rc == 0 && extraf != NULL && !joined && nextra > 1) {
        /* markers only: a non-finite point between each two breaks the line that linstab_plot_heatmap_path
         * (this version) draws through unjoined points too */
        double *sep = malloc((2 * nextra - 1) * 2 * sizeof *sep);
        if (sep == NULL) {
            fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, extraf);
            rc = 1;
        } else {
            for (size_t i = 0; i < nextra; i++) {
                sep[4 * i] = extra[2 * i];
                sep[4 * i + 1] = extra[2 * i + 1];
                if (i + 1 < nextra) sep[4 * i + 2] = sep[4 * i + 3] = NAN;
            }
            free(extra);
            extra = sep;
            nextra = 2 * nextra - 1;
        }
    }
    if (rc == 0) {
        linstab_plot_heatmap hm = {0};
        hm.nx = nx;
        hm.ny = ny;
        hm.x0 = box[0];
        hm.x1 = box[1];
        hm.y0 = box[2];
        hm.y1 = box[3];
        hm.z = z;
        hm.logz = logz;
        hm.contours = (int)contours;
        hm.xlabel = xl ? xl : xc;
        hm.ylabel = yl ? yl : yc;
        hm.title = title;
        hm.zlabel = zl ? zl : "z";
        hm.npath = npath;
        hm.path = path;
        hm.path_name = pname;
        hm.nextra = nextra;
        hm.extra = extra;
        hm.extra_name = ename;
        hm.extra_joined = joined;
        linstab_error err = {0};
        if (linstab_plot_heatmap_path(&hm, device, out, &err) != LINSTAB_OK)
            rc = cli_fail(cmd, &err);
        else
            printf("wrote %s (%zu x %zu grid, %zu path points, %zu extra points)\n", out, nx, ny, npath,
                   joined || nextra == 0 ? nextra : (nextra + 1) / 2);
    }
    free(col);
    free(u);
    free(z);
    free(path);
    free(extra);
    cli_csv_free(&tab);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    const char *cmd = "plot";
    const char *csv = NULL, *xs = NULL, *ys = NULL, *title = "", *xl = NULL, *yl = "", *labels = NULL;
    const char *grid = NULL, *pathf = NULL, *cols = NULL, *extraf = NULL, *pname = NULL, *ename = NULL, *zl = NULL;
    int logy = 0, logz = 0, joined = 0;
    size_t contours = 10;
    cli_common_opts co = cli_common_defaults();
    cli_parser ps = cli_options_start(&plot_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_CSV: csv = optarg; break;
        case OPT_X: xs = optarg; break;
        case OPT_Y: ys = optarg; break;
        case OPT_TITLE: title = optarg; break;
        case OPT_XL: xl = optarg; break;
        case OPT_YL: yl = optarg; break;
        case OPT_LOGY: logy = 1; break;
        case OPT_HEATMAP: grid = optarg; break;
        case OPT_PATH: pathf = optarg; break;
        case OPT_COLUMNS: cols = optarg; break;
        case OPT_EXTRA: extraf = optarg; break;
        case OPT_EXTRA_JOINED: joined = 1; break;
        case OPT_PATH_NAME: pname = optarg; break;
        case OPT_EXTRA_NAME: ename = optarg; break;
        case OPT_LOGZ: logz = 1; break;
        case OPT_CONTOURS: ps.status = cli_parse_count(cmd, "--contours", optarg, 0, 100, &contours); break;
        case OPT_ZL: zl = optarg; break;
        case OPT_LABELS: labels = optarg; break;
        }
        if (ps.status != 0) return ps.status;
    }
    const char *out = co.out;
    if (grid != NULL || pathf != NULL) {
        if (csv || xs || ys || logy || labels)
            return cli_usage_error(cmd, "--heatmap draws a grid: --csv, --x, --y, --labels and --logy belong to curves");
        if (!grid || !pathf || !out) return cli_usage_error(cmd, "--heatmap, --path and --out are required together");
        size_t ol = strlen(out);
        const char *dev = ol > 4 && strcmp(out + ol - 4, ".svg") == 0   ? "svg"
                          : ol > 4 && strcmp(out + ol - 4, ".png") == 0 ? "pngcairo"
                                                                       : NULL;
        if (dev == NULL) return cli_usage_error(cmd, "--out %s: the name must end in .png or .svg", out);
        return heatmap(cmd, grid, pathf, cols, extraf, joined, pname, ename, logz, contours, title, xl, yl, zl, out,
                       dev);
    }
    if (cols || extraf || joined || pname || ename || logz || zl)
        return cli_usage_error(cmd, "--columns, --extra, --extra-joined, --path-name, --extra-name, --logz and --zlabel "
                                    "belong to --heatmap");
    if (!csv || !xs || !ys || !out) return cli_usage_error(cmd, "--csv, --x, --y and --out are required");
    size_t olen = strlen(out);
    const char *device = olen > 4 && strcmp(out + olen - 4, ".svg") == 0 ? "svg"
                         : olen > 4 && strcmp(out + olen - 4, ".png") == 0 ? "pngcairo" : NULL;
    if (device == NULL) return cli_usage_error(cmd, "--out %s: the name must end in .png or .svg", out);
    cli_csv tab;
    char msg[512];
    int rc = cli_csv_read(csv, &tab, msg, sizeof msg);
    if (rc != 0) {
        csv_error(cmd, csv, msg);
        return 1;
    }
    /* the wanted columns */
    long cx = cli_csv_column(&tab, xs), cy[8];
    int ny = 0;
    const char *ynames[8];
    char *ycopy = strdup(ys);
    for (char *save = NULL, *t = ycopy ? strtok_r(ycopy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
        long found = cli_csv_column(&tab, t);
        if (found < 0 || ny == 8) {
            rc = cli_usage_error(cmd, "--y: no column '%s' in %s (or more than 8 curves)", t, csv);
            break;
        }
        ynames[ny] = tab.names[found];
        cy[ny++] = found;
    }
    if (rc == 0 && cx < 0) rc = cli_usage_error(cmd, "--x: no column '%s' in %s", xs, csv);
    /* the legend's names: --labels, one per curve, split at commas in place */
    char *lcopy = labels != NULL && rc == 0 ? strdup(labels) : NULL;
    if (rc == 0 && labels != NULL) {
        int nl = 0;
        for (const char *q = labels; *q; q++) nl += *q == ',';
        nl++;
        if (nl != ny) {
            rc = cli_usage_error(cmd, "--labels '%s': %d name%s for %d curve%s (--y %s)", labels, nl, nl == 1 ? "" : "s",
                                 ny, ny == 1 ? "" : "s", ys);
        } else if (lcopy != NULL) {
            char *t = lcopy;
            for (int k = 0; k < ny; k++) {
                char *c = strchr(t, ',');
                if (c != NULL) *c = '\0';
                ynames[k] = t;
                t = c != NULL ? c + 1 : t;
            }
        }
    }
    size_t n = tab.nrow;
    double *x = rc ? NULL : malloc(n * sizeof *x), *yv[8] = {NULL};
    for (int k = 0; rc == 0 && k < ny; k++) yv[k] = malloc(n * sizeof(double));
    int nomem = rc == 0 && (x == NULL || ycopy == NULL || (labels != NULL && lcopy == NULL));
    for (int k = 0; rc == 0 && k < ny; k++) nomem |= yv[k] == NULL;
    if (nomem) {
        fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, csv);
        rc = 1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        x[i] = tab.values[i * tab.ncol + (size_t)cx];
        for (int k = 0; k < ny; k++) yv[k][i] = tab.values[i * tab.ncol + (size_t)cy[k]];
    }
    if (rc == 0) {
        linstab_error err = {0};
        if (linstab_plot_lines(n, x, (size_t)ny, (const double *const *)yv, ynames, xl ? xl : xs, yl, title, logy,
                               device, out, &err) != LINSTAB_OK)
            rc = cli_fail(cmd, &err);
        else
            printf("wrote %s (%d curves, %zu points)\n", out, ny, n);
    }
    free(x);
    for (int k = 0; k < ny; k++) free(yv[k]);
    cli_csv_free(&tab);
    free(ycopy);
    free(lcopy);
    return rc;
}
