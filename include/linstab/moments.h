/*
 * moments.h -- the moment matrices of a Hessian family (docs/math.md §4):
 * the powers H^k of the mean H = (1/n) sum_i H_i and the moments
 * M_k = (1/n) sum_i H_i^k, k = 1..4, that the geometry (geometry.h) and
 * the bounds (bounds.h) share.
 */
#ifndef LINSTAB_MOMENTS_H
#define LINSTAB_MOMENTS_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The matrices the geometry and the bounds share, r x r on the range:
 * Hp[k-1] = H^k and M[k-1] = M_k for k = 1..4 (Hp[0] and M[0] both hold H).
 */
typedef struct linstab_moments {
    size_t r;
    double *Hp[4];
    double *M[4];
    double lambda1; /* lambda1(H) when already known, else NaN */
} linstab_moments;

LINSTAB_API void linstab_moments_free(linstab_moments *m);

/* Compute the moments of f (OUT *out; free with linstab_moments_free). */
LINSTAB_API linstab_status linstab_moments_compute(const linstab_family *f,
                                                   linstab_moments **out, linstab_error *err);

/*
 * The same with the mean H of f already computed (e.g. by
 * linstab_family_restrict_take): H (r x r) is taken over, freed with the
 * moments or on failure; lambda1 = lambda1(H) or NaN when unknown.
 */
LINSTAB_API linstab_status linstab_moments_compute_take(const linstab_family *f, double *H, double lambda1,
                                                         linstab_moments **out, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
