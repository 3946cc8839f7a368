/*
 * verdict.h -- one rule for "stable", "marginal" and "unstable".
 *
 * A mean-square radius, lambda_max of Shin et al. (2023)'s P, or GD's
 * max_j (1 - eta l_j)^2 is computed in floating point, so a value within the
 * rounding of the computation of 1 cannot be told from 1: it is reported as
 * "marginal" (at eta = eta* the exact radius is 1).  The tolerance is
 *
 *     tol = 16 m eps scale              (dense LAPACK path)
 *     tol = max(16 m eps, arpack_tol) scale   (matrix-free path)
 *
 * with m the dimension of the operator and scale the size of its entries
 * relative to 1: for T(X) = E[J X J'] with J = I - eta K, scale =
 * (1 + eta k)^2, k the largest curvature |eigenvalue| entering J.  A
 * marginal radius counts as stable (E||w_t||^2 stays bounded at radius 1
 * for the self-adjoint operators of SGD); the word "marginal" says that
 * the next digit could change the verdict.  See docs/math.md §9.
 * Implemented in src/stability/verdict.c; pure functions (no failure, no
 * allocation).
 */
#ifndef LINSTAB_VERDICT_H
#define LINSTAB_VERDICT_H

#include <stddef.h>

#include "linstab/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_verdict {
    LINSTAB_VERDICT_STABLE = 0, /* radius < 1 - tol                          */
    LINSTAB_VERDICT_MARGINAL,   /* |radius - 1| <= tol: 1 within rounding    */
    LINSTAB_VERDICT_UNSTABLE,   /* radius > 1 + tol                          */
    LINSTAB_VERDICT_NA          /* not computed or undefined (NaN radius)    */
} linstab_verdict;

/* The tolerance above: m the operator's dimension (0 counts as 1), scale
 * the size of its entries (values below 1 or not finite count as 1),
 * arpack_tol the matrix-free solver's relative tolerance (0 for the dense
 * path). */
LINSTAB_API double linstab_verdict_radius_tol(size_t m, double scale, double arpack_tol);

/* The verdict of a radius against tol (the enum's comments; NaN:
 * LINSTAB_VERDICT_NA, +inf: UNSTABLE). */
LINSTAB_API linstab_verdict linstab_verdict_classify(double radius, double tol);

/* 1 for STABLE and MARGINAL: the radius is <= 1 within rounding. */
LINSTAB_API int linstab_verdict_bounded(linstab_verdict v);

/* "stable", "marginal", "unstable" or "n/a" (static strings). */
LINSTAB_API const char *linstab_verdict_name(linstab_verdict v);

#ifdef __cplusplus
}
#endif
#endif
