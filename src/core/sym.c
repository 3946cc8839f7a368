/*
 * sym.c -- dense symmetric matrices: eigenvalues (LAPACK dsyevr, or the
 * reentrant Lanczos of lanczos.c for large matrices), Cholesky factors and
 * triangle filling.  Eigen-helpers (LAPACK dsyevr: Householder
 * tridiagonalisation, then MRRR or bisection for the selected eigenvalues;
 * see Golub & Van Loan, 4th ed., Section 8.3 and Dhillon & Parlett 2004).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <lapacke.h>

#include "linstab/eigen.h"
#include "internal.h"
#include "lanczos.h"
#include "linstab/sym.h"

static linstab_status eig_range(size_t n, const double *A, char range, lapack_int il,
                                lapack_int iu, double *w, double *V, linstab_error *err)
{
    if (n == 0) return linstab_error_set(err, LINSTAB_EINVAL, "eigenproblem of size 0");
    double *a = malloc(n * n * sizeof *a);
    lapack_int *isuppz = malloc(2 * n * sizeof *isuppz);
    double *z = NULL;
    if (a == NULL || isuppz == NULL) {
        free(a);
        free(isuppz);
        return linstab_error_set(err, LINSTAB_ENOMEM, "eigenproblem of size %zu: out of memory", n);
    }
    memcpy(a, A, n * n * sizeof *a);
    lapack_int m = 0;
    lapack_int N = (lapack_int)n;
    lapack_int info;
    if (V != NULL) {
        z = V;
        info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', range, 'U', N, a, N, 0.0, 0.0, il, iu, 0.0,
                              &m, w, z, N, isuppz);
    } else {
        /* eigenvalues only: the column-major lower triangle is the row-major
         * upper one, so LAPACKE need not transpose a copy */
        double dummy = 0.0;
        info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'N', range, 'L', N, a, N, 0.0, 0.0, il, iu, 0.0,
                              &m, w, &dummy, 1, isuppz);
    }
    free(a);
    free(isuppz);
    if (info != 0)
        return linstab_error_set(err, LINSTAB_ELAPACK, "LAPACK dsyevr failed (info %d, n %zu)",
                                 (int)info, n);
    return LINSTAB_OK;
}

linstab_status linstab_sym_eig(size_t n, const double *A, double *w, double *V, linstab_error *err)
{
    return eig_range(n, A, 'A', 0, 0, w, V, err);
}

/* One eigenvalue by index (1-based); LAPACK needs w of length n even so. */
static linstab_status eig_one(size_t n, const double *A, lapack_int idx, double *out,
                              linstab_error *err)
{
    double *w = malloc((n ? n : 1) * sizeof *w);
    if (w == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "eigenvalue: out of memory");
    linstab_status st = eig_range(n, A, 'I', idx, idx, w, NULL, err);
    if (st == LINSTAB_OK) *out = w[0];
    free(w);
    return st;
}

/*
 * Largest eigenvalue of a dense symmetric matrix by Lanczos with full
 * reorthogonalisation (classical Gram-Schmidt, twice), no restarts: the
 * Krylov space grows to at most LANCZOS_MAX_STEPS vectors, and the top
 * Ritz value of the tridiagonal T_j (bisection, dstebz; every step for
 * n >= 400, else every 4 steps, every 8 beyond 32) is accepted once
 * its residual beta_j |s_j| (s from inverse iteration, dstein) is below
 * LANCZOS_TOL |theta| -- the criterion ARPACK applies.  Written here rather
 * than taken from arpack-ng because ARPACK keeps its state in static
 * variables: it cannot run in two threads at once, and per-sample
 * problems are spread over threads.  The start vector is a fixed
 * pseudo-random one (taus2, fixed seed): the result does not depend on
 * what ran before.  Returns 0 when it has not converged (the caller falls
 * back to a tridiagonal reduction).
 */
#define LANCZOS_MIN_N 128


typedef struct dense_op {
    size_t n;
    const double *A;
    double sign;
} dense_op;

static void dense_op_apply(const double *x, double *y, const void *ctx)
{
    const dense_op *o = ctx;
    cblas_dsymv(CblasRowMajor, CblasUpper, (int)o->n, o->sign, o->A, (int)o->n, x, 1, 0.0, y, 1);
}


static int lanczos_top(size_t n, const double *A, double sign, double *out)
{
    dense_op o = {n, A, sign};
    double t;
    if (!linstab_lanczos_top(n, dense_op_apply, &o, &t)) return 0;
    *out = sign * t;
    return 1;
}

/* y = X^{-1} x = L^{-T} L^{-1} x with X = L L' (row-major lower L) */
static void chol_inverse_apply(const double *x, double *y, const void *ctx)
{
    const dense_op *o = ctx;
    memcpy(y, x, o->n * sizeof *y);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)o->n, o->A, (int)o->n, y, 1);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, (int)o->n, o->A, (int)o->n, y, 1);
}

/* lambda_max(X^{-1}) > 0 into *t for a positive definite X (its lower
 * triangle read), by Lanczos with X's Cholesky factor; 0 when X has no
 * factor, Lanczos does not converge or memory runs out. */
static int chol_inverse_top(size_t n, const double *X, double *t)
{
    double *L = malloc(n * n * sizeof *L);
    double v = 0.0;
    int ok = 0;
    if (L != NULL && linstab_sym_cholesky_lower(n, X, L)) {
        dense_op o = {n, L, 1.0};
        ok = linstab_lanczos_top(n, chol_inverse_apply, &o, &v) && v > 0.0 && isfinite(v);
    }
    free(L);
    if (ok) *t = v;
    return ok;
}

linstab_status linstab_sym_lambda_max_near(size_t n, const double *A, double shift, double *out,
                                           linstab_error *err)
{
    if (n >= LANCZOS_MIN_N) {
        double *X = malloc(n * n * sizeof *X);
        int ok = 0;
        double t = 0.0;
        if (X != NULL) {
            for (size_t j = 0; j < n * n; j++) X[j] = -A[j];
            linstab_sym_fill_lower(n, X); /* A's upper triangle decides */
            for (size_t j = 0; j < n; j++) X[j * n + j] += shift;
            /* X = shift I - A positive definite: the top of A is shift - 1/lambda1(X^{-1}) */
            ok = chol_inverse_top(n, X, &t);
        }
        free(X);
        if (ok) {
            *out = shift - 1.0 / t;
            return LINSTAB_OK;
        }
    }
    return eig_one(n, A, (lapack_int)n, out, err);
}

linstab_status linstab_sym_lambda_max(size_t n, const double *A, double *out, linstab_error *err)
{
    if (n >= LANCZOS_MIN_N && lanczos_top(n, A, 1.0, out)) return LINSTAB_OK;
    return eig_one(n, A, (lapack_int)n, out, err);
}

linstab_status linstab_sym_lambda_max_lapack(size_t n, const double *A, double *out,
                                            linstab_error *err)
{
    return eig_one(n, A, (lapack_int)n, out, err);
}

linstab_status linstab_sym_lambda_min(size_t n, const double *A, double *out, linstab_error *err)
{
    /* the top of -A, by the same Lanczos */
    if (n >= LANCZOS_MIN_N && lanczos_top(n, A, -1.0, out)) return LINSTAB_OK;
    return eig_one(n, A, 1, out, err);
}

linstab_status linstab_sym_lambda_min_psd(size_t n, const double *A, double *out, linstab_error *err)
{
    /* lambda_min(A) = 1 / lambda_max(A^{-1}), the top of an inverse whose
     * largest eigenvalues are as far apart, relative to its spread, as A's
     * smallest are relative to theirs (Lanczos on A itself sees them
     * relative to lambda_max(A), and stalls) */
    double t = 0.0;
    if (n >= LANCZOS_MIN_N && chol_inverse_top(n, A, &t)) {
        *out = 1.0 / t;
        return LINSTAB_OK;
    }
    return linstab_sym_lambda_min(n, A, out, err);
}

linstab_status linstab_sym_extremes(size_t n, const double *A, double *lmin, double *lmax, linstab_error *err)
{
    if (n == 0) return linstab_error_set(err, LINSTAB_EINVAL, "eigenproblem of size 0");
    double *a = malloc(n * n * sizeof *a), *dg = malloc(n * sizeof *dg), *e = malloc(n * sizeof *e);
    double *tau = malloc(n * sizeof *tau), *w = malloc(n * sizeof *w);
    lapack_int *iblock = malloc(n * sizeof *iblock), *isplit = malloc(n * sizeof *isplit);
    linstab_status st = LINSTAB_OK;
    if (!a || !dg || !e || !tau || !w || !iblock || !isplit) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "eigenproblem of size %zu: out of memory", n);
        goto done;
    }
    memcpy(a, A, n * n * sizeof *a);
    lapack_int N = (lapack_int)n, m = 0, nsplit = 0, info;
    /* one reduction (column-major lower = row-major upper: no transposed
     * copy), then bisection for the two ends only */
    info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', N, a, N, dg, e, tau);
    for (int end = 0; info == 0 && end < 2; end++) {
        lapack_int idx = end == 0 ? 1 : N;
        info = LAPACKE_dstebz('I', 'E', N, 0.0, 0.0, idx, idx, 0.0, dg, e, &m, &nsplit, w, iblock, isplit);
        if (info == 0) *(end == 0 ? lmin : lmax) = w[0];
    }
    if (info != 0)
        st = linstab_error_set(err, LINSTAB_ELAPACK, "LAPACK dsytrd/dstebz failed (info %d, n %zu)", (int)info, n);
done:
    free(a);
    free(dg);
    free(e);
    free(tau);
    free(w);
    free(iblock);
    free(isplit);
    return st;
}

int linstab_sym_cholesky_lower(size_t d, const double *X, double *L)
{
    memcpy(L, X, d * d * sizeof *L);
    /* the column-major upper factor U (X = U'U) is, read row-major, the
     * lower L with X = L L': no transposed copies */
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', (lapack_int)d, L, (lapack_int)d) != 0) return 0;
    for (size_t a = 0; a < d; a++)
        for (size_t b = a + 1; b < d; b++) L[a * d + b] = 0.0;
    return 1;
}

/* Both walk the matrix in 32 x 32 tiles: the transposed accesses of a
 * tile stay in cache (a row-by-column walk of a 1000 x 1000 matrix does
 * not). */
#define SYM_TILE 32

void linstab_sym_fill_lower(size_t n, double *A)
{
    int par = pass_threaded(n * n / 2);
    (void)par;
#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (size_t i0 = 0; i0 < n; i0 += SYM_TILE)
        for (size_t j0 = 0; j0 <= i0; j0 += SYM_TILE)
            for (size_t i = i0; i < i0 + SYM_TILE && i < n; i++)
                for (size_t j = j0; j < j0 + SYM_TILE && j < i; j++) A[i * n + j] = A[j * n + i];
}

void linstab_sym_fill_upper(size_t n, double *A)
{
    int par = pass_threaded(n * n / 2);
    (void)par;
#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (size_t i0 = 0; i0 < n; i0 += SYM_TILE)
        for (size_t j0 = 0; j0 <= i0; j0 += SYM_TILE)
            for (size_t i = i0; i < i0 + SYM_TILE && i < n; i++)
                for (size_t j = j0; j < j0 + SYM_TILE && j < i; j++) A[j * n + i] = A[i * n + j];
}

void linstab_sym_symmetrize(size_t n, double *A)
{
    for (size_t i0 = 0; i0 < n; i0 += SYM_TILE)
        for (size_t j0 = 0; j0 <= i0; j0 += SYM_TILE)
            for (size_t i = i0; i < i0 + SYM_TILE && i < n; i++)
                for (size_t j = j0; j < j0 + SYM_TILE && j < i; j++) {
                    double s = 0.5 * (A[i * n + j] + A[j * n + i]);
                    A[i * n + j] = s;
                    A[j * n + i] = s;
                }
}
