/*
 * test_spectrum.c -- the spectral diagnostics (spectrum.h, eigen.h's
 * linstab_eigen_topk) against independent computations:
 *   top-k: matrices Q diag(w) Q' with known w and Q (random orthogonal,
 *     Householder QR) -- definite, indefinite, rank-deficient, with a
 *     repeated eigenvalue (compared as subspaces: projectors) -- on the
 *     dense and the ARPACK path, and a random symmetric matrix against
 *     LAPACK dsyev (QR iteration, not dsyevr's MRRR);
 *   trace: the exact trace against the sum of dsyev's eigenvalues;
 *     Hutchinson over all 2^p Rademacher vectors of a small p gives the trace
 *     exactly and the closed-form variance 2 sum_{i != k} A_ik^2;
 *   SLQ: Gauss quadrature's moment exactness sum tau theta^k = q'A^k q for
 *     k <= 2m - 1 (powers by repeated products), m = dim: the nodes are the
 *     eigenvalues and the weights (q'u_i)^2; the density integrates to 1;
 *   the network operator: its dense matrix, top-k and trace against the mean
 *     of linstab_mlp_sample_hessian (a different code path: all p tangents
 *     at once per sample) at a non-minimum where H is indefinite, and the
 *     Gauss-Newton operator against the mean of U_i U_i' from
 *     linstab_mlp_sample_gn_factor.
 * Tolerances: c n eps ||A|| (c = 64) for dense results, ARPACK's tolerance
 * (1e-12 here) times ||A|| times 10; eigenvectors by sin of the angle <=
 * residual / gap.
 */
#ifdef _OPENMP
#include <omp.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <criterion/criterion.h>
#include <lapacke.h>

#include "linstab/eigen.h"
#include "linstab/mlp.h"
#include "linstab/spectrum.h"
#include "testutil.h"

#define EPS 2.220446049250313e-16

typedef struct dense_ctx {
    size_t n;
    const double *A;
    int applies;
} dense_ctx;

static linstab_status apply_dense(const double *x, double *y, void *vctx, linstab_error *err)
{
    (void)err;
    dense_ctx *c = vctx;
    c->applies++;
    for (size_t i = 0; i < c->n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < c->n; j++) s += c->A[i * c->n + j] * x[j];
        y[i] = s;
    }
    return LINSTAB_OK;
}

static linstab_status form_dense(double *A, void *vctx, linstab_error *err)
{
    (void)err;
    dense_ctx *c = vctx;
    memcpy(A, c->A, c->n * c->n * sizeof *A);
    return LINSTAB_OK;
}

static linstab_operator dense_op(dense_ctx *c, int with_form)
{
    linstab_operator op = {c->n, apply_dense, apply_dense, with_form ? form_dense : NULL, 1, c};
    return op;
}

/* A = Q diag(w) Q' (column j of Q: the eigenvector of w[j]) */
static double *with_spectrum(size_t n, const double *w, const double *Q)
{
    double *A = calloc(n * n, sizeof *A);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t t = 0; t < n; t++) s += Q[i * n + t] * w[t] * Q[j * n + t];
            A[i * n + j] = s;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) A[i * n + j] = A[j * n + i] = 0.5 * (A[i * n + j] + A[j * n + i]);
    return A;
}

static double max_abs(size_t n, const double *w)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s = fmax(s, fabs(w[i]));
    return s;
}

static linstab_eigen_opts path_opts(int arpack)
{
    linstab_eigen_opts o = linstab_eigen_defaults();
    o.path = arpack ? LINSTAB_EIGEN_ARPACK : LINSTAB_EIGEN_DENSE;
    return o;
}

static double tol_of(int arpack, size_t n, double scale)
{
    return (arpack ? 10.0 * 1e-12 : 64.0 * (double)n * EPS) * scale;
}

/* |<a, b>| for unit vectors: 1 for the same line */
static double align(size_t n, const double *a, const double *b, size_t stride_b)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i * stride_b];
    return fabs(s);
}

/* every vector's largest-|entry| (the first) is positive */
static void assert_sign_rule(size_t k, size_t n, const double *V)
{
    for (size_t j = 0; j < k; j++) {
        size_t im = 0;
        for (size_t i = 1; i < n; i++)
            if (fabs(V[j * n + i]) > fabs(V[j * n + im])) im = i;
        cr_assert_gt(V[j * n + im], 0.0, "vector %zu: largest entry negative", j);
    }
}

/* Known spectrum w (n), top-k by value (magnitude 0) or |value|: compare with
 * the k expected (given as indices into w, in order); the eigenvalues in
 * `expect` must be simple (vectors compared) unless check_vecs = 0. */
static void check_topk(size_t n, const double *w, unsigned long seed, size_t k, int magnitude, const size_t *expect,
                       int check_vecs)
{
    double *Q = tu_orthogonal(n, seed), *A = with_spectrum(n, w, Q);
    double sc = max_abs(n, w);
    for (int arpack = 0; arpack < 2; arpack++) {
        dense_ctx c = {n, A, 0};
        linstab_operator op = dense_op(&c, 0);
        linstab_eigen_opts o = path_opts(arpack);
        double *vals = malloc(k * sizeof *vals), *V = malloc(k * n * sizeof *V);
        linstab_error err = {0};
        cr_assert_eq(linstab_eigen_topk(&op, &o, k, magnitude, vals, V, &err), LINSTAB_OK, "%s", err.msg);
        for (size_t j = 0; j < k; j++) {
            cr_assert_leq(fabs(vals[j] - w[expect[j]]), tol_of(arpack, n, sc), "%s path, value %zu: %.17g vs %.17g",
                          arpack ? "ARPACK" : "dense", j, vals[j], w[expect[j]]);
            if (check_vecs)
                cr_assert_geq(align(n, V + j * n, Q + expect[j], n), 1.0 - 1e-9, "%s path, vector %zu",
                              arpack ? "ARPACK" : "dense", j);
            /* residual of every pair */
            double r = 0.0, *y = malloc(n * sizeof *y);
            apply_dense(V + j * n, y, &c, NULL);
            for (size_t i = 0; i < n; i++) r = fmax(r, fabs(y[i] - vals[j] * V[j * n + i]));
            cr_assert_leq(r, 1e-8 * sc, "residual of pair %zu", j);
            free(y);
        }
        assert_sign_rule(k, n, V);
        free(vals);
        free(V);
    }
    free(Q);
    free(A);
}

Test(spectrum, topk_of_a_definite_matrix_on_both_paths)
{
    size_t n = 60;
    double w[60];
    for (size_t i = 0; i < n; i++) w[i] = 1.0 + 0.37 * (double)i + 0.01 * (double)(i * i);
    size_t expect[5] = {59, 58, 57, 56, 55};
    check_topk(n, w, 11, 5, 0, expect, 1);
}

Test(spectrum, topk_of_an_indefinite_matrix_by_value_and_by_magnitude)
{
    size_t n = 50;
    double w[50];
    for (size_t i = 0; i < n; i++) w[i] = -3.0 + 0.1 * (double)i; /* -3 .. 1.9 */
    w[0] = -20.0;
    w[1] = -15.0;
    w[49] = 12.0;
    size_t by_value[4] = {49, 48, 47, 46};
    check_topk(n, w, 12, 4, 0, by_value, 1);
    size_t by_mag[4] = {0, 1, 49, 2}; /* -20, -15, 12, -2.8 */
    check_topk(n, w, 12, 4, 1, by_mag, 1);
}

Test(spectrum, topk_of_a_rank_deficient_matrix_finds_the_zero_eigenvalues)
{
    size_t n = 40;
    double w[40] = {0};
    w[37] = 3.0;
    w[38] = 5.0;
    w[39] = 8.0;
    size_t expect[5] = {39, 38, 37, 0, 1}; /* the last two: zeros (vectors not unique) */
    double *Q = tu_orthogonal(n, 13), *A = with_spectrum(n, w, Q);
    for (int arpack = 0; arpack < 2; arpack++) {
        dense_ctx c = {n, A, 0};
        linstab_operator op = dense_op(&c, 0);
        linstab_eigen_opts o = path_opts(arpack);
        double vals[5], V[5 * 40];
        linstab_error err = {0};
        cr_assert_eq(linstab_eigen_topk(&op, &o, 5, 0, vals, V, &err), LINSTAB_OK, "%s", err.msg);
        for (size_t j = 0; j < 5; j++) cr_assert_leq(fabs(vals[j] - w[expect[j]]), 1e-9, "value %zu: %g", j, vals[j]);
        for (size_t j = 0; j < 3; j++) cr_assert_geq(align(n, V + j * n, Q + expect[j], n), 1.0 - 1e-9);
        /* the two null vectors are orthogonal to the range */
        for (size_t j = 3; j < 5; j++)
            for (size_t t = 37; t < 40; t++) cr_assert_leq(align(n, V + j * n, Q + t, n), 1e-8);
    }
    free(Q);
    free(A);
}

Test(spectrum, topk_of_a_repeated_eigenvalue_spans_its_eigenspace)
{
    size_t n = 45, k = 3;
    double w[45];
    for (size_t i = 0; i < n; i++) w[i] = 0.05 * (double)i;
    w[42] = w[43] = w[44] = 7.0; /* a triple top eigenvalue */
    double *Q = tu_orthogonal(n, 14), *A = with_spectrum(n, w, Q);
    for (int arpack = 0; arpack < 2; arpack++) {
        dense_ctx c = {n, A, 0};
        linstab_operator op = dense_op(&c, 0);
        linstab_eigen_opts o = path_opts(arpack);
        double vals[3], V[3 * 45];
        linstab_error err = {0};
        cr_assert_eq(linstab_eigen_topk(&op, &o, k, 0, vals, V, &err), LINSTAB_OK, "%s", err.msg);
        for (size_t j = 0; j < k; j++) cr_assert_leq(fabs(vals[j] - 7.0), tol_of(arpack, n, 7.0));
        /* projectors: V'V = Q3 Q3' */
        double d = 0.0;
        for (size_t a = 0; a < n; a++)
            for (size_t b = 0; b < n; b++) {
                double p1 = 0.0, p2 = 0.0;
                for (size_t j = 0; j < k; j++) {
                    p1 += V[j * n + a] * V[j * n + b];
                    p2 += Q[a * n + 42 + j] * Q[b * n + 42 + j];
                }
                d = fmax(d, fabs(p1 - p2));
            }
        cr_assert_leq(d, 1e-9, "%s path: projectors differ by %g", arpack ? "ARPACK" : "dense", d);
    }
    free(Q);
    free(A);
}

Test(spectrum, topk_of_a_random_symmetric_matrix_matches_dsyev_and_is_reproducible)
{
    size_t n = 70, k = 6;
    double *A = malloc(n * n * sizeof *A), *B = malloc(n * n * sizeof *B), w[70];
    gsl_rng *g = tu_rng(15);
    tu_gauss(g, A, n * n);
    gsl_rng_free(g);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) A[i * n + j] = A[j * n + i];
    memcpy(B, A, n * n * sizeof *B);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)n, B, (lapack_int)n, w), 0);
    double sc = fmax(fabs(w[0]), fabs(w[n - 1]));
    for (int arpack = 0; arpack < 2; arpack++) {
        dense_ctx c = {n, A, 0};
        linstab_operator op = dense_op(&c, 1);
        linstab_eigen_opts o = path_opts(arpack);
        double vals[6], V[6 * 70], vals2[6], V2[6 * 70];
        linstab_error err = {0};
        cr_assert_eq(linstab_eigen_topk(&op, &o, k, 0, vals, V, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(linstab_eigen_topk(&op, &o, k, 0, vals2, V2, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(memcmp(vals, vals2, sizeof vals), 0);
        cr_assert_eq(memcmp(V, V2, sizeof V), 0);
        for (size_t j = 0; j < k; j++) {
            cr_assert_leq(fabs(vals[j] - w[n - 1 - j]), tol_of(arpack, n, sc), "value %zu", j);
            double gap = fmin(w[n - 1 - j] - w[n - 2 - j], j ? w[n - j] - w[n - 1 - j] : INFINITY);
            cr_assert_geq(align(n, V + j * n, B + (n - 1 - j), n), 1.0 - 1e-8 * sc / gap, "vector %zu", j);
        }
        assert_sign_rule(k, n, V);
    }
    free(A);
    free(B);
}

Test(spectrum, topk_refuses_k_outside_one_to_the_dimension)
{
    double A[4] = {1, 0, 0, 2}, vals[3];
    dense_ctx c = {2, A, 0};
    linstab_operator op = dense_op(&c, 0);
    linstab_error err = {0};
    cr_assert_eq(linstab_eigen_topk(&op, NULL, 3, 0, vals, NULL, &err), LINSTAB_EINVAL);
    cr_assert_str_eq(err.param, "top_k");
    cr_assert_eq(linstab_eigen_topk(&op, NULL, 0, 0, vals, NULL, &err), LINSTAB_EINVAL);
    cr_assert_eq(linstab_eigen_topk(&op, NULL, 2, 0, vals, NULL, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(vals[0], 2.0);
    cr_assert_eq(vals[1], 1.0);
}

/* ---- traces ---- */

Test(spectrum, exact_trace_is_the_sum_of_the_eigenvalues)
{
    size_t n = 30;
    double *A = malloc(n * n * sizeof *A), *B = malloc(n * n * sizeof *B), w[30];
    gsl_rng *g = tu_rng(21);
    tu_gauss(g, A, n * n);
    gsl_rng_free(g);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) A[i * n + j] = A[j * n + i];
    memcpy(B, A, n * n * sizeof *B);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)n, B, (lapack_int)n, w), 0);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += w[i];
    for (int form = 0; form < 2; form++) {
        dense_ctx c = {n, A, 0};
        linstab_operator op = dense_op(&c, form);
        double t;
        linstab_error err = {0};
        cr_assert_eq(linstab_spectrum_trace_exact(&op, &t, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_leq(fabs(t - s), 64.0 * (double)n * EPS * max_abs(n, w) * (double)n, "%.17g vs %.17g", t, s);
        cr_assert_eq(c.applies, form ? 0 : (int)n);
    }
    free(A);
    free(B);
}

Test(spectrum, hutchinson_over_every_rademacher_vector_is_the_trace_with_the_closed_form_variance)
{
    size_t p = 6, N = (size_t)1 << p;
    double A[36];
    gsl_rng *g = tu_rng(22);
    tu_gauss(g, A, 36);
    gsl_rng_free(g);
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < i; j++) A[i * p + j] = A[j * p + i];
    double *Z = malloc(N * p * sizeof *Z), tr = 0.0, off2 = 0.0;
    for (size_t s = 0; s < N; s++)
        for (size_t i = 0; i < p; i++) Z[s * p + i] = (s >> i) & 1 ? 1.0 : -1.0;
    for (size_t i = 0; i < p; i++) {
        tr += A[i * p + i];
        for (size_t k = 0; k < p; k++)
            if (k != i) off2 += A[i * p + k] * A[i * p + k];
    }
    dense_ctx c = {p, A, 0};
    linstab_operator op = dense_op(&c, 0);
    double mean, se, t[64];
    linstab_error err = {0};
    cr_assert_eq(linstab_spectrum_hutchinson_probes(&op, N, Z, &mean, &se, t, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_leq(fabs(mean - tr), 1e-12 * fmax(1.0, fabs(tr)), "%.17g vs %.17g", mean, tr);
    /* the population variance over all 2^p vectors is 2 sum_{i != k} A_ik^2;
     * the sample variance (N - 1) is N / (N - 1) of it; se = s / sqrt(N) */
    double s2 = 2.0 * off2 * (double)N / (double)(N - 1);
    cr_assert_leq(fabs(se * se * (double)N - s2), 1e-10 * s2, "%.17g vs %.17g", se * se * (double)N, s2);
    cr_assert_eq(c.applies, (int)N);
    free(Z);
}

Test(spectrum, seeded_probes_are_rademacher_and_depend_only_on_seed_and_index)
{
    size_t p = 1000;
    double *z = malloc(p * sizeof *z), *z2 = malloc(p * sizeof *z2);
    linstab_error err = {0};
    cr_assert_eq(linstab_spectrum_probe(5, 3, p, z, &err), LINSTAB_OK);
    cr_assert_eq(linstab_spectrum_probe(5, 3, p, z2, &err), LINSTAB_OK);
    cr_assert_eq(memcmp(z, z2, p * sizeof *z), 0);
    size_t plus = 0;
    for (size_t i = 0; i < p; i++) {
        cr_assert(z[i] == 1.0 || z[i] == -1.0);
        plus += z[i] > 0;
    }
    cr_assert(plus > 430 && plus < 570, "%zu of 1000 entries +1", plus); /* 4.4 standard deviations */
    /* entries of different 32-bit draws are independent: z_i = z_{i+32} about half the time */
    size_t agree = 0;
    for (size_t i = 0; i + 32 < p; i++) agree += z[i] == z[i + 32];
    cr_assert(agree > 420 && agree < 548, "z_i = z_(i+32) for %zu of 968", agree);
    cr_assert_eq(linstab_spectrum_probe(5, 4, p, z2, &err), LINSTAB_OK);
    size_t same = 0;
    for (size_t i = 0; i < p; i++) same += z[i] == z2[i];
    cr_assert(same > 430 && same < 570, "probes 3 and 4 agree on %zu of 1000", same);
    free(z);
    free(z2);
}

Test(spectrum, seeded_hutchinson_is_the_mean_over_its_probes_and_near_the_trace)
{
    size_t n = 20, N = 4000;
    double w[20];
    for (size_t i = 0; i < n; i++) w[i] = -2.0 + 0.5 * (double)i;
    double *Q = tu_orthogonal(n, 23), *A = with_spectrum(n, w, Q), tr = 0.0;
    for (size_t i = 0; i < n; i++) tr += A[i * n + i];
    dense_ctx c = {n, A, 0};
    linstab_operator op = dense_op(&c, 0);
    double mean, se, *t = malloc(N * sizeof *t), z[20], y[20];
    linstab_error err = {0};
    cr_assert_eq(linstab_spectrum_hutchinson(&op, N, 9, &mean, &se, t, &err), LINSTAB_OK, "%s", err.msg);
    /* sample j is z_j' A z_j with probe j */
    for (size_t j = 0; j < N; j += 997) {
        linstab_spectrum_probe(9, j, n, z, &err);
        apply_dense(z, y, &c, NULL);
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += z[i] * y[i];
        cr_assert_leq(fabs(t[j] - s), 1e-12 * fabs(s) + 1e-12);
    }
    cr_assert_leq(fabs(mean - tr), 5.0 * se, "mean %g, trace %g, se %g", mean, tr, se);
    double off2 = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++)
            if (k != i) off2 += A[i * n + k] * A[i * n + k];
    double sd_true = sqrt(2.0 * off2 / (double)N);
    cr_assert(se > 0.9 * sd_true && se < 1.1 * sd_true, "se %g vs %g", se, sd_true);
    free(t);
    free(Q);
    free(A);
}

/* ---- Lanczos quadrature ---- */

Test(spectrum, lanczos_quadrature_is_exact_for_moments_up_to_2m_minus_1)
{
    size_t n = 40, m = 6;
    double w[40];
    for (size_t i = 0; i < n; i++) w[i] = -1.0 + 2.0 * (double)i / (double)(n - 1) + 0.3 * sin((double)i);
    double *Q = tu_orthogonal(n, 31), *A = with_spectrum(n, w, Q);
    dense_ctx c = {n, A, 0};
    linstab_operator op = dense_op(&c, 0);
    double v[40], nodes[6], weights[6];
    gsl_rng *g = tu_rng(32);
    tu_gauss(g, v, n);
    gsl_rng_free(g);
    size_t steps = 0;
    linstab_error err = {0};
    cr_assert_eq(linstab_spectrum_lanczos(&op, v, m, nodes, weights, &steps, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(steps, m);
    /* q' A^k q by repeated products */
    double q[40], u[40], y[40], vv = cblas_ddot((int)n, v, 1, v, 1);
    memcpy(u, v, sizeof u);
    memcpy(q, v, sizeof q);
    double sc = max_abs(n, w);
    for (size_t k = 0; k <= 2 * m + 1; k++) {
        double mom = cblas_ddot((int)n, q, 1, u, 1) / vv, quad = 0.0;
        for (size_t i = 0; i < m; i++) quad += weights[i] * pow(nodes[i], (double)k);
        double tol = 1e-12 * pow(sc, (double)k);
        if (k <= 2 * m - 1)
            cr_assert_leq(fabs(quad - mom), tol, "moment %zu: %.17g vs %.17g", k, quad, mom);
        else if (k == 2 * m + 1) /* beyond the degree of exactness: a real difference */
            cr_assert_gt(fabs(quad - mom), 1e3 * tol, "moment %zu unexpectedly exact", k);
        apply_dense(u, y, &c, NULL);
        memcpy(u, y, sizeof u);
    }
    free(Q);
    free(A);
}

Test(spectrum, lanczos_with_m_at_least_the_dimension_gives_the_eigenvalues_and_their_weights)
{
    size_t n = 12;
    double w[12];
    for (size_t i = 0; i < n; i++) w[i] = (double)i - 4.5 + 0.1 * (double)(i * i);
    double *Q = tu_orthogonal(n, 33), *A = with_spectrum(n, w, Q);
    dense_ctx c = {n, A, 0};
    linstab_operator op = dense_op(&c, 0);
    double v[12], nodes[20], weights[20];
    for (size_t i = 0; i < n; i++) v[i] = 1.0 + 0.1 * (double)i;
    double vv = cblas_ddot((int)n, v, 1, v, 1);
    size_t steps;
    linstab_error err = {0};
    cr_assert_eq(linstab_spectrum_lanczos(&op, v, 20, nodes, weights, &steps, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(steps, n);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(fabs(nodes[i] - w[i]), 1e-12 * max_abs(n, w), "node %zu: %.17g vs %.17g", i, nodes[i], w[i]);
        double qu = 0.0;
        for (size_t t = 0; t < n; t++) qu += v[t] * Q[t * n + i];
        cr_assert_leq(fabs(weights[i] - qu * qu / vv), 1e-12, "weight %zu", i);
        sum += weights[i];
    }
    cr_assert_leq(fabs(sum - 1.0), 1e-13);
    for (size_t i = n; i < 20; i++) {
        cr_assert(isnan(nodes[i]));
        cr_assert_eq(weights[i], 0.0);
    }
    free(Q);
    free(A);
}

Test(spectrum, slq_density_integrates_to_one_and_uses_the_probes)
{
    size_t n = 50, P = 4, m = 10, G = 4001;
    double w[50];
    for (size_t i = 0; i < n; i++) w[i] = (double)(i % 7) - 2.0 + 0.01 * (double)i;
    double *Q = tu_orthogonal(n, 34), *A = with_spectrum(n, w, Q);
    dense_ctx c = {n, A, 0};
    linstab_operator op = dense_op(&c, 0);
    double nodes[40], weights[40], x[4001], phi[4001], sig;
    size_t steps[4];
    linstab_error err = {0};
    cr_assert_eq(linstab_spectrum_slq(&op, P, m, 3, nodes, weights, steps, &err), LINSTAB_OK, "%s", err.msg);
    /* probe 1's row is Lanczos from linstab_spectrum_probe(3, 1) */
    double z[50], n1[10], w1[10];
    linstab_spectrum_probe(3, 1, n, z, &err);
    cr_assert_eq(linstab_spectrum_lanczos(&op, z, m, n1, w1, NULL, &err), LINSTAB_OK);
    cr_assert_eq(memcmp(n1, nodes + m, sizeof n1), 0);
    cr_assert_eq(memcmp(w1, weights + m, sizeof w1), 0);
    cr_assert_eq(linstab_spectrum_density(P, m, nodes, weights, 0.0, G, x, phi, &sig, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(sig, linstab_spectrum_default_sigma(P * m, nodes, weights));
    double integral = 0.0, h = x[1] - x[0];
    for (size_t g = 0; g + 1 < G; g++) integral += 0.5 * h * (phi[g] + phi[g + 1]);
    cr_assert_leq(fabs(integral - 1.0), 1e-6, "integral %.17g", integral);
    /* the mean of the density is the mean over probes of the first moment: q'Aq */
    double mean = 0.0, mom = 0.0;
    for (size_t g = 0; g + 1 < G; g++) mean += 0.5 * h * (x[g] * phi[g] + x[g + 1] * phi[g + 1]);
    for (size_t j = 0; j < P; j++) {
        double y[50];
        linstab_spectrum_probe(3, j, n, z, &err);
        apply_dense(z, y, &c, NULL);
        mom += cblas_ddot((int)n, z, 1, y, 1) / (double)n / (double)P;
    }
    cr_assert_leq(fabs(mean - mom), 1e-6, "mean %.17g vs %.17g", mean, mom);
    free(Q);
    free(A);
}

/* ---- the network operator ---- */

/* a 3-4-2 tanh MLP (p = 26) at an initialisation: not a minimum */
static linstab_mlp *tiny_mlp(void)
{
    size_t sizes[3] = {3, 4, 2};
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_alloc(sizes, 2, LINSTAB_AD_TANH, 1, &m, &err), LINSTAB_OK);
    linstab_mlp_init(m, 7);
    for (size_t j = 0; j < m->p; j++) m->theta[j] += 0.3 * sin(1.0 + (double)j); /* nonzero biases */
    return m;
}

static void tiny_data(size_t n, linstab_loss loss, linstab_array *X, linstab_array *Y)
{
    memset(X, 0, sizeof *X);
    memset(Y, 0, sizeof *Y);
    X->ndim = 2;
    X->shape[0] = n;
    X->shape[1] = 3;
    X->data = malloc(n * 3 * sizeof(double));
    size_t ty = loss == LINSTAB_LOSS_MSE ? 2 : 1;
    Y->ndim = ty == 2 ? 2 : 1;
    Y->shape[0] = n;
    Y->shape[1] = ty == 2 ? 2 : 0;
    Y->data = malloc(n * ty * sizeof(double));
    gsl_rng *g = tu_rng(41);
    tu_gauss(g, X->data, n * 3);
    if (ty == 2)
        tu_gauss(g, Y->data, n * 2);
    else
        for (size_t i = 0; i < n; i++) Y->data[i] = (double)(i % 2);
    gsl_rng_free(g);
}

static double *mean_sample_hessian(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                   linstab_loss loss, double smoothing)
{
    size_t p = m->p, n = X->shape[0], ty = loss == LINSTAB_LOSS_MSE ? m->sizes[m->nlayers] : 1;
    double *H = calloc(p * p, sizeof *H), *Hi = malloc(p * p * sizeof *Hi);
    linstab_error err = {0};
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(linstab_mlp_sample_hessian(m, X->data + i * 3, Y->data + i * ty, loss, smoothing, Hi, &err),
                     LINSTAB_OK, "%s", err.msg);
        for (size_t t = 0; t < p * p; t++) H[t] += Hi[t] / (double)n;
    }
    free(Hi);
    return H;
}

static void check_network(linstab_loss loss)
{
    linstab_mlp *m = tiny_mlp();
    linstab_array X, Y;
    tiny_data(7, loss, &X, &Y);
    size_t p = m->p;
    double *H = mean_sample_hessian(m, &X, &Y, loss, loss == LINSTAB_LOSS_CE ? 0.1 : 0.0), w[26];
    linstab_operator op;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_hessian_operator(m, &X, &Y, loss, loss == LINSTAB_LOSS_CE ? 0.1 : 0.0, 0, &op, &err),
                 LINSTAB_OK);
    double *D = malloc(p * p * sizeof *D), *B = malloc(p * p * sizeof *B);
    cr_assert_eq(linstab_operator_dense(&op, D, &err), LINSTAB_OK, "%s", err.msg);
    double sc = 0.0;
    for (size_t t = 0; t < p * p; t++) sc = fmax(sc, fabs(H[t]));
    cr_assert_leq(tu_rel_diff(D, H, p * p), 1e-12, "dense operator vs the mean of the sample Hessians");
    memcpy(B, H, p * p * sizeof *B);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)p, B, (lapack_int)p, w), 0);
    cr_assert_lt(w[0], -1e-3 * w[p - 1], "H is not indefinite here (lambda_min %g)", w[0]);
    double ev = fmax(fabs(w[0]), fabs(w[p - 1]));
    for (int arpack = 0; arpack < 2; arpack++) {
        linstab_eigen_opts o = path_opts(arpack);
        double vals[3], V[3 * 26];
        cr_assert_eq(linstab_eigen_topk(&op, &o, 3, 0, vals, V, &err), LINSTAB_OK, "%s", err.msg);
        for (size_t j = 0; j < 3; j++) {
            cr_assert_leq(fabs(vals[j] - w[p - 1 - j]), 1e-10 * ev, "value %zu %.17g vs %.17g", j, vals[j], w[p - 1 - j]);
            cr_assert_geq(align(p, V + j * p, B + (p - 1 - j), p), 1.0 - 1e-8);
        }
        /* by magnitude: the most negative eigenvalue is among them if it is large */
        cr_assert_eq(linstab_eigen_topk(&op, &o, 3, 1, vals, NULL, &err), LINSTAB_OK, "%s", err.msg);
        double mags[26];
        for (size_t i = 0; i < p; i++) mags[i] = fabs(w[i]);
        for (size_t j = 0; j < 3; j++) {
            /* the j-th largest |w| */
            size_t best = 0;
            for (size_t i = 1; i < p; i++)
                if (mags[i] > mags[best]) best = i;
            cr_assert_leq(fabs(vals[j] - w[best]), 1e-10 * ev, "|value| %zu: %.17g vs %.17g", j, vals[j], w[best]);
            mags[best] = -1.0;
        }
    }
    double tr, trH = 0.0;
    for (size_t i = 0; i < p; i++) trH += H[i * p + i];
    cr_assert_eq(linstab_spectrum_trace_exact(&op, &tr, &err), LINSTAB_OK);
    cr_assert_leq(fabs(tr - trH), 1e-12 * fmax(1.0, fabs(trH)) * (double)p);
    linstab_mlp_hessian_operator_free(&op);
    free(H);
    free(D);
    free(B);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}

Test(spectrum, network_operator_equals_the_mean_sample_hessian_at_a_non_minimum_mse)
{
    check_network(LINSTAB_LOSS_MSE);
}

Test(spectrum, network_operator_equals_the_mean_sample_hessian_at_a_non_minimum_ce)
{
    check_network(LINSTAB_LOSS_CE);
}

static void check_gn(linstab_loss loss, int out_act)
{
    linstab_mlp *m = tiny_mlp();
    linstab_error err = {0};
    if (out_act) cr_assert_eq(linstab_mlp_set_output(m, LINSTAB_AD_SIGMOID, &err), LINSTAB_OK);
    linstab_array X, Y;
    tiny_data(300, loss, &X, &Y); /* more rows than a chunk of 256 */
    size_t p = m->p, K = m->sizes[m->nlayers], n = X.shape[0];
    double *G = calloc(p * p, sizeof *G), *U = malloc(p * K * sizeof *U), *D = malloc(p * p * sizeof *D);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(linstab_mlp_sample_gn_factor(m, X.data + i * 3, loss, U, &err), LINSTAB_OK, "%s", err.msg);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p, (int)p, (int)K, 1.0 / (double)n, U, (int)K, U,
                    (int)K, 1.0, G, (int)p);
    }
    linstab_operator op;
    cr_assert_eq(linstab_mlp_hessian_operator(m, &X, &Y, loss, 0.0, 1, &op, &err), LINSTAB_OK);
    cr_assert_eq(linstab_operator_dense(&op, D, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_leq(tu_rel_diff(D, G, p * p), 1e-12, "Gauss-Newton operator vs the mean of U U'");
    linstab_mlp_hessian_operator_free(&op);
    free(G);
    free(U);
    free(D);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}

Test(spectrum, gauss_newton_operator_equals_the_mean_of_the_factor_products)
{
    check_gn(LINSTAB_LOSS_MSE, 0);
    check_gn(LINSTAB_LOSS_CE, 0);
    check_gn(LINSTAB_LOSS_MSE, 1);
    check_gn(LINSTAB_LOSS_CE, 1);
}

/* The operator's cached primal pass (its applies, and its quadratic forms by
 * a second-order forward pass) against linstab_mlp_hvp, which recomputes
 * everything per call: a 3-5-4-2 network (two hidden layers, so that the
 * second-order tangents cross a hidden layer), MSE and CE, with and without
 * an output activation, 1030 rows (two chunks of the cache). */
static void check_cached(linstab_loss loss, int out_act, linstab_ad_op act)
{
    size_t sizes[4] = {3, 5, 4, 2};
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_alloc(sizes, 3, act, 1, &m, &err), LINSTAB_OK);
    linstab_mlp_init(m, 11);
    for (size_t j = 0; j < m->p; j++) m->theta[j] += 0.3 * sin(2.0 + (double)j);
    if (out_act) cr_assert_eq(linstab_mlp_set_output(m, LINSTAB_AD_SIGMOID, &err), LINSTAB_OK);
    linstab_array X, Y;
    tiny_data(1030, loss, &X, &Y);
    double sm = loss == LINSTAB_LOSS_CE ? 0.1 : 0.0;
    size_t p = m->p, n = X.shape[0];
    linstab_operator op;
    cr_assert_eq(linstab_mlp_hessian_operator(m, &X, &Y, loss, sm, 0, &op, &err), LINSTAB_OK);
    double *Z = malloc(3 * p * sizeof *Z), *y = malloc(p * sizeof *y), *r = malloc(p * sizeof *r), t[3];
    gsl_rng *g = tu_rng(5);
    tu_gauss(g, Z, 3 * p);
    gsl_rng_free(g);
    cr_assert_eq(linstab_mlp_hessian_operator_quad(&op, 3, Z, t, &err), LINSTAB_OK, "%s", err.msg);
    for (size_t j = 0; j < 3; j++) {
        const double *z = Z + j * p;
        cr_assert_eq(op.apply(z, y, op.ctx, &err), LINSTAB_OK);
        cr_assert_eq(linstab_mlp_hvp(m, X.data, Y.data, n, loss, sm, z, r, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_leq(tu_rel_diff(y, r, p), 1e-13, "cached apply vs linstab_mlp_hvp (vector %zu)", j);
        double zr = cblas_ddot((int)p, z, 1, r, 1);
        cr_assert_leq(fabs(t[j] - zr), 1e-12 * cblas_dnrm2((int)p, z, 1) * cblas_dnrm2((int)p, r, 1),
                      "z'Hz by the second-order forward %.17g vs z'(Hz) %.17g", t[j], zr);
    }
#ifdef _OPENMP
    /* the slots' partial sums in a fixed order: the same bytes on 1 and 2 threads */
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    cr_assert_eq(op.apply(Z, y, op.ctx, &err), LINSTAB_OK);
    omp_set_num_threads(2);
    cr_assert_eq(op.apply(Z, r, op.ctx, &err), LINSTAB_OK);
    cr_assert(memcmp(y, r, p * sizeof *y) == 0, "the cached apply depends on the thread count");
    omp_set_num_threads(nt);
#endif
    linstab_operator bad = op;
    bad.dim = p + 1;
    cr_assert_eq(linstab_mlp_hessian_operator_quad(&bad, 1, Z, t, &err), LINSTAB_EINVAL);
    linstab_mlp_hessian_operator_free(&op);
    free(Z);
    free(y);
    free(r);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}

Test(spectrum, cached_operator_and_its_quadratic_forms_equal_the_uncached_products)
{
    for (int out = 0; out < 2; out++) {
        check_cached(LINSTAB_LOSS_MSE, out, LINSTAB_AD_TANH);
        check_cached(LINSTAB_LOSS_CE, out, LINSTAB_AD_TANH);
        check_cached(LINSTAB_LOSS_MSE, out, LINSTAB_AD_SOFTPLUS);
    }
}

/* A diagonal operator (the blocked reorthogonalization needs dim >= 4096). */
static linstab_status apply_diag(const double *x, double *y, void *ctx, linstab_error *err)
{
    (void)err;
    const double *d = ctx;
    for (size_t i = 0; i < 6000; i++) y[i] = d[i] * x[i];
    return LINSTAB_OK;
}

Test(spectrum, lanczos_of_a_large_operator_is_exact_for_moments_and_independent_of_the_thread_count)
{
    size_t n = 6000, m = 12;
    double *d = malloc(n * sizeof *d), *v = malloc(n * sizeof *v), nodes[12], weights[12];
    for (size_t i = 0; i < n; i++) d[i] = -1.0 + 3.0 * (double)i / (double)(n - 1) + 0.2 * sin((double)i);
    gsl_rng *g = tu_rng(33);
    tu_gauss(g, v, n);
    gsl_rng_free(g);
    linstab_operator op = {n, apply_diag, apply_diag, NULL, 1, d};
    size_t steps = 0;
    linstab_error err = {0};
    cr_assert_eq(linstab_spectrum_lanczos(&op, v, m, nodes, weights, &steps, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(steps, m);
    double vv = cblas_ddot((int)n, v, 1, v, 1);
    for (size_t k = 0; k <= 2 * m - 1; k++) {
        double mom = 0.0, quad = 0.0;
        for (size_t i = 0; i < n; i++) mom += v[i] * v[i] * pow(d[i], (double)k);
        mom /= vv;
        for (size_t i = 0; i < m; i++) quad += weights[i] * pow(nodes[i], (double)k);
        double tol = 1e-12 * pow(2.2, (double)k);
        if (k <= 2 * m - 1)
            cr_assert_leq(fabs(quad - mom), tol, "moment %zu: %.17g vs %.17g", k, quad, mom);
    }
#ifdef _OPENMP
    double nodes2[12], weights2[12];
    int nt = omp_get_max_threads();
    omp_set_num_threads(nt == 1 ? 2 : 1);
    cr_assert_eq(linstab_spectrum_lanczos(&op, v, m, nodes2, weights2, &steps, &err), LINSTAB_OK, "%s", err.msg);
    omp_set_num_threads(nt);
    cr_assert(memcmp(nodes, nodes2, sizeof nodes) == 0 && memcmp(weights, weights2, sizeof weights) == 0,
              "Lanczos depends on the thread count");
#endif
    free(d);
    free(v);
}
