/*
 * test_mlp_outact.c -- the MLP's optional output activation,
 * f = out_act(W_L h + b_L), through every numeric path of module mlp.
 *
 * References, all independent of the code under test:
 *   - central finite differences of the loss value (the forward pass) for
 *     the gradient, of the tape gradient for Hessian-vector products and
 *     Hessian columns, of the forward pass for the Jacobian of f;
 *   - the per-sample Hessians against p tape Hessian-vector products along
 *     unit vectors (a second algorithm), and in turn the batched products
 *     (hvp, m2_product), the sharpness, s_2^2, the NTK Gram matrix and the
 *     coherence against dense sums of those matrices;
 *   - Gauss-Newton G_i = J_f' J_f from the finite-difference Jacobian, and
 *     G_i = H_i at an interpolating point (y = f(x));
 *   - Zhou et al. (2025), Example 4.1: the 1-1-1 tanh network without bias
 *     and with a tanh output at x = 1, y = 0 has L(u, v) = tanh^2(v tanh u)/2,
 *     whose gradient and Hessian are written out below by hand;
 *   - the linear output (none): fingerprints of every number pinned from
 *     the library before the output activation existed, compared with ==.
 *
 * Tolerances (as test_ad.c): a central difference with step h = 1e-5 on
 * O(1) quantities has truncation ~h^2 |f'''| / 6 ~ 1e-11 and rounding
 * ~eps |f| / h ~ 1e-11, so 1e-7 relative leaves a wide margin while a wrong
 * out_act'' term (an O(1) change of the curvature) is far outside it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "linstab/family.h"
#include "linstab/mlp.h"
#include "linstab/sym.h"
#include "testutil.h"

static const linstab_ad_op outs[5] = {LINSTAB_AD_TANH, LINSTAB_AD_RELU, LINSTAB_AD_SIGMOID, LINSTAB_AD_SOFTPLUS,
                                      LINSTAB_AD_GELU};
static const size_t S3[4] = {3, 5, 4, 3};
#define FD_H 1e-5
#define FD_TOL 1e-7

static linstab_mlp *net(const size_t *sizes, size_t L, linstab_ad_op act, linstab_ad_op out, int bias,
                        unsigned long seed)
{
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, L, act, bias, &m, &err), LINSTAB_OK);
    cr_assert_eq(m->out_act, LINSTAB_MLP_OUT_NONE, "alloc sets no output activation");
    cr_assert_eq(linstab_mlp_set_output(m, out, &err), LINSTAB_OK, "%s", err.msg);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, m->theta, m->p);
    for (size_t j = 0; j < m->p; j++) m->theta[j] *= 0.7;
    gsl_rng_free(r);
    return m;
}

/* The smallest |z_L| of the pre-activation outputs at the rows of X: the
 * finite differences need it away from ReLU's kink at 0. */
static double min_abs_z(const linstab_mlp *m, const double *X, size_t rows)
{
    linstab_mlp lin = *m;
    lin.out_act = LINSTAB_MLP_OUT_NONE;
    size_t K = m->sizes[m->nlayers];
    double *Z = malloc(rows * K * sizeof *Z), mn = INFINITY;
    linstab_error err;
    cr_assert_eq(linstab_mlp_forward(&lin, X, rows, Z, &err), LINSTAB_OK);
    for (size_t j = 0; j < rows * K; j++) mn = fmin(mn, fabs(Z[j]));
    free(Z);
    return mn;
}

static double value_at(linstab_mlp *m, const double *X, const double *Y, size_t rows, linstab_loss loss)
{
    double v;
    linstab_error err;
    cr_assert_eq(linstab_mlp_loss(m, X, Y, rows, loss, 0.1, NULL, &v, NULL, NULL, &err), LINSTAB_OK);
    return v;
}

static void grad_at(linstab_mlp *m, const double *X, const double *Y, size_t rows, linstab_loss loss, double *g)
{
    linstab_error err;
    cr_assert_eq(linstab_mlp_loss(m, X, Y, rows, loss, 0.1, NULL, NULL, g, NULL, &err), LINSTAB_OK);
}

/* J (K x p) of the outputs f at x by central differences of the forward pass. */
static void fd_jacobian(linstab_mlp *m, const double *x, double *J)
{
    size_t K = m->sizes[m->nlayers], p = m->p;
    double fp[16], fm[16];
    linstab_error err;
    for (size_t j = 0; j < p; j++) {
        double t = m->theta[j];
        m->theta[j] = t + FD_H;
        cr_assert_eq(linstab_mlp_forward(m, x, 1, fp, &err), LINSTAB_OK);
        m->theta[j] = t - FD_H;
        cr_assert_eq(linstab_mlp_forward(m, x, 1, fm, &err), LINSTAB_OK);
        m->theta[j] = t;
        for (size_t o = 0; o < K; o++) J[o * p + j] = (fp[o] - fm[o]) / (2 * FD_H);
    }
}

static double maxabs(const double *a, size_t n)
{
    double s = 0.0;
    for (size_t j = 0; j < n; j++) s = fmax(s, fabs(a[j]));
    return s;
}

/* The data of the random-network tests: 5 rows of 3 inputs, MSE targets
 * (3 outputs) and CE labels. */
static double Xd[15], Yd[15];
static const double Ld[5] = {2, 0, 1, 2, 1};
static void data_init(void)
{
    gsl_rng *r = tu_rng(4242);
    tu_gauss(r, Xd, 15);
    tu_gauss(r, Yd, 15);
    for (int j = 0; j < 15; j++) Yd[j] *= 0.4;
    gsl_rng_free(r);
}

Test(mlp_outact, gradient_and_hessian_vector_product_match_central_differences, .init = data_init)
{
    linstab_ad_op hidden[2] = {LINSTAB_AD_TANH, LINSTAB_AD_SOFTPLUS};
    for (int a = 0; a < 5; a++)
        for (int hd = 0; hd < 2; hd++)
            for (int bias = 0; bias <= 1; bias++)
                for (int ce = 0; ce <= 1; ce++) {
                    linstab_mlp *m = net(S3, 3, hidden[hd], outs[a], bias, 100 + 10 * a + hd + 4 * bias);
                    if (outs[a] == LINSTAB_AD_RELU) cr_assert_gt(min_abs_z(m, Xd, 5), 1e-3, "a test point at ReLU's kink (seed): %g hd %d bias %d", min_abs_z(m, Xd, 5), hd, bias);
                    linstab_loss loss = ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
                    const double *Y = ce ? Ld : Yd;
                    size_t p = m->p, n = 5;
                    double *g = malloc(p * sizeof *g), *hv = malloc(p * sizeof *hv), *v = malloc(p * sizeof *v),
                           *gp = malloc(p * sizeof *gp), *gm = malloc(p * sizeof *gm), *hb = malloc(p * sizeof *hb);
                    gsl_rng *r = tu_rng(7 + a);
                    tu_gauss(r, v, p);
                    gsl_rng_free(r);
                    linstab_error err;
                    double val;
                    cr_assert_eq(linstab_mlp_loss(m, Xd, Y, n, loss, 0.1, v, &val, g, hv, &err), LINSTAB_OK);
                    /* the tape's value is the forward pass's */
                    cr_expect(fabs(val - value_at(m, Xd, Y, n, loss)) <= 4e-16 * fmax(1.0, fabs(val)));
                    double gerr = 0.0, herr = 0.0;
                    for (size_t j = 0; j < p; j++) {
                        double t = m->theta[j];
                        m->theta[j] = t + FD_H;
                        double lp = value_at(m, Xd, Y, n, loss);
                        m->theta[j] = t - FD_H;
                        double lm = value_at(m, Xd, Y, n, loss);
                        m->theta[j] = t;
                        gerr = fmax(gerr, fabs((lp - lm) / (2 * FD_H) - g[j]));
                    }
                    for (size_t j = 0; j < p; j++) m->theta[j] += FD_H * v[j];
                    grad_at(m, Xd, Y, n, loss, gp);
                    for (size_t j = 0; j < p; j++) m->theta[j] -= 2 * FD_H * v[j];
                    grad_at(m, Xd, Y, n, loss, gm);
                    for (size_t j = 0; j < p; j++) m->theta[j] += FD_H * v[j];
                    for (size_t j = 0; j < p; j++) herr = fmax(herr, fabs((gp[j] - gm[j]) / (2 * FD_H) - hv[j]));
                    double gs = fmax(maxabs(g, p), 1.0), hs = fmax(maxabs(hv, p), 1.0);
                    cr_expect_lt(gerr, FD_TOL * gs, "out %d hidden %d bias %d ce %d: gradient error %g", a, hd, bias,
                                 ce, gerr);
                    cr_expect_lt(herr, FD_TOL * hs, "out %d hidden %d bias %d ce %d: Hv error %g", a, hd, bias, ce,
                                 herr);
                    /* the hand-batched product: the tape's divided by n, to rounding */
                    cr_assert_eq(linstab_mlp_hvp(m, Xd, Y, n, loss, 0.1, v, hb, &err), LINSTAB_OK, "%s", err.msg);
                    double berr = 0.0;
                    for (size_t j = 0; j < p; j++) berr = fmax(berr, fabs(hb[j] - hv[j] / (double)n));
                    cr_expect_lt(berr, 1e-13 * hs, "out %d hidden %d bias %d ce %d: batched Hv vs tape %g", a, hd, bias,
                                 ce, berr);
                    free(g);
                    free(hv);
                    free(v);
                    free(gp);
                    free(gm);
                    free(hb);
                    linstab_mlp_free(m);
                }
}

/* Per-sample Hessians: against tape HVPs along every unit vector (to
 * rounding) and against differences of gradients (a sample of columns);
 * then the batched H v and (1/n) sum H_i H_i v against sums of them. */
Test(mlp_outact, sample_hessians_match_unit_hvps_differences_and_the_batched_products, .init = data_init)
{
    static const size_t shapes[3][4] = {{3, 3, 0, 0}, {3, 4, 3, 0}, {3, 5, 4, 3}};
    for (int s = 0; s < 3; s++)
        for (int a = 0; a < 5; a++)
            for (int bias = 0; bias <= 1; bias++)
                for (int ce = 0; ce <= 1; ce++) {
                    linstab_mlp *m = net(shapes[s], (size_t)s + 1, LINSTAB_AD_TANH, outs[a], bias, 200 + a + 7 * s);
                    if (outs[a] == LINSTAB_AD_RELU) cr_assert_gt(min_abs_z(m, Xd, 5), 1e-3, "a test point at ReLU's kink (seed)");
                    linstab_loss loss = ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
                    size_t p = m->p, n = 5, K = 3, ty = ce ? 1 : K;
                    const double *Y = ce ? Ld : Yd;
                    double *H = malloc(n * p * p * sizeof *H), *e = calloc(p, sizeof *e), *col = malloc(p * sizeof *col),
                           *gp = malloc(p * sizeof *gp), *gm = malloc(p * sizeof *gm);
                    linstab_error err;
                    double diff = 0.0, fd = 0.0, scale = 0.0;
                    for (size_t i = 0; i < n; i++) {
                        double *Hi = H + i * p * p;
                        const double *x = Xd + 3 * i, *y = Y + ty * i;
                        cr_assert_eq(linstab_mlp_sample_hessian(m, x, y, loss, 0.1, Hi, &err), LINSTAB_OK, "%s",
                                     err.msg);
                        scale = fmax(scale, maxabs(Hi, p * p));
                        for (size_t j = 0; j < p; j++) {
                            e[j] = 1.0;
                            cr_assert_eq(linstab_mlp_loss(m, x, y, 1, loss, 0.1, e, NULL, NULL, col, &err), LINSTAB_OK);
                            e[j] = 0.0;
                            for (size_t q = 0; q < p; q++) diff = fmax(diff, fabs(col[q] - Hi[q * p + j]));
                        }
                        for (size_t j = i % 3; j < p; j += 3) {
                            double t = m->theta[j];
                            m->theta[j] = t + FD_H;
                            grad_at(m, x, y, 1, loss, gp);
                            m->theta[j] = t - FD_H;
                            grad_at(m, x, y, 1, loss, gm);
                            m->theta[j] = t;
                            for (size_t q = 0; q < p; q++)
                                fd = fmax(fd, fabs((gp[q] - gm[q]) / (2 * FD_H) - Hi[q * p + j]));
                        }
                    }
                    scale = fmax(scale, 1e-300);
                    cr_expect(diff <= 1e-12 * scale, "shape %d out %d bias %d ce %d: Hessian vs unit HVPs %.3g of %.3g",
                              s, a, bias, ce, diff, scale);
                    cr_expect(fd <= FD_TOL * fmax(scale, 1.0), "shape %d out %d bias %d ce %d: Hessian vs FD %.3g", s,
                              a, bias, ce, fd);
                    /* batched products against the dense sums */
                    double *v = malloc(p * sizeof *v), *o2 = malloc(p * sizeof *o2), *hv = malloc(p * sizeof *hv),
                           *rh = calloc(p, sizeof *rh), *r2 = calloc(p, sizeof *r2), *u = malloc(p * sizeof *u);
                    gsl_rng *r = tu_rng(300 + a);
                    tu_gauss(r, v, p);
                    gsl_rng_free(r);
                    for (size_t i = 0; i < n; i++) {
                        const double *Hi = H + i * p * p;
                        for (size_t q = 0; q < p; q++) {
                            u[q] = 0.0;
                            for (size_t j = 0; j < p; j++) u[q] += Hi[q * p + j] * v[j];
                        }
                        for (size_t q = 0; q < p; q++) {
                            rh[q] += u[q] / (double)n;
                            double t = 0.0;
                            for (size_t j = 0; j < p; j++) t += Hi[q * p + j] * u[j];
                            r2[q] += t / (double)n;
                        }
                    }
                    cr_assert_eq(linstab_mlp_m2_product(m, Xd, Y, n, loss, 0.1, v, o2, hv, &err), LINSTAB_OK, "%s",
                                 err.msg);
                    double s1 = fmax(maxabs(rh, p), 1e-300), s2 = fmax(maxabs(r2, p), 1e-300), e1 = 0.0, e2 = 0.0;
                    for (size_t q = 0; q < p; q++) {
                        e1 = fmax(e1, fabs(hv[q] - rh[q]));
                        e2 = fmax(e2, fabs(o2[q] - r2[q]));
                    }
                    /* sums of p products of O(scale) numbers: p eps scale |v| */
                    cr_expect(e1 <= tu_tol(p, 1.0) * scale * maxabs(v, p) * 4, "shape %d out %d bias %d ce %d: Hv %.3g of %.3g",
                              s, a, bias, ce, e1, s1);
                    cr_expect(e2 <= tu_tol(p, 1.0) * scale * scale * maxabs(v, p) * 4 * (double)p,
                              "shape %d out %d bias %d ce %d: M2 v %.3g of %.3g", s, a, bias, ce, e2, s2);
                    free(v);
                    free(o2);
                    free(hv);
                    free(rh);
                    free(r2);
                    free(u);
                    free(H);
                    free(e);
                    free(col);
                    free(gp);
                    free(gm);
                    linstab_mlp_free(m);
                }
}

/* J_f against differences of the forward pass; the Gauss-Newton family
 * against J_fd' J_fd; at an interpolating point (y = f(x)) the exact
 * Hessians are those Gauss-Newton matrices; the NTK Gram matrix and the
 * coherence against sums of the Jacobians. */
Test(mlp_outact, jacobians_gauss_newton_ntk_and_coherence_are_those_of_the_activated_output, .init = data_init)
{
    static const size_t S1[2] = {3, 3};
    for (int sq = 0; sq < 10; sq++) /* the shape (one layer, three) and the output activation */
        for (int bias = 0; bias <= 1; bias++) {
            int shape = sq / 5, a = sq % 5;
            linstab_mlp *m = shape ? net(S3, 3, LINSTAB_AD_GELU, outs[a], bias, 400 + a)
                                   : net(S1, 1, LINSTAB_AD_GELU, outs[a], bias, 450 + a);
            if (outs[a] == LINSTAB_AD_RELU) cr_assert_gt(min_abs_z(m, Xd, 5), 1e-3, "a test point at ReLU's kink (seed)");
            size_t p = m->p, n = 5, K = 3;
            double *J = malloc(n * K * p * sizeof *J), *U = malloc(p * K * sizeof *U), *F = malloc(n * K * sizeof *F);
            linstab_error err;
            cr_assert_eq(linstab_mlp_forward(m, Xd, n, F, &err), LINSTAB_OK);
            linstab_array X = {2, {n, 3}, Xd}, Yi = {2, {n, K}, F}; /* targets = outputs: interpolation */
            linstab_family *gn = NULL, *ex = NULL;
            cr_assert_eq(linstab_mlp_family(m, &X, &Yi, LINSTAB_LOSS_MSE, 0.0, 1, 0, &gn, &err), LINSTAB_OK, "%s",
                         err.msg);
            cr_assert_eq(linstab_mlp_family(m, &X, &Yi, LINSTAB_LOSS_MSE, 0.0, 0, 0, &ex, &err), LINSTAB_OK, "%s",
                         err.msg);
            double jerr = 0.0, js = 0.0, gerr = 0.0, herr = 0.0, gs = 0.0;
            for (size_t i = 0; i < n; i++) {
                double *Ji = J + i * K * p;
                fd_jacobian(m, Xd + 3 * i, Ji);
                cr_assert_eq(linstab_mlp_sample_jacobian_t(m, Xd + 3 * i, U, &err), LINSTAB_OK);
                const double *Ui = gn->data + i * p * K, *Hi = ex->data + i * p * p;
                for (size_t q = 0; q < p; q++)
                    for (size_t o = 0; o < K; o++) {
                        jerr = fmax(jerr, fabs(U[q * K + o] - Ji[o * p + q]));
                        cr_expect_eq(Ui[q * K + o], U[q * K + o], "the family's factor is the Jacobian");
                        js = fmax(js, fabs(Ji[o * p + q]));
                    }
                /* G_i = J' H_loss J with H_loss = I (MSE) from the FD Jacobian */
                for (size_t q = 0; q < p; q++)
                    for (size_t c = 0; c < p; c++) {
                        double s = 0.0, u = 0.0;
                        for (size_t o = 0; o < K; o++) {
                            s += Ji[o * p + q] * Ji[o * p + c];
                            u += Ui[q * K + o] * Ui[c * K + o];
                        }
                        gs = fmax(gs, fabs(s));
                        gerr = fmax(gerr, fabs(u - s));
                        herr = fmax(herr, fabs(Hi[q * p + c] - s));
                    }
            }
            cr_expect_lt(jerr, FD_TOL * fmax(js, 1.0), "out %d bias %d: Jacobian vs FD %g", a, bias, jerr);
            cr_expect_lt(gerr, 4 * FD_TOL * fmax(gs, 1.0), "out %d bias %d: Gauss-Newton vs J'J (FD) %g", a, bias, gerr);
            cr_expect_lt(herr, 4 * FD_TOL * fmax(gs, 1.0), "out %d bias %d: exact Hessian at interpolation vs J'J %g", a,
                         bias, herr);
            /* NTK Gram blocks U_i' U_j */
            size_t nk = n * K;
            double *G = malloc(nk * nk * sizeof *G), us = maxabs(gn->data, n * p * K), nerr = 0.0;
            cr_assert_eq(linstab_mlp_ntk_gram(m, &X, G, &err), LINSTAB_OK, "%s", err.msg);
            double *S = malloc(n * n * sizeof *S), lmax = 0.0, C[9];
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < n; j++) {
                    double fro = 0.0;
                    for (size_t c = 0; c < K; c++)
                        for (size_t e = 0; e < K; e++) {
                            double s = 0.0;
                            for (size_t q = 0; q < p; q++)
                                s += gn->data[i * p * K + q * K + c] * gn->data[j * p * K + q * K + e];
                            nerr = fmax(nerr, fabs(G[(i * K + c) * nk + j * K + e] - s));
                            fro += s * s;
                            if (i == j) C[c * K + e] = s;
                        }
                    S[i * n + j] = sqrt(fro);
                    if (i == j) {
                        double l1;
                        linstab_sym_symmetrize(K, C);
                        cr_assert_eq(linstab_sym_lambda_max_lapack(K, C, &l1, &err), LINSTAB_OK);
                        lmax = fmax(lmax, l1);
                    }
                }
            cr_expect(nerr <= tu_tol(p, 1.0) * us * us * 4, "out %d bias %d: NTK Gram vs U_i'U_j %g", a, bias, nerr);
            double l1S, want, l1S_got, sigma;
            cr_assert_eq(linstab_sym_lambda_max_lapack(n, S, &l1S, &err), LINSTAB_OK);
            want = l1S / lmax;
            cr_assert_eq(linstab_mlp_coherence_gn(m, &X, 1 << 20, &l1S_got, &sigma, &err), LINSTAB_OK, "%s", err.msg);
            cr_expect(fabs(l1S_got - l1S) <= 1e-10 * l1S, "out %d bias %d: lambda1(S) %.15g vs %.15g", a, bias, l1S_got,
                      l1S);
            cr_expect(fabs(sigma - want) <= 1e-10 * want, "out %d bias %d: sigma %.15g vs %.15g", a, bias, sigma, want);
            free(G);
            free(S);
            free(J);
            free(U);
            free(F);
            linstab_family_free(gn);
            linstab_family_free(ex);
            linstab_mlp_free(m);
        }
}

/* Sharpness and s_2^2 (Lanczos on the batched products) against the dense
 * eigenvalues of the mean Hessian and of M_2 - H^2 from per-sample
 * Hessians; evaluation and the point against the forward pass. */
Test(mlp_outact, sharpness_gap_evaluation_and_point_honour_the_output_activation, .init = data_init)
{
    for (int a = 0; a < 5; a++)
        for (int ce = 0; ce <= 1; ce++) {
            linstab_mlp *m = net(S3, 3, LINSTAB_AD_TANH, outs[a], 1, 500 + a);
            linstab_loss loss = ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
            size_t p = m->p, n = 5, K = 3;
            linstab_array X = {2, {n, 3}, Xd}, Y = ce ? (linstab_array){1, {n}, (double *)Ld}
                                                      : (linstab_array){2, {n, K}, Yd};
            linstab_family *ex = NULL;
            linstab_error err;
            cr_assert_eq(linstab_mlp_family(m, &X, &Y, loss, 0.1, 0, 0, &ex, &err), LINSTAB_OK, "%s", err.msg);
            double *Hm = calloc(p * p, sizeof *Hm), *M2 = calloc(p * p, sizeof *M2);
            for (size_t i = 0; i < n; i++) {
                const double *Hi = ex->data + i * p * p;
                for (size_t q = 0; q < p; q++)
                    for (size_t c = 0; c < p; c++) {
                        Hm[q * p + c] += Hi[q * p + c] / (double)n;
                        double s = 0.0;
                        for (size_t j = 0; j < p; j++) s += Hi[q * p + j] * Hi[j * p + c];
                        M2[q * p + c] += s / (double)n;
                    }
            }
            double l1_ref, gap_ref, l1, gap, m2s;
            cr_assert_eq(linstab_sym_lambda_max_lapack(p, M2, &m2s, &err), LINSTAB_OK);
            for (size_t q = 0; q < p; q++)
                for (size_t c = 0; c < p; c++) {
                    double s = 0.0;
                    for (size_t j = 0; j < p; j++) s += Hm[q * p + j] * Hm[j * p + c];
                    M2[q * p + c] -= s;
                }
            linstab_sym_symmetrize(p, M2);
            cr_assert_eq(linstab_sym_lambda_max_lapack(p, Hm, &l1_ref, &err), LINSTAB_OK);
            cr_assert_eq(linstab_sym_lambda_max_lapack(p, M2, &gap_ref, &err), LINSTAB_OK);
            cr_assert_eq(linstab_mlp_sharpness(m, &X, &Y, loss, 0.1, &l1, &err), LINSTAB_OK, "%s", err.msg);
            cr_assert_eq(linstab_mlp_m2_gap(m, &X, &Y, loss, 0.1, &gap, &err), LINSTAB_OK, "%s", err.msg);
            /* Lanczos to 1e-8 (relative to the spectrum's scale) */
            cr_expect(fabs(l1 - l1_ref) <= 1e-6 * fabs(l1_ref), "out %d ce %d: sharpness %.12g vs %.12g", a, ce, l1,
                      l1_ref);
            cr_expect(fabs(gap - gap_ref) <= 1e-6 * m2s, "out %d ce %d: s2^2 %.12g vs %.12g", a, ce, gap, gap_ref);
            /* evaluation and the point: f = out_act(z) of the linear net */
            linstab_mlp lin = *m;
            lin.out_act = LINSTAB_MLP_OUT_NONE;
            double Z[15], F[15], f, d1, d2, want = 0.0;
            cr_assert_eq(linstab_mlp_forward(&lin, Xd, n, Z, &err), LINSTAB_OK);
            cr_assert_eq(linstab_mlp_forward(m, Xd, n, F, &err), LINSTAB_OK);
            for (size_t j = 0; j < n * K; j++) {
                linstab_ad_activation(outs[a], Z[j], &f, &d1, &d2);
                cr_expect_eq(F[j], f, "out %d: the forward pass applies out_act to z_L", a);
            }
            for (size_t i = 0; i < n && !ce; i++)
                for (size_t c = 0; c < K; c++) want += 0.5 * (F[i * K + c] - Yd[i * K + c]) * (F[i * K + c] - Yd[i * K + c]);
            for (size_t i = 0; i < n && ce; i++) {
                double mx = -INFINITY, s = 0.0, lse, l = 0.0;
                for (size_t c = 0; c < K; c++) mx = fmax(mx, F[i * K + c]);
                for (size_t c = 0; c < K; c++) s += exp(F[i * K + c] - mx);
                lse = mx + log(s);
                for (size_t c = 0; c < K; c++) {
                    double t = (c == (size_t)Ld[i] ? 0.9 : 0.0) + 0.1 / (double)K;
                    l -= t * (F[i * K + c] - lse);
                }
                want += l;
            }
            want /= (double)n;
            double ml, acc;
            cr_assert_eq(linstab_mlp_evaluate(m, &X, &Y, loss, 0.1, &ml, &acc, &err), LINSTAB_OK);
            cr_expect(fabs(ml - want) <= 1e-14 * fmax(1.0, want), "out %d ce %d: mean loss %.17g vs %.17g", a, ce, ml,
                      want);
            linstab_mlp_point pt;
            cr_assert_eq(linstab_mlp_point_at(m, &X, &Y, loss, 0.1, &pt, &err), LINSTAB_OK);
            cr_expect(fabs(pt.mean_loss - want) <= 1e-14 * fmax(1.0, want));
            double *g = malloc(p * sizeof *g), gn2 = 0.0;
            grad_at(m, Xd, ce ? Ld : Yd, n, loss, g);
            for (size_t j = 0; j < p; j++) gn2 += (g[j] / (double)n) * (g[j] / (double)n);
            cr_expect(fabs(pt.grad_norm - sqrt(gn2)) <= 1e-12 * fmax(sqrt(gn2), 1e-300), "out %d ce %d: |grad| %.15g vs %.15g",
                      a, ce, pt.grad_norm, sqrt(gn2));
            free(g);
            free(Hm);
            free(M2);
            linstab_family_free(ex);
            linstab_mlp_free(m);
        }
}

/* Zhou et al. (2025), Example 4.1: W1 = u, W2 = v, no bias, tanh hidden and
 * output, x = 1, y = 0: L = tanh^2(v tanh u) / 2.  With a = tanh u,
 * s = tanh(v a), q = dL/dw = s (1 - s^2) at w = v a, q' = (1 - s^2)(1 - 3 s^2):
 *   dL/du = q v (1 - a^2),  dL/dv = q a,
 *   d2L/dv2 = q' a^2,  d2L/dudv = q' a v (1 - a^2) + q (1 - a^2),
 *   d2L/du2 = q' v^2 (1 - a^2)^2 - 2 q v a (1 - a^2). */
Test(mlp_outact, zhou_example_4_1_has_the_closed_form_loss_gradient_and_hessian)
{
    static const size_t s[3] = {1, 1, 1};
    const double pts[4][2] = {{0.7, -1.3}, {1.5, 0.4}, {-0.2, 2.0}, {0.05, 0.1}};
    const double x[1] = {1.0}, y[1] = {0.0};
    const double eps = 2.220446049250313e-16;
    for (int k = 0; k < 4; k++) {
        linstab_mlp *m = NULL;
        linstab_error err;
        cr_assert_eq(linstab_mlp_alloc(s, 2, LINSTAB_AD_TANH, 0, &m, &err), LINSTAB_OK);
        cr_assert_eq(linstab_mlp_set_output(m, LINSTAB_AD_TANH, &err), LINSTAB_OK);
        cr_assert_eq(m->p, 2);
        double u = pts[k][0], v = pts[k][1];
        m->theta[0] = u;
        m->theta[1] = v;
        double aa = tanh(u), sv = tanh(v * aa), q = sv * (1 - sv * sv), qd = (1 - sv * sv) * (1 - 3 * sv * sv),
               e = 1 - aa * aa;
        double L = 0.5 * sv * sv, g[2] = {q * v * e, q * aa};
        double H[4] = {qd * v * v * e * e - 2 * q * v * aa * e, qd * aa * v * e + q * e, 0, qd * aa * aa};
        H[2] = H[1];
        double val, gg[2], hv[2], Hs[4], Hb[2], dir[2] = {0.3, -0.8}, f;
        cr_assert_eq(linstab_mlp_forward(m, x, 1, &f, &err), LINSTAB_OK);
        cr_expect(fabs(f - sv) <= 2 * eps * fabs(sv), "(%g, %g): f %.17g vs tanh(v tanh u) %.17g", u, v, f, sv);
        cr_assert_eq(linstab_mlp_loss(m, x, y, 1, LINSTAB_LOSS_MSE, 0.0, NULL, &val, NULL, NULL, &err), LINSTAB_OK);
        cr_expect(fabs(val - L) <= 4 * eps * L, "(%g, %g): L %.17g vs %.17g", u, v, val, L);
        cr_assert_eq(linstab_mlp_loss(m, x, y, 1, LINSTAB_LOSS_MSE, 0.0, dir, &val, gg, hv, &err), LINSTAB_OK);
        double gs = fmax(fabs(g[0]), fabs(g[1])), hs = fmax(fmax(fabs(H[0]), fabs(H[1])), fabs(H[3]));
        for (int j = 0; j < 2; j++) {
            cr_expect(fabs(gg[j] - g[j]) <= 16 * eps * gs, "(%g, %g): dL/d%c %.17g vs %.17g", u, v, "uv"[j], gg[j], g[j]);
            double want = H[2 * j] * dir[0] + H[2 * j + 1] * dir[1];
            cr_expect(fabs(hv[j] - want) <= 64 * eps * hs, "(%g, %g): tape (Hv)_%d %.17g vs %.17g", u, v, j, hv[j],
                      want);
        }
        cr_assert_eq(linstab_mlp_sample_hessian(m, x, y, LINSTAB_LOSS_MSE, 0.0, Hs, &err), LINSTAB_OK);
        for (int j = 0; j < 4; j++)
            cr_expect(fabs(Hs[j] - H[j]) <= 64 * eps * hs, "(%g, %g): H[%d] %.17g vs %.17g", u, v, j, Hs[j], H[j]);
        cr_assert_eq(linstab_mlp_hvp(m, x, y, 1, LINSTAB_LOSS_MSE, 0.0, dir, Hb, &err), LINSTAB_OK);
        for (int j = 0; j < 2; j++) {
            double want = H[2 * j] * dir[0] + H[2 * j + 1] * dir[1];
            cr_expect(fabs(Hb[j] - want) <= 64 * eps * hs, "(%g, %g): batched (Hv)_%d %.17g vs %.17g", u, v, j, Hb[j],
                      want);
        }
        /* the Jacobian of f = tanh(v tanh u): (1 - s^2) (v (1 - a^2), a) */
        double U[2];
        cr_assert_eq(linstab_mlp_sample_jacobian_t(m, x, U, &err), LINSTAB_OK);
        double J[2] = {(1 - sv * sv) * v * e, (1 - sv * sv) * aa}, js = fmax(fabs(J[0]), fabs(J[1]));
        for (int j = 0; j < 2; j++)
            cr_expect(fabs(U[j] - J[j]) <= 16 * eps * fmax(js, 1.0), "(%g, %g): J_%d %.17g vs %.17g", u, v, j, U[j],
                      J[j]);
        linstab_mlp_free(m);
    }
}

/* ---- the linear output is the library of before ---- */

#include "mlp_outact_fp.h"

/* Pinned by the library before output activations existed (the same
 * function linked against it printed these with %a). */
static const double none_want[58] = {
    -0x1.0e507173b38cap+4, 0x1.8e3ab6b5ae6fdp+1,  0x1.8e3ab6b5ae6fdp+1,  -0x1.9b28cbbffa288p+5,
    -0x1.14c61346706f8p+6, -0x1.14c61346706f8p+4, -0x1.eff0c5a5540bdp+4, -0x1.14c61346706f8p+4,
    0x1.6eb5784e23bc5p+5,  0x1.8e3ab6b5ae6fdp-1,  0x1p-2,                0x1.8e3ab6b5ae6fep-1,
    0x1.a96b2828d38ccp+0,  0x1.af45c97dd04bcp+1,  0x1.aaabb17e9d141p+1,  0x1.aaabb17e9d141p+1,
    -0x1.aa45ee1f10e88p+2, -0x1.240c263468424p+3, -0x1.240c263468424p+1, -0x1.2329bf53e2066p+1,
    -0x1.240c263468424p+1, 0x1.5dc1ad39e3844p+0,  0x1.aaabb17e9d141p-1,  0x1p-1,
    0x1.aaabb17e9d141p-1,  0x1.277a2295237d1p-1,  0x1.1c69615e982b8p+1,  0x1.6411b0353a2cp+4,
    0x1.d937282bfdfc1p+7,  0x1.c2180d8e8a634p-1,  0x1.56d4de1dcdb17p-1,  0x1.56d4de1dcdb17p-1,
    0x1.78c1e2d8d3502p-2,  0x1.b13b5cc52ac95p-2,  0x1.b13b5cc52ac95p-4,  0x1.ada471202d808p-6,
    0x1.b13b5cc52ac95p-4,  -0x1.6c999c6e49fc5p+2, 0x1.56d4de1dcdb17p-3,  0x1p-2,
    0x1.56d4de1dcdb17p-3,  0x1.4ec0665ea4dadp-3,  0x1.be31585df8887p-3,  0x1.48ee788e2c8d7p+1,
    0x1.48ee788e2c8d7p+1,  -0x1.b3d5160ac924bp-3, 0x1.8f54535d8a2fep+0,  0x1.8f54535d8a2fep-2,
    0x1.6353c56a228fap-5,  0x1.8f54535d8a2fep-2,  0x1.12fbf32c23ed8p+0,  0x1.48ee788e2c8d7p-1,
    0x1p+0,                0x1.48ee788e2c8d7p-1,  0x1.32fba3c42d971p-3,  0x1.521d4cde99e9ep-3,
    -0x1.94595431ffd3ep+0, 0x1.829f4d0a5d7fp+1};

Test(mlp_outact, no_output_activation_gives_the_numbers_of_before_bit_for_bit)
{
    double got[64];
    size_t c = none_fingerprints(got);
    cr_assert_eq(c, 58);
    /* to 1e-13 relative, not bit for bit: the last bits differ between CPUs' BLAS kernels */
    for (size_t k = 0; k < c; k++)
        cr_expect(fabs(got[k] - none_want[k]) <= 1e-13 * fmax(1.0, fabs(none_want[k])), "fingerprint %zu: %a vs %a", k,
                  got[k], none_want[k]);
    /* setting none explicitly, or going back to it, changes nothing */
    size_t s[3] = {3, 4, 2};
    linstab_mlp *a = NULL, *b = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(s, 2, LINSTAB_AD_TANH, 1, &a, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_alloc(s, 2, LINSTAB_AD_TANH, 1, &b, &err), LINSTAB_OK);
    for (size_t k = 0; k < a->p; k++) a->theta[k] = b->theta[k] = sin(0.3 * (double)k);
    cr_assert_eq(linstab_mlp_set_output(b, LINSTAB_AD_SIGMOID, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_set_output(b, LINSTAB_MLP_OUT_NONE, &err), LINSTAB_OK);
    double x[3] = {0.2, -0.4, 1.1}, fa[2], fb[2];
    cr_assert_eq(linstab_mlp_forward(a, x, 1, fa, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_forward(b, x, 1, fb, &err), LINSTAB_OK);
    cr_expect(fa[0] == fb[0] && fa[1] == fb[1]);
    /* anything but none or an activation is refused, m unchanged */
    cr_expect_eq(linstab_mlp_set_output(b, LINSTAB_AD_MSE, &err), LINSTAB_EINVAL);
    cr_expect_eq(b->out_act, LINSTAB_MLP_OUT_NONE);
    linstab_mlp_free(a);
    linstab_mlp_free(b);
}

/* ---- checkpoints and names ---- */

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "%s", path);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static void put(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs(text, fp);
    fclose(fp);
}

Test(mlp_outact, checkpoints_round_trip_with_and_without_the_key)
{
    char *dir = tu_tmppath("-outact");
    char path[4200];
    snprintf(path, sizeof path, "%s/model.json", dir);
    size_t s[3] = {2, 3, 2};
    linstab_error err;
    for (int a = -1; a < 5; a++) {
        linstab_ad_op out = a < 0 ? LINSTAB_MLP_OUT_NONE : outs[a];
        linstab_mlp *m = net(s, 2, LINSTAB_AD_SOFTPLUS, out, a % 2 == 0, 600 + a);
        cr_assert_eq(linstab_mlp_save(m, dir, &err), LINSTAB_OK, "%s", err.msg);
        const char *js = slurp(path);
        if (a < 0) /* exactly the model.json of before */
            cr_expect_str_eq(js, "{\"layers\": [2, 3, 2], \"activation\": \"softplus\", \"bias\": false}\n");
        else {
            char want[256];
            snprintf(want, sizeof want,
                     "{\"layers\": [2, 3, 2], \"activation\": \"softplus\", \"bias\": %s, \"output_activation\": \"%s\"}\n",
                     a % 2 == 0 ? "true" : "false", linstab_mlp_output_name(out));
            cr_expect_str_eq(js, want);
        }
        linstab_mlp *r = NULL;
        cr_assert_eq(linstab_mlp_load(dir, &r, &err), LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(r->out_act, out);
        cr_expect_eq(r->act, LINSTAB_AD_SOFTPLUS);
        cr_assert_eq(r->p, m->p);
        cr_expect(memcmp(r->theta, m->theta, m->p * sizeof(double)) == 0);
        linstab_mlp_free(r);
        linstab_mlp_free(m);
    }
    /* "none" spelled out, spaces, and bad values naming the file */
    linstab_mlp *r = NULL;
    put(path, "{\"layers\": [2, 3, 2], \"output_activation\" :  \"none\", \"activation\": \"tanh\", \"bias\": false}\n");
    cr_assert_eq(linstab_mlp_load(dir, &r, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(r->out_act, LINSTAB_MLP_OUT_NONE);
    cr_expect_eq(r->act, LINSTAB_AD_TANH);
    linstab_mlp_free(r);
    put(path, "{\"layers\": [2, 3, 2], \"activation\": \"tanh\", \"bias\": false, \"output_activation\":\"gelu\"}");
    cr_assert_eq(linstab_mlp_load(dir, &r, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(r->out_act, LINSTAB_AD_GELU);
    linstab_mlp_free(r);
    const char *bad[] = {"{\"layers\": [2, 3, 2], \"activation\": \"tanh\", \"bias\": false, \"output_activation\": \"swish\"}",
                         "{\"layers\": [2, 3, 2], \"activation\": \"tanh\", \"bias\": false, \"output_activation\": 1}",
                         "{\"layers\": [2, 3, 2], \"activation\": \"tanh\", \"bias\": false, \"output_activation\": \"tanh"};
    for (int k = 0; k < 3; k++) {
        put(path, bad[k]);
        r = (linstab_mlp *)1;
        cr_expect_eq(linstab_mlp_load(dir, &r, &err), LINSTAB_EDATA, "bad %d", k);
        cr_expect_null(r);
        cr_expect(strstr(err.msg, "model.json") != NULL && strstr(err.msg, "output_activation") != NULL, "bad %d: %s", k,
                  err.msg);
        if (k == 0) cr_expect(strstr(err.msg, "swish") != NULL, "%s", err.msg);
    }
    /* names */
    linstab_ad_op op;
    cr_expect_eq(linstab_mlp_output_parse("none", &op, &err), LINSTAB_OK);
    cr_expect_eq(op, LINSTAB_MLP_OUT_NONE);
    cr_expect_str_eq(linstab_mlp_output_name(LINSTAB_MLP_OUT_NONE), "none");
    for (int a = 0; a < 5; a++) {
        cr_expect_eq(linstab_mlp_output_parse(linstab_mlp_act_name(outs[a]), &op, &err), LINSTAB_OK);
        cr_expect_eq(op, outs[a]);
        cr_expect_str_eq(linstab_mlp_output_name(outs[a]), linstab_mlp_act_name(outs[a]));
    }
    cr_expect_eq(linstab_mlp_output_parse("linear", &op, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "linear") != NULL);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    free(dir);
}
