/*
 * test_family.c -- the Hessian family: every fast path (dense, factored,
 * diagonal) against naive loops over explicit dense per-sample matrices,
 * validation errors naming the sample, and range restriction.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "linstab/family.h"
#include "linstab/sym.h"
#include <gsl/gsl_randist.h>

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
    X[0] += 4.0; /* strongly indefinite */
    X[15] -= 4.0;
    /* t = 3: rank-one factors (their own SYRK path; X indefinite, so
     * u_i' X u_i takes both signs) */
    for (int t = 0; t < 4; t++) {
        linstab_family *f = random_family(kinds[t < 3 ? t : 1], n, d, t < 3 ? 2 : 1, 21 + t);
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

/* A workspace reused over several X: every result equals the naive mean
 * (a stale accumulator or factor product would show on the second X) and,
 * bit for bit, the one-off linstab_family_sandwich; n = 20 dense samples
 * spread over 8 chunks (and threads when there are several). */
Test(family, a_reused_workspace_gives_the_sandwich_of_each_x_bit_for_bit)
{
    size_t n = 20, d = 5, dd = d * d;
    gsl_rng *r = tu_rng(17);
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(kinds[t], n, d, 3, 61 + t);
        double *H = explicit_samples(f);
        linstab_family_workspace *w = NULL;
        linstab_error err;
        cr_assert_eq(linstab_family_workspace_alloc(f, &w, &err), LINSTAB_OK, "%s", err.msg);
        for (int rep = 0; rep < 3; rep++) {
            double X[25], ref[25] = {0}, T[25], U[25], Y[25], Y1[25];
            tu_gauss(r, X, dd);
            linstab_sym_symmetrize(d, X);
            for (size_t i = 0; i < n; i++) {
                matmul(d, H + i * dd, X, T);
                matmul(d, T, H + i * dd, U);
                for (size_t j = 0; j < dd; j++) ref[j] += U[j] / (double)n;
            }
            cr_assert_eq(linstab_family_sandwich_ws(f, w, X, Y, &err), LINSTAB_OK, "%s", err.msg);
            cr_assert_eq(linstab_family_sandwich(f, X, Y1, &err), LINSTAB_OK, "%s", err.msg);
            cr_expect_lt(tu_rel_diff(Y, ref, dd), 1e-12, "kind %d, X number %d", t, rep);
            cr_expect_eq(memcmp(Y, Y1, sizeof Y), 0, "kind %d, X number %d: not bit for bit", t, rep);
        }
        /* a workspace belongs to its family */
        linstab_family *g = random_family(kinds[t], n, d, 3, 71 + t);
        double X[25] = {0}, Y[25];
        cr_expect_eq(linstab_family_sandwich_ws(g, w, X, Y, &err), LINSTAB_EINVAL);
        cr_expect(strstr(err.msg, "another family") != NULL, "%s", err.msg);
        linstab_family_workspace_free(w);
        linstab_family_workspace_free(NULL);
        linstab_family_free(g);
        free(H);
        linstab_family_free(f);
    }
    gsl_rng_free(r);
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

Test(family, apply_of_wide_factors_works_in_blocks_of_sixteen_columns)
{
    /* k = 16, 17, 40: one block, a block and one column, two blocks and 8 */
    static const size_t ks[3] = {16, 17, 40};
    size_t n = 2, d = 7;
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(LINSTAB_FAMILY_FACTORED, n, d, ks[t], 51 + t);
        double *H = explicit_samples(f);
        double x[7] = {0.3, -1.0, 2.0, 0.5, 1.5, -0.7, 0.1}, y[7], ref[7];
        for (size_t i = 0; i < n; i++) {
            for (size_t a = 0; a < d; a++) {
                ref[a] = 0.0;
                for (size_t b = 0; b < d; b++) ref[a] += H[i * d * d + a * d + b] * x[b];
            }
            linstab_family_apply(f, i, x, y);
            /* sums of k d products of entries O(1): k d eps relative */
            cr_expect_lt(tu_rel_diff(y, ref, d), 4.0 * (double)(ks[t] * d) * 2.22e-16, "k = %zu", ks[t]);
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
    cr_expect_eq(linstab_family_from_array_take(LINSTAB_FAMILY_DENSE, &a, &f, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "(2, 3, 4)") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_family_from_array_take(LINSTAB_FAMILY_DIAGONAL, &a, &f, &err), LINSTAB_EDATA);
    cr_assert_eq(linstab_family_from_array_take(LINSTAB_FAMILY_FACTORED, &a, &f, &err), LINSTAB_OK);
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

/* ------------------------------------------------------------------ */
/* Chunked per-sample sums, the Cholesky sandwich, the full-rank        */
/* certificate and the parallel validation (commit 4052c2a)             */

/* Run with this many OpenMP threads (no-op without OpenMP). */
static void use_threads(int t)
{
#ifdef _OPENMP
    omp_set_dynamic(0);
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

/* max |a - b| / max |b| over len entries (strictly relative; no floor). */
static double rel_to_max(const double *a, const double *b, size_t len)
{
    double e = 0.0, s = 0.0;
    for (size_t j = 0; j < len; j++) {
        double x = fabs(a[j] - b[j]);
        if (x > e || isnan(x)) e = x;
        s = fmax(s, fabs(b[j]));
    }
    return s > 0.0 ? e / s : e;
}

/* A dense family of symmetric Gaussian (indefinite) samples. */
static linstab_family *symmetric_family(size_t n, size_t d, unsigned long seed)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, f->data, n * d * d);
    gsl_rng_free(r);
    for (size_t i = 0; i < n; i++) {
        double *H = f->data + i * d * d;
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < a; b++) H[a * d + b] = H[b * d + a];
    }
    return f;
}

/* X = G G'/d + I/10 (d x d, positive definite, condition ~ 1e2). */
static double *spd_matrix(size_t d, unsigned long seed)
{
    gsl_rng *r = tu_rng(seed);
    double *G = malloc(d * d * sizeof *G), *X = malloc(d * d * sizeof *X);
    tu_gauss(r, G, d * d);
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) {
            double s = a == b ? 0.1 : 0.0;
            for (size_t c = 0; c < d; c++) s += G[a * d + c] * G[b * d + c] / (double)d;
            X[a * d + b] = s;
        }
    free(G);
    gsl_rng_free(r);
    return X;
}

/* (1/n) sum_i H_i X H_i by naive products of explicit samples. */
static void naive_sandwich(const linstab_family *f, const double *X, double *ref)
{
    size_t n = f->n, d = f->d;
    double *H = explicit_samples(f), *T = malloc(d * d * sizeof *T), *U = malloc(d * d * sizeof *U);
    memset(ref, 0, d * d * sizeof *ref);
    for (size_t i = 0; i < n; i++) {
        matmul(d, H + i * d * d, X, T);
        matmul(d, T, H + i * d * d, U);
        for (size_t j = 0; j < d * d; j++) ref[j] += U[j];
    }
    for (size_t j = 0; j < d * d; j++) ref[j] /= (double)n;
    free(H);
    free(T);
    free(U);
}

static void expect_exactly_symmetric(size_t d, const double *Y, const char *what)
{
    size_t bad = 0;
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < a; b++) bad += Y[a * d + b] != Y[b * d + a];
    cr_expect_eq(bad, 0, "%s: %zu asymmetric pairs", what, bad);
}

Test(family, sandwich_chol_equals_the_sandwich_for_every_representation)
{
    struct {
        linstab_family_kind kind;
        size_t n, d, k;
    } cases[] = {
        {LINSTAB_FAMILY_DENSE, 20, 6, 0},   {LINSTAB_FAMILY_DENSE, 1, 6, 0},      {LINSTAB_FAMILY_DENSE, 3, 6, 0},
        {LINSTAB_FAMILY_DENSE, 20, 40, 0},  {LINSTAB_FAMILY_DENSE, 9, 130, 0},    {LINSTAB_FAMILY_DENSE, 1, 1, 0},
        {LINSTAB_FAMILY_FACTORED, 20, 6, 1}, {LINSTAB_FAMILY_FACTORED, 1, 6, 1}, {LINSTAB_FAMILY_FACTORED, 20, 6, 2},
        {LINSTAB_FAMILY_FACTORED, 7, 40, 2}, {LINSTAB_FAMILY_DIAGONAL, 20, 6, 0}, {LINSTAB_FAMILY_DIAGONAL, 1, 6, 0},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        size_t n = cases[t].n, d = cases[t].d, dd = d * d;
        linstab_family *f = random_family(cases[t].kind, n, d, cases[t].k, 1400 + t);
        double *X = spd_matrix(d, 1450 + t), *L = malloc(dd * sizeof *L);
        double *Y1 = malloc(dd * sizeof *Y1), *Y2 = malloc(dd * sizeof *Y2), *Yg = malloc(dd * sizeof *Yg);
        double *ref = malloc(dd * sizeof *ref);
        cr_assert_eq(linstab_sym_cholesky_lower(d, X, L), 1);
        naive_sandwich(f, X, ref);
        linstab_error err = {0};
        char what[64];
        snprintf(what, sizeof what, "%s n %zu d %zu k %zu", linstab_family_kind_name(f->kind), n, d, f->k);
        use_threads(1);
        cr_assert_eq(linstab_family_sandwich_chol(f, X, L, Y1, &err), LINSTAB_OK, "%s: %s", what, err.msg);
        use_threads(2);
        cr_assert_eq(linstab_family_sandwich_chol(f, X, L, Y2, &err), LINSTAB_OK, "%s: %s", what, err.msg);
        cr_assert_eq(linstab_family_sandwich(f, X, Yg, &err), LINSTAB_OK, "%s: %s", what, err.msg);
        cr_expect_lt(rel_to_max(Y1, ref, dd), 1e-12, "%s: sandwich_chol vs naive %.3g", what,
                     rel_to_max(Y1, ref, dd));
        cr_expect_lt(rel_to_max(Y1, Yg, dd), 1e-12, "%s: sandwich_chol vs sandwich %.3g", what,
                     rel_to_max(Y1, Yg, dd));
        cr_expect_eq(memcmp(Y1, Y2, dd * sizeof *Y1), 0, "%s: 1 and 2 threads differ", what);
        expect_exactly_symmetric(d, Y1, what);
        free(X);
        free(L);
        free(Y1);
        free(Y2);
        free(Yg);
        free(ref);
        linstab_family_free(f);
    }
}

/* M_1..M_4 by naive products of explicit samples (ref[p] d x d). */
static void naive_moments(const linstab_family *f, double *const *ref)
{
    size_t n = f->n, d = f->d, dd = d * d;
    double *H = explicit_samples(f), *P = malloc(dd * sizeof *P), *Q = malloc(dd * sizeof *Q);
    for (int p = 0; p < 4; p++) memset(ref[p], 0, dd * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const double *Hi = H + i * dd;
        memcpy(P, Hi, dd * sizeof *P);
        for (int p = 0; p < 4; p++) {
            for (size_t j = 0; j < dd; j++) ref[p][j] += P[j];
            if (p < 3) {
                matmul(d, P, Hi, Q);
                memcpy(P, Q, dd * sizeof *P);
            }
        }
    }
    for (int p = 0; p < 4; p++)
        for (size_t j = 0; j < dd; j++) ref[p][j] /= (double)n;
    free(H);
    free(P);
    free(Q);
}

/* Dense moments are summed per sample in fixed chunks: naive agreement,
 * every pattern of requested outputs, and the same bits for any thread
 * count. */
Test(family, dense_moments_equal_naive_powers_for_any_request_and_thread_count)
{
    struct {
        size_t n, d;
        int indefinite;
    } cases[] = {{1, 5, 0}, {3, 5, 0}, {17, 5, 0}, {3, 5, 1}, {17, 5, 1},
                 {1, 130, 0}, {3, 130, 0}, {17, 130, 0}, {3, 130, 1}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        size_t n = cases[t].n, d = cases[t].d, dd = d * d;
        linstab_family *f = cases[t].indefinite ? symmetric_family(n, d, 1500 + t)
                                                : random_family(LINSTAB_FAMILY_DENSE, n, d, 0, 1500 + t);
        char what[64];
        snprintf(what, sizeof what, "n %zu d %zu%s", n, d, cases[t].indefinite ? " indefinite" : "");
        double *ref[4], *M[4], *M2t[4];
        for (int p = 0; p < 4; p++) {
            ref[p] = malloc(dd * sizeof(double));
            M[p] = malloc(dd * sizeof(double));
            M2t[p] = malloc(dd * sizeof(double));
        }
        naive_moments(f, ref);
        linstab_error err = {0};
        use_threads(1);
        cr_assert_eq(linstab_family_moments(f, 4, M, &err), LINSTAB_OK, "%s: %s", what, err.msg);
        use_threads(2);
        cr_assert_eq(linstab_family_moments(f, 4, M2t, &err), LINSTAB_OK, "%s: %s", what, err.msg);
        for (int p = 0; p < 4; p++) {
            double e = rel_to_max(M[p], ref[p], dd);
            cr_expect_lt(e, 1e-12, "%s: M_%d relative error %.3g", what, p + 1, e);
            cr_expect_eq(memcmp(M[p], M2t[p], dd * sizeof(double)), 0, "%s: M_%d differs with 2 threads", what,
                         p + 1);
            expect_exactly_symmetric(d, M[p], what);
        }
        /* partial requests: {M1, -, M3, -}, {-, M2, -, -}, {-, -, -, M4},
         * {-, -, M3} (kmax 3), {-, M2} (kmax 2), {M1, M2, M3} (kmax 3) */
        static const int masks[][4] = {{1, 0, 1, 0}, {0, 1, 0, 0}, {0, 0, 0, 1}, {0, 0, 1, 0},
                                       {0, 1, 0, 0}, {1, 1, 1, 0}, {0, 0, 0, 0}};
        static const int kmaxes[] = {4, 4, 4, 3, 2, 3, 4};
        for (size_t q = 0; q < sizeof kmaxes / sizeof kmaxes[0]; q++) {
            double *P[4];
            for (int p = 0; p < 4; p++) {
                P[p] = masks[q][p] ? M[p] : NULL;
                if (P[p]) memset(P[p], 0xff, dd * sizeof(double)); /* NaN: must be overwritten */
            }
            cr_assert_eq(linstab_family_moments(f, kmaxes[q], P, &err), LINSTAB_OK, "%s: %s", what, err.msg);
            for (int p = 0; p < kmaxes[q]; p++) {
                if (!P[p]) continue;
                double e = rel_to_max(P[p], ref[p], dd);
                cr_expect_lt(e, 1e-12, "%s, request %zu: M_%d relative error %.3g", what, q, p + 1, e);
            }
        }
        for (int p = 0; p < 4; p++) {
            free(ref[p]);
            free(M[p]);
            free(M2t[p]);
        }
        linstab_family_free(f);
    }
}

/* numpy's matrix_rank of the mean Hessian: eigenvalues (linstab_sym_eig)
 * above rtol * max |eigenvalue|, rtol = d eps by default; OUT *kept: the
 * sum of those eigenvalues (the trace of the restricted mean). */
static size_t reference_rank(const linstab_family *f, double rtol, double *kept)
{
    size_t d = f->d;
    double *H = malloc(d * d * sizeof *H), *w = malloc(d * sizeof *w);
    linstab_error err;
    cr_assert_eq(linstab_family_mean(f, H, &err), LINSTAB_OK);
    cr_assert_eq(linstab_sym_eig(d, H, w, NULL, &err), LINSTAB_OK);
    if (rtol <= 0.0) rtol = (double)d * DBL_EPSILON;
    double wmax = fmax(fabs(w[0]), fabs(w[d - 1]));
    size_t r = 0;
    *kept = 0.0;
    for (size_t j = 0; j < d; j++)
        if (w[j] > rtol * wmax) {
            r++;
            *kept += w[j];
        }
    free(H);
    free(w);
    return r;
}

/* restrict (no rotation) gives the reference rank; a full rank gives an
 * unrotated copy, otherwise the restricted mean has the trace of the kept
 * eigenvalues. */
static void expect_restricted_rank(const linstab_family *f, double rtol, size_t want, const char *what)
{
    linstab_family *g = NULL;
    size_t rank = 0;
    linstab_error err = {0};
    cr_assert_eq(linstab_family_restrict(f, rtol, 0, 0, &g, &rank, NULL, &err), LINSTAB_OK, "%s: %s", what,
                 err.msg);
    double kept = 0.0;
    size_t ref = reference_rank(f, rtol, &kept);
    cr_expect_eq(rank, ref, "%s: rank %zu, matrix_rank %zu", what, rank, ref);
    cr_expect_eq(rank, want, "%s: rank %zu, expected %zu", what, rank, want);
    cr_expect_eq(g->d, rank, "%s", what);
    if (rank == f->d && g->d == f->d) {
        cr_expect_eq(g->kind, f->kind, "%s", what);
        cr_expect_eq(memcmp(g->data, f->data, linstab_family_data_len(f) * sizeof(double)), 0, "%s", what);
    } else {
        double tr = trace_moment(g, 1);
        cr_expect_lt(tu_rel(tr, kept, 1e-300), 1e-12, "%s: tr H %.17g, kept eigenvalues %.17g", what, tr, kept);
    }
    linstab_family_free(g);
}

Test(family, restriction_rank_of_large_families_equals_matrix_rank)
{
    /* full rank, dense d = 130 (the Cholesky certificate) */
    linstab_family *f = random_family(LINSTAB_FAMILY_DENSE, 2, 130, 0, 1600);
    expect_restricted_rank(f, 0.0, 130, "dense d 130 full rank");
    linstab_family_free(f);

    /* rank 100, dense d = 130: H_i = U_i U_i', U_i = P C_i in a fixed
     * 100-dim subspace (P orthonormal 130 x 100) */
    size_t n = 3, d = 130, s = 100, m = 40;
    gsl_rng *r = tu_rng(1601);
    double *P = malloc(d * s * sizeof *P), *tau = malloc(s * sizeof *tau), *C = malloc(s * m * sizeof *C);
    double *U = malloc(d * m * sizeof *U);
    tu_gauss(r, P, d * s);
    cr_assert_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)s, P, (lapack_int)s, tau), 0);
    cr_assert_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)s, (lapack_int)s, P, (lapack_int)s, tau),
                 0);
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) {
        tu_gauss(r, C, s * m);
        for (size_t a = 0; a < d; a++)
            for (size_t q = 0; q < m; q++) {
                double v = 0.0;
                for (size_t b = 0; b < s; b++) v += P[a * s + b] * C[b * m + q];
                U[a * m + q] = v;
            }
        double *H = f->data + i * d * d;
        for (size_t a = 0; a < d; a++)
            for (size_t b = a; b < d; b++) {
                double v = 0.0;
                for (size_t q = 0; q < m; q++) v += U[a * m + q] * U[b * m + q];
                H[a * d + b] = H[b * d + a] = v / (double)m;
            }
    }
    gsl_rng_free(r);
    expect_restricted_rank(f, 0.0, 100, "dense d 130 rank 100");
    linstab_family_free(f);
    free(P);
    free(tau);
    free(C);
    free(U);

    /* factored d = 140: n k = 150 >= d (dense route, full rank) and
     * n k = 120 < d (the Gram route, rank 120) */
    f = random_family(LINSTAB_FAMILY_FACTORED, 50, 140, 3, 1602);
    expect_restricted_rank(f, 0.0, 140, "factored d 140 n k 150");
    linstab_family_free(f);
    f = random_family(LINSTAB_FAMILY_FACTORED, 40, 140, 3, 1603);
    expect_restricted_rank(f, 0.0, 120, "factored d 140 n k 120");
    linstab_family_free(f);
}

/* One sample H = Q diag(lam) Q' with lambda_max 1 and a few eigenvalues
 * near the threshold tau = rtol (default d eps): c tau for each c given. */
static linstab_family *near_threshold_family(size_t d, double rtol, const double *c, size_t nc, unsigned long seed)
{
    gsl_rng *r = tu_rng(seed);
    double *lam = malloc(d * sizeof *lam), *Q = malloc(d * d * sizeof *Q), *tau = malloc(d * sizeof *tau);
    for (size_t j = 0; j < d; j++) lam[j] = j == 0 ? 1.0 : 0.5 + 0.5 * gsl_rng_uniform(r);
    double t = rtol > 0.0 ? rtol : (double)d * DBL_EPSILON;
    for (size_t j = 0; j < nc; j++) lam[d - 1 - j] = c[j] * t;
    tu_gauss(r, Q, d * d);
    gsl_rng_free(r);
    cr_assert_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)d, Q, (lapack_int)d, tau), 0);
    cr_assert_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)d, (lapack_int)d, Q, (lapack_int)d, tau),
                 0);
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, 1, d, d, &f, &err), LINSTAB_OK);
    for (size_t a = 0; a < d; a++)
        for (size_t b = a; b < d; b++) {
            double v = 0.0;
            for (size_t q = 0; q < d; q++) v += Q[a * d + q] * lam[q] * Q[b * d + q];
            f->data[a * d + b] = f->data[b * d + a] = v;
        }
    free(lam);
    free(Q);
    free(tau);
    return f;
}

/* Eigenvalues just above / below the threshold (margins >= tau/2, far
 * above the rounding of the spectrum ~ eps): the certificate must not claim
 * full rank when an eigenvalue is below 4 tau. */
Test(family, restriction_rank_near_the_threshold)
{
    size_t d = 130;
    struct {
        double rtol;
        double c[2];
        size_t nc, want;
    } cases[] = {
        {0.0, {3.0, 0.3}, 2, d - 1},  /* one above, one below */
        {0.0, {0.5, 0.5}, 2, d - 2},  /* two below */
        {0.0, {2.0, 1.5}, 2, d},      /* above tau but below 4 tau: eigenvalues decide */
        {0.0, {5.0, 10.0}, 2, d},     /* above 4 tau: the certificate may decide */
        {1e-6, {2.0, 0.5}, 2, d - 1}, /* a caller's tolerance */
        {1e-6, {3.9, 1.1}, 2, d},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        linstab_family *f = near_threshold_family(d, cases[t].rtol, cases[t].c, cases[t].nc, 1700 + t);
        char what[96];
        snprintf(what, sizeof what, "rtol %g, eigenvalues %g and %g tau", cases[t].rtol, cases[t].c[0], cases[t].c[1]);
        expect_restricted_rank(f, cases[t].rtol, cases[t].want, what);
        linstab_family_free(f);
    }
}

/* ------------------------------------------------------------------ */
/* Validation of dense families (per sample, in parallel)              */

Test(family, validation_names_the_first_nonfinite_sample_and_entry)
{
    const size_t ds[] = {20, 140};
    for (size_t t = 0; t < 2; t++) {
        size_t n = 8, d = ds[t], dd = d * d;
        linstab_family *f = symmetric_family(n, d, 1800 + t);
        double *H0 = malloc(n * dd * sizeof *H0);
        memcpy(H0, f->data, n * dd * sizeof *H0);
        size_t nan_at = 2 * d + 1, inf3_at = 5 * d + 3, inf5_at = 7;
        f->data[3 * dd + nan_at] = NAN;       /* sample 3, (2, 1): lower triangle */
        f->data[3 * dd + inf3_at] = INFINITY; /* later in sample 3 */
        f->data[5 * dd + inf5_at] = -INFINITY;
        linstab_error err = {0};
        char want[96];
        for (int round = 0; round < 3; round++) {
            cr_assert_eq(linstab_family_validate(f, 1e-10, 1, NULL, &err), LINSTAB_EDATA, "d %zu round %d", d, round);
            if (round == 0)
                snprintf(want, sizeof want, "sample 3: entry %zu is NaN", nan_at);
            else if (round == 1)
                snprintf(want, sizeof want, "sample 3: entry %zu is infinite", inf3_at);
            else
                snprintf(want, sizeof want, "sample 5: entry %zu is infinite", inf5_at);
            cr_expect(strstr(err.msg, want) != NULL, "d %zu: '%s' does not say '%s'", d, err.msg, want);
            cr_expect_null(f->lambda1);
            if (round == 0) f->data[3 * dd + nan_at] = H0[3 * dd + nan_at];
            if (round == 1) f->data[3 * dd + inf3_at] = H0[3 * dd + inf3_at];
        }
        f->data[5 * dd + inf5_at] = H0[5 * dd + inf5_at];
        cr_expect_eq(linstab_family_validate(f, 1e-10, 1, NULL, &err), LINSTAB_OK, "%s", err.msg);
        free(H0);
        linstab_family_free(f);
    }
}

Test(family, validation_names_the_first_asymmetric_sample_and_its_worst_pair)
{
    struct {
        size_t d, r2, c2, r4, c4;
    } cases[] = {{20, 3, 1, 7, 5}, {140, 100, 5, 138, 139}, {140, 33, 64, 0, 139}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        size_t n = 6, d = cases[t].d, dd = d * d;
        linstab_family *f = random_family(LINSTAB_FAMILY_DENSE, n, d, 0, 1900 + t);
        double amax = 0.0;
        for (size_t j = 0; j < dd; j++) amax = fmax(amax, fabs(f->data[2 * dd + j]));
        /* sample 2: a small asymmetry (still above tolerance) and the worst at
         * (r2, c2); sample 4: a larger one */
        f->data[2 * dd + 0 * d + 1] += 1e-6 * amax;
        f->data[2 * dd + cases[t].r2 * d + cases[t].c2] += 1e-3 * amax;
        f->data[4 * dd + cases[t].r4 * d + cases[t].c4] += 1.0 * amax;
        size_t a = cases[t].r2 < cases[t].c2 ? cases[t].r2 : cases[t].c2;
        size_t b = cases[t].r2 < cases[t].c2 ? cases[t].c2 : cases[t].r2;
        const double *H2 = f->data + 2 * dd;
        char p1[64], p2[64], val[64];
        snprintf(p1, sizeof p1, "H[%zu][%zu]", a, b);
        snprintf(p2, sizeof p2, "H[%zu][%zu]", b, a);
        /* the difference printed is that of the pair in the order named */
        linstab_error err = {0};
        cr_assert_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_EDATA);
        cr_expect(strstr(err.msg, "sample 2 is not symmetric") != NULL, "%s", err.msg);
        cr_expect(strstr(err.msg, p1) != NULL && strstr(err.msg, p2) != NULL, "d %zu: '%s' does not name %s/%s", d,
                  err.msg, p1, p2);
        const char *first = strstr(err.msg, "H[");
        int ab_first = first != NULL && strncmp(first, p1, strlen(p1)) == 0;
        snprintf(val, sizeof val, "= %.3g ", ab_first ? H2[a * d + b] - H2[b * d + a] : H2[b * d + a] - H2[a * d + b]);
        cr_expect(strstr(err.msg, val) != NULL, "d %zu: '%s' does not say '%s'", d, err.msg, val);
        cr_expect_null(f->lambda1);
        linstab_family_free(f);
    }
}

Test(family, validation_symmetrises_in_place_and_caches_lapack_lambda1)
{
    const size_t ds[] = {20, 140};
    for (size_t t = 0; t < 2; t++) {
        size_t n = 5, d = ds[t], dd = d * d;
        linstab_family *f = random_family(LINSTAB_FAMILY_DENSE, n, d, 0, 2000 + t);
        /* asymmetries of ~1e-13 relative, under the 1e-10 tolerance */
        gsl_rng *r = tu_rng(2010 + t);
        for (size_t i = 0; i < n; i++)
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < a; b++) f->data[i * dd + a * d + b] *= 1.0 + 1e-13 * gsl_rng_uniform(r);
        gsl_rng_free(r);
        double *H0 = malloc(n * dd * sizeof *H0), *w = malloc(d * sizeof *w), *S = malloc(dd * sizeof *S);
        memcpy(H0, f->data, n * dd * sizeof *H0);
        for (int allow = 0; allow <= 1; allow++) {
            for (int threads = 1; threads <= 2; threads++) {
                memcpy(f->data, H0, n * dd * sizeof *H0);
                use_threads(threads);
                linstab_error err = {0};
                int indef = -1;
                cr_assert_eq(linstab_family_validate(f, 1e-10, allow, &indef, &err), LINSTAB_OK, "d %zu: %s", d,
                             err.msg);
                cr_expect_eq(indef, 0);
                cr_assert_not_null(f->lambda1);
                size_t bad = 0;
                for (size_t i = 0; i < n; i++)
                    for (size_t a = 0; a < d; a++)
                        for (size_t b = 0; b < d; b++) {
                            double want = 0.5 * (H0[i * dd + a * d + b] + H0[i * dd + b * d + a]);
                            bad += f->data[i * dd + a * d + b] != want;
                        }
                cr_expect_eq(bad, 0, "d %zu: %zu entries not (H + H')/2", d, bad);
                for (size_t i = 0; i < n; i++) {
                    memcpy(S, f->data + i * dd, dd * sizeof *S);
                    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)d, S, (lapack_int)d, w), 0);
                    cr_expect_lt(tu_rel(f->lambda1[i], w[d - 1], 1e-300), 1e-12,
                                 "d %zu allow %d threads %d sample %zu: lambda1 %.17g, dsyev %.17g", d, allow, threads,
                                 i, f->lambda1[i], w[d - 1]);
                }
            }
        }
        free(H0);
        free(w);
        free(S);
        linstab_family_free(f);
    }
}

/* the same data and lambda1 bits with 1 and 2 threads */
Test(family, validation_is_independent_of_the_thread_count)
{
    size_t n = 6, d = 140, dd = d * d;
    linstab_family *f = random_family(LINSTAB_FAMILY_DENSE, n, d, 0, 2100), *g = NULL;
    linstab_error err = {0};
    for (size_t j = 0; j < n * dd; j += 7) f->data[j] *= 1.0 + 1e-14;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &g, &err), LINSTAB_OK);
    memcpy(g->data, f->data, n * dd * sizeof(double));
    use_threads(1);
    cr_assert_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_OK, "%s", err.msg);
    use_threads(2);
    cr_assert_eq(linstab_family_validate(g, 1e-10, 0, NULL, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(memcmp(f->data, g->data, n * dd * sizeof(double)), 0);
    cr_expect_eq(memcmp(f->lambda1, g->lambda1, n * sizeof(double)), 0);
    linstab_family_free(f);
    linstab_family_free(g);
}

Test(family, rank_one_weighted_sum_equals_the_naive_sum)
{
    size_t n = 7, d = 5;
    gsl_rng *r = tu_rng(4242);
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 1, &f, &err), LINSTAB_OK);
    tu_gauss(r, f->data, n * d);
    double w[7], Y[25], ref[25] = {0};
    for (size_t i = 0; i < n; i++) w[i] = i == 3 ? 0.0 : 0.1 + gsl_rng_uniform(r);
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) ref[a * d + b] += w[i] * f->data[i * d + a] * f->data[i * d + b] / (double)n;
    cr_assert_eq(linstab_family_rank_one_weighted(f, w, Y, &err), LINSTAB_OK);
    cr_expect_lt(tu_rel_diff(Y, ref, d * d), 1e-14);
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < a; b++) cr_expect_eq(Y[a * d + b], Y[b * d + a]);
    linstab_family_free(f);
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 2, &f, &err), LINSTAB_OK);
    cr_expect_eq(linstab_family_rank_one_weighted(f, w, Y, &err), LINSTAB_EINVAL);
    linstab_family_free(f);
    gsl_rng_free(r);
}

Test(family, rotate_mean_turns_h_diagonal_and_keeps_every_sample_s_spectrum)
{
    /* dense indefinite (nothing dropped even where H is singular), and a
     * diagonal family, which is permuted */
    size_t n = 3, d = 4;
    double Hd[3 * 16] = {0};
    static const double a[3][4] = {{1.0, -2.0, 0.0, 0.5}, {0.3, 2.0, 0.0, -0.5}, {-1.3, 0.0, 0.0, 0.0}};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) Hd[i * 16 + j * 4 + j] = a[i][j];
    Hd[0 * 16 + 0 * 4 + 1] = Hd[0 * 16 + 1 * 4 + 0] = 0.7; /* off-diagonal coupling */
    for (int kind = 0; kind < 2; kind++) {
        linstab_family *f = NULL, *g = NULL;
        linstab_error err = {0};
        if (kind == 0) {
            cr_assert(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, 0, &f, &err) == LINSTAB_OK);
            memcpy(f->data, Hd, sizeof Hd);
        } else {
            cr_assert(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, d, 0, &f, &err) == LINSTAB_OK);
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < d; j++) f->data[i * d + j] = a[i][j];
        }
        cr_assert(linstab_family_rotate_mean(f, &g, &err) == LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(g->d, d, "nothing is dropped");
        double H[16], *A = explicit_samples(f), *B = explicit_samples(g);
        cr_assert(linstab_family_mean(g, H, &err) == LINSTAB_OK);
        for (size_t p = 0; p < d; p++)
            for (size_t q = 0; q < d; q++)
                if (p != q) cr_expect(fabs(H[p * d + q]) <= 64 * d * DBL_EPSILON, "H[%zu][%zu] = %g", p, q, H[p * d + q]);
        for (size_t p = 1; p < d; p++) cr_expect(H[p * d + p] <= H[(p - 1) * d + p - 1], "decreasing");
        /* orthogonal similarity: tr H_i and tr H_i^2 unchanged */
        for (size_t i = 0; i < n; i++) {
            double t1 = 0, u1 = 0, t2 = 0, u2 = 0;
            for (size_t p = 0; p < d; p++) {
                t1 += A[i * 16 + p * d + p];
                u1 += B[i * 16 + p * d + p];
                for (size_t q = 0; q < d; q++) {
                    t2 += A[i * 16 + p * d + q] * A[i * 16 + q * d + p];
                    u2 += B[i * 16 + p * d + q] * B[i * 16 + q * d + p];
                }
            }
            cr_expect(fabs(t1 - u1) <= 64 * d * DBL_EPSILON && fabs(t2 - u2) <= 64 * d * DBL_EPSILON * t2,
                      "kind %d sample %zu: traces %g %g, %g %g", kind, i, t1, u1, t2, u2);
        }
        if (kind == 1) cr_expect_eq(g->kind, LINSTAB_FAMILY_DIAGONAL, "diagonal stays diagonal");
        free(A);
        free(B);
        linstab_family_free(g);
        linstab_family_free(f);
    }
}

/* The lambda1 cache that validation fills cannot go stale: after the data
 * change (here: every sample scaled by 3, for each representation),
 * linstab_family_sample_lambda1 gives the new values, equal to those of a
 * family that never had a cache. */
Test(family, lambda1_cache_follows_changes_of_the_data)
{
    const linstab_family_kind kinds_[] = {LINSTAB_FAMILY_DENSE, LINSTAB_FAMILY_FACTORED,
                                         LINSTAB_FAMILY_DIAGONAL};
    for (int t = 0; t < 3; t++) {
        linstab_family *f = random_family(kinds_[t], 5, 4, 2, 64 + (unsigned)t);
        linstab_error err = {0};
        cr_assert_eq(linstab_family_validate(f, 1e-10, 0, NULL, &err), LINSTAB_OK, "%s", err.msg);
        if (kinds_[t] == LINSTAB_FAMILY_DENSE) cr_assert_not_null(f->lambda1);
        double before[5], after[5], fresh[5];
        cr_assert_eq(linstab_family_sample_lambda1(f, before, &err), LINSTAB_OK, "%s", err.msg);
        /* factored: H_i = U_i U_i' scales by 9 when U_i scales by 3 */
        double s = kinds_[t] == LINSTAB_FAMILY_FACTORED ? 9.0 : 3.0;
        for (size_t j = 0; j < linstab_family_data_len(f); j++) f->data[j] *= 3.0;
        cr_assert_eq(linstab_family_sample_lambda1(f, after, &err), LINSTAB_OK, "%s", err.msg);
        free(f->lambda1);
        f->lambda1 = NULL;
        cr_assert_eq(linstab_family_sample_lambda1(f, fresh, &err), LINSTAB_OK, "%s", err.msg);
        for (int i = 0; i < 5; i++) {
            cr_expect_eq(after[i], fresh[i], "kind %d sample %d", t, i);
            cr_expect_lt(fabs(after[i] - s * before[i]), 1e-12 * s * before[i], "kind %d sample %d", t, i);
        }
        linstab_family_free(f);
    }
}

/* ||U_i'U_j||_F^2 and U_i'HU_i of a factored family by loops. */
static void gram_quad_naive(const linstab_family *f, double *G, double *Q)
{
    size_t n = f->n, d = f->d, k = f->k;
    double *H = calloc(d * d, sizeof *H);
    for (size_t i = 0; i < n; i++) {
        const double *U = f->data + i * d * k;
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++)
                for (size_t c = 0; c < k; c++) H[a * d + b] += U[a * k + c] * U[b * k + c] / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        const double *Ui = f->data + i * d * k;
        for (size_t j = 0; j < n; j++) {
            const double *Uj = f->data + j * d * k;
            double s = 0.0;
            for (size_t c = 0; c < k; c++)
                for (size_t q = 0; q < k; q++) {
                    double v = 0.0;
                    for (size_t a = 0; a < d; a++) v += Ui[a * k + c] * Uj[a * k + q];
                    s += v * v;
                }
            G[i * n + j] = s;
        }
        for (size_t c = 0; c < k; c++)
            for (size_t q = 0; q < k; q++) {
                double v = 0.0;
                for (size_t a = 0; a < d; a++)
                    for (size_t b = 0; b < d; b++) v += Ui[a * k + c] * H[a * d + b] * Ui[b * k + q];
                Q[(i * k + c) * k + q] = v;
            }
    }
    free(H);
}

Test(family, gram_quad_equals_direct_products_whole_and_in_row_panels)
{
    /* n k = 8200 > 8192: W'W in row panels; the others in one SYRK */
    size_t ns[3] = {50, 9, 820}, ds[3] = {20, 12, 3}, ks[3] = {3, 1, 10};
    for (int t = 0; t < 3; t++) {
        size_t n = ns[t], k = ks[t];
        linstab_family *f = tu_family_factored(n, ds[t], k, 900 + (unsigned long)t);
        double *G = malloc(n * n * sizeof *G), *Q = malloc(n * k * k * sizeof *Q);
        double *G0 = malloc(n * n * sizeof *G0), *Q0 = malloc(n * k * k * sizeof *Q0), *G1 = malloc(n * n * sizeof *G1);
        linstab_error err;
        cr_assert_eq(linstab_family_gram_quad(f, G, Q, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(linstab_family_gram(f, G1, &err), LINSTAB_OK, "%s", err.msg);
        gram_quad_naive(f, G0, Q0);
        cr_expect_lt(tu_rel_diff(G, G0, n * n), tu_tol(ds[t] * k, 1.0), "n %zu k %zu: G", n, k);
        cr_expect_lt(tu_rel_diff(Q, Q0, n * k * k), tu_tol(n * ds[t], 1.0), "n %zu k %zu: Q", n, k);
        cr_expect_eq(memcmp(G, G1, n * n * sizeof *G), 0, "gram and gram_quad differ");
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < i; j++) cr_expect_eq(G[i * n + j], G[j * n + i]);
        free(G);
        free(Q);
        free(G0);
        free(Q0);
        free(G1);
        linstab_family_free(f);
    }
    /* Q of a dense family: an error, not a guess */
    linstab_family *fd = tu_family_dense(3, 2, 2, 5);
    double G[9], Q[12];
    linstab_error err;
    cr_expect_eq(linstab_family_gram_quad(fd, G, Q, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_family_gram_quad(fd, G, NULL, &err), LINSTAB_OK);
    linstab_family_free(fd);
}

Test(family, factored_weighted_sum_equals_the_naive_sum_for_indefinite_blocks)
{
    size_t n = 6, d = 7;
    gsl_rng *r = tu_rng(77);
    for (size_t k = 1; k <= 3; k += 2) {
        linstab_family *f = tu_family_factored(n, d, k, 60 + k);
        double *Q = malloc(n * k * k * sizeof *Q), Y[49], ref[49] = {0};
        for (size_t i = 0; i < n; i++) /* symmetric, of either sign; sample 2 zero */
            for (size_t c = 0; c < k; c++)
                for (size_t q = 0; q <= c; q++) {
                    double v = i == 2 ? 0.0 : gsl_ran_gaussian(r, 1.0);
                    Q[(i * k + c) * k + q] = Q[(i * k + q) * k + c] = v;
                }
        for (size_t i = 0; i < n; i++) {
            const double *U = f->data + i * d * k;
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++)
                    for (size_t c = 0; c < k; c++)
                        for (size_t q = 0; q < k; q++)
                            ref[a * d + b] += U[a * k + c] * Q[(i * k + c) * k + q] * U[b * k + q] / (double)n;
        }
        linstab_error err;
        cr_assert_eq(linstab_family_factored_weighted(f, Q, Y, &err), LINSTAB_OK, "%s", err.msg);
        double scale = 0.0;
        for (size_t j = 0; j < 49; j++) scale = fmax(scale, fabs(ref[j]));
        for (size_t j = 0; j < 49; j++)
            cr_expect(fabs(Y[j] - ref[j]) <= 1e-13 * (1.0 + scale), "k %zu entry %zu: %.17g vs %.17g", k, j, Y[j],
                      ref[j]);
        free(Q);
        linstab_family_free(f);
    }
    linstab_family *fd = tu_family_dense(3, 2, 2, 5);
    double Y[4], w[3] = {1, 1, 1};
    linstab_error err;
    cr_expect_eq(linstab_family_factored_weighted(fd, w, Y, &err), LINSTAB_EINVAL);
    linstab_family_free(fd);
    gsl_rng_free(r);
}

Test(family, sandwich_of_wide_factors_by_signed_syrks_equals_the_dense_sum)
{
    /* d = 128, k = 8 (k d^2 = 2^17): the eigen-turned SYRK path, X
     * indefinite, against sum_i H_i X H_i of the dense samples */
    size_t n = 5, d = 128, k = 8, dd = d * d;
    linstab_family *f = tu_family_factored(n, d, k, 515);
    double *X = malloc(dd * sizeof *X), *Y = malloc(dd * sizeof *Y), *ref = calloc(dd, sizeof *ref);
    double *Hi = malloc(dd * sizeof *Hi), *T = malloc(dd * sizeof *T);
    gsl_rng *r = tu_rng(516);
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b <= a; b++) X[a * d + b] = X[b * d + a] = gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < n; i++) {
        linstab_family_sample_dense(f, i, Hi);
        for (size_t a = 0; a < d; a++) /* T = H_i X, ref += T H_i / n */
            for (size_t b = 0; b < d; b++) {
                double t = 0.0;
                for (size_t c = 0; c < d; c++) t += Hi[a * d + c] * X[c * d + b];
                T[a * d + b] = t;
            }
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                double t = 0.0;
                for (size_t c = 0; c < d; c++) t += T[a * d + c] * Hi[c * d + b];
                ref[a * d + b] += t / (double)n;
            }
    }
    linstab_error err;
    linstab_family_workspace *w = NULL;
    cr_assert_eq(linstab_family_workspace_alloc(f, &w, &err), LINSTAB_OK);
    cr_assert_eq(linstab_family_sandwich_ws(f, w, X, Y, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_lt(tu_rel_diff(Y, ref, dd), tu_tol(d * k, 1.0) * 8.0);
    /* a NaN in X: an error naming LAPACK, not a crash */
    X[3] = X[3 * d] = NAN;
    linstab_status st = linstab_family_sandwich_ws(f, w, X, Y, &err);
    cr_expect(st == LINSTAB_ELAPACK || st == LINSTAB_OK, "status %d", (int)st);
    linstab_family_workspace_free(w);
    free(X);
    free(Y);
    free(ref);
    free(Hi);
    free(T);
    gsl_rng_free(r);
    linstab_family_free(f);
}
