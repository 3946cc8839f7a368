/*
 * test_cli_dynamics.c -- `linstab dynamics` end to end: the JSON keys the
 * issue names, the theory's numbers beside the measured ones, the log, a
 * divergent run, and bad input refused before any work with no file left.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
