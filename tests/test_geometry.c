/*
 * test_geometry.c -- geometry against closed forms (Dexter et al. section 3.1 and
 * Section 5.1's construction) and brute force: the coherence from explicit
 * matrix square roots, s_k from explicit eigendecompositions of each H_i,
 * gamma_min from an explicit H^{-1/2} A H^{-1/2}, invariance under a change
 * of basis and under range restriction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <cblas.h>
#include <lapacke.h>

#include "linstab/exact.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/sym.h"
#include "testutil.h"

/* Geometry exactly as the CLI computes it (restriction, moments, geometry). */
static linstab_geometry geometry_of(const linstab_family *f)
{
    linstab_family *fr = NULL;
    linstab_moments *m = NULL;
    linstab_error err;
    size_t rank;
    cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 0, &fr, &rank, NULL, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_moments_compute(fr, &m, &err), LINSTAB_OK);
    linstab_geometry g;
    cr_assert_eq(linstab_geometry_compute(fr, m, f->d, &g, &err), LINSTAB_OK, "%s", err.msg);
    linstab_moments_free(m);
    linstab_family_free(fr);
    return g;
}

/* V diag(fn(w)) V' for symmetric A (d x d). */
static void spectral_fn(size_t d, const double *A, double (*fn)(double, double), double par, double *out)
{
    double *V = malloc(d * d * sizeof *V), *w = malloc(d * sizeof *w);
    memcpy(V, A, d * d * sizeof *V);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)d, V, (lapack_int)d, w), 0);
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) {
            double s = 0.0;
            for (size_t k = 0; k < d; k++) s += V[a * d + k] * fn(w[k], par) * V[b * d + k];
            out[a * d + b] = s;
        }
    free(V);
    free(w);
}

static double f_pow(double x, double p) { return x > 0 ? pow(x, p) : (p == 1.0 ? x : 0.0); }
static double f_ipow(double x, double p) { return pow(x, p); }

static double top_eig(size_t d, const double *A)
{
    double *B = malloc(d * d * sizeof *B), *w = malloc(d * sizeof *w);
    memcpy(B, A, d * d * sizeof *B);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)d, B, (lapack_int)d, w), 0);
    double t = w[d - 1];
    free(B);
    free(w);
    return t;
}


Test(coherence, equals_n_for_identical_rank_one_hessians)
{
    /* S is the all-ones n x n matrix (lambda1 = n) and lambda1(H_i) = 1, so
     * sigma = n.  (Dexter et al. section 3.1 prints sqrt(n): an arithmetic slip; its
     * own Theorem 2 construction at sigma = n is the identical case.) */
    size_t n = 7, d = 3;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 1, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) f->data[i * d] = 1.0; /* u_i = e_1 */
    linstab_geometry g = geometry_of(f);
    cr_expect_lt(fabs(g.sigma - (double)n), 1e-13);
    cr_expect_lt(fabs(g.lambda1_S - (double)n), 1e-13);
    cr_expect_eq(g.rank, 1);
    linstab_family_free(f);
}

/* Identical samples, each a dense rotated copy: M_k = H^k and A = 0 exactly,
 * so the gaps, the s_k and gamma_min are 0 (not roots of rounding noise);
 * a perturbation far above rounding keeps its gap. */
Test(moment_gaps, vanish_exactly_for_identical_samples_and_not_for_distinct_ones)
{
    size_t n = 6, d = 5;
    for (int perturb = 0; perturb < 2; perturb++) {
        linstab_family *f = NULL;
        linstab_error err;
        cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 2, &f, &err), LINSTAB_OK);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d * 2; j++)
                f->data[i * d * 2 + j] = sin(0.7 * (double)j + 0.3) + (perturb ? 1e-4 * cos((double)(i * 13 + j)) : 0.0);
        linstab_geometry g = geometry_of(f);
        if (!perturb) {
            cr_expect_eq(g.m2_gap, 0.0);
            cr_expect_eq(g.m3_gap, 0.0);
            cr_expect_eq(g.m4_gap, 0.0);
            cr_expect_eq(g.s3, 0.0);
            cr_expect_eq(g.s4, 0.0);
            cr_expect_eq(g.gamma_min, 0.0);
        } else {
            cr_expect_gt(g.m2_gap, 1e-9);
            cr_expect_gt(g.s2, 1e-5);
            cr_expect_gt(g.gamma_min, 0.0);
        }
        linstab_family_free(f);
    }
}

Test(coherence, equals_one_for_orthogonal_hessians)
{
    size_t n = 6;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, n, 1, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) f->data[i * n + i] = 1.0;
    linstab_geometry g = geometry_of(f);
    cr_expect_lt(fabs(g.sigma - 1.0), 1e-14);
    linstab_family_free(f);
}

Test(coherence, equals_sigma_on_the_004_construction_with_sharpness_two)
{
    for (size_t sigma = 1; sigma <= 20; sigma += 3) {
        linstab_gen_params p = {0};
        p.kind = LINSTAB_GEN_DEXTER;
        p.n = 20;
        p.sigma = sigma;
        linstab_family *f = NULL;
        linstab_error err;
        cr_assert_eq(linstab_generate(&p, &f, &err), LINSTAB_OK);
        linstab_geometry g = geometry_of(f);
        cr_expect_lt(fabs(g.sharpness - 2.0), 1e-14, "sigma %zu", sigma);
        cr_expect_lt(fabs(g.sigma - (double)sigma), 1e-12 * sigma, "sigma %zu: %g", sigma, g.sigma);
        linstab_family_free(f);
    }
}

Test(coherence, matches_explicit_matrix_square_roots)
{
    size_t n = 5, d = 4;
    linstab_family *f = tu_family_dense(n, d, 2, 3); /* rank 2 each: square roots of PSD */
    double *R = malloc(n * d * d * sizeof *R), S[25];
    for (size_t i = 0; i < n; i++) spectral_fn(d, f->data + i * d * d, f_pow, 0.5, R + i * d * d);
    double lmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        lmax = fmax(lmax, top_eig(d, f->data + i * d * d));
        for (size_t j = 0; j < n; j++) {
            double s = 0.0; /* ||H_i^{1/2} H_j^{1/2}||_F */
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++) {
                    double v = 0.0;
                    for (size_t q = 0; q < d; q++) v += R[i * d * d + a * d + q] * R[j * d * d + q * d + b];
                    s += v * v;
                }
            S[i * n + j] = sqrt(s);
        }
    }
    double want = top_eig(n, S) / lmax;
    linstab_geometry g = geometry_of(f);
    /* square roots of rank-deficient PSD matrices carry ~sqrt(eps) error in
     * their null space; S_ij is accurate to ~1e-8 relative */
    cr_expect_lt(tu_rel(g.sigma, want, 1e-300), 1e-7, "%.17g vs %.17g", g.sigma, want);
    free(R);
    linstab_family_free(f);
}

Test(moment_gaps, match_explicit_eigendecompositions_of_each_sample)
{
    size_t n = 6, d = 4;
    linstab_family *f = tu_family_dense(n, d, 4, 5);
    double M[3][16] = {{0}}, H[16] = {0}, P[16], Hk[16];
    for (size_t i = 0; i < n; i++)
        for (int k = 2; k <= 4; k++) {
            spectral_fn(d, f->data + i * d * d, f_ipow, (double)k, P); /* V L^k V' */
            for (size_t j = 0; j < d * d; j++) M[k - 2][j] += P[j] / (double)n;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d * d; j++) H[j] += f->data[i * d * d + j] / (double)n;
    linstab_geometry g = geometry_of(f);
    double gaps[3] = {g.m2_gap, g.m3_gap, g.m4_gap}, s[3] = {g.s2, g.s3, g.s4};
    for (int k = 2; k <= 4; k++) {
        spectral_fn(d, H, f_ipow, (double)k, Hk);
        for (size_t j = 0; j < d * d; j++) P[j] = M[k - 2][j] - Hk[j];
        double want = top_eig(d, P);
        double scale = top_eig(d, M[k - 2]);
        cr_expect_lt(fabs(gaps[k - 2] - want), 1e-12 * scale, "k = %d", k);
        double root = want >= 0 ? pow(want, 1.0 / k) : -pow(-want, 1.0 / k);
        cr_expect_lt(tu_rel(s[k - 2], root, 1e-300), 1e-10, "s_%d", k);
    }
    linstab_family_free(f);
}

Test(gamma_min, is_the_minimum_of_the_alignment_ratio)
{
    size_t n = 7, d = 3;
    linstab_family *f = tu_family_dense(n, d, 2, 8);
    double H[9] = {0}, A[9] = {0}, Hh[9], Hm[9], C[9], T[9];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 9; j++) H[j] += f->data[i * 9 + j] / (double)n;
    for (size_t i = 0; i < n; i++) { /* A = mean H_i H H_i - H^3 */
        const double *Hi = f->data + i * 9;
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++) {
                double s = 0.0;
                for (size_t p = 0; p < 3; p++)
                    for (size_t q = 0; q < 3; q++) s += Hi[a * 3 + p] * H[p * 3 + q] * Hi[q * 3 + b];
                A[a * 3 + b] += s / (double)n;
            }
    }
    spectral_fn(d, H, f_ipow, 3.0, T);
    for (size_t j = 0; j < 9; j++) A[j] -= T[j];
    spectral_fn(d, H, f_ipow, -0.5, Hm); /* H^{-1/2} (H full rank here) */
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 3; b++) {
            double s = 0.0;
            for (size_t p = 0; p < 3; p++)
                for (size_t q = 0; q < 3; q++) s += Hm[a * 3 + p] * A[p * 3 + q] * Hm[q * 3 + b];
            C[a * 3 + b] = s;
        }
    double fro2 = 0.0, w[3];
    for (size_t j = 0; j < 9; j++) fro2 += H[j] * H[j];
    memcpy(Hh, C, sizeof C);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', 3, Hh, 3, w), 0);
    linstab_geometry g = geometry_of(f);
    /* an eigenvalue of the pencil (A, H): relative c d eps kappa(H) (tu_tol) */
    double wh[3];
    memcpy(Hh, H, sizeof H);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', 3, Hh, 3, wh), 0);
    cr_expect_lt(tu_rel(g.gamma_min, w[0] / fro2, 1e-300), tu_tol(d, wh[2] / wh[0]));
    /* gamma(delta) >= gamma_min for random delta */
    gsl_rng *r = tu_rng(1);
    for (int t = 0; t < 100; t++) {
        double x[3], num = 0.0, den = 0.0;
        tu_gauss(r, x, 3);
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++) {
                num += x[a] * A[a * 3 + b] * x[b];
                den += x[a] * H[a * 3 + b] * x[b];
            }
        cr_expect_geq(num / (den * fro2), g.gamma_min * (1 - 1e-12));
    }
    gsl_rng_free(r);
    linstab_family_free(f);
}

Test(geometry, is_invariant_under_a_change_of_basis_and_range_restriction)
{
    size_t n = 5, d = 4;
    linstab_family *f = tu_family_dense(n, d, 2, 12), *g2 = NULL;
    linstab_error err;
    /* rotate by a random orthogonal Q (QR of a Gaussian matrix) */
    double Q[16], tau[4], T[16];
    gsl_rng *r = tu_rng(4);
    tu_gauss(r, Q, 16);
    gsl_rng_free(r);
    cr_assert_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, 4, 4, Q, 4, tau), 0);
    cr_assert_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, 4, 4, 4, Q, 4, tau), 0);
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &g2, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) {
        const double *Hi = f->data + i * 16;
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 4; b++) {
                double s = 0.0;
                for (size_t q = 0; q < 4; q++) s += Hi[a * 4 + q] * Q[q * 4 + b];
                T[a * 4 + b] = s;
            }
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 4; b++) {
                double s = 0.0;
                for (size_t q = 0; q < 4; q++) s += Q[q * 4 + a] * T[q * 4 + b];
                g2->data[i * 16 + a * 4 + b] = s;
            }
        linstab_sym_symmetrize(4, g2->data + i * 16);
    }
    linstab_geometry a = geometry_of(f), b = geometry_of(g2);
    double va[] = {a.sharpness, a.trace, a.frobenius, a.max_individual_sharpness, a.sigma, a.m2_gap, a.gamma_min};
    double vb[] = {b.sharpness, b.trace, b.frobenius, b.max_individual_sharpness, b.sigma, b.m2_gap, b.gamma_min};
    for (size_t k = 0; k < sizeof va / sizeof va[0]; k++)
        cr_expect_lt(tu_rel(vb[k], va[k], 1e-300), 1e-10, "quantity %zu", k);
    linstab_family_free(g2);
    linstab_family_free(f);
}

/* ---- issue 10 additions ---- */

Test(signed_root, is_the_real_kth_root_with_the_sign_kept)
{
    cr_expect_eq(linstab_geometry_signed_root(8.0, 3), 2.0);
    cr_expect_eq(linstab_geometry_signed_root(-8.0, 3), -2.0);
    cr_expect_eq(linstab_geometry_signed_root(16.0, 4), 2.0);
    cr_expect_eq(linstab_geometry_signed_root(-16.0, 4), -2.0);
    cr_expect_eq(linstab_geometry_signed_root(9.0, 2), 3.0);
    cr_expect_eq(linstab_geometry_signed_root(0.0, 3), 0.0);
    cr_expect_eq(linstab_geometry_signed_root(-INFINITY, 3), -INFINITY);
    cr_expect(isnan(linstab_geometry_signed_root(NAN, 2)));
    for (int k = 2; k <= 4; k++)
        for (double x = -5.0; x <= 5.0; x += 0.37) {
            double s = linstab_geometry_signed_root(x, k);
            cr_expect(s * x >= 0.0, "sign of the %d-th root of %g", k, x);
            /* |s|^k = |x| within k eps |x| */
            cr_expect(fabs(pow(fabs(s), k) - fabs(x)) <= 4.0 * k * 2.2e-16 * fabs(x), "k %d x %g: %g", k, x, s);
        }
}

/* moments and gamma_min on the restricted family fr */
static void restricted(const linstab_family *f, linstab_family **fr, linstab_moments **m)
{
    linstab_error err;
    size_t rank;
    cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 1, fr, &rank, NULL, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_moments_compute(*fr, m, &err), LINSTAB_OK);
}

Test(gamma_min, standalone_equals_the_geometrys_for_every_representation)
{
    /* linstab_geometry_gamma_min (general sandwich) against linstab_geometry_compute,
     * which takes the rank-one shortcut through the coherence Gram matrix
     * for rank-one factors: two algorithms; rank-deficient families too */
    linstab_family *fs[4] = {tu_family_dense(6, 3, 3, 71), tu_family_factored(8, 5, 1, 72), /* rank one */
                             tu_family_factored(3, 6, 1, 73),                               /* rank 3 of 6 */
                             tu_family_factored(5, 4, 2, 74)};
    for (int k = 0; k < 4; k++) {
        linstab_family *fr;
        linstab_moments *m;
        restricted(fs[k], &fr, &m);
        linstab_error err;
        linstab_geometry g;
        cr_assert_eq(linstab_geometry_compute(fr, m, fs[k]->d, &g, &err), LINSTAB_OK);
        double gm;
        cr_assert_eq(linstab_geometry_gamma_min(fr, m, &gm, &err), LINSTAB_OK);
        double l1 = top_eig(fr->d, m->Hp[0]), lmin = INFINITY, *w = malloc(fr->d * sizeof *w), *B = malloc(fr->d * fr->d * sizeof *B);
        memcpy(B, m->Hp[0], fr->d * fr->d * sizeof *B);
        cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)fr->d, B, (lapack_int)fr->d, w), 0);
        lmin = w[0];
        free(w);
        free(B);
        cr_expect(fabs(gm - g.gamma_min) <= tu_tol(fr->d, l1 / lmin) * fabs(gm), "family %d: %.17g vs %.17g", k, gm,
                  g.gamma_min);
        cr_expect(gm > 0.0, "family %d: %g", k, gm);
        linstab_moments_free(m);
        linstab_family_free(fr);
        linstab_family_free(fs[k]);
    }
}

Test(gamma_min, is_undefined_when_h_is_singular_on_the_space)
{
    /* the unrestricted family of a rank-deficient H: no Cholesky factor */
    linstab_family *f = tu_family_factored(2, 5, 1, 75);
    linstab_moments *m;
    linstab_error err;
    cr_assert_eq(linstab_moments_compute(f, &m, &err), LINSTAB_OK);
    double gm = 0.0;
    cr_assert_eq(linstab_geometry_gamma_min(f, m, &gm, &err), LINSTAB_OK);
    cr_expect(isnan(gm), "%g", gm);
    linstab_moments_free(m);
    linstab_family_free(f);
}

Test(moments, given_a_mean_equal_those_computed_from_scratch)
{
    linstab_family *f = tu_family_dense(5, 4, 2, 76);
    linstab_error err;
    linstab_moments *m1, *m2;
    cr_assert_eq(linstab_moments_compute(f, &m1, &err), LINSTAB_OK);
    double *H = malloc(16 * sizeof *H);
    cr_assert_eq(linstab_family_mean(f, H, &err), LINSTAB_OK);
    double l1 = top_eig(4, H);
    cr_assert_eq(linstab_moments_compute_take(f, H, l1, &m2, &err), LINSTAB_OK); /* takes H */
    cr_expect_eq(m2->lambda1, l1);
    cr_expect(isnan(m1->lambda1));
    for (int p = 0; p < 4; p++) {
        /* H^p and M_p: the same products in the same order */
        cr_expect_lt(tu_rel_diff(m2->Hp[p], m1->Hp[p], 16), 1e-15, "H^%d", p + 1);
        cr_expect_lt(tu_rel_diff(m2->M[p], m1->M[p], 16), 1e-15, "M_%d", p + 1);
    }
    /* H^2 = H H, H^3 = H^2 H by hand */
    double H2[16] = {0}, H3[16] = {0};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++) H2[a * 4 + b] += m1->Hp[0][a * 4 + c] * m1->Hp[0][c * 4 + b];
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++) H3[a * 4 + b] += H2[a * 4 + c] * m1->Hp[0][c * 4 + b];
    cr_expect_lt(tu_rel_diff(m1->Hp[1], H2, 16), tu_tol(4, 1.0));
    cr_expect_lt(tu_rel_diff(m1->Hp[2], H3, 16), tu_tol(4, 1.0));
    linstab_moments_free(m1);
    linstab_moments_free(m2);
    linstab_family_free(f);
}

/* tr(H_i H_j) from dense samples */
static void gram_by_hand(const linstab_family *f, double *G)
{
    size_t d = f->d, n = f->n;
    double *A = malloc(d * d * sizeof *A), *B = malloc(d * d * sizeof *B);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            linstab_family_sample_dense(f, i, A);
            linstab_family_sample_dense(f, j, B);
            double s = 0.0;
            for (size_t q = 0; q < d * d; q++) s += A[q] * B[q];
            G[i * n + j] = s;
        }
    free(A);
    free(B);
}

Test(restriction, from_the_gram_matrix_of_the_factors_keeps_every_invariant)
{
    /* H_i = U_i U_i' (d_full = 7, k = 2, n = 3: rank <= 6): from the factors'
     * Gram matrix alone, the family must have the same tr(H_i H_j), the
     * eigenvalues g/n of H, the rank and the ambient dimension */
    size_t n = 3, d = 7, k = 2;
    linstab_family *f = tu_family_factored(n, d, k, 77);
    double *G = malloc(n * k * n * k * sizeof *G);
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < k; a++)
            for (size_t j = 0; j < n; j++)
                for (size_t b = 0; b < k; b++) {
                    double s = 0.0;
                    for (size_t r = 0; r < d; r++) s += f->data[i * d * k + r * k + a] * f->data[j * d * k + r * k + b];
                    G[(i * k + a) * n * k + j * k + b] = s;
                }
    linstab_family *g = NULL;
    size_t rank = 0;
    linstab_error err;
    cr_assert_eq(linstab_family_from_gram(n, k, d, G, 0.0, &g, &rank, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(rank, n * k);
    cr_expect_eq(g->d, rank);
    cr_expect_eq(linstab_family_ambient_dim(g), d);
    cr_expect_eq(linstab_family_ambient_dim(f), d);
    double G1[9], G2[9];
    gram_by_hand(f, G1);
    gram_by_hand(g, G2);
    cr_expect_lt(tu_rel_diff(G2, G1, 9), tu_tol(n * k, 1.0), "tr(H_i H_j)");
    /* the same restriction by linstab_family_restrict (eigenbasis of H) */
    linstab_family *fr = NULL;
    size_t rank2;
    cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 1, &fr, &rank2, NULL, &err), LINSTAB_OK);
    cr_expect_eq(rank2, rank);
    double *H1 = malloc(rank * rank * sizeof *H1), *H2 = malloc(rank * rank * sizeof *H2);
    cr_assert_eq(linstab_family_mean(g, H1, &err), LINSTAB_OK);
    cr_assert_eq(linstab_family_mean(fr, H2, &err), LINSTAB_OK);
    /* both are diag(eigenvalues of H), decreasing */
    double l1 = H2[0];
    for (size_t a = 0; a < rank; a++)
        for (size_t b = 0; b < rank; b++)
            cr_expect(fabs(H1[a * rank + b] - H2[a * rank + b]) <= tu_tol(rank, 1.0) * l1 * 4, "H (%zu, %zu): %.17g vs %.17g",
                      a, b, H1[a * rank + b], H2[a * rank + b]);
    free(H1);
    free(H2);
    free(G);
    linstab_family_free(fr);
    linstab_family_free(g);
    linstab_family_free(f);
}

Test(restriction, in_place_equals_the_copying_restriction_and_hands_back_the_mean)
{
    linstab_family *fs[2] = {tu_family_dense(5, 4, 4, 78) /* full rank: kept */,
                             tu_family_dense(5, 6, 1, 79) /* rank 5 of 6 */};
    for (int k = 0; k < 2; k++) {
        linstab_error err;
        linstab_family *copy = NULL, *f = fs[k];
        size_t r1, r2, d = f->d;
        cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 0, &copy, &r1, NULL, &err), LINSTAB_OK);
        double *Hwant = malloc(d * d * sizeof *Hwant);
        cr_assert_eq(linstab_family_mean(f, Hwant, &err), LINSTAB_OK);
        double *H = NULL, l1 = 0.0;
        cr_assert_eq(linstab_family_restrict_take(&f, 0.0, 0, &r2, &H, &l1, &err), LINSTAB_OK);
        cr_expect_eq(r1, r2);
        cr_expect_eq(f->d, copy->d);
        double *G1 = malloc(25 * sizeof *G1), *G2 = malloc(25 * sizeof *G2);
        gram_by_hand(copy, G1);
        gram_by_hand(f, G2);
        cr_expect_lt(tu_rel_diff(G2, G1, 25), tu_tol(d, 1.0), "family %d: tr(H_i H_j)", k);
        if (r2 == d) {
            cr_assert_not_null(H, "kept: the mean comes back");
            cr_expect_lt(tu_rel_diff(H, Hwant, d * d), tu_tol(d, 1.0));
            if (!isnan(l1)) cr_expect(fabs(l1 - top_eig(d, Hwant)) <= tu_tol(d, 1.0) * l1);
        } else {
            cr_expect_null(H);
            cr_expect(isnan(l1));
        }
        free(H);
        free(Hwant);
        free(G1);
        free(G2);
        linstab_family_free(copy);
        linstab_family_free(f);
    }
}

Test(geometry, lambda_min_and_rank_of_h_are_its_eigenvalues)
{
    /* diagonal family, H = diag(mean of the samples): 3 positive, one 0 */
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 2, 4, 1, &f, &err), LINSTAB_OK);
    double D[8] = {1.0, 0.5, 3.0, 0.0, 2.0, 0.25, 1.0, 0.0}; /* H = diag(1.5, 0.375, 2, 0) */
    memcpy(f->data, D, sizeof D);
    linstab_moments *m;
    cr_assert_eq(linstab_moments_compute(f, &m, &err), LINSTAB_OK);
    linstab_geometry g;
    memset(&g, 0, sizeof g);
    g.d = 4;
    cr_assert_eq(linstab_geometry_lambda_min(m, &g, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(g.rank, 3);
    cr_expect(fabs(g.lambda_min) <= tu_tol(4, 1.0) * 2.0, "%g", g.lambda_min);
    linstab_moments_free(m);
    /* the restricted family (range of H): lambda_min = 0.375, full rank */
    linstab_family *fr;
    restricted(f, &fr, &m);
    memset(&g, 0, sizeof g);
    g.d = fr->d;
    cr_assert_eq(linstab_geometry_lambda_min(m, &g, &err), LINSTAB_OK);
    cr_expect_eq(g.rank, 3);
    cr_expect(fabs(g.lambda_min - 0.375) <= tu_tol(3, 2.0 / 0.375) * 0.375, "%.17g", g.lambda_min);
    linstab_moments_free(m);
    linstab_family_free(fr);
    linstab_family_free(f);
}

/* H, A = (1/n) sum H_i H H_i - H^3 of a factored family, densely (d x d). */
static void dense_h_and_alignment(const linstab_family *f, double *H, double *A)
{
    size_t n = f->n, d = f->d, dd = d * d;
    double *Hi = malloc(dd * sizeof *Hi), *T = malloc(dd * sizeof *T), *H2 = malloc(dd * sizeof *H2);
    memset(H, 0, dd * sizeof *H);
    memset(A, 0, dd * sizeof *A);
    for (size_t i = 0; i < n; i++) {
        linstab_family_sample_dense(f, i, Hi);
        for (size_t j = 0; j < dd; j++) H[j] += Hi[j] / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        linstab_family_sample_dense(f, i, Hi);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, Hi, (int)d, H, (int)d,
                    0.0, T, (int)d);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0 / (double)n, T, (int)d,
                    Hi, (int)d, 1.0, A, (int)d);
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, H, (int)d, H, (int)d, 0.0,
                H2, (int)d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, -1.0, H2, (int)d, H, (int)d,
                1.0, A, (int)d);
    for (size_t a = 0; a < d; a++) /* symmetric parts (the products are, up to rounding) */
        for (size_t b = 0; b < a; b++) A[a * d + b] = A[b * d + a] = 0.5 * (A[a * d + b] + A[b * d + a]);
    free(Hi);
    free(T);
    free(H2);
}

Test(gamma_min, of_a_large_factored_family_is_the_dense_pencil_s_smallest_eigenvalue)
{
    /* d >= 128: the sandwich from the Gram matrix's blocks U_i'HU_i and
     * lambda_min of H^{-1/2} A H^{-1/2} through its Cholesky factor, against
     * LAPACK's dsygv on the dense pencil (A, H) */
    size_t n = 30, d = 140, k = 6;
    linstab_family *f = tu_family_factored(n, d, k, 4711);
    double *H = malloc(d * d * sizeof *H), *A = malloc(d * d * sizeof *A), *w = malloc(d * sizeof *w);
    double *Hc = malloc(d * d * sizeof *Hc), *wh = malloc(d * sizeof *wh);
    dense_h_and_alignment(f, H, A);
    double fro2 = 0.0;
    for (size_t j = 0; j < d * d; j++) fro2 += H[j] * H[j];
    memcpy(Hc, H, d * d * sizeof *Hc);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (int)d, Hc, (int)d, wh), 0);
    memcpy(Hc, H, d * d * sizeof *Hc);
    cr_assert_eq(LAPACKE_dsygv(LAPACK_ROW_MAJOR, 1, 'N', 'U', (int)d, A, (int)d, Hc, (int)d, w), 0);
    linstab_geometry g = geometry_of(f);
    cr_assert(g.definite);
    double kappa = wh[d - 1] / wh[0];
    cr_expect_lt(tu_rel(g.gamma_min, w[0] / fro2, 1e-300), tu_tol(d, kappa), "gamma_min %.17g, dsygv %.17g",
                 g.gamma_min, w[0] / fro2);
    /* lambda_min(H) of the definite H by the same inverse Lanczos */
    linstab_family *fr = NULL;
    linstab_moments *m = NULL;
    linstab_error err;
    size_t rank;
    cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 0, &fr, &rank, NULL, &err), LINSTAB_OK);
    cr_assert_eq(linstab_moments_compute(fr, &m, &err), LINSTAB_OK);
    linstab_geometry gl = {.d = d, .definite = 1, .rank = d};
    cr_assert_eq(linstab_geometry_lambda_min(m, &gl, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_lt(tu_rel(gl.lambda_min, wh[0], 1e-300), tu_tol(d, kappa), "lambda_min %.17g, dsyev %.17g",
                 gl.lambda_min, wh[0]);
    cr_expect_eq(gl.rank, d);
    linstab_moments_free(m);
    linstab_family_free(fr);
    linstab_family_free(f);
    free(H);
    free(A);
    free(w);
    free(Hc);
    free(wh);
}
