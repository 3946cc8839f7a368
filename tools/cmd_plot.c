/*
 * cmd_plot.c -- `linstab plot`: curves from the columns of a CSV file (for
 * example a training log or a results table) as PNG or SVG with PLplot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "cli_options.h"
#include "csv.h"
#include "linstab/plot.h"

static const char *const usage =
    "usage: linstab plot --csv FILE --x COLUMN --y COLUMN[,COLUMN...] --out FIG.png|FIG.svg\n"
    "                    [--title T] [--xlabel L] [--ylabel L] [--logy]\n"
    "\n"
    "Draw columns of a CSV file (header row, numeric cells) as curves against\n"
    "another column: up to 8 curves, with a legend; the format follows the\n"
    "extension of --out.  PLplot text escapes work in labels (#gs = sigma).\n";

enum { OPT_CSV = 256, OPT_X, OPT_Y, OPT_TITLE, OPT_XL, OPT_YL, OPT_LOGY };

static const struct option own_opts[] = {
    {"csv", required_argument, NULL, OPT_CSV},     {"x", required_argument, NULL, OPT_X},
    {"y", required_argument, NULL, OPT_Y},         {"title", required_argument, NULL, OPT_TITLE},
    {"xlabel", required_argument, NULL, OPT_XL},   {"ylabel", required_argument, NULL, OPT_YL},
    {"logy", no_argument, NULL, OPT_LOGY},         {NULL, 0, NULL, 0}};
static const cli_command plot_cmd = {"plot", CLI_OPT_BIT(CLI_OPT_OUT), own_opts, NULL, usage, 22};

int cmd_plot(int argc, char **argv)
{
    const char *cmd = "plot";
    const char *csv = NULL, *xs = NULL, *ys = NULL, *title = "", *xl = NULL, *yl = "";
    int logy = 0;
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
        }
    }
    const char *out = co.out;
    if (!csv || !xs || !ys || !out) return cli_usage_error(cmd, "--csv, --x, --y and --out are required");
    size_t olen = strlen(out);
    const char *device = olen > 4 && strcmp(out + olen - 4, ".svg") == 0 ? "svgcairo"
                         : olen > 4 && strcmp(out + olen - 4, ".png") == 0 ? "pngcairo" : NULL;
    if (device == NULL) return cli_usage_error(cmd, "--out %s: the name must end in .png or .svg", out);
    cli_csv tab;
    char msg[512];
    int rc = cli_csv_read(csv, &tab, msg, sizeof msg);
    if (rc != 0) {
        fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, csv, msg);
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
    size_t n = tab.nrow;
    double *x = rc ? NULL : malloc(n * sizeof *x), *yv[8] = {NULL};
    for (int k = 0; rc == 0 && k < ny; k++) yv[k] = malloc(n * sizeof(double));
    int nomem = rc == 0 && (x == NULL || ycopy == NULL);
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
    return rc;
}
