/*
 * test_plots.c -- PLplot is optional (meson -Dplots=disabled).  In every
 * build: linstab_plot_available() says what the build was configured with
 * (LINSTAB_TEST_PLOTS, set by tests/meson.build).  In a build without
 * PLplot: the plot functions return LINSTAB_ENOTSUP and touch no file;
 * `linstab map` still writes its arrays, CSV and JSON (the same bytes as
 * with --no-plot) and says that the figures are missing; `linstab plot`
 * fails with that message and writes nothing.  (Those cases are skipped in
 * a build with PLplot, whose figures the cli tests check.)  In a build
 * with PLplot: `linstab plot --labels` names the legend's entries (one per
 * curve, else a usage error), and a training log whose sharpness is logged
 * less often than the loss draws the sharpness through its own values.
 */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "svgutil.h"
#include "linstab/plot.h"

TestSuite(plots, .init = cu_setup, .fini = cu_teardown);

#define NOT_AVAILABLE "figures are not available in this build"

static void skip_if_plots(void)
{
    if (linstab_plot_available()) cr_skip_test("this build draws figures (PLplot)");
}

Test(plots, availability_is_what_the_build_was_configured_with)
{
    cr_assert_eq(linstab_plot_available(), LINSTAB_TEST_PLOTS);
}

Test(plots, without_plplot_the_plot_functions_say_so_and_write_nothing)
{
    skip_if_plots();
    double x[3] = {1, 2, 3}, y0[3] = {3, 2, 1}, f[4] = {0, 0.5, 1, 0};
    const double *ys[1] = {y0};
    const char *names[1] = {"y"};
    char p[700];
    linstab_error err = {0};
    snprintf(p, sizeof p, "%s/a.png", cu_dir);
    cr_expect_eq(linstab_plot_lines(3, x, 1, ys, names, "x", "y", "", 0, "pngcairo", p, &err), LINSTAB_ENOTSUP);
    cr_expect(strstr(err.msg, NOT_AVAILABLE) != NULL && strstr(err.msg, "a.png") != NULL, "%s", err.msg);
    cr_expect(!cu_exists("a.png"));
    linstab_plot_map pm = {2, 2, x, x, 0, 0, "x", "y", "t", f, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    snprintf(p, sizeof p, "%s/m.svg", cu_dir);
    linstab_error_clear(&err);
    cr_expect_eq(linstab_plot_map_draw(&pm, "svgcairo", p, &err), LINSTAB_ENOTSUP);
    cr_expect(strstr(err.msg, NOT_AVAILABLE) != NULL && strstr(err.msg, "m.svg") != NULL, "%s", err.msg);
    cr_expect(!cu_exists("m.svg"));
    cr_expect_str_eq(linstab_error_string(LINSTAB_ENOTSUP), "not available in this build");
}

#define SMALL_MAP "map --dexter 20 --sampling bernoulli --eta 0.8 --x sigma=1:20:4 --y batch=1:20:4 --steps 100 --quiet"

Test(plots, without_plplot_map_writes_everything_but_the_figures_and_says_so)
{
    skip_if_plots();
    cr_assert_eq(cu_run(SMALL_MAP " --out m"), 0, "%s", cu_slurp(cu_err));
    char *err = cu_slurp(cu_err), *out = cu_slurp(cu_out);
    cr_expect(strstr(err, NOT_AVAILABLE) != NULL && strstr(err, "map.png") != NULL, "stderr: %s", err);
    cr_expect(strstr(out, "map.csv, map.json\n") != NULL && strstr(out, "map.png") == NULL, "stdout: %s", out);
    free(err);
    free(out);
    const char *files[] = {"frac_divergent.npy", "divergent.npy", "radius.npy", "lyapunov.npy",
                           "thm1_margin.npy", "thm2_margin.npy", "thm9_margin.npy", "x.npy", "y.npy",
                           "map.csv"};
    cr_assert_eq(cu_run(SMALL_MAP " --no-plot --out n"), 0, "%s", cu_slurp(cu_err));
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/m/%s", cu_dir, files[i]);
        snprintf(b, sizeof b, "%s/n/%s", cu_dir, files[i]);
        size_t na, nb;
        char *ca = cu_slurp_len(a, &na), *cb = cu_slurp_len(b, &nb);
        cr_expect(ca != NULL && cb != NULL && na > 0 && na == nb && memcmp(ca, cb, na) == 0,
                  "m/%s differs from the --no-plot run's", files[i]);
        free(ca);
        free(cb);
    }
    cr_expect(cu_exists("m/map.json"));
    cr_expect(!cu_exists("m/map.png") && !cu_exists("m/map.svg"));
}

Test(plots, without_plplot_plot_fails_with_the_reason_and_writes_nothing)
{
    skip_if_plots();
    const char csv[] = "rho,sharpness\n0,73.5\n0.05,26.0\n0.1,13.6\n";
    cu_write_file("r.csv", csv, sizeof csv - 1);
    int st = cu_run("plot --csv r.csv --x rho --y sharpness --out f.png");
    char *err = cu_slurp(cu_err);
    cr_expect_eq(st, 1, "exit status %d; stderr: %s", st, err);
    cr_expect(strstr(err, "linstab plot: error: ") == err && strstr(err, NOT_AVAILABLE) != NULL, "%s", err);
    free(err);
    cr_expect(!cu_exists("f.png"));
    /* the CSV is still read and checked first */
    st = cu_run("plot --csv r.csv --x rho --y nothing --out f.png");
    cr_expect_eq(st, 2);
}

static void need_plots(void)
{
    if (!linstab_plot_available()) cr_skip_test("this build draws no figures (no PLplot)");
}

static char *slurp_rel(const char *rel)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", cu_dir, rel);
    return cu_slurp(p);
}

Test(plots, labels_name_the_legend_entries_one_per_curve)
{
    need_plots();
    const char csv[] = "step,loss,sharpness\n1,0.5,2\n2,0.25,3\n3,0.125,4\n";
    cu_write_file("r.csv", csv, sizeof csv - 1);
    cr_assert_eq(cu_run("plot --csv r.csv --x step --y loss,sharpness --labels 'training loss,#gl#dmax#u' --out f.svg"),
                 0, "%s", cu_slurp(cu_err));
    char *svg = slurp_rel("f.svg");
    svg_text *t;
    size_t nt = svg_texts(svg, &t);
    const svg_text *a = svg_text_find(t, nt, "training loss"), *b = svg_text_find(t, nt, "\u03bbmax");
    cr_expect_not_null(a, "no legend entry 'training loss'");
    cr_expect_not_null(b, "no legend entry 'lambda_max' (PLplot's #gl with a subscript)");
    if (a != NULL && b != NULL) cr_expect(a->at < b->at && a->y > b->y, "the entries are not in the order of --y");
    cr_expect_null(svg_text_find(t, nt, "loss"), "the column name is still in the legend");
    cr_expect_null(svg_text_find(t, nt, "sharpness"), "the column name is still in the legend");
    svg_texts_free(t, nt);
    free(svg);
    /* without --labels: the column names */
    cr_assert_eq(cu_run("plot --csv r.csv --x step --y loss,sharpness --out g.svg"), 0);
    svg = slurp_rel("g.svg");
    nt = svg_texts(svg, &t);
    cr_expect(svg_text_find(t, nt, "loss") != NULL && svg_text_find(t, nt, "sharpness") != NULL);
    svg_texts_free(t, nt);
    free(svg);
    /* a count that does not match the curves is a usage error; nothing is written */
    static const struct {
        const char *labels, *msg;
    } bad[] = {{"a", "--labels 'a': 1 name for 2 curves (--y loss,sharpness)"},
               {"a,b,c", "--labels 'a,b,c': 3 names for 2 curves (--y loss,sharpness)"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(cu_run("plot --csv r.csv --x step --y loss,sharpness --labels '%s' --out h.svg", bad[i].labels), 2);
        char *e = cu_slurp(cu_err);
        cr_expect(strstr(e, "linstab plot: error: ") == e && strstr(e, bad[i].msg) != NULL, "%s", e);
        free(e);
        cr_expect(!cu_exists("h.svg"));
    }
    cu_write_file("p.csv", "w1,w2\n0,0\n", 10);
    cr_expect_eq(cu_run("plot --heatmap r.csv --path p.csv --labels a --out h.svg"), 2);
}

Test(plots, a_training_log_with_the_sharpness_every_50_steps_and_the_loss_every_10_draws_both_curves)
{
    need_plots();
    cr_assert_eq(cu_run("train --layers 2,6,1 --teacher 40 --batch 8 --eta 0.1 --steps 100 --seed 3 --log-every 10 "
                        "--sharpness-every 50 --out tm --quiet"),
                 0, "%s", cu_slurp(cu_err));
    /* the steps whose sharpness cell is not empty (the last column) */
    char *log = slurp_rel("tm/train_log.csv");
    cr_assert(strncmp(log, "step,", 5) == 0 && strstr(log, ",sharpness\n") != NULL, "%.80s", log);
    double steps[16];
    size_t rows = 0, sharp = 0;
    for (char *l = strchr(log, '\n') + 1; *l != '\0'; l = strchr(l, '\n') + 1, rows++) {
        char *nl = strchr(l, '\n');
        cr_assert_not_null(nl);
        if (nl[-1] != ',' && sharp < 16) steps[sharp++] = strtod(l, NULL);
    }
    free(log);
    cr_assert_eq(rows, 10);
    cr_assert_eq(sharp, 2, "%zu sharpness values in the log", sharp);
    cr_assert_eq(cu_run("plot --csv tm/train_log.csv --x step --y loss,sharpness --out f.svg"), 0, "%s",
                 cu_slurp(cu_err));
    char *svg = slurp_rel("f.svg");
    svg_poly *v;
    size_t np = svg_polys(svg, &v);
    /* the curves' colours (plot.c's palette): (200, 30, 30), (30, 90, 200);
     * the first polyline of each is the curve, the legend's come later */
    const svg_poly *loss = NULL, *sh = NULL;
    for (size_t i = 0; i < np; i++) {
        if (loss == NULL && strcmp(v[i].stroke, "#C81E1E") == 0) loss = &v[i];
        if (sh == NULL && strcmp(v[i].stroke, "#1E5AC8") == 0) sh = &v[i];
    }
    cr_assert(loss != NULL && sh != NULL, "no curves");
    cr_expect_eq(loss->n, 10, "the loss curve has %zu vertices", loss->n);
    cr_assert_eq(sh->n, sharp, "the sharpness curve has %zu vertices, the log %zu values", sh->n, sharp);
    /* page x is affine in the step: fitted through the loss's first and
     * last vertex (steps 10 and 100); the sharpness's vertices sit at its
     * steps (the SVG writes 0.01 page units) */
    double b = (loss->xy[2 * 9] - loss->xy[0]) / 90.0, a = loss->xy[0] - 10.0 * b;
    for (size_t i = 0; i < sharp; i++)
        cr_expect(fabs(sh->xy[2 * i] - (a + b * steps[i])) <= 0.02, "sharpness vertex %zu at x %.2f, step %g at %.2f", i,
                  sh->xy[2 * i], steps[i], a + b * steps[i]);
    svg_polys_free(v, np);
    free(svg);
}

/* The first paper number ("000", "002", "004": the keys of the notes, not
 * names a reader knows) in a string literal of the C file at path, or 0:
 * three digits 00d with no digit, '.' or 'x' before and no digit after. */
static long paper_key_line(const char *path, char *what, size_t len)
{
    char *src = cu_slurp(path);
    long line = 1, found = 0;
    int in_str = 0;
    for (const char *p = src; *p != '\0' && found == 0; p++) {
        if (*p == '\n') line++;
        if (!in_str && p[0] == '/' && p[1] == '*') { /* comments may cite the notes */
            const char *e = strstr(p + 2, "*/");
            for (const char *q = p; q < (e ? e : p); q++) line += *q == '\n';
            if (e == NULL) break;
            p = e + 1;
            continue;
        }
        if (!in_str && p[0] == '\'' ) { /* a character constant: '"' or '\'' */
            p += p[1] == '\\' ? 3 : 2;
            continue;
        }
        if (*p == '"' && (!in_str || p[-1] != '\\' || p[-2] == '\\')) {
            in_str = !in_str;
            continue;
        }
        if (in_str && p[0] == '0' && p[1] == '0' && isdigit((unsigned char)p[2]) && !isdigit((unsigned char)p[3]) &&
            !isdigit((unsigned char)p[-1]) && p[-1] != '.' && p[-1] != 'x' && p[-1] != '%') {
            snprintf(what, len, "%.40s", p);
            found = line;
        }
    }
    free(src);
    return found;
}

Test(plots, no_title_or_legend_in_the_plotting_code_names_a_paper_by_its_note_number)
{
    const char *root = getenv("LINSTAB_SRCDIR");
    cr_assert_not_null(root, "LINSTAB_SRCDIR is not set");
    const char *dirs[] = {"tools", "src/output"};
    size_t files = 0;
    for (size_t d = 0; d < 2; d++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", root, dirs[d]);
        DIR *dp = opendir(dir);
        cr_assert_not_null(dp, "cannot open %s", dir);
        for (struct dirent *de; (de = readdir(dp)) != NULL;) {
            size_t l = strlen(de->d_name);
            if (l < 3 || strcmp(de->d_name + l - 2, ".c") != 0) continue;
            char path[1400], what[48];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            long at = paper_key_line(path, what, sizeof what);
            cr_expect_eq(at, 0, "%s/%s:%ld: a paper's note number in a string: \"%s\" (write \"Dexter et al. (2024)\")",
                         dirs[d], de->d_name, at, what);
            files++;
        }
        closedir(dp);
    }
    cr_expect_geq(files, 10);
}
