/*
 * test_eigen.c -- extreme eigenvalues of operators on both paths (dense
 * LAPACK and matrix-free ARPACK) against matrices with known spectra:
 * Q diag(w) Q' (Q a random orthogonal matrix from a Householder QR) for the
 * top eigenvalue and eigenvector, and a normal non-symmetric Q B Q' (B block
 * diagonal with rotation-scaling 2 x 2 blocks, eigenvalues a +- ib) for the
 * spectral radius.  Tolerances: dense c n eps ||A||, ARPACK its relative
 * tolerance 1e-12 times ||A|| (times 10), c = 64; the matrices are normal,
 * so the eigenvalue condition numbers are 1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include "linstab/eigen.h"
#include "testutil.h"

#define EPS 2.220446049250313e-16

typedef struct dense_ctx {
    size_t n;
    const double *A;
} dense_ctx;

static linstab_status apply_dense(const double *x, double *y, void *vctx, linstab_error *err)
{
    (void)err;
    dense_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < c->n; j++) s += c->A[i * c->n + j] * x[j];
        y[i] = s;
    }
    return LINSTAB_OK;
}

static linstab_status apply_dense_t(const double *x, double *y, void *vctx, linstab_error *err)
{
    (void)err;
    dense_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < c->n; j++) s += c->A[j * c->n + i] * x[j];
        y[i] = s;
    }
    return LINSTAB_OK;
}

/* A = Q B Q' */
static double *conjugate(size_t n, const double *Q, const double *B)
{
    double *T = calloc(n * n, sizeof *T), *A = calloc(n * n, sizeof *A);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++)
            for (size_t j = 0; j < n; j++) T[i * n + j] += Q[i * n + k] * B[k * n + j];
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++)
            for (size_t j = 0; j < n; j++) A[i * n + j] += T[i * n + k] * Q[j * n + k];
    free(T);
    return A;
}

static void top_case(size_t n, linstab_eigen_path path, int with_vec)
{
    double *w = calloc(n * n, sizeof *w);
    /* eigenvalues spread in [-3, 2], top 2 separated by 0.5; one of larger
     * modulus but negative (-3): the largest *algebraic* one is asked for */
    for (size_t i = 0; i < n; i++) w[i * n + i] = -3.0 + 4.5 * (double)i / (double)(n - 1);
    w[(n - 1) * n + n - 1] = 2.0;
    double *Q = tu_orthogonal(n, 10 + n), *A = conjugate(n, Q, w);
    for (size_t i = 0; i < n; i++) /* exactly symmetric */
        for (size_t j = 0; j < i; j++) A[i * n + j] = A[j * n + i];
    dense_ctx c = {n, A};
    linstab_operator op = {n, apply_dense, apply_dense, NULL, 1, &c};
    linstab_eigen_opts o = linstab_eigen_defaults();
    o.path = path;
    double lam, *v = with_vec ? malloc(n * sizeof *v) : NULL;
    linstab_error err;
    cr_assert_eq(linstab_eigen_top(&op, &o, &lam, v, &err), LINSTAB_OK, "%s", err.msg);
    double tol = path == LINSTAB_EIGEN_DENSE ? 64.0 * n * EPS * 3.0 : fmax(64.0 * n * EPS, 1e-11) * 3.0;
    cr_expect(fabs(lam - 2.0) <= tol, "n = %zu path %d: lambda %.17g, want 2 (tol %g)", n, (int)path, lam, tol);
    if (v != NULL) {
        /* unit, and along Q e_{n-1}: |<v, q>| = 1 within tol / gap (gap 0.5) */
        double nv = 0.0, dot = 0.0;
        for (size_t i = 0; i < n; i++) {
            nv += v[i] * v[i];
            dot += v[i] * Q[i * n + n - 1];
        }
        cr_expect(fabs(sqrt(nv) - 1.0) <= 64.0 * n * EPS, "|v| = %.17g", sqrt(nv));
        cr_expect(fabs(fabs(dot) - 1.0) <= 2.0 * sqrt(tol / 0.5) + tol / 0.5, "<v, q> = %.17g", dot);
    }
    free(v);
    free(w);
    free(Q);
    free(A);
}

Test(eigen_top, finds_the_largest_algebraic_eigenvalue_and_its_vector_densely)
{
    top_case(5, LINSTAB_EIGEN_DENSE, 1);
    top_case(5, LINSTAB_EIGEN_DENSE, 0);
    top_case(40, LINSTAB_EIGEN_AUTO, 1);
}

Test(eigen_top, finds_the_same_eigenvalue_matrix_free)
{
    top_case(60, LINSTAB_EIGEN_ARPACK, 1);
    top_case(150, LINSTAB_EIGEN_ARPACK, 0);
}

/* Spectral radius of Q B Q', B with blocks [[a, -b], [b, a]] and 1 x 1 blocks. */
static void radius_case(size_t n, linstab_eigen_path path, double a_top, double b_top)
{
    double *B = calloc(n * n, sizeof *B);
    size_t i = 0;
    for (; i + 1 < n - 2; i += 2) { /* small complex pairs, modulus < 0.9 */
        double a = 0.6 * cos((double)i), b = 0.6 * sin((double)i);
        B[i * n + i] = a;
        B[(i + 1) * n + i + 1] = a;
        B[i * n + i + 1] = -b;
        B[(i + 1) * n + i] = b;
    }
    for (; i < n - 2; i++) B[i * n + i] = -0.5;
    /* the dominant pair a_top +- i b_top */
    B[(n - 2) * n + n - 2] = a_top;
    B[(n - 1) * n + n - 1] = a_top;
    B[(n - 2) * n + n - 1] = -b_top;
    B[(n - 1) * n + n - 2] = b_top;
    double want = hypot(a_top, b_top);
    double *Q = tu_orthogonal(n, 20 + n), *A = conjugate(n, Q, B);
    dense_ctx c = {n, A};
    linstab_operator op = {n, apply_dense, apply_dense_t, NULL, 0, &c};
    linstab_eigen_opts o = linstab_eigen_defaults();
    o.path = path;
    double rad;
    linstab_error err;
    cr_assert_eq(linstab_eigen_radius(&op, &o, &rad, &err), LINSTAB_OK, "%s", err.msg);
    double tol = path == LINSTAB_EIGEN_DENSE ? 64.0 * n * EPS * want : fmax(64.0 * n * EPS, 1e-11) * want;
    cr_expect(fabs(rad - want) <= tol, "n = %zu path %d: radius %.17g, want %.17g", n, (int)path, rad, want);
    free(B);
    free(Q);
    free(A);
}

Test(eigen_radius, of_a_normal_matrix_is_the_largest_modulus)
{
    radius_case(6, LINSTAB_EIGEN_DENSE, -1.2, 0.5);  /* complex dominant pair */
    radius_case(7, LINSTAB_EIGEN_DENSE, -1.5, 0.0);  /* negative real dominant */
    radius_case(80, LINSTAB_EIGEN_ARPACK, 0.3, 1.1);
    radius_case(80, LINSTAB_EIGEN_ARPACK, -1.4, 0.0);
}

Test(eigen_radius, of_a_self_adjoint_operator_is_the_largest_absolute_eigenvalue)
{
    size_t n = 30;
    double *w = calloc(n * n, sizeof *w);
    for (size_t i = 0; i < n; i++) w[i * n + i] = 0.1 * (double)i - 2.5; /* -2.5 .. 0.4 */
    double *Q = tu_orthogonal(n, 31), *A = conjugate(n, Q, w);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) A[i * n + j] = A[j * n + i];
    dense_ctx c = {n, A};
    linstab_operator op = {n, apply_dense, apply_dense, NULL, 1, &c};
    linstab_eigen_path paths[2] = {LINSTAB_EIGEN_DENSE, LINSTAB_EIGEN_ARPACK};
    for (int p = 0; p < 2; p++) {
        linstab_eigen_opts o = linstab_eigen_defaults();
        o.path = paths[p];
        double rad;
        linstab_error err;
        cr_assert_eq(linstab_eigen_radius(&op, &o, &rad, &err), LINSTAB_OK, "%s", err.msg);
        cr_expect(fabs(rad - 2.5) <= fmax(64.0 * n * EPS, 1e-11) * 2.5, "path %d: %.17g", p, rad);
    }
    free(w);
    free(Q);
    free(A);
}

/* ---- an apply that fails: its status and message come back unchanged ----
 * The operator of a known matrix whose apply fails at its `fail_at`-th call
 * with LINSTAB_EDATA and a message of its own; every solver path (dense
 * top and radius formed column by column, ARPACK's Lanczos and Arnoldi
 * loops, the self-adjoint radius) must stop and return exactly that. */
typedef struct failing_ctx {
    dense_ctx dense;
    int calls, fail_at;
} failing_ctx;

static linstab_status apply_failing(const double *x, double *y, void *vctx, linstab_error *err)
{
    failing_ctx *c = vctx;
    if (++c->calls == c->fail_at)
        return linstab_error_set(err, LINSTAB_EDATA, "sample %d: the product is not finite", 41);
    return apply_dense(x, y, &c->dense, err);
}

static void failing_case(size_t n, linstab_eigen_path path, int self_adjoint, int radius, int fail_at)
{
    double *A = calloc(n * n, sizeof *A);
    for (size_t i = 0; i < n; i++) {
        A[i * n + i] = 1.0 + (double)i;
        if (i + 1 < n) A[i * n + i + 1] = A[(i + 1) * n + i] = 0.25;
    }
    if (!self_adjoint) A[n - 1] = 0.5; /* not symmetric */
    failing_ctx c = {{n, A}, 0, fail_at};
    linstab_operator op = {n, apply_failing, NULL, NULL, self_adjoint, &c};
    linstab_eigen_opts o = linstab_eigen_defaults();
    o.path = path;
    double v = -1.0;
    linstab_error err;
    linstab_error_clear(&err);
    linstab_status st = radius ? linstab_eigen_radius(&op, &o, &v, &err) : linstab_eigen_top(&op, &o, &v, NULL, &err);
    cr_expect_eq(st, LINSTAB_EDATA, "n %zu path %d radius %d fail at %d: status %d (%s)", n, (int)path, radius,
                 fail_at, (int)st, err.msg);
    cr_expect_eq(err.code, LINSTAB_EDATA);
    cr_expect_str_eq(err.msg, "sample 41: the product is not finite", "n %zu path %d radius %d", n, (int)path, radius);
    cr_expect_eq(c.calls, fail_at, "no apply after the failing one (%d calls)", c.calls);
    cr_expect_eq(v, -1.0, "no value on failure");
    free(A);
}

Test(eigen_failure, a_failing_apply_returns_its_own_status_and_message_on_every_path)
{
    for (int fail_at = 1; fail_at <= 5; fail_at += 2) { /* within the 6 columns of the dense path */
        failing_case(6, LINSTAB_EIGEN_DENSE, 1, 0, fail_at);   /* dense top, column by column */
        failing_case(6, LINSTAB_EIGEN_DENSE, 1, 1, fail_at);   /* dense self-adjoint radius */
        failing_case(6, LINSTAB_EIGEN_DENSE, 0, 1, fail_at);   /* dense dgeev radius */
        failing_case(50, LINSTAB_EIGEN_ARPACK, 1, 0, fail_at); /* Lanczos loop */
        failing_case(50, LINSTAB_EIGEN_ARPACK, 1, 1, fail_at); /* Lanczos for the radius */
        failing_case(50, LINSTAB_EIGEN_ARPACK, 0, 1, fail_at); /* Arnoldi loop */
    }
}

Test(eigen_failure, a_solve_after_a_failed_one_is_unaffected)
{
    /* ARPACK keeps state between reverse-communication calls: a loop left
     * early must not disturb the next solve */
    failing_case(50, LINSTAB_EIGEN_ARPACK, 1, 0, 5);
    failing_case(50, LINSTAB_EIGEN_ARPACK, 0, 1, 5);
    top_case(60, LINSTAB_EIGEN_ARPACK, 1);
    radius_case(80, LINSTAB_EIGEN_ARPACK, 0.3, 1.1);
}
