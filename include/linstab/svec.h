/*
 * svec.h -- the symmetric vectorisation of Sym(r) that second-moment
 * operators act on.
 *
 * svec: Sym(r) -> R^{r(r+1)/2}, row by row over the upper triangle,
 * X_jj as is and sqrt(2) X_jk for j < k, so that <X, Y> = tr(XY) equals
 * svec(X)'svec(Y) and a self-adjoint map on Sym(r) has a symmetric matrix.
 * Matrices are row-major r x r; the caller owns every buffer, nothing
 * allocates or fails.  Implemented in src/core/svec.c.
 */
#ifndef LINSTAB_SVEC_H
#define LINSTAB_SVEC_H

#include <stddef.h>

#include "linstab/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* r(r+1)/2, the length of svec(X) for X r x r. */
LINSTAB_API size_t linstab_svec_dim(size_t r);

/* x = svec(X) (X r x r symmetric; only the upper triangle is read;
 * OUT x, r(r+1)/2 entries, must not overlap X). */
LINSTAB_API void linstab_svec(size_t r, const double *X, double *x);

/* X = smat(x), the symmetric r x r matrix with svec(X) = x (OUT X, both
 * triangles written; x has r(r+1)/2 entries and must not overlap X). */
LINSTAB_API void linstab_svec_smat(size_t r, const double *x, double *X);

#ifdef __cplusplus
}
#endif
#endif
