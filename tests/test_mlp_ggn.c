/*
 * test_mlp_ggn.c -- the generalized Gauss-Newton of softmax cross-entropy,
 * G_i = J_i' (diag(p_i) - p_i p_i') J_i with p_i = softmax(f(x_i)), J_i =
 * d f / d theta of the activated outputs: its factors U_i = J_i' R_i
 * (linstab_mlp_sample_gn_factor, the CE family with gn), its Gram matrix
 * (linstab_mlp_gn_gram: R_i' J_i J_j' R_j) and its coherence
 * (linstab_mlp_coherence_ggn).
 *
 * References, all independent of the code under test:
 *   - J by central differences of the forward pass, p by the softmax
 *     written out here, C = diag(p) - p p' from them: U_i U_i' against
 *     J_fd' C J_fd;
 *   - the exact per-sample Hessian (forward-over-reverse, all terms) equals
 *     G_i + sum_o (dl/df_o) hess f_o, dl/df = p - t (t the smoothed target,
 *     written out here) and hess f_o by central differences of the
 *     library's Jacobian: the decomposition of the Hessian of l(f(theta));
 *   - the Gram matrix and sigma against dense sums of the explicit factors;
 *   - PSD: lambda_min(U U') by a dense eigensolver, where the exact CE
 *     Hessian of the same non-interpolating point is indefinite;
 *   - label smoothing and labels: the GGN depends on p only (bitwise).
 *
 * Tolerances: central differences with h = 1e-5 of O(1) quantities err by
 * ~h^2 |f'''| / 6 + eps |f| / h ~ 1e-11; 1e-7 relative to the scale leaves a
 * wide margin, while dropping p p' (an O(p_max^2) change of C, here > 0.05)
 * or the out_act' factor is far outside it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/critical.h"
#include "linstab/family.h"
#include "linstab/mlp.h"
#include "linstab/sampling.h"
#include "linstab/train.h"
#include "linstab/sym.h"
#include "testutil.h"

#define FD_H 1e-5
#define FD_TOL 1e-7
#define NS 5 /* samples */
#define D0 3
#define K 3 /* outputs */

static const size_t S3[4] = {D0, 5, 4, K}, S1[2] = {D0, K};
/* none and every output activation but ReLU (its kink needs a seed check;
 * the activations' derivatives are tested in test_mlp_outact.c) */
static const linstab_ad_op outs[5] = {LINSTAB_MLP_OUT_NONE, LINSTAB_AD_TANH, LINSTAB_AD_SIGMOID, LINSTAB_AD_SOFTPLUS,
                                      LINSTAB_AD_GELU};
static double Xd[NS * D0];
static const double Ld[NS] = {2, 0, 1, 2, 1}, Lo[NS] = {0, 1, 2, 1, 0};

static void data_init(void)
{
    gsl_rng *r = tu_rng(9191);
    tu_gauss(r, Xd, NS * D0);
    gsl_rng_free(r);
}

static linstab_mlp *net(int shape, linstab_ad_op out, int bias, unsigned long seed)
{
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(shape ? S3 : S1, shape ? 3 : 1, LINSTAB_AD_TANH, bias, &m, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_set_output(m, out, &err), LINSTAB_OK, "%s", err.msg);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, m->theta, m->p);
    for (size_t j = 0; j < m->p; j++) m->theta[j] *= 0.9;
    gsl_rng_free(r);
    return m;
}

/* J (K x p) of f at x by central differences of the forward pass. */
static void fd_jacobian(linstab_mlp *m, const double *x, double *J)
{
    size_t p = m->p;
    double fp[K], fm[K];
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

/* p = softmax(f(x)), written out. */
static void probs(const linstab_mlp *m, const double *x, double *pr)
{
    double f[K], s = 0.0;
    linstab_error err;
    cr_assert_eq(linstab_mlp_forward(m, x, 1, f, &err), LINSTAB_OK);
    for (size_t o = 0; o < K; o++) s += exp(f[o]);
    for (size_t o = 0; o < K; o++) pr[o] = exp(f[o]) / s;
}

/* G = J' (diag p - p p') J (p x p) from a K x p Jacobian. */
static void ggn_reference(size_t p, const double *J, const double *pr, double *G)
{
    double C[K * K];
    for (size_t a = 0; a < K; a++)
        for (size_t c = 0; c < K; c++) C[a * K + c] = (a == c ? pr[a] : 0.0) - pr[a] * pr[c];
    for (size_t q = 0; q < p; q++)
        for (size_t r = 0; r < p; r++) {
            double s = 0.0;
            for (size_t a = 0; a < K; a++)
                for (size_t c = 0; c < K; c++) s += J[a * p + q] * C[a * K + c] * J[c * p + r];
            G[q * p + r] = s;
        }
}

static void outer(size_t p, size_t k, const double *U, double *G)
{
    for (size_t q = 0; q < p; q++)
        for (size_t r = 0; r < p; r++) {
            double s = 0.0;
            for (size_t o = 0; o < k; o++) s += U[q * k + o] * U[r * k + o];
            G[q * p + r] = s;
        }
}

static double maxabs(const double *a, size_t n)
{
    double s = 0.0;
    for (size_t j = 0; j < n; j++) s = fmax(s, fabs(a[j]));
    return s;
}

Test(mlp_ggn, factors_give_J_diag_p_minus_pp_J_from_finite_differences, .init = data_init)
{
    for (int shape = 0; shape <= 1; shape++)
        for (int a = 0; a < 5; a++)
            for (int bias = 0; bias <= 1; bias++) {
                linstab_mlp *m = net(shape, outs[a], bias, 300 + 10 * shape + 2 * a + bias);
                size_t p = m->p;
                linstab_array X = {2, {NS, D0}, Xd}, Y = {1, {NS}, (double *)Ld};
                linstab_family *f = NULL;
                linstab_error err;
                cr_assert_eq(linstab_mlp_family(m, &X, &Y, LINSTAB_LOSS_CE, 0.1, 1, 0, &f, &err), LINSTAB_OK, "%s",
                             err.msg);
                cr_assert_eq(f->kind, LINSTAB_FAMILY_FACTORED);
                cr_assert_eq(f->k, K);
                double *J = malloc(K * p * sizeof *J), *U = malloc(p * K * sizeof *U), *G = malloc(p * p * sizeof *G),
                       *R = malloc(p * p * sizeof *R), pr[K];
                double e = 0.0, sc = 0.0, pmax = 0.0;
                for (size_t i = 0; i < NS; i++) {
                    cr_assert_eq(linstab_mlp_sample_gn_factor(m, Xd + D0 * i, LINSTAB_LOSS_CE, U, &err), LINSTAB_OK);
                    cr_expect_eq(memcmp(U, f->data + i * p * K, p * K * sizeof *U), 0, "the family's factor");
                    fd_jacobian(m, Xd + D0 * i, J);
                    probs(m, Xd + D0 * i, pr);
                    for (size_t o = 0; o < K; o++) pmax = fmax(pmax, pr[o]);
                    ggn_reference(p, J, pr, R);
                    outer(p, K, U, G);
                    for (size_t q = 0; q < p * p; q++) e = fmax(e, fabs(G[q] - R[q]));
                    sc = fmax(sc, maxabs(R, p * p));
                }
                cr_expect_gt(sc, 1e-3, "a degenerate test point (p one-hot)");
                cr_expect_lt(e, FD_TOL * fmax(sc, 1.0), "shape %d out %d bias %d: U U' vs J'(diag p - pp')J %.3g of %.3g",
                             shape, a, bias, e, sc);
                free(J);
                free(U);
                free(G);
                free(R);
                linstab_family_free(f);
                linstab_mlp_free(m);
            }
}

/* The exact Hessian of l(f(theta)) is J' (hess_f l) J + sum_o (dl/df_o)
 * hess f_o; the first term is the GGN, the second (from differences of the
 * Jacobian) is what it drops.  With label smoothing alpha the target is
 * t = (1 - alpha) e_y + alpha / K and dl/df = p - t. */
Test(mlp_ggn, exact_hessian_is_ggn_plus_the_output_curvature_term, .init = data_init)
{
    for (int a = 0; a < 5; a++)
        for (int bias = 0; bias <= 1; bias++) {
            linstab_mlp *m = net(1, outs[a], bias, 500 + 2 * a + bias);
            size_t p = m->p;
            double alpha = 0.2;
            double *U = malloc(p * K * sizeof *U), *H = malloc(p * p * sizeof *H), *R = malloc(p * p * sizeof *R),
                   *Jp = malloc(p * K * sizeof *Jp), *Jm = malloc(p * K * sizeof *Jm), pr[K];
            linstab_error err;
            double e = 0.0, sc = 0.0, drop = 0.0;
            for (size_t i = 0; i < NS; i++) {
                const double *x = Xd + D0 * i;
                cr_assert_eq(linstab_mlp_sample_hessian(m, x, Ld + i, LINSTAB_LOSS_CE, alpha, H, &err), LINSTAB_OK);
                cr_assert_eq(linstab_mlp_sample_gn_factor(m, x, LINSTAB_LOSS_CE, U, &err), LINSTAB_OK);
                outer(p, K, U, R);
                probs(m, x, pr);
                double g[K];
                for (size_t o = 0; o < K; o++) g[o] = pr[o] - ((o == (size_t)Ld[i] ? 1.0 - alpha : 0.0) + alpha / K);
                /* column j of sum_o g_o hess f_o: differences of J' g along e_j */
                for (size_t j = 0; j < p; j++) {
                    double t = m->theta[j];
                    m->theta[j] = t + FD_H;
                    cr_assert_eq(linstab_mlp_sample_jacobian_t(m, x, Jp, &err), LINSTAB_OK);
                    m->theta[j] = t - FD_H;
                    cr_assert_eq(linstab_mlp_sample_jacobian_t(m, x, Jm, &err), LINSTAB_OK);
                    m->theta[j] = t;
                    for (size_t q = 0; q < p; q++) {
                        double s = 0.0;
                        for (size_t o = 0; o < K; o++) s += g[o] * (Jp[q * K + o] - Jm[q * K + o]) / (2 * FD_H);
                        drop = fmax(drop, fabs(s));
                        e = fmax(e, fabs(H[q * p + j] - R[q * p + j] - s));
                    }
                }
                sc = fmax(sc, maxabs(H, p * p));
            }
            cr_expect_gt(drop, 1e-2 * sc, "out %d bias %d: the residual term should not vanish here", a, bias);
            cr_expect_lt(e, FD_TOL * fmax(sc, 1.0), "out %d bias %d: H - GGN - sum g_o hess f_o = %.3g of %.3g", a,
                         bias, e, sc);
            free(U);
            free(H);
            free(R);
            free(Jp);
            free(Jm);
            linstab_mlp_free(m);
        }
}

/* GGN PSD where the exact CE Hessian of the same point is not. */
Test(mlp_ggn, ggn_is_psd_where_the_exact_ce_hessian_is_indefinite, .init = data_init)
{
    linstab_mlp *m = net(1, LINSTAB_MLP_OUT_NONE, 1, 77);
    size_t p = m->p;
    double *U = malloc(p * K * sizeof *U), *G = malloc(p * p * sizeof *G), *H = malloc(p * p * sizeof *H);
    linstab_error err;
    double worst_h = INFINITY;
    for (size_t i = 0; i < NS; i++) {
        cr_assert_eq(linstab_mlp_sample_gn_factor(m, Xd + D0 * i, LINSTAB_LOSS_CE, U, &err), LINSTAB_OK);
        outer(p, K, U, G);
        double lmin, lmax;
        cr_assert_eq(linstab_sym_lambda_min(p, G, &lmin, &err), LINSTAB_OK);
        cr_assert_eq(linstab_sym_lambda_max(p, G, &lmax, &err), LINSTAB_OK);
        cr_expect_gt(lmax, 0.0);
        cr_expect_geq(lmin, -tu_tol(p, 1.0) * lmax, "sample %zu: lambda_min(G) = %g", i, lmin);
        cr_assert_eq(linstab_mlp_sample_hessian(m, Xd + D0 * i, Ld + i, LINSTAB_LOSS_CE, 0.0, H, &err), LINSTAB_OK);
        double hmin;
        cr_assert_eq(linstab_sym_lambda_min(p, H, &hmin, &err), LINSTAB_OK);
        worst_h = fmin(worst_h, hmin);
    }
    cr_expect_lt(worst_h, -1e-3, "the exact Hessians of this point should be indefinite (%g)", worst_h);
    /* the family validates as PSD */
    linstab_array X = {2, {NS, D0}, Xd}, Y = {1, {NS}, (double *)Ld};
    linstab_family *f = NULL;
    int indef = -1;
    cr_assert_eq(linstab_mlp_family(m, &X, &Y, LINSTAB_LOSS_CE, 0.0, 1, 0, &f, &err), LINSTAB_OK);
    cr_expect_eq(linstab_family_validate(f, 1e-8, 0, &indef, &err), LINSTAB_OK, "%s", err.msg);
    linstab_family_free(f);
    free(U);
    free(G);
    free(H);
    linstab_mlp_free(m);
}

/* The GGN depends on p = softmax(f) only: labels and smoothing change
 * nothing (bitwise), while they do change the exact Hessian. */
Test(mlp_ggn, label_smoothing_and_labels_leave_the_ggn_unchanged, .init = data_init)
{
    linstab_mlp *m = net(1, LINSTAB_AD_TANH, 1, 88);
    linstab_array X = {2, {NS, D0}, Xd}, Y1 = {1, {NS}, (double *)Ld}, Y2 = {1, {NS}, (double *)Lo};
    linstab_family *a = NULL, *b = NULL, *c = NULL, *ea = NULL, *eb = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_family(m, &X, &Y1, LINSTAB_LOSS_CE, 0.0, 1, 0, &a, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_family(m, &X, &Y1, LINSTAB_LOSS_CE, 0.3, 1, 0, &b, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_family(m, &X, &Y2, LINSTAB_LOSS_CE, 0.7, 1, 0, &c, &err), LINSTAB_OK);
    size_t bytes = NS * m->p * K * sizeof(double);
    cr_expect_eq(memcmp(a->data, b->data, bytes), 0, "smoothing changed the GGN");
    cr_expect_eq(memcmp(a->data, c->data, bytes), 0, "the labels changed the GGN");
    cr_assert_eq(linstab_mlp_family(m, &X, &Y1, LINSTAB_LOSS_CE, 0.0, 0, 0, &ea, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_family(m, &X, &Y1, LINSTAB_LOSS_CE, 0.3, 0, 0, &eb, &err), LINSTAB_OK);
    double d = 0.0;
    for (size_t q = 0; q < NS * m->p * m->p; q++) d = fmax(d, fabs(ea->data[q] - eb->data[q]));
    cr_expect_gt(d, 1e-3, "smoothing should change the exact Hessian");
    linstab_family_free(a);
    linstab_family_free(b);
    linstab_family_free(c);
    linstab_family_free(ea);
    linstab_family_free(eb);
    linstab_mlp_free(m);
}

/* The Gram route: blocks R_i' J_i J_j' R_j against U_i' U_j of the explicit
 * factors, and sigma against the dense S_ij = ||U_i' U_j||_F; for MSE the
 * same functions are the NTK ones (bitwise). */
Test(mlp_ggn, gram_and_coherence_equal_the_explicit_factors, .init = data_init)
{
    for (int a = 0; a < 5; a++)
        for (int bias = 0; bias <= 1; bias++) {
            linstab_mlp *m = net(1, outs[a], bias, 600 + 2 * a + bias);
            size_t p = m->p, nk = NS * K;
            linstab_array X = {2, {NS, D0}, Xd}, Y = {1, {NS}, (double *)Ld};
            linstab_family *f = NULL;
            linstab_error err;
            cr_assert_eq(linstab_mlp_family(m, &X, &Y, LINSTAB_LOSS_CE, 0.0, 1, 0, &f, &err), LINSTAB_OK);
            double *G = malloc(nk * nk * sizeof *G), *Gm = malloc(nk * nk * sizeof *Gm), *Gn = malloc(nk * nk * sizeof *Gn);
            cr_assert_eq(linstab_mlp_gn_gram(m, &X, LINSTAB_LOSS_CE, G, &err), LINSTAB_OK);
            double e = 0.0, sc = 0.0, S[NS * NS], lmax = 0.0;
            for (size_t i = 0; i < NS; i++)
                for (size_t j = 0; j < NS; j++) {
                    double blk[K * K], fro = 0.0;
                    for (size_t u = 0; u < K; u++)
                        for (size_t v = 0; v < K; v++) {
                            double s = 0.0;
                            for (size_t q = 0; q < p; q++)
                                s += f->data[(i * p + q) * K + u] * f->data[(j * p + q) * K + v];
                            blk[u * K + v] = s;
                            fro += s * s;
                            sc = fmax(sc, fabs(s));
                            e = fmax(e, fabs(G[(i * K + u) * nk + j * K + v] - s));
                        }
                    S[i * NS + j] = sqrt(fro);
                    if (i == j) {
                        double l;
                        cr_assert_eq(linstab_sym_lambda_max(K, blk, &l, &err), LINSTAB_OK);
                        lmax = fmax(lmax, l);
                    }
                }
            cr_expect_lt(e, tu_tol(p, 1.0) * fmax(sc, 1.0) * 8, "out %d bias %d: Gram vs U_i'U_j %.3g", a, bias, e);
            double l1S_ref, l1S, sig;
            cr_assert_eq(linstab_sym_lambda_max(NS, S, &l1S_ref, &err), LINSTAB_OK);
            cr_assert_eq(linstab_mlp_coherence_ggn(m, &X, LINSTAB_LOSS_CE, 1 << 20, &l1S, &sig, &err), LINSTAB_OK);
            cr_expect_lt(fabs(l1S - l1S_ref), 1e-10 * l1S_ref, "out %d: lambda1(S) %.17g vs %.17g", a, l1S, l1S_ref);
            cr_expect_lt(fabs(sig - l1S_ref / lmax), 1e-10 * sig, "out %d: sigma %.17g vs %.17g", a, sig, l1S_ref / lmax);
            /* blocks of one sample: the same numbers */
            double l1S_b, sig_b;
            cr_assert_eq(linstab_mlp_coherence_ggn(m, &X, LINSTAB_LOSS_CE, 1, &l1S_b, &sig_b, &err), LINSTAB_OK);
            cr_expect_lt(fabs(sig_b - sig), 1e-12 * sig);
            /* MSE: the NTK functions */
            cr_assert_eq(linstab_mlp_gn_gram(m, &X, LINSTAB_LOSS_MSE, Gm, &err), LINSTAB_OK);
            cr_assert_eq(linstab_mlp_ntk_gram(m, &X, Gn, &err), LINSTAB_OK);
            cr_expect_eq(memcmp(Gm, Gn, nk * nk * sizeof *Gm), 0);
            double *U = malloc(p * K * sizeof *U), *J = malloc(p * K * sizeof *J);
            cr_assert_eq(linstab_mlp_sample_gn_factor(m, Xd, LINSTAB_LOSS_MSE, U, &err), LINSTAB_OK);
            cr_assert_eq(linstab_mlp_sample_jacobian_t(m, Xd, J, &err), LINSTAB_OK);
            cr_expect_eq(memcmp(U, J, p * K * sizeof *U), 0);
            free(U);
            free(J);
            free(G);
            free(Gm);
            free(Gn);
            linstab_family_free(f);
            linstab_mlp_free(m);
        }
}

/* train's monitor with CE: its Gram-route family (sharpness, rank, eta*)
 * against the explicit GGN factors restricted and rotated, and eta* there
 * by linstab_critical_eta; at full batch eta* = 2 / lambda1. */
Test(mlp_ggn, train_monitor_with_ce_is_that_of_the_explicit_ggn_factors, .init = data_init)
{
    linstab_mlp *m = net(1, LINSTAB_AD_SIGMOID, 1, 99);
    linstab_array X = {2, {NS, D0}, Xd}, Y = {1, {NS}, (double *)Ld};
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_family(m, &X, &Y, LINSTAB_LOSS_CE, 0.0, 1, 0, &f, &err), LINSTAB_OK);
    linstab_rotated rf = {0};
    cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_leq(rf.f->d, NS * (K - 1), "rank <= n (k - 1)");
    linstab_eigen_opts eo = linstab_eigen_defaults();
    for (size_t B = 1; B <= NS; B++) {
        linstab_train_monitor mon;
        cr_assert_eq(linstab_train_monitor_gn_at(m, &X, LINSTAB_LOSS_CE, B, LINSTAB_OPT_SGD, 0.0, &mon, &err),
                     LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(mon.rank, rf.f->d);
        cr_expect(fabs(mon.sharpness - rf.l[0]) <= 1e-12 * rf.l[0], "sharpness %.17g vs %.17g", mon.sharpness, rf.l[0]);
        double a, b, ref;
        linstab_sampling_coeffs(LINSTAB_SAMPLING_WITHOUT, NS, B, &a, &b);
        cr_assert_eq(linstab_critical_eta(rf.f, rf.l, a, b, &eo, &ref, &err), LINSTAB_OK);
        cr_expect(fabs(mon.eta_star_sgd - ref) <= 1e-8 * ref, "B %zu: eta* %.17g vs %.17g", B, mon.eta_star_sgd, ref);
        if (B == NS) cr_expect(fabs(mon.eta_star_sgd * rf.l[0] - 2.0) <= 1e-10);
        /* the MSE monitor of the same network differs (R = I) */
        linstab_train_monitor mse;
        cr_assert_eq(linstab_train_monitor_at(m, &X, B, LINSTAB_OPT_SGD, 0.0, &mse, &err), LINSTAB_OK);
        cr_expect(fabs(mse.sharpness - mon.sharpness) > 1e-3 * mse.sharpness);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    linstab_mlp_free(m);
}

/* The matrix-free Gauss-Newton sharpness and s_2^2 (mlp_gn_geometry.c)
 * against dense matrices built here from finite-difference Jacobians:
 * G_i = J_i' C_i J_i (C_i = I for MSE, diag p - p p' for CE), G their
 * mean, M_2 = (1/n) sum_i G_i^2, eigenvalues by LAPACK dsyev.  The
 * finite differences err by ~1e-10 relative, the Lanczos tolerance is
 * 1e-8: 1e-6 of the scale separates them from any dropped factor (C_i on
 * one side of M_i changes s_2^2 by O(1)). */

Test(mlp_ggn, matrix_free_gn_sharpness_and_s2_equal_dense_matrices_from_finite_differences, .init = data_init)
{
    for (int a = 0; a < 5; a += 2)
        for (int ce = 0; ce <= 1; ce++) {
            linstab_mlp *m = net(1, outs[a], a != 2, 700 + 2 * a + ce);
            size_t p = m->p;
            linstab_array X = {2, {NS, D0}, Xd};
            double *J = malloc(K * p * sizeof *J), *Gi = malloc(NS * p * p * sizeof *Gi), pr[K];
            for (size_t i = 0; i < NS; i++) {
                double *g = Gi + i * p * p;
                fd_jacobian(m, Xd + i * D0, J);
                if (ce) {
                    probs(m, Xd + i * D0, pr);
                    ggn_reference(p, J, pr, g);
                } else {
                    for (size_t q = 0; q < p; q++)
                        for (size_t r = 0; r < p; r++) {
                            double s = 0.0;
                            for (size_t o = 0; o < K; o++) s += J[o * p + q] * J[o * p + r];
                            g[q * p + r] = s;
                        }
                }
            }
            double l1_ref, gap_ref, l1, gap;
            tu_second_moment_top(NS, p, Gi, &l1_ref, &gap_ref);
            linstab_loss loss = ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
            linstab_error err;
            cr_assert_eq(linstab_mlp_gn_sharpness(m, &X, loss, &l1, &err), LINSTAB_OK, "%s", err.msg);
            cr_assert_eq(linstab_mlp_gn_m2_gap(m, &X, loss, &gap, &err), LINSTAB_OK, "%s", err.msg);
            cr_expect(fabs(l1 - l1_ref) <= 1e-6 * l1_ref, "out %d ce %d: lambda1 %.17g vs %.17g", a, ce, l1, l1_ref);
            cr_expect(fabs(gap - gap_ref) <= 1e-6 * l1_ref * l1_ref, "out %d ce %d: s2^2 %.17g vs %.17g", a, ce, gap,
                      gap_ref);
            cr_expect_gt(gap_ref, 0.0, "non-uniform");
            free(J);
            free(Gi);
            linstab_mlp_free(m);
        }
}

/* More samples than one chunk of the batched products (256 rows): the
 * middle factor of each row is its own sample's (against the explicit
 * factors U_i of linstab_mlp_family: G_i = U_i U_i'). */
Test(mlp_ggn, matrix_free_gn_s2_over_several_chunks_equals_the_explicit_factors)
{
    enum { n = 300 };
    double *Xb = malloc(n * D0 * sizeof *Xb), Lb[n];
    gsl_rng *r = tu_rng(4242);
    tu_gauss(r, Xb, n * D0);
    gsl_rng_free(r);
    for (size_t i = 0; i < n; i++) Lb[i] = (double)(i % K);
    linstab_mlp *m = net(1, LINSTAB_MLP_OUT_NONE, 1, 77);
    size_t p = m->p;
    linstab_array X = {2, {n, D0}, Xb}, Y = {1, {n}, Lb};
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_family(m, &X, &Y, LINSTAB_LOSS_CE, 0.0, 1, 0, &f, &err), LINSTAB_OK, "%s", err.msg);
    double *Gi = malloc(n * p * p * sizeof *Gi);
    for (size_t i = 0; i < n; i++) outer(p, K, f->data + i * p * K, Gi + i * p * p);
    double l1_ref, gap_ref, gap;
    tu_second_moment_top(n, p, Gi, &l1_ref, &gap_ref);
    cr_assert_eq(linstab_mlp_gn_m2_gap(m, &X, LINSTAB_LOSS_CE, &gap, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(fabs(gap - gap_ref) <= 1e-7 * l1_ref * l1_ref, "s2^2 %.17g vs %.17g", gap, gap_ref);
    free(Gi);
    free(Xb);
    linstab_family_free(f);
    linstab_mlp_free(m);
}

/* The exact trace without products (mlp_trace.c) against the per-sample
 * matrices of linstab_mlp_family (forward-over-reverse, one sample at a
 * time): (1/n) sum_i tr H_i for the exact Hessians, (1/n) sum_i ||U_i||_F^2
 * for the Gauss-Newton factors.  Both losses (CE with label smoothing),
 * every output activation, with and without biases, one and three layers,
 * 70 samples (two chunks of the trace's forward pass) at a random point
 * (not a minimum: the second-derivative terms matter); the same bytes on 1
 * and 2 threads.  Both sides are sums of O(p n) terms of size O(1): 1e-12
 * relative leaves room for their rounding and none for a dropped term. */
#include <omp.h>

Test(mlp_ggn, hessian_trace_equals_the_per_sample_matrices_exact_and_gauss_newton)
{
    enum { n = 70 };
    double Xb[n * D0], Lb[n], Yb[n * K];
    gsl_rng *r = tu_rng(5150);
    tu_gauss(r, Xb, n * D0);
    tu_gauss(r, Yb, n * K);
    gsl_rng_free(r);
    for (size_t i = 0; i < n; i++) Lb[i] = (double)((i * 7) % K);
    for (int shape = 0; shape <= 1; shape++)
        for (int a = 0; a < 5; a++)
            for (int ce = 0; ce <= 1; ce++) {
                int bias = (a + shape) % 2 == 0;
                linstab_mlp *m = net(shape, outs[a], bias, 900 + 10 * a + 2 * shape + ce);
                size_t p = m->p;
                linstab_array X = {2, {n, D0}, Xb}, Y = ce ? (linstab_array){1, {n}, Lb} : (linstab_array){2, {n, K}, Yb};
                linstab_loss loss = ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
                double sm = ce ? 0.1 : 0.0;
                for (int gn = 0; gn <= 1; gn++) {
                    linstab_family *f = NULL;
                    linstab_error err;
                    cr_assert_eq(linstab_mlp_family(m, &X, &Y, loss, sm, gn, 0, &f, &err), LINSTAB_OK, "%s", err.msg);
                    double ref = 0.0, scale = 0.0;
                    for (size_t i = 0; i < n; i++)
                        if (gn)
                            for (size_t q = 0; q < p * K; q++) {
                                double u = f->data[i * p * K + q];
                                ref += u * u;
                                scale += u * u;
                            }
                        else
                            for (size_t q = 0; q < p; q++) {
                                ref += f->data[(i * p + q) * p + q];
                                scale += fabs(f->data[(i * p + q) * p + q]);
                            }
                    ref /= n;
                    scale /= n;
                    double t1 = NAN, t2 = NAN;
                    omp_set_num_threads(1);
                    cr_assert_eq(linstab_mlp_hessian_trace(m, &X, &Y, loss, sm, gn, &t1, &err), LINSTAB_OK, "%s",
                                 err.msg);
                    omp_set_num_threads(2);
                    cr_assert_eq(linstab_mlp_hessian_trace(m, &X, &Y, loss, sm, gn, &t2, &err), LINSTAB_OK, "%s",
                                 err.msg);
                    cr_expect(fabs(t1 - ref) <= 1e-12 * scale, "shape %d out %d ce %d gn %d: trace %.17g vs %.17g",
                              shape, a, ce, gn, t1, ref);
                    cr_expect_eq(memcmp(&t1, &t2, sizeof t1), 0, "1 vs 2 threads: %.17g vs %.17g", t1, t2);
                    linstab_family_free(f);
                }
                linstab_mlp_free(m);
            }
}
