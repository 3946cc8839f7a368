/*
 * linalg.h -- small dense symmetric eigen-helpers on top of LAPACKE.
 *
 * All matrices are row-major n x n.  LAPACK's info != 0 becomes
 * LINSTAB_ELAPACK with the routine name and info in the message.
 */
#ifndef LINSTAB_LINALG_H
#define LINSTAB_LINALG_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * All eigenvalues of symmetric A (only the upper triangle is read) in
 * ascending order into w (n).  If V is not NULL, the orthonormal
 * eigenvectors go to V (n x n, column j for w[j]).  A is not modified.
 */
LINSTAB_API linstab_status linstab_sym_eig(size_t n, const double *A, double *w, double *V,
                                           linstab_error *err);

/* Largest / smallest eigenvalue of symmetric A (upper triangle read).
 * lambda_max uses Lanczos (ARPACK) for n >= 256 when it converges quickly,
 * else LAPACK; the _lapack variant always uses LAPACK (for spectra with a
 * cluster at the top, such as I - small). */
LINSTAB_API linstab_status linstab_sym_lambda_max_lapack(size_t n, const double *A, double *out,
                                                         linstab_error *err);
LINSTAB_API linstab_status linstab_sym_lambda_max(size_t n, const double *A, double *out,
                                                  linstab_error *err);
LINSTAB_API linstab_status linstab_sym_lambda_min(size_t n, const double *A, double *out,
                                                  linstab_error *err);

/* Copy the upper triangle of A (n x n) into its lower triangle. */
LINSTAB_API void linstab_sym_fill_lower(size_t n, double *A);

/* A <- (A + A')/2. */
LINSTAB_API void linstab_sym_symmetrize(size_t n, double *A);

#ifdef __cplusplus
}
#endif
#endif
