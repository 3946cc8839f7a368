/*
 * test_trajectory_log.c -- what a run records besides its iterates: the
 * loss evaluated every K steps only (the same run bit for bit, NaN
 * between), the sharpness every K steps (against the closed-form
 * eigenvalue of a 2 x 2 Hessian and against LAPACK on the Hessian of an
 * MLP with p > 64, which the run reaches by Lanczos), and the iterate at
 * the switch for objectives too large to record every iterate.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/family.h"
#include "linstab/mlp.h"
#include "linstab/objective.h"
#include "linstab/sym.h"
#include "linstab/trajectory.h"

static linstab_trajectory run(const linstab_objective *o, const double *w0, const linstab_trajectory_opts *p)
{
    linstab_trajectory t;
    linstab_error err;
    cr_assert_eq(linstab_trajectory_run(o, w0, p, &t, &err), LINSTAB_OK, "%s", err.msg);
    return t;
}

Test(trajectory_log, the_loss_every_k_steps_leaves_the_run_unchanged)
{
    /* a family of 6 samples: SGD draws batches, GD needs its own full
     * gradient at the steps the log skips */
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 6, 3, 1, &f, &err), LINSTAB_OK);
    for (size_t k = 0; k < 18; k++) f->data[k] = 0.2 + 0.15 * (double)((k * 7) % 11);
    linstab_objective *o = NULL;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK, "%s", err.msg);
    const double w0[3] = {1.0, -0.5, 2.0};
    const linstab_optimizer opts[3] = {LINSTAB_OPT_GD, LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_INDEP};
    for (size_t a = 0; a < 3; a++) {
        linstab_trajectory_opts p = linstab_trajectory_defaults();
        p.opt = opts[a];
        p.eta = 0.4;
        p.rho = 0.1;
        p.batch = 2;
        p.steps = 97;
        p.seed = 5;
        p.switch_step = 31;
        p.switch_opt = LINSTAB_OPT_SGD;
        linstab_trajectory all = run(o, w0, &p);
        p.log_every = 10;
        linstab_trajectory some = run(o, w0, &p);
        cr_assert_eq(some.steps, all.steps);
        for (size_t k = 0; k <= all.steps; k++) {
            for (size_t j = 0; j < 3; j++) cr_expect_eq(some.iterates[k * 3 + j], all.iterates[k * 3 + j]);
            if (k % 10 == 0 || k == 31 || k == 97) {
                cr_expect_eq(some.loss[k], all.loss[k], "optimizer %zu step %zu", a, k);
                cr_expect_eq(some.grad_norm[k], all.grad_norm[k]);
            } else {
                cr_expect(isnan(some.loss[k]) && isnan(some.grad_norm[k]), "optimizer %zu step %zu", a, k);
            }
        }
        for (size_t j = 0; j < 3; j++) {
            cr_expect_eq(some.at_switch[j], all.iterates[31 * 3 + j]);
            cr_expect_eq(all.at_switch[j], all.iterates[31 * 3 + j]);
        }
        linstab_trajectory_clear(&all);
        linstab_trajectory_clear(&some);
    }
    linstab_objective_free(o);
    linstab_family_free(f);
}

Test(trajectory_log, the_sharpness_of_a_two_dimensional_objective_is_its_closed_form_eigenvalue)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_bartlett(&o, &err), LINSTAB_OK);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_SAM_NORMALIZED;
    p.eta = 0.2;
    p.rho = 1.0;
    p.steps = 60;
    p.sharpness_every = 7;
    const double w0[2] = {1.0, 1.0};
    linstab_trajectory t = run(o, w0, &p);
    for (size_t k = 0; k <= t.steps; k++) {
        if (k % 7 != 0 && k != t.steps) {
            cr_expect(isnan(t.sharpness[k]));
            continue;
        }
        /* the Hessian of w1^2/q + w2^2/2, q = 1 + w2^2/2, in closed form,
         * and the larger root of its characteristic polynomial */
        double w1 = t.iterates[2 * k], w2 = t.iterates[2 * k + 1], q = 1.0 + 0.5 * w2 * w2;
        double a = 2.0 / q, b = -2.0 * w1 * w2 / (q * q), c = 1.0 - w1 * w1 * (q - 2.0 * w2 * w2) / (q * q * q);
        double top = 0.5 * (a + c) + sqrt(0.25 * (a - c) * (a - c) + b * b);
        cr_expect(fabs(t.sharpness[k] - top) <= 1e-14 * fabs(top), "step %zu: %.17g vs %.17g", k, t.sharpness[k], top);
    }
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
}

Test(trajectory_log, an_mlp_run_records_its_sharpness_by_lanczos_and_its_switch_point)
{
    const size_t sizes[3] = {4, 12, 2}; /* p = 48 + 12 + 24 + 2 = 86 > 64: Lanczos */
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, 2, LINSTAB_AD_TANH, 1, &m, &err), LINSTAB_OK);
    linstab_mlp_init(m, 4);
    double xd[40], yd[20];
    for (size_t i = 0; i < 40; i++) xd[i] = sin(0.7 * (double)i + 0.3);
    for (size_t i = 0; i < 20; i++) yd[i] = cos(1.3 * (double)i);
    linstab_array X = {.ndim = 2, .shape = {10, 4}, .data = xd}, Y = {.ndim = 2, .shape = {10, 2}, .data = yd};
    linstab_objective *o = NULL;
    cr_assert_eq(linstab_objective_mlp(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &o, &err), LINSTAB_OK, "%s", err.msg);
    size_t d = m->p;
    cr_assert_gt(d, LINSTAB_TRAJECTORY_LOG_DIM);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_SGD;
    p.eta = 0.1;
    p.batch = 3;
    p.steps = 40;
    p.seed = 2;
    p.switch_step = 20;
    p.switch_opt = LINSTAB_OPT_SAM_SAME;
    p.rho = 0.05;
    p.sharpness_every = 40;
    linstab_trajectory t = run(o, m->theta, &p);
    cr_assert_null(t.iterates);
    /* the switch point is the end of the first 20 steps */
    linstab_trajectory_opts q = p;
    q.steps = 20;
    q.switch_step = 0;
    q.sharpness_every = 0;
    linstab_trajectory head = run(o, m->theta, &q);
    for (size_t j = 0; j < d; j++) cr_expect_eq(t.at_switch[j], head.final[j], "theta_%zu", j);
    /* the sharpness at the start and at the end against LAPACK on the
     * Hessian assembled from d products */
    const double *pts[2] = {m->theta, t.final};
    const size_t at[2] = {0, 40};
    double *H = malloc(d * d * sizeof *H), *e = calloc(d, sizeof *e), *col = malloc(d * sizeof *col),
           *ev = malloc(d * sizeof *ev);
    cr_assert(H && e && col && ev);
    for (size_t k = 0; k < 2; k++) {
        for (size_t j = 0; j < d; j++) {
            e[j] = 1.0;
            linstab_objective_hvp(o, pts[k], NULL, 0, e, col);
            e[j] = 0.0;
            for (size_t i = 0; i < d; i++) H[i * d + j] = col[i];
        }
        linstab_sym_symmetrize(d, H);
        cr_assert_eq(linstab_sym_eig(d, H, ev, NULL, &err), LINSTAB_OK);
        double top = ev[d - 1];
        /* ARPACK to relative 1e-10 on a well-separated top eigenvalue */
        cr_expect(fabs(t.sharpness[at[k]] - top) <= 1e-8 * fabs(top), "step %zu: %.17g vs %.17g", at[k],
                  t.sharpness[at[k]], top);
    }
    cr_expect(isnan(t.sharpness[1]));
    free(H);
    free(e);
    free(col);
    free(ev);
    linstab_trajectory_clear(&t);
    linstab_trajectory_clear(&head);
    linstab_objective_free(o);
    linstab_mlp_free(m);
}

Test(trajectory_log, one_sample_objectives_give_the_same_run_with_the_loss_every_k_steps)
{
    /* log_every > 1 leaves the closed-form loops for the general one, which
     * must then take the full gradient itself at the unlogged steps */
    linstab_objective *os[2] = {NULL, NULL};
    linstab_error err;
    cr_assert_eq(linstab_objective_bartlett(&os[0], &err), LINSTAB_OK);
    cr_assert_eq(linstab_objective_tanh2(&os[1], &err), LINSTAB_OK);
    const linstab_optimizer opts[5] = {LINSTAB_OPT_GD, LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP,
                                       LINSTAB_OPT_SAM_NORMALIZED};
    const double w0[2] = {1.2, 0.4};
    for (size_t k = 0; k < 2; k++)
        for (size_t a = 0; a < 5; a++) {
            linstab_trajectory_opts p = linstab_trajectory_defaults();
            p.opt = opts[a];
            p.eta = 0.3;
            p.rho = 0.2;
            p.steps = 50;
            linstab_trajectory all = run(os[k], w0, &p);
            p.log_every = 3;
            p.sharpness_every = 5;
            linstab_trajectory some = run(os[k], w0, &p);
            cr_assert_eq(some.steps, all.steps);
            for (size_t t = 0; t <= all.steps; t++) {
                cr_expect_eq(some.iterates[2 * t], all.iterates[2 * t], "objective %zu optimizer %zu step %zu", k, a, t);
                cr_expect_eq(some.iterates[2 * t + 1], all.iterates[2 * t + 1]);
                int logged = t % 3 == 0 || t % 5 == 0 || t == all.steps;
                cr_expect(logged ? some.loss[t] == all.loss[t] : isnan(some.loss[t]), "step %zu", t);
                cr_expect(t % 5 == 0 || t == all.steps ? isfinite(some.sharpness[t]) : isnan(some.sharpness[t]));
            }
            linstab_trajectory_clear(&all);
            linstab_trajectory_clear(&some);
        }
    linstab_objective_free(os[0]);
    linstab_objective_free(os[1]);
}

Test(trajectory_log, a_diverging_run_leaves_no_sharpness_at_its_last_step)
{
    const double l[2] = {1.0, 30.0};
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_quadratic(l, 2, &o, &err), LINSTAB_OK);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_GD;
    p.eta = 1.0;
    p.steps = 1000;
    p.sharpness_every = 10;
    p.log_every = 4;
    const double w0[2] = {1.0, 1.0};
    linstab_trajectory t = run(o, w0, &p);
    cr_assert(t.diverged);
    cr_expect(isnan(t.sharpness[t.steps]));
    cr_expect_eq(t.sharpness[0], 30.0);
    cr_expect(!isnan(t.loss[t.steps]));
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
}
