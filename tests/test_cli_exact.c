/*
 * test_cli_exact.c -- end-to-end: what `check` and `critical` say where the
 * theory's premises fail or sit on the edge: a model source away from an
 * interpolating minimum, indefinite families, eta exactly at eta*.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "linstab/mlp.h"
#include "testutil.h"

TestSuite(cli_exact, .init = cu_setup, .fini = cu_teardown);

/* A 3-5-2 tanh MLP in cu_dir/mdl, inputs X (6 x 3), targets Y at the
 * model's own outputs (an interpolating minimum of the squared loss) and
 * Yoff = Y + offsets (not one).  OUT the model (caller frees). */
static linstab_mlp *write_model(double *X, double *Yoff)
{
    size_t sizes[3] = {3, 5, 2};
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, 2, LINSTAB_AD_TANH, 1, &m, &err), LINSTAB_OK);
    for (size_t j = 0; j < m->p; j++) m->theta[j] = 0.4 * sin(1.3 * (double)j + 0.5);
    char path[800];
    snprintf(path, sizeof path, "%s/mdl", cu_dir);
    cr_assert_eq(linstab_mlp_save(m, path, &err), LINSTAB_OK, "%s", err.msg);
    double F[12];
    for (int j = 0; j < 18; j++) X[j] = cos(0.7 * j + 0.1);
    cr_assert_eq(linstab_mlp_forward(m, X, 6, F, &err), LINSTAB_OK);
    for (int j = 0; j < 12; j++) Yoff[j] = F[j] + 0.3 * sin(2.1 * j);
    size_t sx[2] = {6, 3}, sy[2] = {6, 2};
    cu_write_npy("X.npy", X, 2, sx);
    cu_write_npy("Y.npy", F, 2, sy);
    cu_write_npy("Yoff.npy", Yoff, 2, sy);
    return m;
}

Test(cli_exact, a_model_at_an_interpolating_minimum_is_reported_as_one)
{
    double X[18], Yoff[12];
    linstab_mlp *m = write_model(X, Yoff);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets Y.npy --eta 0.1 --batch 2 --json --no-exact"), 0);
    char *js = cu_slurp(cu_out);
    cr_expect_eq(cu_json_number(js, "\"model_point\"", "interpolating_minimum"), 1.0, "%s", js);
    cr_expect_leq(cu_json_number(js, "\"model_point\"", "max_sample_grad_norm"), 1e-13);
    cr_expect_leq(cu_json_number(js, "\"model_point\"", "mean_loss"), 1e-28);
    /* Gauss-Newton factors of rank <= 12 < p = 27: zero curvature, none negative */
    cr_expect_eq(cu_json_number(js, "\"model_point\"", "lambda_min"), 0.0);
    free(js);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets Y.npy --eta 0.1 --batch 2 --no-exact"), 0);
    js = cu_slurp(cu_out);
    cr_expect(strstr(js, "model point:") != NULL && strstr(js, "WARNING") == NULL, "%s", js);
    free(js);
    linstab_mlp_free(m);
}

Test(cli_exact, a_model_away_from_a_minimum_is_reported_with_its_gradient)
{
    double X[18], Yoff[12];
    linstab_mlp *m = write_model(X, Yoff);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets Yoff.npy --hessian exact --allow-indefinite "
                        "--eta 0.1 --batch 2 --json --no-exact"),
                 0);
    char *js = cu_slurp(cu_out);
    cr_expect_eq(cu_json_number(js, "\"model_point\"", "interpolating_minimum"), 0.0, "%s", js);
    /* ||grad L|| against central differences of the mean loss */
    double g2 = 0.0, h = 1e-6;
    for (size_t j = 0; j < m->p; j++) {
        double t = m->theta[j], lp, lm;
        linstab_error err;
        m->theta[j] = t + h;
        cr_assert_eq(linstab_mlp_loss(m, X, Yoff, 6, LINSTAB_LOSS_MSE, 0.0, NULL, &lp, NULL, NULL, &err), LINSTAB_OK);
        m->theta[j] = t - h;
        cr_assert_eq(linstab_mlp_loss(m, X, Yoff, 6, LINSTAB_LOSS_MSE, 0.0, NULL, &lm, NULL, NULL, &err), LINSTAB_OK);
        m->theta[j] = t;
        double gj = (lp - lm) / (2.0 * h) / 6.0;
        g2 += gj * gj;
    }
    double gn = cu_json_number(js, "\"model_point\"", "grad_norm");
    /* central differences: O(h^2) truncation and O(eps / h) rounding */
    cr_expect(fabs(gn - sqrt(g2)) <= 1e-7 * fmax(1.0, sqrt(g2)), "grad norm %.15g, finite differences %.15g", gn,
              sqrt(g2));
    cr_expect_gt(cu_json_number(js, "\"model_point\"", "max_sample_grad_norm"), 1e-3);
    free(js);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets Yoff.npy --hessian exact --allow-indefinite "
                        "--eta 0.1 --batch 2 --no-exact"),
                 0);
    js = cu_slurp(cu_out);
    cr_expect(strstr(js, "WARNING: this point is not an interpolating minimum") != NULL, "%s", js);
    free(js);
    linstab_mlp_free(m);
}

/* H_0 = diag(1, -0.5), H_1 = diag(0.2, 0.3), H_2 = [[0.5, 0.4], [0.4, -0.1]]:
 * H has a negative eigenvalue */
static void write_indefinite(void)
{
    double H[12] = {1, 0, 0, -0.5, 0.2, 0, 0, 0.3, 0.5, 0.4, 0.4, -0.1};
    size_t shape[3] = {3, 2, 2};
    cu_write_npy("ind.npy", H, 3, shape);
}

Test(cli_exact, an_indefinite_family_gets_gd_unstable_and_no_theorem_41_verdict)
{
    write_indefinite();
    cr_assert_eq(cu_run("check --family ind.npy --allow-indefinite --eta 0.3 --batch 2 --json"), 0);
    char *js = cu_slurp(cu_out);
    cr_expect_eq(cu_json_number(js, NULL, "h_positive_definite"), 0.0);
    double lmin = cu_json_number(js, "\"geometry\"", "lambda_min");
    /* H = [[1.7, 0.4], [0.4, -0.3]] / 3: eigenvalues (1.4 +- sqrt(4 + 0.64)) / 6 */
    double ref = (1.4 - sqrt(4.0 + 0.64)) / 6.0;
    cr_expect(fabs(lmin - ref) <= 1e-15, "lambda_min %.17g vs %.17g", lmin, ref);
    cr_expect(strstr(js, "\"verdict\": \"unstable\"") != NULL, "GD diverges along negative curvature: %s", js);
    cr_expect(cu_json_number(js, "\"gd\"", "diverges") == 1.0);
    cr_expect(fabs(cu_json_number(js, "\"gd\"", "radius") - (1 - 0.3 * ref) * (1 - 0.3 * ref)) <= 1e-15);
    cr_expect_eq(cu_json_number(js, "\"sam_late_thm41\"", "defined"), 0.0);
    cr_expect(isnan(cu_json_number(js, "\"sam_late_thm41\"", "stable_necessary")), "n/a, not unstable: %s", js);
    cr_expect(isnan(cu_json_number(js, "\"geometry\"", "gamma_min")));
    cr_expect_eq(cu_json_number(js, "\"exact\"", "critical_eta"), 0.0, "no eta > 0 is stable");
    free(js);
    cr_assert_eq(cu_run("check --family ind.npy --allow-indefinite --eta 0.3 --batch 2"), 0);
    js = cu_slurp(cu_out);
    cr_expect(strstr(js, "H is not positive definite") != NULL, "%s", js);
    cr_expect(strstr(js, "gamma_min (Zhou et al. 2025)         n/a") != NULL, "%s", js);
    free(js);
}

Test(cli_exact, check_at_the_eta_star_of_critical_is_marginal_for_sgd_and_sam_at_rho_zero)
{
    double H[16] = {2, 0.5, 0.5, 1, 1, 1, 1, 1, 0.3, 0, 0, 2, 1, -0.2, -0.2, 0.5};
    size_t shape[3] = {4, 2, 2};
    cu_write_npy("fam.npy", H, 3, shape);
    static const char *samp[3] = {"without", "with", "bernoulli"};
    for (int t = 0; t < 3; t++)
        for (int B = 1; B <= 3; B++) {
            cr_assert_eq(cu_run("critical --family fam.npy --batches %d --sampling %s --json", B, samp[t]), 0);
            char *js = cu_slurp(cu_out);
            double es = cu_json_number(js, "\"rows\"", "critical_eta");
            free(js);
            cr_assert(isfinite(es) && es > 0.0);
            /* the text table carries the same 17 digits */
            cr_assert_eq(cu_run("critical --family fam.npy --batches %d --sampling %s", B, samp[t]), 0);
            js = cu_slurp(cu_out);
            char want[64];
            snprintf(want, sizeof want, "%.17g", es);
            cr_expect(strstr(js, want) != NULL, "text table lacks %s: %s", want, js);
            free(js);
            cr_assert_eq(cu_run("check --family fam.npy --eta %.17g --batch %d --sampling %s --rho 0 --json", es, B,
                                samp[t]),
                         0);
            js = cu_slurp(cu_out);
            const char *sgd = strstr(js, "\"sgd\"");
            const char *sam = strstr(js, "\"sam\"");
            cr_assert(sgd && sam);
            cr_expect(strstr(sgd, "\"verdict\": \"marginal\"") != NULL && strstr(sgd, "\"verdict\": \"marginal\"") < sam,
                      "%s B = %d: SGD at eta* = %.17g: %s", samp[t], B, es, sgd);
            cr_expect(strstr(sam, "\"verdict\": \"marginal\"") != NULL, "%s B = %d: SAM at rho = 0: %s", samp[t], B, sam);
            free(js);
        }
}

/* ---------------------------------------------------------- scales */

Test(cli_exact, huge_or_tiny_scales_are_refused_with_the_factor_or_computed_homogeneously)
{
    double H[16] = {2, 0.5, 0.5, 1, 1, 1, 1, 1, 0.3, 0, 0, 2, 1, -0.2, -0.2, 0.5}, Hb[16];
    size_t shape[3] = {4, 2, 2};
    cu_write_npy("fam.npy", H, 3, shape);
    static const double scale[4] = {1e100, 1e-100, 1e60, 1e-60};
    static const char *name[4] = {"big.npy", "tiny.npy", "c60.npy", "cm60.npy"};
    for (int t = 0; t < 4; t++) {
        for (int j = 0; j < 16; j++) Hb[j] = H[j] * scale[t];
        cu_write_npy(name[t], Hb, 3, shape);
    }
    int rc = cu_run("check --family big.npy --eta 0.5 --batch 2");
    char *e = cu_slurp(cu_err);
    cr_expect(rc == 1 && strstr(e, "entries too large") != NULL, "rc %d: %s", rc, e);
    free(e);
    rc = cu_run("check --family tiny.npy --eta 0.5 --batch 2");
    e = cu_slurp(cu_err);
    cr_expect(rc == 1 && strstr(e, "entries too small") != NULL, "rc %d: %s", rc, e);
    free(e);
    rc = cu_run("check --family fam.npy --eta 1e300 --batch 2");
    e = cu_slurp(cu_err);
    cr_expect(rc == 2 && strstr(e, "overflow") != NULL && strstr(e, "LAPACK") == NULL, "rc %d: %s", rc, e);
    free(e);
    rc = cu_run("check --family fam.npy --eta 0.5 --rho 1e300 --batch 2");
    e = cu_slurp(cu_err);
    cr_expect(rc == 2 && strstr(e, "the SAM radius") != NULL, "rc %d: %s", rc, e);
    free(e);
    rc = cu_run("check --family fam.npy --eta 1e-320 --batch 2");
    e = cu_slurp(cu_err);
    cr_expect(rc == 2 && strstr(e, "changes nothing") != NULL && strstr(e, "LAPACK") == NULL, "rc %d: %s", rc, e);
    free(e);
    rc = cu_run("critical --family fam.npy --batches 2 --rho 1e300");
    cr_expect_eq(rc, 2);
    /* within the limits the results are homogeneous: (H c, eta / c, rho / c) */
    cr_assert_eq(cu_run("check --family fam.npy --eta 0.5 --batch 2 --rho 0.1 --json --lyapunov-runs 2"), 0);
    char *ref = cu_slurp(cu_out);
    double r0 = cu_json_number(ref, "\"sgd\"", "radius"), s0 = cu_json_number(ref, "\"sam\"", "radius");
    for (int t = 2; t < 4; t++) {
        cr_assert_eq(cu_run("check --family %s --eta %.17g --batch 2 --rho %.17g --json --lyapunov-runs 2", name[t],
                            0.5 / scale[t], 0.1 / scale[t]),
                     0, "%s", name[t]);
        char *js = cu_slurp(cu_out);
        double r = cu_json_number(js, "\"sgd\"", "radius"), s = cu_json_number(js, "\"sam\"", "radius");
        /* rescaling rounds each entry once: a few eps of relative change */
        cr_expect(fabs(r - r0) <= 64 * 2.2e-16 * r0 && fabs(s - s0) <= 64 * 2.2e-16 * s0,
                  "%s: radii %.17g %.17g vs %.17g %.17g", name[t], r, s, r0, s0);
        free(js);
    }
    free(ref);
}

Test(cli_exact, critical_reports_the_model_point_too)
{
    double X[18], Yoff[12];
    linstab_mlp *m = write_model(X, Yoff);
    cr_assert_eq(cu_run("critical --model mdl --data X.npy --targets Y.npy --batches 1,3 --json"), 0);
    char *js = cu_slurp(cu_out);
    cr_expect_eq(cu_json_number(js, "\"model_point\"", "interpolating_minimum"), 1.0, "%s", js);
    free(js);
    cr_assert_eq(cu_run("critical --model mdl --data X.npy --targets Yoff.npy --batches 1,3 --json"), 0);
    js = cu_slurp(cu_out);
    cr_expect_eq(cu_json_number(js, "\"model_point\"", "interpolating_minimum"), 0.0, "%s", js);
    cr_expect_gt(cu_json_number(js, "\"model_point\"", "grad_norm"), 0.0);
    free(js);
    cr_assert_eq(cu_run("critical --model mdl --data X.npy --targets Yoff.npy --batches 1,3"), 0);
    js = cu_slurp(cu_out);
    cr_expect(strstr(js, "# WARNING: not an interpolating minimum") != NULL, "%s", js);
    free(js);
    linstab_mlp_free(m);
}

Test(cli_exact, the_model_point_is_the_per_sample_gradients_and_the_rule_has_both_sides)
{
    double X[18], Yoff[12];
    linstab_mlp *m = write_model(X, Yoff);
    linstab_array Xa = {2, {6, 3}, X}, Ya = {2, {6, 2}, Yoff};
    linstab_mlp_point pt;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_point_at(m, &Xa, &Ya, LINSTAB_LOSS_MSE, 0.0, &pt, &err), LINSTAB_OK, "%s", err.msg);
    /* the same quantities from one-row loss calls */
    double *g = calloc(m->p, sizeof *g), *gi = malloc(m->p * sizeof *gi), total = 0.0, gmax = 0.0;
    for (size_t i = 0; i < 6; i++) {
        double li;
        cr_assert_eq(linstab_mlp_loss(m, X + 3 * i, Yoff + 2 * i, 1, LINSTAB_LOSS_MSE, 0.0, NULL, &li, gi, NULL, &err),
                     LINSTAB_OK);
        double s = 0.0;
        for (size_t j = 0; j < m->p; j++) {
            g[j] += gi[j] / 6.0;
            s += gi[j] * gi[j];
        }
        total += li;
        gmax = fmax(gmax, sqrt(s));
    }
    double gn = 0.0;
    for (size_t j = 0; j < m->p; j++) gn += g[j] * g[j];
    cr_expect(fabs(pt.mean_loss - total / 6.0) <= 1e-14 * total);
    cr_expect(fabs(pt.max_sample_grad_norm - gmax) <= 1e-14 * gmax);
    cr_expect(fabs(pt.grad_norm - sqrt(gn)) <= 1e-13 * sqrt(gn));
    /* the rule: small gradients and no negative curvature */
    linstab_mlp_point z = pt;
    z.max_sample_grad_norm = 0.5 * LINSTAB_MINIMUM_GRAD_RTOL * fmax(1.0, 2.0 * pt.param_norm);
    cr_expect(linstab_mlp_point_is_minimum(&z, 2.0, 0.0));
    cr_expect(linstab_mlp_point_is_minimum(&z, 2.0, NAN), "lambda_min unknown: no negative curvature known");
    cr_expect(!linstab_mlp_point_is_minimum(&z, 2.0, -1e-6), "negative curvature beyond 1e-8 lambda1");
    cr_expect(linstab_mlp_point_stationary(&z, 2.0), "stationary all the same");
    z.max_sample_grad_norm *= 4.0;
    cr_expect(!linstab_mlp_point_is_minimum(&z, 2.0, 0.0), "gradients beyond the rule");
    cr_expect(!linstab_mlp_point_stationary(&z, 2.0));
    free(g);
    free(gi);
    linstab_mlp_free(m);
}

Test(cli_exact, mlp_widths_whose_parameter_count_overflows_are_refused)
{
    size_t sizes[3] = {(size_t)1 << 40, (size_t)1 << 40, 2};
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    cr_expect_eq(linstab_mlp_alloc(sizes, 2, LINSTAB_AD_TANH, 1, &m, &err), LINSTAB_EINVAL);
    cr_expect(m == NULL && strstr(err.msg, "overflows") != NULL, "%s", err.msg);
}


/* the line of stderr that starts with `prefix` and holds `has` (NULL: none) */
static int has_line(const char *e, const char *prefix, const char *has)
{
    for (const char *l = e; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char buf[512];
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, l, len);
        buf[len] = '\0';
        if (strncmp(buf, prefix, strlen(prefix)) == 0 && strstr(buf, has) != NULL) return 1;
    }
    return 0;
}

/* The exact section draws a bar per stage (LINSTAB_PROGRESS=1: also off a
 * terminal) with its units: the Lyapunov steps are runs x steps, the Lemma
 * its 10 products (T^j(I) and M^j(I), j <= 5, for 10 terms), critical B's eta* solves at most the 18 it starts from,
 * critical rho's bisection at least 1 + 1 + 8 + 33 radii (v(0), the
 * bracket, the monotonicity grid, halvings of [h, 2h] down to 1e-10 2h). */
Test(cli_exact, check_shows_a_bar_per_exact_stage_with_its_units_and_an_eta_and_nothing_with_quiet)
{
    cr_assert_eq(cu_run("gen --kind lowrank --n 30 --d 6 --rank 2 --seed 1 --out lr.npy --quiet"), 0);
    const char *cmd = "check --factors lr.npy --eta 0.5 --batch 3 --rho 0.05 --lyapunov-runs 4 --lyapunov-steps 500";
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "%s", cmd), 0);
    char *e = cu_slurp(cu_err);
    cr_expect(has_line(e, "exact SGD eta* ", "0/1, 0.0 s, ETA --") || has_line(e, "exact SGD eta* ", "ETA --"), "%s", e);
    cr_expect(has_line(e, "exact SGD eta* ", "] 1/1 done in"), "%s", e);
    cr_expect(has_line(e, "exact SGD radius ", "] 1/1 done in"), "%s", e);
    cr_expect(has_line(e, "exact critical B ", "] 0/18, "), "critical B starts from at most 18: %s", e);
    cr_expect(has_line(e, "exact Lemma 4.1 ", "] 10/10 done in"), "%s", e);
    cr_expect(has_line(e, "exact Lyapunov ", "] 0/2000, "), "%s", e);
    cr_expect(has_line(e, "exact Lyapunov ", "] 2000/2000 done in"), "%s", e);
    cr_expect(has_line(e, "exact SAM radius ", "] 1/1 done in"), "%s", e);
    const char *rho = strstr(e, "exact critical rho ");
    cr_assert_not_null(rho, "%s", e);
    const char *last = strstr(rho, "done in");
    cr_assert_not_null(last, "%s", e);
    const char *slash = last;
    while (slash > rho && *slash != '/') slash--;
    const char *num = slash;
    while (num > rho && num[-1] >= '0' && num[-1] <= '9') num--;
    long done = strtol(num, NULL, 10), total = strtol(slash + 1, NULL, 10);
    cr_expect(done == total && done >= 43 && done <= 120, "critical rho: %ld/%ld radii: %s", done, total, e);
    free(e);
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "%s --quiet", cmd), 0);
    e = cu_slurp(cu_err);
    cr_expect_str_eq(e, "", "--quiet");
    free(e);
}
