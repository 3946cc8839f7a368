/*
 * test_plots.c -- PLplot is optional (meson -Dplots=disabled).  In every
 * build: linstab_plot_available() says what the build was configured with
 * (LINSTAB_TEST_PLOTS, set by tests/meson.build).  In a build without
 * PLplot: the plot functions return LINSTAB_ENOTSUP and touch no file;
 * `linstab map` still writes its arrays, CSV and JSON (the same bytes as
 * with --no-plot) and says that the figures are missing; `linstab plot`
 * fails with that message and writes nothing.  (Those cases are skipped in
 * a build with PLplot, whose figures the cli tests check.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cliutil.h"
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
