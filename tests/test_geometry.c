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
#include <lapacke.h>

#include "linstab/exact.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/linalg.h"
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
    cr_expect_lt(tu_rel(g.gamma_min, w[0] / fro2, 1e-300), 1e-10);
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
