/*
 * test_objective_mlp.c -- an MLP's loss as an objective of the dynamics:
 * the batch loss against a closed form (a linear model), gradients and
 * Hessian-vector products against central differences of the objective's
 * own values (MSE and cross-entropy, with and without bias), the batch
 * mean's bookkeeping, and gradient descent on it against `train` with the
 * full batch (a second code path: train.c's loop over mlp.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/mlp.h"
#include "linstab/objective.h"
#include "linstab/rng.h"
#include "linstab/train.h"
#include "linstab/trajectory.h"

static linstab_mlp *net(const size_t *sizes, size_t L, int bias, uint64_t seed)
{
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, L, LINSTAB_AD_TANH, bias, &m, &err), LINSTAB_OK, "%s", err.msg);
    linstab_mlp_init(m, seed);
    /* nonzero biases, so that their derivatives are exercised */
    for (size_t l = 1; bias && l <= L; l++)
        for (size_t j = 0; j < sizes[l]; j++) m->theta[linstab_mlp_b_offset(m, l) + j] = 0.1 * (double)(j + 1) - 0.2;
    return m;
}

static linstab_array array2(size_t r, size_t c, uint64_t seed, double scale)
{
    linstab_array a = {0};
    a.ndim = c > 0 ? 2 : 1;
    a.shape[0] = r;
    a.shape[1] = c;
    size_t len = r * (c > 0 ? c : 1);
    a.data = malloc(len * sizeof *a.data);
    cr_assert_not_null(a.data);
    gsl_rng *g = linstab_rng_stream_mc(seed, 0);
    for (size_t i = 0; i < len; i++) a.data[i] = scale * (gsl_rng_uniform(g) - 0.5);
    gsl_rng_free(g);
    return a;
}

/* gradient and Hessian-vector products of the batch loss at theta against
 * central differences of the objective's values and gradients */
static void check_fd(const linstab_objective *o, const double *theta, const size_t *idx, size_t count)
{
    size_t p = linstab_objective_dim(o);
    double *g = malloc(p * sizeof *g), *w = malloc(p * sizeof *w), *v = malloc(p * sizeof *v),
           *hv = malloc(p * sizeof *hv), *gp = malloc(p * sizeof *gp), *gm = malloc(p * sizeof *gm);
    cr_assert(g && w && v && hv && gp && gm);
    double l0;
    linstab_objective_eval(o, theta, idx, count, &l0, g);
    memcpy(w, theta, p * sizeof *w);
    /* central differences: error h^2 f''' / 6 with h = 1e-5 and derivatives
     * of order one for these small tanh networks, plus eps f / h */
    const double h = 1e-5, tol = 1e-7;
    for (size_t j = 0; j < p; j++) {
        double lp, lm;
        w[j] = theta[j] + h;
        linstab_objective_eval(o, w, idx, count, &lp, NULL);
        w[j] = theta[j] - h;
        linstab_objective_eval(o, w, idx, count, &lm, NULL);
        w[j] = theta[j];
        double fd = (lp - lm) / (2.0 * h);
        cr_expect(fabs(fd - g[j]) <= tol * fmax(1.0, fabs(g[j])), "d/dtheta_%zu: %.12g vs %.12g", j, g[j], fd);
    }
    for (size_t j = 0; j < p; j++) v[j] = sin(1.0 + (double)j);
    linstab_objective_hvp(o, theta, idx, count, v, hv);
    for (size_t j = 0; j < p; j++) {
        gp[j] = theta[j] + h * v[j];
        gm[j] = theta[j] - h * v[j];
    }
    linstab_objective_eval(o, gp, idx, count, NULL, gp);
    linstab_objective_eval(o, gm, idx, count, NULL, gm);
    for (size_t j = 0; j < p; j++) {
        double fd = (gp[j] - gm[j]) / (2.0 * h);
        cr_expect(fabs(fd - hv[j]) <= tol * fmax(1.0, fabs(hv[j])), "(Hv)_%zu: %.12g vs %.12g", j, hv[j], fd);
    }
    free(g);
    free(w);
    free(v);
    free(hv);
    free(gp);
    free(gm);
}

Test(objective_mlp, a_linear_model_is_the_closed_form_least_squares_loss)
{
    /* one layer: f(x) = W x + b, l_i = ||W x_i + b - y_i||^2 / 2 */
    const size_t sizes[2] = {3, 2};
    linstab_mlp *m = net(sizes, 1, 1, 3);
    linstab_array X = array2(7, 3, 11, 2.0), Y = array2(7, 2, 12, 2.0);
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_mlp(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &o, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_objective_kind_of(o), LINSTAB_OBJECTIVE_MLP);
    cr_expect_eq(linstab_objective_dim(o), m->p);
    cr_expect_eq(linstab_objective_samples(o), (size_t)7);
    const size_t idx[3] = {5, 1, 5}; /* a batch with a repeat (sampling with replacement) */
    double w[8];
    for (size_t j = 0; j < 8; j++) w[j] = 0.3 * (double)j - 1.0;
    double loss, g[8], want = 0.0, gw[8] = {0};
    linstab_objective_eval(o, w, idx, 3, &loss, g);
    for (size_t r = 0; r < 3; r++) {
        const double *x = X.data + idx[r] * 3, *y = Y.data + idx[r] * 2;
        for (size_t k = 0; k < 2; k++) {
            double e = w[k * 3] * x[0] + w[k * 3 + 1] * x[1] + w[k * 3 + 2] * x[2] + w[6 + k] - y[k];
            want += 0.5 * e * e / 3.0;
            for (size_t c = 0; c < 3; c++) gw[k * 3 + c] += e * x[c] / 3.0;
            gw[6 + k] += e / 3.0;
        }
    }
    cr_expect(fabs(loss - want) <= 1e-14 * want, "%.17g vs %.17g", loss, want);
    for (size_t j = 0; j < 8; j++) cr_expect(fabs(g[j] - gw[j]) <= 1e-14 * fmax(1.0, fabs(gw[j])), "%zu", j);
    /* the model's own theta is not the iterate */
    double l2;
    linstab_objective_eval(o, w, idx, 3, &l2, NULL);
    cr_expect_eq(l2, loss);
    linstab_objective_free(o);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}

Test(objective_mlp, gradients_and_hvps_match_differences_mse_and_ce)
{
    const size_t sizes[3] = {3, 5, 3};
    for (int bias = 0; bias <= 1; bias++) {
        linstab_mlp *m = net(sizes, 2, bias, 5 + (uint64_t)bias);
        linstab_array X = array2(9, 3, 21, 2.0), Y = array2(9, 3, 22, 2.0), lab = {0};
        lab.ndim = 1;
        lab.shape[0] = 9;
        lab.data = malloc(9 * sizeof *lab.data);
        for (size_t i = 0; i < 9; i++) lab.data[i] = (double)(i % 3);
        linstab_objective *o = NULL;
        linstab_error err;
        const size_t idx[4] = {0, 4, 8, 2};
        cr_assert_eq(linstab_objective_mlp(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &o, &err), LINSTAB_OK, "%s", err.msg);
        check_fd(o, m->theta, idx, 4);
        check_fd(o, m->theta, NULL, 0);
        linstab_objective_free(o);
        cr_assert_eq(linstab_objective_mlp(m, &X, &lab, LINSTAB_LOSS_CE, 0.1, &o, &err), LINSTAB_OK, "%s", err.msg);
        check_fd(o, m->theta, idx, 4);
        /* the full mean equals the batch of every row */
        const size_t all[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
        double la, lb;
        linstab_objective_eval(o, m->theta, NULL, 0, &la, NULL);
        linstab_objective_eval(o, m->theta, all, 9, &lb, NULL);
        cr_expect(fabs(la - lb) <= 1e-15 * la, "%.17g vs %.17g", la, lb);
        linstab_objective_free(o);
        linstab_npy_array_free(&X);
        linstab_npy_array_free(&Y);
        linstab_npy_array_free(&lab);
        linstab_mlp_free(m);
    }
}

Test(objective_mlp, gradient_descent_on_it_is_full_batch_training)
{
    const size_t sizes[3] = {2, 6, 1};
    linstab_mlp *m = net(sizes, 2, 1, 9);
    linstab_array X = array2(12, 2, 31, 3.0), Y = array2(12, 1, 32, 1.0);
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_mlp(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &o, &err), LINSTAB_OK, "%s", err.msg);
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    p.opt = LINSTAB_OPT_GD;
    p.eta = 0.2;
    p.steps = 50;
    linstab_trajectory t;
    cr_assert_eq(linstab_trajectory_run(o, m->theta, &p, &t, &err), LINSTAB_OK, "%s", err.msg);
    linstab_train_opts to = linstab_train_defaults();
    to.eta = 0.2;
    to.batch = 12; /* every step sees all rows: gradient descent */
    to.steps = 50;
    cr_assert_eq(linstab_train(m, &X, &Y, &to, NULL, &err), LINSTAB_OK, "%s", err.msg);
    for (size_t j = 0; j < m->p; j++)
        /* the same gradients, summed in another order of rows: rounding,
         * amplified by at most 50 contracting steps */
        cr_expect(fabs(t.final[j] - m->theta[j]) <= 1e-12 * fmax(1.0, fabs(m->theta[j])), "theta_%zu: %.17g vs %.17g",
                  j, t.final[j], m->theta[j]);
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}

Test(objective_mlp, data_that_do_not_fit_are_refused)
{
    const size_t sizes[3] = {3, 4, 2};
    linstab_mlp *m = net(sizes, 2, 1, 1);
    linstab_array X = array2(5, 4, 1, 1.0), Y = array2(5, 2, 2, 1.0);
    linstab_objective *o = NULL;
    linstab_error err;
    cr_expect_eq(linstab_objective_mlp(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &o, &err), LINSTAB_EDATA);
    cr_expect_null(o);
    X.shape[1] = 3; /* now 5 x 3 (the buffer is larger) */
    cr_expect_eq(linstab_objective_mlp(m, &X, &Y, LINSTAB_LOSS_MSE, 1.0, &o, &err), LINSTAB_EINVAL);
    cr_expect_null(o);
    cr_expect_eq(linstab_objective_mlp(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &o, &err), LINSTAB_OK, "%s", err.msg);
    linstab_objective_free(o);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}

Test(objective_mlp, zhou_et_al_example_4_1_is_a_1_1_1_tanh_network_with_a_tanh_output)
{
    /* f(x) = tanh(v tanh(u x)), x = 1, y = 0, theta = (W1, W2) = (u, v):
     * the objective is tanh2's closed form */
    const size_t sizes[3] = {1, 1, 1};
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, 2, LINSTAB_AD_TANH, 0, &m, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_mlp_set_output(m, LINSTAB_AD_TANH, &err), LINSTAB_OK, "%s", err.msg);
    double one = 1.0, zero = 0.0;
    linstab_array X = {.ndim = 2, .shape = {1, 1}, .data = &one}, Y = {.ndim = 2, .shape = {1, 1}, .data = &zero};
    linstab_objective *o = NULL, *ref = NULL;
    cr_assert_eq(linstab_objective_mlp(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &o, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_objective_tanh2(&ref, &err), LINSTAB_OK, "%s", err.msg);
    const double pts[4][2] = {{1.5, 0.3}, {-0.7, 1.2}, {0.2, -2.0}, {1.27, 1e-3}};
    for (size_t k = 0; k < 4; k++) {
        double l, lr, g[2], gr[2], hv[2], hr[2];
        const double v[2] = {0.6, -1.1};
        linstab_objective_eval(o, pts[k], NULL, 0, &l, g);
        linstab_objective_eval(ref, pts[k], NULL, 0, &lr, gr);
        linstab_objective_hvp(o, pts[k], NULL, 0, v, hv);
        linstab_objective_hvp(ref, pts[k], NULL, 0, v, hr);
        /* two evaluations of the same formulas in another order: ulps */
        cr_expect(fabs(l - lr) <= 8e-16 * lr, "point %zu: loss %.17g vs %.17g", k, l, lr);
        for (size_t j = 0; j < 2; j++) {
            cr_expect(fabs(g[j] - gr[j]) <= 1e-15 * fmax(fabs(gr[0]), fabs(gr[1])), "point %zu grad %zu", k, j);
            cr_expect(fabs(hv[j] - hr[j]) <= 1e-14 * fmax(1.0, fabs(hr[j])), "point %zu hv %zu: %.17g vs %.17g", k, j,
                      hv[j], hr[j]);
        }
    }
    linstab_objective_free(ref);
    linstab_objective_free(o);
    linstab_mlp_free(m);
}
