/*
 * sym.h -- dense symmetric matrices (src/core/sym.c): eigenvalues on top
 * of LAPACKE and the reentrant Lanczos of src/core/lanczos.c, Cholesky
 * factors, filling and symmetrising triangles.
 *
 * All matrices are row-major n x n and borrowed for the call; inputs are
 * only read unless said otherwise, outputs are caller-allocated.  The
 * eigenvalue calls return LINSTAB_EINVAL for n = 0, LINSTAB_ENOMEM, and
 * LINSTAB_ELAPACK (LAPACK's info != 0, with the routine name and info in
 * the message).
 */
#ifndef LINSTAB_SYM_H
#define LINSTAB_SYM_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * All eigenvalues of symmetric A (only the upper triangle is read) in
 * ascending order into w (OUT, n).  If V is not NULL, the orthonormal
 * eigenvectors go to V (OUT, n x n, column j for w[j]).  A is not
 * modified (LAPACK dsyevr works on a copy).
 */
LINSTAB_API linstab_status linstab_sym_eig(size_t n, const double *A, double *w, double *V,
                                           linstab_error *err);

/* Largest / smallest eigenvalue of symmetric A (upper triangle read) into
 * *out.  Both use Lanczos (reentrant, src/core/lanczos.c) for n >= 128
 * when it converges within max(120, n/8) <= 600 steps, else LAPACK; the _lapack variant
 * always uses LAPACK (for spectra with a cluster at the top, such as
 * I - small).  A Lanczos that does not converge is not an error. */
LINSTAB_API linstab_status linstab_sym_lambda_max_lapack(size_t n, const double *A, double *out,
                                                         linstab_error *err);
LINSTAB_API linstab_status linstab_sym_lambda_max(size_t n, const double *A, double *out,
                                                  linstab_error *err);
LINSTAB_API linstab_status linstab_sym_lambda_min(size_t n, const double *A, double *out,
                                                  linstab_error *err);

/*
 * Smallest eigenvalue of a symmetric positive semidefinite A (both
 * triangles filled) into *out: for n >= 128, when A has a Cholesky factor,
 * as 1/lambda_max(A^{-1}) by Lanczos with two triangular solves per step
 * (the bottom of A, clustered relative to lambda_max(A), is spread out at
 * the top of the inverse); otherwise, or when that does not converge,
 * linstab_sym_lambda_min.
 */
LINSTAB_API linstab_status linstab_sym_lambda_min_psd(size_t n, const double *A, double *out,
                                                      linstab_error *err);

/*
 * Largest eigenvalue of symmetric A (upper triangle read) into *out when
 * it sits below SHIFT inside a cluster there (as in I - small): for
 * n >= 128, if X = SHIFT I - A is positive definite, Lanczos on X^{-1}
 * (two triangular solves per step with X's Cholesky factor) finds
 * 1/(SHIFT - lambda_max), whose relative gaps are wide where those of A
 * are not; otherwise (smaller n, X not definite, no convergence, no
 * memory for the two n x n buffers) LAPACK.
 */
LINSTAB_API linstab_status linstab_sym_lambda_max_near(size_t n, const double *A, double shift, double *out,
                                                       linstab_error *err);

/* Smallest and largest eigenvalue of a symmetric A (n x n, upper triangle
 * read) into *lmin and *lmax (both required): one tridiagonal reduction
 * (dsytrd), then bisection (dstebz) for the two ends. */
LINSTAB_API linstab_status linstab_sym_extremes(size_t n, const double *A, double *lmin, double *lmax,
                                                linstab_error *err);

/*
 * Cholesky factor of a symmetric positive definite X (d x d; its lower
 * triangle is read): L (OUT, d x d, not overlapping X) lower triangular
 * (row-major, zeros above the diagonal) with X = L L' (LAPACK dpotrf).
 * Returns 1, or 0 when X is not numerically positive definite (L then
 * holds a partial factorisation).  Allocates nothing.
 */
LINSTAB_API int linstab_sym_cholesky_lower(size_t d, const double *X, double *L);

/* Copy the upper triangle of A (n x n) into its lower triangle (in place). */
LINSTAB_API void linstab_sym_fill_lower(size_t n, double *A);

/* Copy the lower triangle of A (n x n) into its upper triangle (in place). */
LINSTAB_API void linstab_sym_fill_upper(size_t n, double *A);

/* A <- (A + A')/2 (n x n, in place). */
LINSTAB_API void linstab_sym_symmetrize(size_t n, double *A);

#ifdef __cplusplus
}
#endif
#endif
