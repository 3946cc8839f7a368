/*
 * test_trajectory.c -- the dynamics against closed forms: GD on a quadratic
 * (w_t = (I - eta L)^t w_0), normalized SAM's 2-cycle (Bartlett et al.
 * 2023, Theorem 2) on random spectra, their Proposition 8, the escape rate
 * on Zhou et al. (2025)'s Example 4.1, full-batch SGD = GD, divergence and
 * bad input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "linstab/generate.h"
#include "linstab/objective.h"
#include "linstab/rng.h"
#include "linstab/sampling.h"
#include "linstab/trajectory.h"
#include "testutil.h"

static linstab_objective *quadratic(const double *l, size_t d)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_quadratic(l, d, &o, &err), LINSTAB_OK, "%s", err.msg);
    return o;
}

Test(trajectory, gd_on_a_quadratic_is_the_closed_form_power)
{
    const double l[3] = {1.5, 0.4, -0.2}; /* a saddle is an objective too */
    linstab_objective *o = quadratic(l, 3);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_GD;
    p.eta = 0.3;
    p.steps = 40;
    const double w0[3] = {1.0, -2.0, 0.5};
    linstab_trajectory t;
    linstab_error err;
    cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(t.steps, 40);
    for (size_t k = 0; k <= 40; k += 7) {
        double loss = 0.0;
        for (int j = 0; j < 3; j++) {
            double want = w0[j] * pow(1.0 - p.eta * l[j], (double)k);
            cr_expect(fabs(t.iterates[k * 3 + j] - want) <= 1e-13 * fmax(1.0, fabs(want)), "step %zu coord %d: %.17g vs %.17g",
                      k, j, t.iterates[k * 3 + j], want);
            loss += 0.5 * l[j] * want * want;
        }
        cr_expect(fabs(t.loss[k] - loss) <= 1e-12 * fmax(1.0, fabs(loss)), "step %zu", k);
    }
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
}

/* Theorem 2: for 0 < eta < 1/(2 l1) and l1 > l2, normalized SAM converges to
 * +/- (eta rho l1/(2 - eta l1)) e1; on random spectra, starts and (eta, rho)
 * the detected cycle has period 2 and that amplitude to 1e-8, and
 * Proposition 8 holds to rounding along the whole run. */
Test(trajectory, normalized_sam_reaches_theorem_2_cycle_and_proposition_8_holds)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2023);
    for (int trial = 0; trial < 12; trial++) {
        size_t d = 2 + (size_t)gsl_rng_uniform_int(r, 4);
        double l[6];
        l[0] = 0.5 + 2.0 * gsl_rng_uniform(r);
        for (size_t j = 1; j < d; j++) l[j] = l[0] * (0.1 + 0.8 * gsl_rng_uniform(r));
        linstab_objective *o = quadratic(l, d);
        linstab_trajectory_opts p = linstab_trajectory_defaults();
        p.opt = LINSTAB_OPT_SAM_NORMALIZED;
        p.eta = (0.1 + 0.85 * gsl_rng_uniform(r)) / (2.0 * l[0]);
        p.rho = 0.05 + 2.0 * gsl_rng_uniform(r);
        p.steps = 6000;
        double w0[6];
        for (size_t j = 0; j < d; j++) w0[j] = 4.0 * gsl_rng_uniform(r) - 2.0;
        linstab_trajectory t;
        linstab_error err;
        cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
        size_t period = 0;
        double amp = NAN, want = NAN, dev = NAN;
        cr_assert(linstab_trajectory_cycle(&t, 64, 1e-10, &period, &amp), "trial %d: no cycle", trial);
        cr_assert(linstab_trajectory_predicted_amplitude(o, p.eta, p.rho, &want));
        cr_expect_eq(period, 2, "trial %d", trial);
        cr_expect(fabs(want - p.eta * p.rho * l[0] / (2.0 - p.eta * l[0])) <= 1e-15 * want);
        cr_expect(fabs(amp - want) <= 1e-8 * want, "trial %d: amplitude %.17g, Theorem 2 %.17g", trial, amp, want);
        /* the cycle lies along e1 */
        for (size_t j = 1; j < d; j++) cr_expect(fabs(t.final[j]) <= 1e-8 * want, "trial %d coord %zu", trial, j);
        cr_assert(linstab_trajectory_prop8(&t, o, p.eta, p.rho, &dev));
        cr_expect(dev <= 64.0 * 2.2e-16 * (1.0 + 1.0 / (p.eta * p.rho)), "trial %d: deviation %g", trial, dev);
        linstab_trajectory_clear(&t);
        linstab_objective_free(o);
    }
    gsl_rng_free(r);
}

Test(trajectory, a_rank_deficient_quadratic_cycles_about_a_point_of_its_valley)
{
    /* l = (1.2, 0, 0.4): the valley is the e2 axis, the iterates keep their
     * e2 coordinate and straddle (0, w2, 0) at distance Theorem 2's a */
    const double l[3] = {1.2, 0.0, 0.4};
    linstab_objective *o = quadratic(l, 3);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_SAM_NORMALIZED;
    p.eta = 0.3;
    p.rho = 0.6;
    p.steps = 3000;
    const double w0[3] = {1.0, 1.7, -0.8};
    linstab_trajectory t;
    linstab_error err;
    cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
    size_t period = 0;
    double amp = NAN, want = NAN, dm = NAN, dp = NAN;
    cr_assert(linstab_trajectory_cycle(&t, 64, 1e-10, &period, &amp));
    cr_assert(linstab_trajectory_predicted_amplitude(o, p.eta, p.rho, &want));
    cr_expect_eq(period, 2);
    cr_expect(fabs(want - 0.3 * 0.6 * 1.2 / (2.0 - 0.36)) <= 1e-15 * want);
    cr_expect(fabs(amp - want) <= 1e-8 * want, "amplitude %.17g, Theorem 2 %.17g", amp, want);
    cr_expect_eq(t.final[1], 1.7, "the valley coordinate never moves");
    /* a constant Hessian: no drift predicted, none measured */
    cr_assert(linstab_trajectory_drift(&t, o, p.eta, p.rho, 20, &dm, &dp));
    cr_expect_eq(dp, 0.0);
    cr_expect(dm <= 1e-12 * want, "drift %g", dm);
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
}

/* Zhou et al. (2025), Example 4.1: GD settles at (u*, 0) with sharpness
 * s = tanh^2 u*; after the switch to SAM the loss grows by
 * (1 - eta s - eta rho s^2)^2 per step while the iterate is close to the
 * minimum -- the radius of the linearized step. */
Test(trajectory, sam_escapes_the_sharp_minimum_of_example_4_1_at_the_linearized_radius)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_tanh2(&o, &err), LINSTAB_OK);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_GD;
    p.eta = 1.5;
    p.rho = 1.0;
    p.steps = 400;
    p.switch_step = 200;
    p.switch_opt = LINSTAB_OPT_SAM_SAME;
    const double w0[2] = {1.5, 0.3};
    linstab_trajectory t;
    cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
    double rate = NAN, pred = NAN;
    size_t a = 0, b = 0;
    cr_assert(linstab_trajectory_escape_rate(&t, p.switch_step, &rate, &a, &b));
    cr_assert(linstab_trajectory_predicted_rate(o, t.iterates + 2 * p.switch_step, p.switch_opt, p.eta, p.rho, 1, LINSTAB_SAMPLING_WITHOUT, &pred));
    double s = pow(tanh(t.iterates[2 * p.switch_step]), 2.0);
    double closed = pow(1.0 - p.eta * s - p.eta * p.rho * s * s, 2.0);
    cr_expect(fabs(pred - closed) <= 1e-12 * closed, "%.17g vs %.17g", pred, closed);
    cr_expect(rate > 1.0);
    cr_expect(fabs(rate - pred) <= 1e-6 * pred, "measured %.17g, predicted %.17g (window %zu..%zu)", rate, pred, a, b);
    /* GD alone would not escape: across the valley its loss shrinks by
     * (1 - eta s)^2 < 1 (the flat direction u along it does not count) */
    double gd = NAN;
    cr_assert(linstab_trajectory_predicted_rate(o, t.iterates + 2 * p.switch_step, LINSTAB_OPT_GD, p.eta, p.rho, 1, LINSTAB_SAMPLING_WITHOUT, &gd));
    cr_expect(fabs(gd - pow(1.0 - p.eta * s, 2.0)) <= 1e-12, "%.17g", gd);
    cr_expect(gd < 1.0);
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
}

/* SGD with the full batch without replacement is GD (up to the order of the
 * sum), and a batch run is reproducible from its seed. */
Test(trajectory, full_batch_sgd_is_gd_and_the_seed_fixes_the_run)
{
    linstab_family *f = tu_family_dense(5, 3, 2, 17);
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.eta = 0.05;
    p.steps = 30;
    p.batch = 5;
    const double w0[3] = {0.3, -1.0, 2.0};
    linstab_trajectory t1, t2, t3;
    p.opt = LINSTAB_OPT_SGD;
    cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t1, &err), LINSTAB_OK, "%s", err.msg);
    p.opt = LINSTAB_OPT_GD;
    cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t2, &err), LINSTAB_OK, "%s", err.msg);
    for (size_t k = 0; k < 3 * 31; k++)
        cr_expect(fabs(t1.iterates[k] - t2.iterates[k]) <= 1e-12 * fmax(1.0, fabs(t2.iterates[k])), "entry %zu", k);
    p.opt = LINSTAB_OPT_SAM_INDEP;
    p.batch = 2;
    p.rho = 0.1;
    p.seed = 9;
    p.noise = 0.01;
    linstab_trajectory_clear(&t1);
    cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t1, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t3, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(memcmp(t1.iterates, t3.iterates, 3 * 31 * sizeof(double)), 0);
    linstab_trajectory_clear(&t1);
    linstab_trajectory_clear(&t2);
    linstab_trajectory_clear(&t3);
    linstab_objective_free(o);
    linstab_family_free(f);
}

Test(trajectory, a_divergent_run_stops_and_keeps_its_log)
{
    const double l[2] = {1.0, 0.5};
    linstab_objective *o = quadratic(l, 2);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_GD;
    p.eta = 2.5; /* |1 - eta l1| = 1.5 */
    p.steps = 100000;
    const double w0[2] = {1.0, 1.0};
    linstab_trajectory t;
    linstab_error err;
    cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(t.diverged);
    /* 0.5 * 1.5^(2t) > 1e100 first at t = 285 */
    cr_expect_eq(t.steps, 285);
    cr_expect(isfinite(t.loss[t.steps - 1]) && t.loss[t.steps - 1] <= 1e100);
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
}

Test(trajectory, bad_input_is_refused_before_any_step)
{
    const double l[2] = {1.0, 0.5};
    linstab_objective *o = quadratic(l, 2);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    const double w0[2] = {1.0, 1.0}, bad[2] = {NAN, 0.0};
    linstab_trajectory t;
    linstab_error err;
    struct {
        double eta, rho;
        size_t steps, sw;
        const double *w;
        const char *param;
    } cases[] = {{0.0, 0.0, 10, 0, w0, "eta"},   {-1.0, 0.0, 10, 0, w0, "eta"},
                 {0.1, -1.0, 10, 0, w0, "rho"},  {0.1, 0.0, 0, 0, w0, "steps"},
                 {0.1, 0.0, 10, 11, w0, "switch"}, {0.1, 0.0, 10, 0, bad, "start"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        p.eta = cases[c].eta;
        p.rho = cases[c].rho;
        p.steps = cases[c].steps;
        p.switch_step = cases[c].sw;
        cr_expect_eq(linstab_trajectory_run(o, cases[c].w, &p, &t, &err), LINSTAB_EINVAL, "case %zu", c);
        cr_expect_str_eq(err.param, cases[c].param, "case %zu", c);
        cr_expect_null(t.loss);
        linstab_trajectory_clear(&t);
    }
    double nanl[2] = {1.0, INFINITY};
    linstab_objective *q = NULL;
    cr_expect_eq(linstab_objective_quadratic(nanl, 2, &q, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.param, "spectrum");
    linstab_objective_free(o);
}

/* One step of each batched optimizer equals the step rebuilt by hand from
 * the same random stream (batches drawn in the documented order: the
 * descent batch, then, for independent SAM, the ascent batch). */
Test(trajectory, one_step_of_each_optimizer_is_the_formula_on_the_drawn_batches)
{
    linstab_family *f = tu_family_dense(6, 3, 2, 23);
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK);
    const linstab_optimizer opts[4] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP,
                                       LINSTAB_OPT_SAM_NORMALIZED};
    const double w0[3] = {0.7, -0.4, 1.1};
    for (int c = 0; c < 4; c++) {
        linstab_trajectory_opts p = linstab_trajectory_defaults();
        p.opt = opts[c];
        p.eta = 0.2;
        p.rho = 0.3;
        p.batch = 2;
        p.steps = 1;
        p.seed = 77;
        linstab_trajectory t;
        cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
        gsl_rng *r = linstab_rng_stream_mc(77, 0);
        size_t S[6], S2[6], work[6] = {0};
        size_t c1 = linstab_sampling_draw(r, p.sampling, 6, 2, S, work);
        size_t c2 = linstab_sampling_draw(r, p.sampling, 6, 2, S2, work);
        gsl_rng_free(r);
        double g[3], x[3], want[3];
        const size_t *A = opts[c] == LINSTAB_OPT_SAM_INDEP ? S2 : S;
        size_t ca = opts[c] == LINSTAB_OPT_SAM_INDEP ? c2 : c1;
        linstab_objective_eval(o, w0, opts[c] == LINSTAB_OPT_SGD ? S : A, opts[c] == LINSTAB_OPT_SGD ? c1 : ca, NULL, g);
        if (opts[c] != LINSTAB_OPT_SGD) {
            double sc = p.rho;
            if (opts[c] == LINSTAB_OPT_SAM_NORMALIZED) sc = p.rho / sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
            for (int j = 0; j < 3; j++) x[j] = w0[j] + sc * g[j];
            linstab_objective_eval(o, x, S, c1, NULL, g);
        }
        for (int j = 0; j < 3; j++) want[j] = w0[j] - p.eta * g[j];
        for (int j = 0; j < 3; j++)
            cr_expect(fabs(t.final[j] - want[j]) <= 1e-15 * fmax(1.0, fabs(want[j])), "%s coord %d: %.17g vs %.17g",
                      linstab_optimizer_name(opts[c]), j, t.final[j], want[j]);
        linstab_trajectory_clear(&t);
    }
    linstab_objective_free(o);
    linstab_family_free(f);
}

/* Theorem 21 on Example 4.1's valley v = 0 (sharpness tanh^2 u): normalized
 * SAM oscillates across it and drifts along it toward flatter minima at
 * -(eta rho^2/2)(1 + eta l1/(2 - eta l1))^2 d tanh^2(u)/du per step; the
 * theorem is first order in rho, so the relative error shrinks with rho. */
Test(trajectory, normalized_sam_drifts_along_the_valley_as_theorem_21_says)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_tanh2(&o, &err), LINSTAB_OK);
    const double rhos[3] = {0.04, 0.02, 0.01};
    double prev = INFINITY;
    for (int i = 0; i < 3; i++) {
        linstab_trajectory_opts p = linstab_trajectory_defaults();
        p.opt = LINSTAB_OPT_SAM_NORMALIZED;
        p.eta = 0.5;
        p.rho = rhos[i];
        p.steps = 3000;
        const double w0[2] = {1.2, 0.05};
        linstab_trajectory t;
        cr_assert_eq(linstab_trajectory_run(o, w0, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
        double m = NAN, pred = NAN;
        cr_assert(linstab_trajectory_drift(&t, o, p.eta, p.rho, 20, &m, &pred));
        /* the closed form at the final centre (u, ~0): l1 = tanh^2 u */
        double u = 0.5 * (t.iterates[2 * (t.steps - 1)] + t.iterates[2 * t.steps]), th = tanh(u);
        double l1 = th * th, a = 1.0 + p.eta * l1 / (2.0 - p.eta * l1);
        double closed = -0.5 * p.eta * p.rho * p.rho * a * a * 2.0 * th * (1.0 - th * th);
        cr_expect(fabs(pred - closed) <= 1e-3 * fabs(closed), "rho %g: %.17g vs %.17g", p.rho, pred, closed);
        double rel = fabs(m - pred) / fabs(pred);
        cr_expect(m < 0.0 && rel <= 2.0 * p.rho, "rho %g: measured %.6g, predicted %.6g", p.rho, m, pred);
        cr_expect(rel < prev, "rho %g: relative error %.3g did not shrink (%.3g before)", p.rho, rel, prev);
        prev = rel;
        linstab_trajectory_clear(&t);
    }
    linstab_objective_free(o);
    /* Bartlett et al.'s valley is not flat (the gradient along w2 is w2):
     * there the theorem's premise fails and no drift is claimed */
    cr_assert_eq(linstab_objective_bartlett(&o, &err), LINSTAB_OK);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_SAM_NORMALIZED;
    p.eta = 0.2;
    p.rho = 1.0;
    p.steps = 3000;
    const double w1[2] = {1.0, 1.0};
    linstab_trajectory t;
    cr_assert_eq(linstab_trajectory_run(o, w1, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
    double m = NAN, pred = NAN;
    cr_expect(!linstab_trajectory_drift(&t, o, p.eta, p.rho, 20, &m, &pred), "measured %g predicted %g", m, pred);
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
}

/* The documented step, one linstab_objective_eval per gradient (the
 * ascent evaluated afresh, not the log's gradient reused), for a
 * one-sample objective of two coordinates: the reference that the
 * closed-form loop of trajectory.c must reproduce bit for bit. */
static size_t reference_run(const linstab_objective *o, const double *w0, const linstab_trajectory_opts *p,
                            double *loss, double *gnorm, double *it, int *diverged)
{
    gsl_rng *r = linstab_rng_stream_mc(p->seed, 0);
    cr_assert_not_null(r);
    double w[2] = {w0[0], w0[1]}, g[2], x[2], lim = p->diverge_loss > 0.0 ? p->diverge_loss : 1e100;
    size_t t = 0;
    *diverged = 0;
    for (;; t++) {
        linstab_objective_eval(o, w, NULL, 0, &loss[t], g);
        gnorm[t] = sqrt(g[0] * g[0] + g[1] * g[1]);
        it[2 * t] = w[0];
        it[2 * t + 1] = w[1];
        if (!(fabs(loss[t]) <= lim)) {
            *diverged = 1;
            break;
        }
        if (t == p->steps) break;
        linstab_optimizer opt = p->switch_step > 0 && t >= p->switch_step ? p->switch_opt : p->opt;
        if (linstab_optimizer_is_sam(opt)) {
            linstab_objective_eval(o, w, NULL, 0, NULL, g);
            double n = sqrt(g[0] * g[0] + g[1] * g[1]), sc = p->rho;
            if (opt == LINSTAB_OPT_SAM_NORMALIZED) sc = n > 0.0 ? p->rho / n : 0.0;
            for (int j = 0; j < 2; j++) x[j] = w[j] + sc * g[j];
            linstab_objective_eval(o, x, NULL, 0, NULL, g);
        }
        for (int j = 0; j < 2; j++) w[j] -= p->eta * g[j];
        if (p->noise > 0.0)
            for (int j = 0; j < 2; j++) w[j] -= p->eta * gsl_ran_gaussian_ziggurat(r, p->noise);
    }
    gsl_rng_free(r);
    return t;
}

/* trajectory.c runs Bartlett et al.'s objective and Example 4.1 in a loop
 * of its own (formulas inlined), and every one-sample objective reuses the
 * log's gradient as the step's first; every optimizer, with noise, a
 * switch and a divergence, gives the reference's log exactly. */
Test(trajectory, the_closed_form_loop_is_the_documented_step_bit_for_bit)
{
    static const linstab_optimizer opts[] = {LINSTAB_OPT_GD, LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME,
                                             LINSTAB_OPT_SAM_INDEP, LINSTAB_OPT_SAM_NORMALIZED};
    /* objective 0 Bartlett, 1 Example 4.1 (the closed-form loop), 2 a
     * quadratic, 3 a one-sample family (the generic loop, whose SGD and
     * SAM ascent reuse the log's gradient too) */
    static const struct {
        int objective;
        double eta, rho, w0[2];
    } runs[] = {{0, 0.2, 1.0, {1.0, 1.0}}, {0, 0.2, 0.05, {0.5, 2.0}}, {0, 5.0, 0.3, {1.0, 1.0}},
                {1, 1.5, 1.0, {1.5, 0.3}}, {1, 0.5, 0.02, {1.2, 0.05}}, {1, 0.7, 0.2, {0.5, 0.5}},
                {2, 0.4, 0.3, {1.0, -0.5}}, {3, 0.3, 0.2, {0.7, 1.1}}};
    const double spectrum[2] = {1.3, 0.4};
    linstab_family *fam = tu_family_dense(1, 2, 2, 5);
    enum { T = 400 };
    double *loss = malloc((T + 1) * sizeof *loss), *gn = malloc((T + 1) * sizeof *gn),
           *it = malloc(2 * (T + 1) * sizeof *it);
    cr_assert(loss && gn && it);
    size_t cases = 0, diverged = 0;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        linstab_objective *o = NULL;
        linstab_error err;
        linstab_status st = runs[r].objective == 0   ? linstab_objective_bartlett(&o, &err)
                            : runs[r].objective == 1 ? linstab_objective_tanh2(&o, &err)
                            : runs[r].objective == 2 ? linstab_objective_quadratic(spectrum, 2, &o, &err)
                                                     : linstab_objective_family(fam, &o, &err);
        cr_assert_eq(st, LINSTAB_OK, "%s", err.msg);
        for (size_t a = 0; a < 5; a++)
            for (int variant = 0; variant < 3; variant++) { /* plain, noise, switch to the next optimizer */
                linstab_trajectory_opts p = linstab_trajectory_defaults();
                p.opt = opts[a];
                p.eta = runs[r].eta;
                p.rho = runs[r].rho;
                p.steps = T;
                p.seed = 31 + r;
                if (variant == 1) p.noise = 0.01;
                if (variant == 2) {
                    p.switch_step = T / 2;
                    p.switch_opt = opts[(a + 1) % 5];
                }
                linstab_trajectory t;
                cr_assert_eq(linstab_trajectory_run(o, runs[r].w0, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
                int div = 0;
                size_t steps = reference_run(o, runs[r].w0, &p, loss, gn, it, &div);
                cr_expect_eq(t.steps, steps, "run %zu, optimizer %zu, variant %d", r, a, variant);
                cr_expect_eq(t.diverged, div);
                size_t m = (steps < t.steps ? steps : t.steps) + 1;
                cr_expect_eq(memcmp(t.loss, loss, m * sizeof *loss), 0, "run %zu, optimizer %zu, variant %d: loss",
                             r, a, variant);
                cr_expect_eq(memcmp(t.grad_norm, gn, m * sizeof *gn), 0, "run %zu, optimizer %zu, variant %d", r,
                             a, variant);
                cr_expect_eq(memcmp(t.iterates, it, 2 * m * sizeof *it), 0,
                             "run %zu, optimizer %zu, variant %d: iterates", r, a, variant);
                cr_expect_eq(memcmp(t.final, it + 2 * (m - 1), 2 * sizeof *it), 0);
                cases++;
                diverged += (size_t)div;
                linstab_trajectory_clear(&t);
            }
        linstab_objective_free(o);
    }
    cr_expect_eq(cases, 120);
    cr_expect(diverged > 0, "no run diverged: the divergence branch went untested");
    linstab_family_free(fam);
    free(loss);
    free(gn);
    free(it);
}
