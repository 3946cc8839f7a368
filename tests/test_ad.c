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

/* ---- the graph API directly (issue 10 additions) ---- */

#include "linstab/ad.h"

Test(ad_activation, derivatives_match_central_differences_and_closed_forms)
{
    /* f, f', f'' of every activation at points away from ReLU's kink:
     * f' against (f(x+h) - f(x-h))/2h, f'' against (f'(x+h) - f'(x-h))/2h,
     * h = 1e-5 (truncation ~1e-10 |f'''|, rounding ~1e-11): 1e-7 */
    const double xs[] = {-3.1, -0.7, 0.4, 1.3, 2.9};
    for (int a = 0; a < 5; a++)
        for (int k = 0; k < 5; k++) {
            double x = xs[k], h = 1e-5, f, d1, d2, fp, d1p, d2p, fm, d1m, d2m;
            linstab_ad_activation(acts[a], x, &f, &d1, &d2);
            linstab_ad_activation(acts[a], x + h, &fp, &d1p, &d2p);
            linstab_ad_activation(acts[a], x - h, &fm, &d1m, &d2m);
            cr_expect(fabs(d1 - (fp - fm) / (2 * h)) <= 1e-7 * (1 + fabs(d1)), "act %d x %g: f' %.12g vs %.12g", a, x, d1,
                      (fp - fm) / (2 * h));
            cr_expect(fabs(d2 - (d1p - d1m) / (2 * h)) <= 1e-7 * (1 + fabs(d2)), "act %d x %g: f'' %.12g vs %.12g", a, x,
                      d2, (d1p - d1m) / (2 * h));
        }
    /* closed forms at a point */
    double f, d1, d2, x = 0.8;
    linstab_ad_activation(LINSTAB_AD_TANH, x, &f, &d1, &d2);
    cr_expect(fabs(f - tanh(x)) <= 2e-16 && fabs(d1 - (1 - tanh(x) * tanh(x))) <= 4e-16);
    linstab_ad_activation(LINSTAB_AD_RELU, -x, &f, &d1, &d2);
    cr_expect(f == 0.0 && d1 == 0.0 && d2 == 0.0);
    linstab_ad_activation(LINSTAB_AD_RELU, x, &f, &d1, &d2);
    cr_expect(f == x && d1 == 1.0 && d2 == 0.0);
    linstab_ad_activation(LINSTAB_AD_SOFTPLUS, x, &f, &d1, &d2);
    cr_expect(fabs(f - log1p(exp(x))) <= 4e-16 && fabs(d1 - 1 / (1 + exp(-x))) <= 4e-16);
    linstab_ad_activation(LINSTAB_AD_GELU, x, &f, &d1, &d2);
    cr_expect(fabs(f - x * 0.5 * erfc(-x / sqrt(2.0))) <= 4e-16);
    linstab_ad_activation(LINSTAB_AD_MSE, x, &f, &d1, &d2);
    cr_expect(isnan(f) && isnan(d1) && isnan(d2));
}

/* parameters: W (2 x 3) then b (1 x 2): 8 numbers */
enum { PW = 6, PB = 2, PP = 8 };

static const double Xc[12] = {0.3, -1.1, 0.8, 1.4, 0.2, -0.5, -0.9, 0.6, 1.7, 0.05, -0.3, 0.4};
static const double Yc[8] = {0.5, -0.2, 0.1, 0.9, -0.7, 0.3, 0.2, 0.0};
static const double Lc[4] = {1, 0, 1, 1};

/* The loss of expression e at theta with tangent v: value, loss tangent,
 * gradient (PP) and gradient tangent (PP), from one graph. */
static void eval_expr(int e, const double *theta, const double *v, double *value, double *lt, double *grad, double *gt)
{
    linstab_ad_graph *g = linstab_ad_graph_alloc();
    cr_assert_not_null(g);
    linstab_ad_node *X = linstab_ad_leaf(g, 4, 3, Xc, NULL);
    linstab_ad_node *W = linstab_ad_leaf(g, 2, 3, theta, v);
    linstab_ad_node *b = linstab_ad_leaf(g, 1, 2, theta + PW, v + PW);
    linstab_ad_node *z = linstab_ad_add_row(g, linstab_ad_matmul_nt(g, X, W), b); /* 4 x 2 */
    linstab_ad_node *loss = NULL;
    if (e < 5) { /* MSE after each activation */
        loss = linstab_ad_mse(g, linstab_ad_unary(g, acts[e], z), Yc);
    } else {
        loss = linstab_ad_xent(g, z, Lc, 0.1);
    }
    cr_assert_not_null(loss);
    cr_assert(loss->rows == 1 && loss->cols == 1);
    linstab_ad_backward(g, loss);
    *value = loss->v[0];
    *lt = loss->t[0];
    memcpy(grad, W->g, PW * sizeof *grad);
    memcpy(grad + PW, b->g, PB * sizeof *grad);
    memcpy(gt, W->gt, PW * sizeof *gt);
    memcpy(gt + PW, b->gt, PB * sizeof *gt);
    linstab_ad_graph_free(g);
}

Test(ad_graph, every_op_has_the_gradient_and_hessian_vector_product_of_central_differences)
{
    const double theta[PP] = {0.4, -0.3, 0.9, -0.6, 0.2, 0.5, 0.1, -0.2};
    const double v[PP] = {0.3, 0.7, -0.2, 0.5, -0.9, 0.1, 0.6, -0.4};
    double zero[PP] = {0};
    for (int e = 0; e < 6; e++) {
        double f, lt, g[PP], gt[PP], tp[PP], tm[PP], fp, fm, gp[PP], gm[PP], dummy, dv[PP];
        eval_expr(e, theta, v, &f, &lt, g, gt);
        double h = 1e-5, scale = 1.0 + fabs(f);
        /* the loss tangent is the directional derivative g'v */
        for (int j = 0; j < PP; j++) {
            tp[j] = theta[j] + h * v[j];
            tm[j] = theta[j] - h * v[j];
        }
        eval_expr(e, tp, zero, &fp, &dummy, gp, dv);
        eval_expr(e, tm, zero, &fm, &dummy, gm, dv);
        cr_expect(fabs(lt - (fp - fm) / (2 * h)) <= 1e-7 * scale, "expr %d: loss tangent %.12g vs %.12g", e, lt,
                  (fp - fm) / (2 * h));
        for (int j = 0; j < PP; j++)
            cr_expect(fabs(gt[j] - (gp[j] - gm[j]) / (2 * h)) <= 1e-7 * scale, "expr %d: (Hv)[%d] %.12g vs %.12g", e, j,
                      gt[j], (gp[j] - gm[j]) / (2 * h));
        double gd = 0.0;
        for (int j = 0; j < PP; j++) {
            memcpy(tp, theta, sizeof tp);
            memcpy(tm, theta, sizeof tm);
            tp[j] += h;
            tm[j] -= h;
            eval_expr(e, tp, zero, &fp, &dummy, gp, dv);
            eval_expr(e, tm, zero, &fm, &dummy, gm, dv);
            cr_expect(fabs(g[j] - (fp - fm) / (2 * h)) <= 1e-7 * scale, "expr %d: grad[%d] %.12g vs %.12g", e, j, g[j],
                      (fp - fm) / (2 * h));
            gd += g[j] * v[j];
        }
        cr_expect(fabs(gd - lt) <= 1e-13 * scale, "expr %d: g'v %.17g vs the loss tangent %.17g", e, gd, lt);
    }
}

Test(ad_graph, forward_values_are_the_closed_forms)
{
    linstab_ad_graph *g = linstab_ad_graph_alloc();
    double A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, -1, 2, 1, 0}, r[2] = {10, 20};
    linstab_ad_node *a = linstab_ad_leaf(g, 2, 3, A, NULL), *b = linstab_ad_leaf(g, 2, 3, B, NULL);
    linstab_ad_node *c = linstab_ad_matmul_nt(g, a, b); /* A B' */
    double want[4] = {1 - 3, 2 + 2, 4 - 6, 8 + 5};
    for (int j = 0; j < 4; j++) cr_expect_eq(c->v[j], want[j]);
    linstab_ad_node *rb = linstab_ad_leaf(g, 1, 2, r, NULL), *d = linstab_ad_add_row(g, c, rb);
    for (int j = 0; j < 4; j++) cr_expect_eq(d->v[j], want[j] + r[j % 2]);
    double y[4] = {0, 1, 2, 3};
    linstab_ad_node *l = linstab_ad_mse(g, d, y);
    double e = 0.0;
    for (int j = 0; j < 4; j++) e += 0.5 * (d->v[j] - y[j]) * (d->v[j] - y[j]);
    cr_expect_eq(l->v[0], e);
    /* cross-entropy of one row z = (0, log 3) with label 1: -log(3/4) */
    double z[2] = {0, log(3.0)}, lab[1] = {1};
    linstab_ad_node *x = linstab_ad_xent(g, linstab_ad_leaf(g, 1, 2, z, NULL), lab, 0.0);
    cr_expect(fabs(x->v[0] + log(0.75)) <= 4e-16, "%.17g", x->v[0]);
    /* shape mismatches are refused */
    cr_expect_null(linstab_ad_matmul_nt(g, a, c));
    cr_expect_null(linstab_ad_add_row(g, c, a));
    cr_expect_null(linstab_ad_unary(g, LINSTAB_AD_MSE, a));
    linstab_ad_graph_free(g);
}

Test(mlp_layout, activation_names_and_parameter_offsets)
{
    const char *names[] = {"tanh", "relu", "sigmoid", "softplus", "gelu"};
    linstab_error err;
    for (int k = 0; k < 5; k++) {
        linstab_ad_op op;
        cr_assert_eq(linstab_mlp_act_parse(names[k], &op, &err), LINSTAB_OK);
        cr_assert_eq(op, acts[k]);
        cr_assert_str_eq(linstab_mlp_act_name(op), names[k]);
    }
    linstab_ad_op op;
    cr_assert_eq(linstab_mlp_act_parse("swish", &op, &err), LINSTAB_EINVAL);
    /* sizes 3-5-4-2 with bias: W1 (5x3) b1 (5) W2 (4x5) b2 (4) W3 (2x4) b3 (2) */
    size_t sizes[4] = {3, 5, 4, 2};
    for (int bias = 0; bias <= 1; bias++) {
        linstab_mlp *m = NULL;
        cr_assert_eq(linstab_mlp_alloc(sizes, 3, LINSTAB_AD_TANH, bias, &m, &err), LINSTAB_OK);
        size_t off = 0;
        for (size_t l = 1; l <= 3; l++) {
            cr_expect_eq(linstab_mlp_w_offset(m, l), off, "bias %d layer %zu", bias, l);
            off += sizes[l] * sizes[l - 1];
            if (bias) {
                cr_expect_eq(linstab_mlp_b_offset(m, l), off, "bias %d layer %zu", bias, l);
                off += sizes[l];
            }
        }
        cr_expect_eq(m->p, off);
        linstab_mlp_free(m);
    }
}
