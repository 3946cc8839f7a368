/*
 * test_family.c -- the Hessian family: every fast path (dense, factored,
 * diagonal) against naive loops over explicit dense per-sample matrices,
 * validation errors naming the sample, and range restriction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include "linstab/family.h"
#include "linstab/linalg.h"
#include "testutil.h"

/* C = A B for n x n row-major matrices (naive). */
static void matmul(size_t n, const double *A, const double *B, double *C)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t l = 0; l < n; l++) s += A[i * n + l] * B[l * n + j];
            C[i * n + j] = s;
        }
}

/* Explicit dense samples of any family, built without the library. */
static double *explicit_samples(const linstab_family *f)
{
    size_t n = f->n, d = f->d, k = f->k;
    double *H = calloc(n * d * d, sizeof *H);
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < d; r++)
            for (size_t c = 0; c < d; c++) {
                double v = 0.0;
                if (f->kind == LINSTAB_FAMILY_DENSE)
                    v = f->data[i * d * d + r * d + c];
                else if (f->kind == LINSTAB_FAMILY_FACTORED)
                    for (size_t q = 0; q < k; q++)
                        v += f->data[i * d * k + r * k + q] * f->data[i * d * k + c * k + q];
                else if (r == c)
                    v = f->data[i * d + r];
                H[i * d * d + r * d + c] = v;
            }
    return H;
}

static linstab_family *random_family(linstab_family_kind kind, size_t n, size_t d, size_t k,
                                     unsigned long seed)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(kind, n, d, k, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    if (kind == LINSTAB_FAMILY_DENSE) {
        /* H_i = G G' with G d x d: symmetric PSD */
        double *G = malloc(d * d * sizeof *G);
        for (size_t i = 0; i < n; i++) {
            tu_gauss(r, G, d * d);
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++) {
                    double s = 0.0;
                    for (size_t q = 0; q < d; q++) s += G[a * d + q] * G[b * d + q];
                    f->data[i * d * d + a * d + b] = s;
                }
        }
        free(G);
    } else if (kind == LINSTAB_FAMILY_FACTORED) {
        tu_gauss(r, f->data, n * d * k);
    } else {
        for (size_t j = 0; j < n * d; j++) f->data[j] = gsl_rng_uniform(r);
    }
    gsl_rng_free(r);
    return f;
}

static const linstab_family_kind kinds[3] = {LINSTAB_FAMILY_DENSE, LINSTAB_FAMILY_FACTORED,
                                             LINSTAB_FAMILY_DIAGONAL};

Test(family, moments_of_every_representation_equal_naive_matrix_powers)
{
    size_t n = 7, d = 5;
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(kinds[t], n, d, 3, 11 + t);
        double *H = explicit_samples(f);
        double *M[4], *ref[4], *P = malloc(d * d * sizeof *P), *Q = malloc(d * d * sizeof *Q);
        for (int p = 0; p < 4; p++) {
            M[p] = malloc(d * d * sizeof(double));
            ref[p] = calloc(d * d, sizeof(double));
        }
        for (size_t i = 0; i < n; i++) {
            const double *Hi = H + i * d * d;
            memcpy(P, Hi, d * d * sizeof *P);
            for (int p = 0; p < 4; p++) {
                for (size_t j = 0; j < d * d; j++) ref[p][j] += P[j] / (double)n;
                matmul(d, P, Hi, Q);
                memcpy(P, Q, d * d * sizeof *P);
            }
        }
        linstab_error err;
        cr_assert_eq(linstab_family_moments(f, 4, M, &err), LINSTAB_OK);
        for (int p = 0; p < 4; p++)
            cr_expect_lt(tu_rel_diff(M[p], ref[p], d * d), 1e-12, "kind %d, M_%d", t, p + 1);
        double *Hm = malloc(d * d * sizeof *Hm);
        cr_assert_eq(linstab_family_mean(f, Hm, &err), LINSTAB_OK);
        cr_expect_lt(tu_rel_diff(Hm, ref[0], d * d), 1e-13);
        for (int p = 0; p < 4; p++) {
            free(M[p]);
            free(ref[p]);
        }
        free(Hm);
        free(P);
        free(Q);
        free(H);
        linstab_family_free(f);
    }
}

Test(family, sandwich_equals_naive_mean_of_h_x_h)
{
    size_t n = 6, d = 4;
    gsl_rng *r = tu_rng(5);
    double X[16];
    tu_gauss(r, X, 16);
    linstab_sym_symmetrize(d, X);
    gsl_rng_free(r);
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(kinds[t], n, d, 2, 21 + t);
        double *H = explicit_samples(f);
        double ref[16] = {0}, T[16], U[16], Y[16];
        for (size_t i = 0; i < n; i++) {
            matmul(d, H + i * d * d, X, T);
            matmul(d, T, H + i * d * d, U);
            for (size_t j = 0; j < d * d; j++) ref[j] += U[j] / (double)n;
        }
        linstab_error err;
        cr_assert_eq(linstab_family_sandwich(f, X, Y, &err), LINSTAB_OK);
        cr_expect_lt(tu_rel_diff(Y, ref, d * d), 1e-12, "kind %d", t);
        free(H);
        linstab_family_free(f);
    }
}

Test(family, sandwich_psd_equals_general_sandwich)
{
    size_t n = 7, d = 5;
    gsl_rng *r = tu_rng(6);
    double G[25], X[25], Y[25], ref[25];
    tu_gauss(r, G, 25);
    gsl_rng_free(r);
    /* X = G G' + I/10 is positive definite; -X is not: the fallback */
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) {
            double s = a == b ? 0.1 : 0.0;
            for (size_t c = 0; c < d; c++) s += G[a * d + c] * G[b * d + c];
            X[a * d + b] = s;
        }
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (int t = 0; t < 4; t++) {
            linstab_family *f = random_family(kinds[t == 3 ? 1 : t], n, d, t == 3 ? 1 : 2, 41 + t);
            linstab_error err;
            cr_assert_eq(linstab_family_sandwich(f, X, ref, &err), LINSTAB_OK);
            cr_assert_eq(linstab_family_sandwich_psd(f, X, Y, &err), LINSTAB_OK);
            cr_expect_lt(tu_rel_diff(Y, ref, d * d), 1e-13, "kind %d k %zu sign %d", t, f->k, sign);
            linstab_family_free(f);
        }
        for (size_t j = 0; j < d * d; j++) X[j] = -X[j];
    }
}

Test(family, gram_matrix_equals_naive_traces_of_products)
{
    size_t n = 9, d = 4;
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(kinds[t], n, d, 3, 31 + t);
        double *H = explicit_samples(f);
        double *G = malloc(n * n * sizeof *G), ref[81], T[16];
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                matmul(d, H + i * d * d, H + j * d * d, T);
                double s = 0.0;
                for (size_t a = 0; a < d; a++) s += T[a * d + a];
                ref[i * n + j] = s;
            }
        linstab_error err;
        cr_assert_eq(linstab_family_gram(f, G, &err), LINSTAB_OK);
        cr_expect_lt(tu_rel_diff(G, ref, n * n), 1e-12, "kind %d", t);
        free(G);
        free(H);
        linstab_family_free(f);
    }
}

Test(family, apply_and_sample_dense_agree_with_explicit_matrices)
{
    size_t n = 3, d = 5;
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(kinds[t], n, d, 2, 41 + t);
        double *H = explicit_samples(f);
        double x[5] = {0.3, -1.0, 2.0, 0.5, 1.5}, y[5], ref[5], D[25];
        for (size_t i = 0; i < n; i++) {
            for (size_t a = 0; a < d; a++) {
                ref[a] = 0.0;
                for (size_t b = 0; b < d; b++) ref[a] += H[i * d * d + a * d + b] * x[b];
            }
            linstab_family_apply(f, i, x, y);
            cr_expect_lt(tu_rel_diff(y, ref, d), 1e-13);
            linstab_family_sample_dense(f, i, D);
            cr_expect_lt(tu_rel_diff(D, H + i * d * d, d * d), 1e-14);
        }
        free(H);
        linstab_family_free(f);
    }
}

Test(family, sample_lambda1_equals_largest_eigenvalue)
{
    size_t n = 4, d = 6;
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(kinds[t], n, d, 3, 51 + t);
        double *H = explicit_samples(f);
        double lam[4], w[6];
        linstab_error err;
        cr_assert_eq(linstab_family_sample_lambda1(f, lam, &err), LINSTAB_OK);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)d, H + i * d * d,
                                       (lapack_int)d, w),
                         0);
            cr_expect_lt(tu_rel(lam[i], w[d - 1], 1e-300), 1e-12, "kind %d sample %zu", t, i);
        }
        free(H);
        linstab_family_free(f);
    }
}

Test(family, validation_names_the_asymmetric_sample)
{
    linstab_family *f = random_family(LINSTAB_FAMILY_DENSE, 5, 3, 0, 61);
    f->data[3 * 9 + 1] += 1e-3; /* sample 3, entry (0, 1) */
    linstab_error err = {0};
    cr_assert_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "sample 3") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "symmetric") != NULL, "%s", err.msg);
    linstab_family_free(f);
}

Test(family, validation_symmetrises_within_tolerance_and_caches_lambda1)
{
    linstab_family *f = random_family(LINSTAB_FAMILY_DENSE, 2, 3, 0, 62);
    f->data[1] += 1e-14 * fabs(f->data[1]);
    linstab_error err = {0};
    cr_assert_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(f->data[1], f->data[3]);
    cr_assert_not_null(f->lambda1);
    linstab_family_free(f);
}

Test(family, validation_names_the_indefinite_sample_unless_allowed)
{
    linstab_family *f = random_family(LINSTAB_FAMILY_DENSE, 4, 3, 0, 63);
    double *H2 = f->data + 2 * 9;
    memset(H2, 0, 9 * sizeof *H2);
    H2[0] = 1.0;
    H2[4] = -0.5; /* eigenvalue -0.5 in sample 2 */
    linstab_error err = {0};
    cr_assert_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "sample 2") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "positive semidefinite") != NULL, "%s", err.msg);
    int indef = 0;
    cr_assert_eq(linstab_family_validate(f, 1e-10, 1, &indef, &err), LINSTAB_OK);
    cr_expect_eq(indef, 1);
    linstab_family_free(f);
}

Test(family, validation_accepts_rounding_below_zero_but_not_below_the_tolerance)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 2, 2, 0, &f, &err), LINSTAB_OK);
    f->data[0] = 1.0;
    f->data[1] = -0.5e-10; /* above -1e-10 * scale */
    f->data[2] = 0.5;
    cr_expect_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_OK);
    f->data[1] = -2e-10;
    cr_expect_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "sample 0") != NULL, "%s", err.msg);
    linstab_family_free(f);
}

/* H = Q diag(lam) Q with Q = I - 2 v v'/(v'v) (a symmetric orthogonal reflector) */
static void reflected_diag(size_t d, const double *lam, const double *v, double *H)
{
    double vv = 0.0;
    for (size_t a = 0; a < d; a++) vv += v[a] * v[a];
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) {
            double s = 0.0;
            for (size_t c = 0; c < d; c++) {
                double qa = (a == c) - 2.0 * v[a] * v[c] / vv, qb = (b == c) - 2.0 * v[b] * v[c] / vv;
                s += qa * lam[c] * qb;
            }
            H[a * d + b] = s;
        }
}

/* d >= 128 takes the Lanczos + shifted Cholesky route: the same verdicts,
 * the same tolerance and the same cached lambda1 as the eigenvalue route */
Test(family, validation_of_large_samples_keeps_the_tolerance_and_lambda1)
{
    size_t n = 4, d = 130;
    linstab_family *f = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, 0, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(64);
    double *lam = malloc(n * d * sizeof *lam), *v = malloc(d * sizeof *v);
    double top[4];
    for (size_t i = 0; i < n; i++) {
        top[i] = 0.0;
        for (size_t j = 0; j < d; j++) {
            lam[i * d + j] = j % 3 == 0 ? 0.0 : gsl_rng_uniform(r) * (double)(i + 1); /* rank-deficient */
            top[i] = fmax(top[i], lam[i * d + j]);
        }
    }
    tu_gauss(r, v, d);
    gsl_rng_free(r);
    double scale = fmax(fmax(top[0], top[1]), fmax(top[2], top[3]));
    double *H0 = malloc(n * d * d * sizeof *H0);
    for (int pass = 0; pass < 3; pass++) {
        /* pass 0: PSD; 1: sample 2 has -0.5e-10 scale (accepted); 2: -2e-10 scale (rejected) */
        lam[2 * d] = pass == 0 ? 0.0 : (pass == 1 ? -0.5e-10 : -2e-10) * scale;
        for (size_t i = 0; i < n; i++) reflected_diag(d, lam + i * d, v, f->data + i * d * d);
        memcpy(H0, f->data, n * d * d * sizeof *H0);
        linstab_status st = linstab_family_validate(f, 1e-10, 0, NULL, &err);
        if (pass < 2) {
            cr_assert_eq(st, LINSTAB_OK, "pass %d: %s", pass, err.msg);
            for (size_t i = 0; i < n; i++)
                cr_expect_lt(fabs(f->lambda1[i] - top[i]), 1e-13 * scale, "pass %d sample %zu", pass, i);
        } else {
            cr_assert_eq(st, LINSTAB_EDATA);
            cr_expect(strstr(err.msg, "sample 2 is not positive semidefinite") != NULL, "%s", err.msg);
        }
        memcpy(f->data, H0, n * d * d * sizeof *H0);
    }
    free(H0);
    free(lam);
    free(v);
    linstab_family_free(f);
}

Test(family, validation_names_the_sample_holding_nan)
{
    linstab_family *f = random_family(LINSTAB_FAMILY_FACTORED, 6, 3, 2, 64);
    f->data[4 * 6 + 5] = NAN;
    linstab_error err = {0};
    cr_assert_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "sample 4") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "NaN") != NULL, "%s", err.msg);
    f->data[4 * 6 + 5] = INFINITY;
    cr_assert_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "infinite") != NULL, "%s", err.msg);
    linstab_family_free(f);
}

Test(family, from_array_rejects_shapes_that_do_not_fit_the_kind)
{
    linstab_array a = {.ndim = 3, .shape = {2, 3, 4}, .data = calloc(24, sizeof(double))};
    linstab_family *f = NULL;
    linstab_error err = {0};
    cr_expect_eq(linstab_family_from_array(LINSTAB_FAMILY_DENSE, &a, &f, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "(2, 3, 4)") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_family_from_array(LINSTAB_FAMILY_DIAGONAL, &a, &f, &err), LINSTAB_EDATA);
    cr_assert_eq(linstab_family_from_array(LINSTAB_FAMILY_FACTORED, &a, &f, &err), LINSTAB_OK);
    cr_expect_null(a.data);
    cr_expect_eq(f->n, 2);
    cr_expect_eq(f->d, 3);
    cr_expect_eq(f->k, 4);
    linstab_family_free(f);
}

/* A factored family whose factors live in a 3-dim subspace of R^8. */
static linstab_family *subspace_family(linstab_family_kind kind, double *basis_out)
{
    size_t n = 10, d = 8, s = 3, k = 2;
    gsl_rng *r = tu_rng(77);
    double B[24], C[6];
    tu_gauss(r, B, d * s); /* columns span the subspace */
    linstab_family *low = NULL, *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, k, &low, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) {
        tu_gauss(r, C, s * k);
        for (size_t a = 0; a < d; a++)
            for (size_t q = 0; q < k; q++) {
                double v = 0.0;
                for (size_t b = 0; b < s; b++) v += B[a * s + b] * C[b * k + q];
                low->data[i * d * k + a * k + q] = v;
            }
    }
    gsl_rng_free(r);
    if (basis_out) memcpy(basis_out, B, sizeof B);
    if (kind == LINSTAB_FAMILY_FACTORED) return low;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) linstab_family_sample_dense(low, i, f->data + i * d * d);
    linstab_family_free(low);
    return f;
}

static double trace_moment(const linstab_family *f, int p)
{
    size_t d = f->d;
    double *M[4] = {NULL, NULL, NULL, NULL};
    M[p - 1] = malloc(d * d * sizeof(double));
    linstab_error err;
    cr_assert_eq(linstab_family_moments(f, p, M, &err), LINSTAB_OK);
    double t = 0.0;
    for (size_t j = 0; j < d; j++) t += M[p - 1][j * d + j];
    free(M[p - 1]);
    return t;
}

Test(family, restriction_finds_the_rank_and_keeps_every_spectral_quantity)
{
    for (int t = 0; t < 2; t++) {
        linstab_family *f = subspace_family(kinds[t], NULL), *g = NULL;
        size_t rank = 0;
        double *Q = NULL;
        linstab_error err;
        cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 0, &g, &rank, &Q, &err), LINSTAB_OK, "%s",
                     err.msg);
        cr_expect_eq(rank, 3);
        cr_expect_eq(g->d, 3);
        cr_expect_eq(g->kind, f->kind);
        /* Q'Q = I */
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++) {
                double s = 0.0;
                for (size_t row = 0; row < 8; row++) s += Q[row * 3 + a] * Q[row * 3 + b];
                cr_expect_lt(fabs(s - (a == b)), 1e-13);
            }
        for (int p = 1; p <= 4; p++)
            cr_expect_lt(tu_rel(trace_moment(g, p), trace_moment(f, p), 1e-300), 1e-12,
                         "kind %d tr M_%d", t, p);
        double G1[100], G2[100];
        cr_assert_eq(linstab_family_gram(f, G1, &err), LINSTAB_OK);
        cr_assert_eq(linstab_family_gram(g, G2, &err), LINSTAB_OK);
        cr_expect_lt(tu_rel_diff(G2, G1, 100), 1e-12);
        /* the restricted mean is diagonal with decreasing entries (eigenbasis of H) */
        double H[9];
        cr_assert_eq(linstab_family_mean(g, H, &err), LINSTAB_OK);
        cr_expect_lt(fabs(H[1]) + fabs(H[2]) + fabs(H[5]), 1e-12 * H[0]);
        cr_expect(H[0] >= H[4] && H[4] >= H[8] && H[8] > 0.0);
        free(Q);
        linstab_family_free(g);
        linstab_family_free(f);
    }
}

Test(family, restriction_of_a_diagonal_family_keeps_the_support_coordinates)
{
    linstab_family *f = NULL, *g = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 3, 5, 0, &f, &err), LINSTAB_OK);
    double D[15] = {1, 0, 2, 0, 0, 0, 0, 3, 0, 0, 4, 0, 0, 0, 0};
    memcpy(f->data, D, sizeof D);
    size_t rank = 0;
    cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 0, &g, &rank, NULL, &err), LINSTAB_OK);
    cr_expect_eq(rank, 2);
    cr_expect_eq(g->kind, LINSTAB_FAMILY_DIAGONAL);
    double want[6] = {1, 2, 0, 3, 4, 0};
    cr_expect_lt(tu_rel_diff(g->data, want, 6), 1e-15);
    linstab_family_free(g);
    linstab_family_free(f);
}

Test(family, restriction_of_a_zero_family_says_it_has_no_range)
{
    linstab_family *f = NULL, *g = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, 2, 3, 0, &f, &err), LINSTAB_OK);
    size_t rank = 99;
    cr_expect_eq(linstab_family_restrict(f, 0.0, 0, 0, &g, &rank, NULL, &err), LINSTAB_EDATA);
    cr_expect_null(g);
    cr_expect(strstr(err.msg, "no range") != NULL, "%s", err.msg);
    linstab_family_free(f);
}

Test(family, restriction_of_a_full_rank_family_is_an_unrotated_copy)
{
    linstab_family *f = random_family(LINSTAB_FAMILY_DENSE, 4, 3, 0, 81), *g = NULL;
    size_t rank = 0;
    linstab_error err;
    cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 0, &g, &rank, NULL, &err), LINSTAB_OK);
    cr_expect_eq(rank, 3);
    cr_expect_eq(memcmp(f->data, g->data, 36 * sizeof(double)), 0);
    linstab_family_free(g);
    linstab_family_free(f);
}

Test(family, save_and_load_round_trip_every_kind)
{
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(kinds[t], 3, 4, 2, 91 + t), *g = NULL;
        char *path = tu_tmppath(".npy");
        linstab_error err;
        cr_assert_eq(linstab_family_save(f, path, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(linstab_family_load(path, kinds[t], 0, &g, &err), LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(g->n, f->n);
        cr_expect_eq(g->d, f->d);
        cr_expect_eq(g->k, f->k);
        cr_expect_eq(memcmp(f->data, g->data, linstab_family_data_len(f) * sizeof(double)), 0);
        remove(path);
        free(path);
        linstab_family_free(g);
        linstab_family_free(f);
    }
}

/* Factored families with n k < d restrict through the n k x n k Gram matrix
 * (no d x d matrix): the same rank, moments and Gram entries as the dense
 * restriction of the same family, an orthonormal Q, and Q'U_i as factors. */
Test(family, restriction_through_the_gram_matrix_matches_the_dense_route)
{
    size_t n = 3, d = 10, k = 2;
    linstab_family *f = random_family(LINSTAB_FAMILY_FACTORED, n, d, k, 123), *dense = NULL, *g = NULL, *gd = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &dense, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) linstab_family_sample_dense(f, i, dense->data + i * d * d);
    size_t r1 = 0, r2 = 0;
    double *Q = NULL;
    cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 1, &g, &r1, &Q, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_family_restrict(dense, 0.0, 0, 1, &gd, &r2, NULL, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(r1, n * k);
    cr_expect_eq(r1, r2);
    cr_expect_eq(g->kind, LINSTAB_FAMILY_FACTORED);
    for (int p = 1; p <= 4; p++)
        cr_expect_lt(tu_rel(trace_moment(g, p), trace_moment(dense, p), 1e-300), 1e-12, "tr M_%d", p);
    double G1[9], G2[9];
    cr_assert_eq(linstab_family_gram(g, G1, &err), LINSTAB_OK);
    cr_assert_eq(linstab_family_gram(dense, G2, &err), LINSTAB_OK);
    cr_expect_lt(tu_rel_diff(G1, G2, 9), 1e-12);
    /* the restricted mean is diagonal and decreasing (H's eigenbasis) */
    size_t r = r1;
    double *H = malloc(r * r * sizeof *H);
    cr_assert_eq(linstab_family_mean(g, H, &err), LINSTAB_OK);
    for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b < r; b++)
            if (a != b) cr_expect_lt(fabs(H[a * r + b]), 1e-12 * H[0]);
    for (size_t a = 1; a < r; a++) cr_expect_geq(H[(a - 1) * r + a - 1], H[a * r + a]);
    /* Q'Q = I and the factors are Q'U_i */
    for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b < r; b++) {
            double s = 0.0;
            for (size_t row = 0; row < d; row++) s += Q[row * r + a] * Q[row * r + b];
            cr_expect_lt(fabs(s - (a == b)), 1e-12);
        }
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < r; c++)
            for (size_t q = 0; q < k; q++) {
                double s = 0.0;
                for (size_t row = 0; row < d; row++) s += Q[row * r + c] * f->data[i * d * k + row * k + q];
                cr_expect_lt(fabs(s - g->data[i * r * k + c * k + q]), 1e-12);
            }
    free(H);
    free(Q);
    linstab_family_free(g);
    linstab_family_free(gd);
    linstab_family_free(dense);
    linstab_family_free(f);
}
