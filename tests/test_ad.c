/*
 * test_ad.c -- the autograd engine and MLP derivatives against central
 * finite differences (gradients, Hessian-vector products, Hessians) for
 * every activation and both losses; Gauss-Newton = exact Hessian at an
 * interpolating minimum of the squared loss; checkpoints.
 *
 * Tolerances: a central difference with step h has truncation error
 * ~h^2 |f'''| / 6 and rounding error ~eps |f| / h; with h = 1e-5 on O(1)
 * quantities both stay below ~1e-9, so 1e-7 relative leaves a margin.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "testutil.h"

static const linstab_ad_op acts[5] = {LINSTAB_AD_TANH, LINSTAB_AD_RELU, LINSTAB_AD_SIGMOID,
                                      LINSTAB_AD_SOFTPLUS, LINSTAB_AD_GELU};

static linstab_mlp *random_mlp(linstab_ad_op act, int bias, unsigned long seed)
{
    size_t sizes[4] = {3, 5, 4, 3};
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, 3, act, bias, &m, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, m->theta, m->p);
    for (size_t j = 0; j < m->p; j++) m->theta[j] *= 0.7;
    gsl_rng_free(r);
    return m;
}

static double loss_at(linstab_mlp *m, const double *x, const double *y, linstab_loss loss)
{
    double v;
    linstab_error err;
    cr_assert_eq(linstab_mlp_loss(m, x, y, 1, loss, 0.1, NULL, &v, NULL, NULL, &err), LINSTAB_OK);
    return v;
}

static void grad_at(linstab_mlp *m, const double *x, const double *y, linstab_loss loss, double *g)
{
    linstab_error err;
    cr_assert_eq(linstab_mlp_loss(m, x, y, 1, loss, 0.1, NULL, NULL, g, NULL, &err), LINSTAB_OK);
}

Test(ad, gradients_and_hessian_vector_products_match_central_differences)
{
    double x[3] = {0.7, -1.1, 0.4}, yv[3] = {0.3, -0.2, 0.9}, lab[1] = {2.0};
    for (int a = 0; a < 5; a++)
        for (int loss = 0; loss < 2; loss++)
            for (int bias = 0; bias < 2; bias++) {
                linstab_mlp *m = random_mlp(acts[a], bias, 10 + a);
                const double *y = loss ? lab : yv;
                size_t p = m->p;
                double *g = malloc(p * sizeof *g), *hv = malloc(p * sizeof *hv), *v = malloc(p * sizeof *v),
                       *gp = malloc(p * sizeof *gp), *gm = malloc(p * sizeof *gm);
                gsl_rng *r = tu_rng(99);
                tu_gauss(r, v, p);
                gsl_rng_free(r);
                linstab_error err;
                cr_assert_eq(linstab_mlp_loss(m, x, y, 1, (linstab_loss)loss, 0.1, v, NULL, g, hv, &err), LINSTAB_OK);
                const double h = 1e-5;
                double gscale = 0.0, hscale = 0.0, gerr = 0.0, herr = 0.0;
                for (size_t j = 0; j < p; j++) {
                    double t = m->theta[j];
                    m->theta[j] = t + h;
                    double lp = loss_at(m, x, y, (linstab_loss)loss);
                    m->theta[j] = t - h;
                    double lm = loss_at(m, x, y, (linstab_loss)loss);
                    m->theta[j] = t;
                    gerr = fmax(gerr, fabs((lp - lm) / (2 * h) - g[j]));
                    gscale = fmax(gscale, fabs(g[j]));
                }
                for (size_t j = 0; j < p; j++) m->theta[j] += h * v[j];
                grad_at(m, x, y, (linstab_loss)loss, gp);
                for (size_t j = 0; j < p; j++) m->theta[j] -= 2 * h * v[j];
                grad_at(m, x, y, (linstab_loss)loss, gm);
                for (size_t j = 0; j < p; j++) m->theta[j] += h * v[j];
                for (size_t j = 0; j < p; j++) {
                    herr = fmax(herr, fabs((gp[j] - gm[j]) / (2 * h) - hv[j]));
                    hscale = fmax(hscale, fabs(hv[j]));
                }
                cr_expect_lt(gerr, 1e-7 * fmax(gscale, 1.0), "act %d loss %d bias %d: gradient error %g", a, loss, bias, gerr);
                cr_expect_lt(herr, 1e-7 * fmax(hscale, 1.0), "act %d loss %d bias %d: Hv error %g", a, loss, bias, herr);
                free(g);
                free(hv);
                free(v);
                free(gp);
                free(gm);
                linstab_mlp_free(m);
            }
}

Test(ad, sample_hessian_is_symmetric_and_matches_differences_of_gradients)
{
    double x[3] = {-0.3, 0.8, 1.2}, lab[1] = {1.0}, yv[3] = {0.1, 0.2, -0.4};
    for (int a = 0; a < 5; a++)
        for (int loss = 0; loss < 2; loss++) {
            linstab_mlp *m = random_mlp(acts[a], 1, 30 + a);
            size_t p = m->p;
            const double *y = loss ? lab : yv;
            double *H = malloc(p * p * sizeof *H), *gp = malloc(p * sizeof *gp), *gm = malloc(p * sizeof *gm);
            linstab_error err;
            cr_assert_eq(linstab_mlp_sample_hessian(m, x, y, (linstab_loss)loss, 0.1, H, &err), LINSTAB_OK);
            double scale = 0.0, e = 0.0;
            for (size_t j = 0; j < p * p; j++) scale = fmax(scale, fabs(H[j]));
            const double h = 1e-5;
            for (size_t j = 0; j < p; j += 7) { /* a sample of columns */
                double t = m->theta[j];
                m->theta[j] = t + h;
                grad_at(m, x, y, (linstab_loss)loss, gp);
                m->theta[j] = t - h;
                grad_at(m, x, y, (linstab_loss)loss, gm);
                m->theta[j] = t;
                for (size_t i = 0; i < p; i++) e = fmax(e, fabs((gp[i] - gm[i]) / (2 * h) - H[i * p + j]));
            }
            cr_expect_lt(e, 1e-7 * fmax(scale, 1.0), "act %d loss %d: %g", a, loss, e);
            for (size_t i = 0; i < p; i++)
                for (size_t j = 0; j < i; j++) cr_expect_eq(H[i * p + j], H[j * p + i]);
            free(H);
            free(gp);
            free(gm);
            linstab_mlp_free(m);
        }
}

Test(ad, exact_hessian_equals_gauss_newton_at_an_interpolating_minimum)
{
    /* y = f(x): the residual vanishes, so H = J'J (docs/math.md §8) */
    double x[3] = {0.5, -0.25, 0.75};
    for (int a = 0; a < 5; a++) {
        linstab_mlp *m = random_mlp(acts[a], 1, 50 + a);
        size_t p = m->p, K = 3;
        double y[3], *H = malloc(p * p * sizeof *H), *U = malloc(p * K * sizeof *U);
        linstab_error err;
        cr_assert_eq(linstab_mlp_forward(m, x, 1, y, &err), LINSTAB_OK);
        cr_assert_eq(linstab_mlp_sample_hessian(m, x, y, LINSTAB_LOSS_MSE, 0.0, H, &err), LINSTAB_OK);
        cr_assert_eq(linstab_mlp_sample_jacobian_t(m, x, U, &err), LINSTAB_OK);
        double e = 0.0, scale = 0.0;
        for (size_t i = 0; i < p; i++)
            for (size_t j = 0; j < p; j++) {
                double gn = 0.0;
                for (size_t o = 0; o < K; o++) gn += U[i * K + o] * U[j * K + o];
                e = fmax(e, fabs(gn - H[i * p + j]));
                scale = fmax(scale, fabs(gn));
            }
        cr_expect_lt(e, 1e-12 * fmax(scale, 1.0), "act %d: %g", a, e);
        free(H);
        free(U);
        linstab_mlp_free(m);
    }
}

Test(ad, checkpoints_round_trip_and_bad_folders_are_rejected)
{
    linstab_mlp *m = random_mlp(LINSTAB_AD_GELU, 1, 70), *m2 = NULL;
    char *dir = tu_tmppath("-model");
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_save(m, dir, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_mlp_load(dir, &m2, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(m2->p, m->p);
    cr_expect_eq(m2->act, LINSTAB_AD_GELU);
    cr_expect_eq(memcmp(m2->theta, m->theta, m->p * sizeof(double)), 0);
    linstab_mlp_free(m2);
    /* shapes that do not chain: replace W2 by a 4 x 4 matrix */
    char path[4200];
    snprintf(path, sizeof path, "%s/W2.npy", dir);
    double z[16] = {0};
    size_t shape[2] = {4, 4};
    cr_assert_eq(linstab_npy_write(path, z, 2, shape, &err), LINSTAB_OK);
    cr_expect_eq(linstab_mlp_load(dir, &m2, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "W2.npy") != NULL, "%s", err.msg);
    /* unknown activation */
    snprintf(path, sizeof path, "%s/model.json", dir);
    FILE *fp = fopen(path, "w");
    fputs("{\"layers\": [3, 5, 4, 3], \"activation\": \"swish\", \"bias\": true}\n", fp);
    fclose(fp);
    cr_expect_eq(linstab_mlp_load(dir, &m2, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "swish") != NULL, "%s", err.msg);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) cr_log_warn("cleanup failed");
    free(dir);
    linstab_mlp_free(m);
}

/* The all-directions Hessian against p Hessian-vector products through the
 * tape (unit vectors), to rounding: every activation, both losses, with and
 * without biases, one to four layers. */
Test(ad, sample_hessian_equals_hessian_vector_products_with_unit_vectors)
{
    static const size_t shapes[3][5] = {{2, 3, 0, 0, 0}, {3, 5, 4, 3, 0}, {4, 3, 5, 2, 3}};
    static const size_t nl[3] = {1, 3, 4};
    double x[4] = {-0.3, 0.8, 1.2, -0.6}, yv[3] = {0.1, 0.2, -0.4};
    gsl_rng *r = tu_rng(77);
    for (int s = 0; s < 3; s++)
        for (int a = 0; a < 5; a++)
            for (int bias = 0; bias <= 1; bias++)
                for (int loss = 0; loss < 2; loss++) {
                    linstab_mlp *m = NULL;
                    linstab_error err;
                    cr_assert_eq(linstab_mlp_alloc(shapes[s], nl[s], acts[a], bias, &m, &err), LINSTAB_OK);
                    tu_gauss(r, m->theta, m->p);
                    size_t p = m->p, K = shapes[s][nl[s]];
                    double lab[1] = {(double)(K - 1)};
                    const double *y = loss ? lab : yv;
                    double *H = malloc(p * p * sizeof *H), *e = calloc(p, sizeof *e), *col = malloc(p * sizeof *col);
                    cr_assert_eq(linstab_mlp_sample_hessian(m, x, y, (linstab_loss)loss, 0.15, H, &err), LINSTAB_OK,
                                 "%s", err.msg);
                    double scale = 0.0, diff = 0.0;
                    for (size_t j = 0; j < p; j++) {
                        e[j] = 1.0;
                        cr_assert_eq(linstab_mlp_loss(m, x, y, 1, (linstab_loss)loss, 0.15, e, NULL, NULL, col, &err),
                                     LINSTAB_OK);
                        e[j] = 0.0;
                        for (size_t i = 0; i < p; i++) {
                            scale = fmax(scale, fabs(col[i]));
                            diff = fmax(diff, fabs(col[i] - H[i * p + j]));
                        }
                    }
                    cr_expect(diff <= 1e-12 * fmax(scale, 1e-300), "shape %d act %d bias %d loss %d: %.3g of %.3g", s,
                              a, bias, loss, diff, scale);
                    free(H);
                    free(e);
                    free(col);
                    linstab_mlp_free(m);
                }
    gsl_rng_free(r);
}
