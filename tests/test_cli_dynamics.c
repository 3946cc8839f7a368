/*
 * test_cli_dynamics.c -- `linstab dynamics` end to end: the JSON keys the
 * issue names, the theory's numbers beside the measured ones, the log, a
 * divergent run, and bad input refused before any work with no file left;
 * the figures (--plot, --plot-loss, --plot-box).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include <criterion/criterion.h>

#include "cliutil.h"

TestSuite(cli_dynamics, .init = cu_setup, .fini = cu_teardown);

Test(cli_dynamics, normalized_sam_on_a_quadratic_reports_theorem_2_and_proposition_8)
{
    /* spectrum (1.3, 0.6, 0.2), eta = 0.3, rho = 0.7: amplitude
     * eta rho l1 / (2 - eta l1) = 0.273 / 1.61 */
    cr_assert_eq(cu_run("dynamics --objective quadratic --spectrum 1.3,0.6,0.2 --optimizer sam-normalized "
                        "--eta 0.3 --rho 0.7 --start 1,-2,0.5 --steps 3000 --json --log run.csv"),
                 0, "%s", cu_slurp(cu_err));
    char *j = cu_slurp(cu_out);
    double want = 0.3 * 0.7 * 1.3 / (2.0 - 0.3 * 1.3);
    cr_expect_eq(cu_json_number(j, "\"cycle\"", "period"), 2.0);
    cr_expect(fabs(cu_json_number(j, "\"cycle\"", "amplitude") - want) <= 1e-8 * want, "%s", j);
    cr_expect(fabs(cu_json_number(j, "\"cycle\"", "predicted_amplitude") - want) <= 1e-15 * want, "%s", j);
    cr_expect(cu_json_number(j, "\"prop8\"", "max_deviation") <= 1e-13, "%s", j);
    cr_expect(strstr(j, "\"escape\": null") != NULL && strstr(j, "\"drift\": null") != NULL, "%s", j);
    cr_expect(strstr(j, "\"diverged_at\": null") != NULL, "%s", j);
    cr_expect(isfinite(cu_json_number(j, NULL, "loss_final")));
    char path[700];
    snprintf(path, sizeof path, "%s/run.csv", cu_dir);
    char *log = cu_slurp(path);
    cr_expect(strncmp(log, "step,loss,grad_norm,w1,w2,w3\n0,", 31) == 0, "%.80s", log);
    size_t lines = 0;
    for (const char *p = log; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 3002); /* header and steps 0..3000 */
    free(log);
    free(j);
}

Test(cli_dynamics, the_escape_after_a_switch_is_the_radius_of_the_linearized_step)
{
    cr_assert_eq(cu_run("dynamics --objective tanh2 --optimizer gd --switch 200:sam-same --eta 1.5 --rho 1 "
                        "--start 1.5,0.3 --steps 400 --json"),
                 0, "%s", cu_slurp(cu_err));
    char *j = cu_slurp(cu_out);
    double rate = cu_json_number(j, "\"escape\"", "rate"), pred = cu_json_number(j, "\"escape\"", "predicted_rate");
    cr_expect(rate > 1.0 && fabs(rate - pred) <= 1e-6 * pred, "%s", j);
    free(j);
}

Test(cli_dynamics, a_divergent_run_keeps_its_log_and_says_at_which_step)
{
    cr_assert_eq(cu_run("dynamics --objective quadratic --spectrum 1,0.5 --optimizer gd --eta 2.5 --start 1,1 "
                        "--steps 100000 --log d.csv"),
                 0, "%s", cu_slurp(cu_err));
    char *o = cu_slurp(cu_out);
    cr_expect(strstr(o, "diverged at step 285") != NULL, "%s", o);
    char path[700];
    snprintf(path, sizeof path, "%s/d.csv", cu_dir);
    char *log = cu_slurp(path);
    cr_expect(strstr(log, "\n285,") != NULL && strstr(log, "\n286,") == NULL);
    free(log);
    free(o);
}

Test(cli_dynamics, bad_input_is_a_usage_error_before_any_work)
{
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {"--objective rosenbrock --optimizer gd --eta 0.1 --start 1,1 --steps 5", "--objective 'rosenbrock'"},
        {"--objective quadratic --spectrum 1,nan --optimizer gd --eta 0.1 --start 1,1 --steps 5", "--spectrum 'nan'"},
        {"--objective quadratic --spectrum 1,inf --optimizer gd --eta 0.1 --start 1,1 --steps 5", "--spectrum 'inf'"},
        {"--objective quadratic --spectrum 1,0.5 --optimizer gd --eta 0.1 --start 1,1,1 --steps 5",
         "--start has 3 values; the objective has dimension 2"},
        {"--objective bartlett --optimizer gd --eta 0.1 --start 1,1 --steps 5 --switch 6:sam-same",
         "--switch: the switch at step 6 is past the end"},
        {"--objective bartlett --optimizer gd --eta -1 --start 1,1 --steps 5", "--eta '-1'"},
        {"--objective bartlett --optimizer gd --eta 0.1 --rho -1 --start 1,1 --steps 5", "--rho '-1'"},
        {"--objective bartlett --optimizer adam --eta 0.1 --start 1,1 --steps 5", "'adam' is not an optimizer"},
        {"--objective bartlett --optimizer gd --eta 0.1 --start 1,1", "--steps is required"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cr_expect_eq(cu_run("dynamics %s --log bad.csv", cases[c].args), 2, "%s", cases[c].args);
        char *e = cu_slurp(cu_err);
        cr_expect(strstr(e, cases[c].msg) != NULL, "%s: %s", cases[c].args, e);
        free(e);
        cr_expect(!cu_exists("bad.csv"), "%s", cases[c].args);
    }
}

Test(cli_dynamics, normalized_sam_on_example_4_1_reports_the_drift_of_theorem_21)
{
    cr_assert_eq(cu_run("dynamics --objective tanh2 --optimizer sam-normalized --eta 0.5 --rho 0.02 "
                        "--start 1.2,0.05 --steps 3000 --json"),
                 0, "%s", cu_slurp(cu_err));
    char *j = cu_slurp(cu_out);
    double m = cu_json_number(j, "\"drift\"", "measured"), p = cu_json_number(j, "\"drift\"", "predicted");
    cr_expect(m < 0.0 && fabs(m - p) <= 0.01 * fabs(p), "%s", j);
    cr_expect_eq(cu_json_number(j, "\"drift\"", "window"), 20.0);
    free(j);
}

/* ---- figures ---- */

static unsigned be32(const unsigned char *p) { return (unsigned)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* The number of vertices of the longest polyline stroked with colour in
 * the SVG cu_dir/name (PLplot hands the driver at most 256 vertices at a
 * time: a <path> that starts where the previous one ended continues it);
 * OUT *count: the number of polylines. */
static size_t svg_vertices(const char *name, const char *colour, size_t *count)
{
    char path[700], key[96];
    snprintf(path, sizeof path, "%s/%s", cu_dir, name);
    snprintf(key, sizeof key, "stroke:%s;", colour);
    char *svg = cu_slurp(path);
    size_t best = 0, run = 0;
    double last[2] = {NAN, NAN};
    *count = 0;
    for (const char *p = strstr(svg, "<path "); p != NULL; p = strstr(p + 1, "<path ")) {
        const char *end = strstr(p, "/>"), *k = strstr(p, key), *d = strstr(p, " d=\"");
        if (end == NULL || k == NULL || k > end || d == NULL || d > end) continue;
        size_t v = 0;
        double first[2] = {NAN, NAN}, pt[2] = {NAN, NAN};
        for (const char *q = d + 4; *q != '"'; q++) {
            if (*q != 'M' && *q != 'L') continue;
            char *e1, *e2;
            pt[0] = strtod(q + 1, &e1);
            pt[1] = strtod(e1, &e2);
            if (v++ == 0) memcpy(first, pt, sizeof pt);
            q = e2 - 1;
        }
        if (run > 0 && first[0] == last[0] && first[1] == last[1]) {
            run += v - 1;
        } else {
            run = v;
            (*count)++;
        }
        memcpy(last, pt, sizeof pt);
        best = run > best ? run : best;
    }
    free(svg);
    return best;
}

Test(cli_dynamics, plot_draws_the_loss_under_the_path_as_a_png_and_an_svg_with_every_iterate)
{
    const char *run = "dynamics --objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 2,2 --steps 20";
    cr_assert_eq(cu_run("%s --plot f.png --plot-loss l.png", run), 0, "%s", cu_slurp(cu_err));
    const char *names[2] = {"f.png", "l.png"};
    const unsigned size[2][2] = {{1000, 800}, {900, 600}};
    for (int k = 0; k < 2; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", cu_dir, names[k]);
        size_t n;
        char *png = cu_slurp_len(path, &n);
        cr_assert(png != NULL && n > 40, "%s", names[k]);
        const unsigned char *u = (const unsigned char *)png;
        cr_expect(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(png + 12, "IHDR", 4) == 0, "%s", names[k]);
        cr_expect(be32(u + 16) == size[k][0] && be32(u + 20) == size[k][1], "%s: %u x %u", names[k], be32(u + 16),
                  be32(u + 20));
        cr_expect(memcmp(png + n - 8, "IEND\xae\x42\x60\x82", 8) == 0, "%s: no IEND", names[k]);
        free(png);
    }
    /* the SVG: the iterates w_0 .. w_20 as one red polyline (and the legend's sample) */
    cr_assert_eq(cu_run("%s --plot f.svg --plot-loss l.svg", run), 0, "%s", cu_slurp(cu_err));
    size_t count, v = svg_vertices("f.svg", "rgb(94.117647%,15.686275%,15.686275%)", &count);
    cr_expect(v == 21 && count == 2, "%zu vertices in %zu polylines", v, count);
    v = svg_vertices("l.svg", "rgb(11.764706%,35.294118%,78.431373%)", &count);
    cr_expect(v == 21 && count == 2, "loss: %zu vertices in %zu polylines", v, count);
    /* no escape: no rate line */
    svg_vertices("l.svg", "rgb(86.27451%,11.764706%,11.764706%)", &count);
    cr_expect_eq(count, 0);
    /* a box of one's own */
    cr_assert_eq(cu_run("%s --plot b.png --plot-box -3,3,-1,4", run), 0, "%s", cu_slurp(cu_err));
    cr_expect(cu_exists("b.png"));
}

Test(cli_dynamics, plot_loss_draws_the_predicted_escape_rate_over_the_window)
{
    cr_assert_eq(cu_run("dynamics --objective tanh2 --optimizer gd --switch 200:sam-same --eta 1.5 --rho 1 "
                        "--start 1.5,0.3 --steps 260 --plot-loss e.svg --plot t.svg"),
                 0, "%s", cu_slurp(cu_err));
    size_t count, v = svg_vertices("e.svg", "rgb(86.27451%,11.764706%,11.764706%)", &count);
    cr_expect(v == 2 && count == 2, "rate line: %zu vertices in %zu polylines", v, count);
    cr_expect(cu_exists("t.svg"));
}

/* The entries of cu_dir besides the captured stdout and stderr. */
static size_t other_files(void)
{
    DIR *dir = opendir(cu_dir);
    cr_assert(dir != NULL);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && strcmp(e->d_name, "stdout") != 0 &&
             strcmp(e->d_name, "stderr") != 0;
    closedir(dir);
    return n;
}

Test(cli_dynamics, bad_figure_options_are_usage_errors_before_any_work_with_no_file_left)
{
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {"--plot f.jpg", "--plot f.jpg: the name must end in .png or .svg"},
        {"--plot-loss f", "--plot-loss f: the name must end in .png or .svg"},
        {"--plot nodir/f.png", "--plot nodir/f.png: cannot write there: No such file or directory"},
        {"--plot-loss nodir/f.svg", "--plot-loss nodir/f.svg: cannot write there"},
        {"--plot f.png --plot-box 1,0,0,1", "--plot-box '1,0,0,1': needs X0 < X1 and Y0 < Y1"},
        {"--plot f.png --plot-box 0,1,0", "--plot-box '0,1,0': expected X0,X1,Y0,Y1"},
        {"--plot f.png --plot-box 0,1,0,1,2", "--plot-box '0,1,0,1,2': expected X0,X1,Y0,Y1"},
        {"--plot f.png --plot-box 0,1,,1", "--plot-box '0,1,,1': expected X0,X1,Y0,Y1"},
        {"--plot f.png --plot-box 0,1,0,nan", "--plot-box 'nan'"},
        {"--plot-box 0,1,0,1", "--plot-box is an option of --plot"},
        {"--plot f.png --plot-loss f.png", "--plot and --plot-loss name the same file f.png"},
    };
    const char *run = "dynamics --objective bartlett --optimizer gd --eta 0.1 --start 1,1 --steps 5 --log bad.csv";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cr_expect_eq(cu_run("%s %s", run, cases[c].args), 2, "%s", cases[c].args);
        char *e = cu_slurp(cu_err);
        cr_expect(strstr(e, cases[c].msg) != NULL, "%s: %s", cases[c].args, e);
        free(e);
        cr_expect_eq(other_files(), 0, "%s: a file was left", cases[c].args);
    }
    cr_expect_eq(cu_run("dynamics --objective quadratic --spectrum 1,2,3 --optimizer gd --eta 0.1 --start 1,1,1 "
                        "--steps 5 --log bad.csv --plot f.png"),
                 2);
    char *e = cu_slurp(cu_err);
    cr_expect(strstr(e, "--plot draws objectives of dimension 2; this one has dimension 3") != NULL, "%s", e);
    free(e);
    cr_expect_eq(other_files(), 0);
    /* --plot-loss takes any dimension */
    cr_expect_eq(cu_run("dynamics --objective quadratic --spectrum 1,2,3 --optimizer gd --eta 0.1 --start 1,1,1 "
                        "--steps 5 --plot-loss l.svg"),
                 LINSTAB_TEST_PLOTS ? 0 : 1);
    cr_expect_eq(cu_exists("l.svg"), LINSTAB_TEST_PLOTS);
}
