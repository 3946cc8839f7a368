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
#include "linstab/npy.h"

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
    cr_expect(strstr(j, "\"escape\": null") != NULL, "%s", j);
    /* a quadratic: Theorem 21 predicts no drift, and the centre rests */
    cr_expect_eq(cu_json_number(j, "\"drift\"", "predicted"), 0.0, "%s", j);
    cr_expect(cu_json_number(j, "\"drift\"", "measured") <= 1e-12 * want, "%s", j);
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
    /* a minimum SAM does not escape: the loss shrinks at the radius of the
     * curved direction, not at the 1 of the flat one along the valley */
    cr_assert_eq(cu_run("dynamics --objective tanh2 --optimizer gd --switch 200:sam-same --eta 0.5 --rho 0.1 "
                        "--start 1.5,0.3 --steps 400 --json"),
                 0, "%s", cu_slurp(cu_err));
    j = cu_slurp(cu_out);
    rate = cu_json_number(j, "\"escape\"", "rate");
    pred = cu_json_number(j, "\"escape\"", "predicted_rate");
    cr_expect(rate < 1.0 && fabs(rate - pred) <= 1e-6 * pred, "%s", j);
    free(j);
}

Test(cli_dynamics, a_family_escapes_at_the_radius_of_its_second_moment_operator)
{
    /* 4 diagonal samples; GD to the minimum, then full-batch independent
     * SAM (deterministic at B = n without replacement): per step the loss
     * grows by max_j (1 - eta h_j (1 + rho h_j))^2 of the mean h */
    const double h[12] = {2.0, 0.5, 0.1, 0.3, 1.2, 0.05, 1.1, 0.0, 0.4, 0.7, 0.9, 0.2};
    const size_t shape[2] = {4, 3};
    cu_write_npy("diag.npy", h, 2, shape);
    cr_assert_eq(cu_run("dynamics --diag diag.npy --optimizer gd --switch 20:sam-independent --eta 1.9 --rho 0.5 "
                        "--batch 4 --start 1,0.01,0.01 --steps 100 --json"),
                 0, "%s", cu_slurp(cu_err));
    char *j = cu_slurp(cu_out);
    double want = 0.0;
    for (size_t c = 0; c < 3; c++) {
        double m = 0.0;
        for (size_t i = 0; i < 4; i++) m += h[i * 3 + c] / 4.0;
        double g = 1.0 - 1.9 * m * (1.0 + 0.5 * m);
        want = fmax(want, g * g);
    }
    double rate = cu_json_number(j, "\"escape\"", "rate"), pred = cu_json_number(j, "\"escape\"", "predicted_rate");
    cr_expect(want > 1.0 && fabs(pred - want) <= 1e-12 * want, "%s", j);
    cr_expect(fabs(rate - want) <= 1e-6 * want, "%s", j);
    cr_expect_eq(cu_json_number(j, "\"escape\"", "lyapunov_rate"), pred, "%s", j);
    cr_expect_eq(cu_json_number(j, "\"escape\"", "lyapunov_stderr"), 0.0, "%s", j);
    free(j);
    /* at B = 1 the single run's almost-sure rate lies below the mean-square one */
    cr_assert_eq(cu_run("dynamics --diag diag.npy --optimizer gd --switch 60:sgd --eta 1.8 --batch 1 "
                        "--start 1,1,1 --steps 200 --json"),
                 0, "%s", cu_slurp(cu_err));
    j = cu_slurp(cu_out);
    double ms = cu_json_number(j, "\"escape\"", "predicted_rate"), as = cu_json_number(j, "\"escape\"", "lyapunov_rate");
    cr_expect(as < ms && cu_json_number(j, "\"escape\"", "lyapunov_stderr") > 0.0, "%s", j);
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
        {"--objective quadratic --spectrum 1,-0.5 --optimizer gd --eta 0.1 --start 1,1 --steps 5",
         "--spectrum: entry 2 is -0.5: a minimum needs positive curvatures"},
        {"--objective quadratic --spectrum 0,1 --optimizer gd --eta 0.1 --start 1,1 --steps 5",
         "--spectrum: entry 1 is 0"},
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

Test(cli_dynamics, an_mlp_checkpoint_is_an_objective_and_its_last_iterate_a_checkpoint)
{
    double X[16], Y[8];
    for (size_t i = 0; i < 8; i++) {
        X[2 * i] = sin(1.0 + (double)i);
        X[2 * i + 1] = cos(2.0 * (double)i);
        Y[i] = tanh(X[2 * i] - 0.5 * X[2 * i + 1]);
    }
    const size_t xs[2] = {8, 2}, ys[2] = {8, 1}, bad[2] = {8, 3};
    cu_write_npy("X.npy", X, 2, xs);
    cu_write_npy("Y.npy", Y, 2, ys);
    double X3[24] = {0};
    memcpy(X3, X, sizeof X);
    cu_write_npy("X3.npy", X3, 2, bad);
    cr_assert_eq(cu_run("train --layers 2,3,1 --data X.npy --targets Y.npy --batch 4 --steps 5 --out m0 --quiet"), 0,
                 "%s", cu_slurp(cu_err));
    /* gradient descent from the checkpoint, the last iterate saved */
    cr_assert_eq(cu_run("dynamics --model m0 --data X.npy --targets Y.npy --optimizer gd --eta 0.1 --steps 30 "
                        "--save m1 --json"),
                 0, "%s", cu_slurp(cu_err));
    char *j = cu_slurp(cu_out);
    double lf = cu_json_number(j, NULL, "loss_final");
    cr_expect(strstr(j, "\"objective\": \"mlp\"") != NULL, "%s", j);
    free(j);
    /* from the saved checkpoint: its loss at step 0 is lf */
    cr_assert_eq(cu_run("dynamics --model m1 --data X.npy --targets Y.npy --optimizer gd --eta 0.1 --steps 1 "
                        "--log l.csv"),
                 0, "%s", cu_slurp(cu_err));
    char path[700];
    snprintf(path, sizeof path, "%s/l.csv", cu_dir);
    char *log = cu_slurp(path);
    const char *row0 = strstr(log, "\n0,");
    cr_assert_not_null(row0, "%s", log);
    double l0 = strtod(row0 + 3, NULL);
    cr_expect(fabs(l0 - lf) <= 1e-15 * lf, "%.17g vs %.17g", l0, lf);
    free(log);
    /* bad input: before any work, no file */
    cr_expect_eq(cu_run("dynamics --model m0 --optimizer gd --eta 0.1 --steps 3 --save m2"), 2);
    cr_expect(strstr(cu_slurp(cu_err), "--model needs --data and --targets") != NULL);
    cr_expect_eq(cu_run("dynamics --model m0 --data X3.npy --targets Y.npy --optimizer gd --eta 0.1 --steps 3 --save m2"),
                 2);
    cr_expect(strstr(cu_slurp(cu_err), "m0 (2 inputs, 1 outputs) does not fit the data X3.npy (8 x 3) and Y.npy (8 x 1)") !=
                  NULL,
              "%s", cu_slurp(cu_err));
    /* outputs written after the run are checked before it */
    cr_expect_eq(cu_run("dynamics --model m0 --data X.npy --targets Y.npy --optimizer gd --eta 0.1 --steps 3 "
                        "--save nodir/m2"),
                 2);
    cr_expect(strstr(cu_slurp(cu_err), "--save nodir/m2: cannot write there") != NULL, "%s", cu_slurp(cu_err));
    cr_expect_eq(cu_run("dynamics --model m0 --data X.npy --targets Y.npy --optimizer gd --eta 0.1 --steps 3 "
                        "--save X.npy"),
                 2);
    cr_expect(strstr(cu_slurp(cu_err), "--save X.npy: exists and is not a directory") != NULL, "%s", cu_slurp(cu_err));
    cr_expect_eq(cu_run("dynamics --model m0 --data X.npy --targets Y.npy --optimizer gd --eta 0.1 --steps 3 "
                        "--log m0"),
                 2);
    cr_expect(strstr(cu_slurp(cu_err), "--log m0: is a directory") != NULL, "%s", cu_slurp(cu_err));
    cr_expect_eq(cu_run("dynamics --objective bartlett --optimizer gd --eta 0.1 --start 1,1 --steps 9 --switch 5:sgd "
                        "--switch 3:gd"),
                 2);
    cr_expect(strstr(cu_slurp(cu_err), "--switch is given twice") != NULL, "%s", cu_slurp(cu_err));
    /* a diverged run keeps its log but writes no checkpoint */
    cr_expect_eq(cu_run("dynamics --model m0 --data X.npy --targets Y.npy --optimizer gd --eta 1e4 --steps 500 "
                        "--save m9 --log d.csv"),
                 0, "%s", cu_slurp(cu_err));
    cr_expect(strstr(cu_slurp(cu_err), "--save m9: not written: the run diverged at step") != NULL, "%s",
              cu_slurp(cu_err));
    cr_expect_not(cu_exists("m9"));
    cr_expect(cu_exists("d.csv"));
    cr_expect_eq(cu_run("dynamics --model m0 --data X.npy --targets Y.npy --optimizer gd --eta 0.1 --steps 3 "
                        "--start 1,2 --save m2"),
                 2);
    cr_expect(strstr(cu_slurp(cu_err), "--start has 2 values; the objective has dimension 13") != NULL, "%s",
              cu_slurp(cu_err));
    cr_expect_eq(cu_run("dynamics --objective bartlett --data X.npy --optimizer gd --eta 0.1 --start 1,1 --steps 3"), 2);
    cr_expect_not(cu_exists("m2"));
}

Test(cli_dynamics, the_npy_log_holds_the_csv_log_bit_for_bit)
{
    const char *run = "dynamics --objective bartlett --optimizer sam-normalized --eta 0.2 --rho 1 --start 1,1 "
                      "--steps 40 --log %s";
    cr_assert_eq(cu_run(run, "l.csv"), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run(run, "l.npy"), 0, "%s", cu_slurp(cu_err));
    char path[700];
    snprintf(path, sizeof path, "%s/l.npy", cu_dir);
    linstab_array a = {0};
    linstab_error err;
    cr_assert_eq(linstab_npy_read(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(a.ndim, 2);
    cr_assert_eq(a.shape[0], 41);
    cr_assert_eq(a.shape[1], 5);
    snprintf(path, sizeof path, "%s/l.csv", cu_dir);
    char *csv = cu_slurp(path), *p = strchr(csv, '\n') + 1;
    for (size_t k = 0; k < 41 * 5; k++) {
        double v = strtod(p, &p); /* %.17g round-trips */
        cr_expect_eq(v, a.data[k], "row %zu column %zu", k / 5, k % 5);
        p++;
    }
    free(csv);
    linstab_npy_array_free(&a);
}

/* `dynamics` starts once: the re-execution that shortens OpenBLAS's spin
 * for the OpenMP commands (tools/linstab.c) would double its start-up.
 * Counted with strace; --version, which re-executes, shows the count
 * works. */
Test(cli_dynamics, runs_in_a_single_process_start)
{
    if (system("strace -V >/dev/null 2>&1") != 0) cr_skip_test("strace is not installed");
    const char *bin = getenv("LINSTAB_BIN");
    const char *args[2] = {"dynamics --objective bartlett --optimizer gd --eta 0.1 --start 1,1 --steps 3",
                           "--version"};
    long want[2] = {1, 2};
    for (int k = 0; k < 2; k++) {
        char cmd[2048], path[700];
        snprintf(path, sizeof path, "%s/strace.txt", cu_dir);
        snprintf(cmd, sizeof cmd,
                 "env -u LINSTAB_NO_REEXEC -u OPENBLAS_THREAD_TIMEOUT strace -f -e trace=execve -o '%s' '%s' %s "
                 ">/dev/null 2>&1",
                 path, bin, args[k]);
        if (system(cmd) != 0) cr_skip_test("strace cannot trace here (ptrace refused?)");
        char *t = cu_slurp(path);
        long n = 0;
        for (const char *p = t; (p = strstr(p, "execve(")) != NULL; p++) n++;
        cr_expect_eq(n, want[k], "%s: %ld execve calls\n%s", args[k], n, t);
        free(t);
    }
}

Test(cli_dynamics, train_save_data_gives_dynamics_the_data_train_saw)
{
    cr_assert_eq(cu_run("train --layers 2,6,1 --teacher 40 --batch 8 --eta 0.1 --steps 200 --seed 3 --save-data "
                        "--out tm --quiet"),
                 0, "%s", cu_slurp(cu_err));
    const char *o = cu_slurp(cu_out), *at = strstr(o, "loss ");
    cr_assert_not_null(at, "%s", o);
    double trained = strtod(at + 5, NULL); /* printed with %.6g */
    cr_assert_eq(cu_run("dynamics --model tm --data tm/X.npy --targets tm/Y.npy --optimizer sgd --batch 8 --eta 0.1 "
                        "--steps 20 --log-every 10 --sharpness-every 20 --log l.csv --json"),
                 0, "%s", cu_slurp(cu_err));
    char path[700];
    snprintf(path, sizeof path, "%s/l.csv", cu_dir);
    char *log = cu_slurp(path);
    cr_expect(strncmp(log, "step,loss,grad_norm,sharpness\n0,", 32) == 0, "%.60s", log);
    size_t lines = 0;
    for (const char *p = log; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 4); /* header, steps 0, 10, 20 */
    double l0 = strtod(log + 32, NULL);
    cr_expect(fabs(l0 - trained) <= 5e-6 * trained, "%.17g vs %.6g", l0, trained);
    free(log);
    char *j = cu_slurp(cu_out);
    cr_expect(cu_json_number(j, NULL, "sharpness_final") > 0.0, "%s", j);
    free(j);
}

Test(cli_dynamics, allow_indefinite_accepts_a_valley_and_a_saddle)
{
    /* gradient descent on l = (1, -0.5): the saddle's unstable direction
     * grows by 1 + 0.5 eta per step, the stable one contracts */
    cr_assert_eq(cu_run("dynamics --objective quadratic --spectrum 1,-0.5 --allow-indefinite --optimizer gd --eta 0.2 "
                        "--start 1,1 --steps 10 --json"),
                 0, "%s", cu_slurp(cu_err));
    char *j = cu_slurp(cu_out);
    const char *f = strstr(j, "\"final\": [");
    cr_assert_not_null(f, "%s", j);
    double w1 = strtod(f + 10, NULL);
    cr_expect(fabs(w1 - pow(0.8, 10.0)) <= 1e-15, "%s", j);
    free(j);
    cr_assert_eq(cu_run("dynamics --objective quadratic --spectrum 1,0 --allow-indefinite --optimizer sam-normalized "
                        "--eta 0.2 --rho 1 --start 2,2 --steps 300 --json"),
                 0, "%s", cu_slurp(cu_err));
    j = cu_slurp(cu_out);
    double want = 0.2 * 1.0 * 1.0 / (2.0 - 0.2);
    cr_expect(fabs(cu_json_number(j, "\"cycle\"", "amplitude") - want) <= 1e-8 * want, "%s", j);
    free(j);
}

Test(cli_dynamics, a_quadratic_given_by_its_matrix_cycles_as_theorem_2_says)
{
    /* L = Q diag(1.3, 0.6) Q' with Q a rotation by 0.4: the cycle lies
     * along Q e1 with Theorem 2's amplitude */
    double c = cos(0.4), s = sin(0.4);
    const double L[4] = {1.3 * c * c + 0.6 * s * s, (1.3 - 0.6) * c * s, (1.3 - 0.6) * c * s, 1.3 * s * s + 0.6 * c * c};
    const size_t shape[2] = {2, 2};
    cu_write_npy("L.npy", L, 2, shape);
    cr_assert_eq(cu_run("dynamics --objective quadratic --matrix L.npy --optimizer sam-normalized --eta 0.3 --rho 0.7 "
                        "--start 1,-2 --steps 3000 --json"),
                 0, "%s", cu_slurp(cu_err));
    char *j = cu_slurp(cu_out);
    double want = 0.3 * 0.7 * 1.3 / (2.0 - 0.3 * 1.3);
    cr_expect_eq(cu_json_number(j, "\"cycle\"", "period"), 2.0, "%s", j);
    cr_expect(fabs(cu_json_number(j, "\"cycle\"", "amplitude") - want) <= 1e-8 * want, "%s", j);
    cr_expect(fabs(cu_json_number(j, "\"cycle\"", "predicted_amplitude") - want) <= 1e-14 * want, "%s", j);
    cr_expect(cu_json_number(j, "\"prop8\"", "max_deviation") <= 1e-13, "%s", j);
    free(j);
    /* an indefinite matrix needs --allow-indefinite; an asymmetric one is refused */
    const double S[4] = {1.0, 0.0, 0.0, -0.5}, A[4] = {1.0, 0.3, 0.0, 1.0};
    cu_write_npy("S.npy", S, 2, shape);
    cu_write_npy("A.npy", A, 2, shape);
    cr_expect_eq(cu_run("dynamics --objective quadratic --matrix S.npy --optimizer gd --eta 0.1 --start 1,1 --steps 3"), 2);
    cr_expect(strstr(cu_slurp(cu_err), "its smallest eigenvalue is -0.5") != NULL, "%s", cu_slurp(cu_err));
    cr_expect_eq(cu_run("dynamics --objective quadratic --matrix S.npy --allow-indefinite --optimizer gd --eta 0.1 "
                        "--start 1,1 --steps 3"),
                 0, "%s", cu_slurp(cu_err));
    cr_expect_eq(cu_run("dynamics --objective quadratic --matrix A.npy --optimizer gd --eta 0.1 --start 1,1 --steps 3"), 1);
    cr_expect(strstr(cu_slurp(cu_err), "not symmetric") != NULL, "%s", cu_slurp(cu_err));
    cr_expect_eq(cu_run("dynamics --objective quadratic --matrix L.npy --spectrum 1,2 --optimizer gd --eta 0.1 "
                        "--start 1,1 --steps 3"),
                 2);
}
