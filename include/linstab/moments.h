/*
 * moments.h -- the moment matrices of a Hessian family (docs/math.md §4):
 * the powers H^k of the mean H = (1/n) sum_i H_i and the moments
 * M_k = (1/n) sum_i H_i^k, k = 1..4, that the geometry (geometry.h) and
 * the bounds (bounds.h) share.  Implemented in src/stability/moments.c,
 * on top of the family's moment kernel (linstab_family_moments).
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
 * The matrices the geometry and the bounds share, r x r (r = f->d of the
 * family they came from: on the range for a restricted family):
 * Hp[k-1] = H^k and M[k-1] = M_k for k = 1..4 (Hp[0] and M[0] are the same
 * buffer, H).  Every buffer is owned by the struct.
 */
typedef struct linstab_moments {
    size_t r;
    double *Hp[4];
    double *M[4];
    double lambda1; /* lambda1(H) when already known, else NaN */
} linstab_moments;

/* Free m and every matrix it holds (m may be NULL). */
LINSTAB_API void linstab_moments_free(linstab_moments *m);

/* Compute the moments of f (borrowed for the call; pass the restricted
 * family, linstab_family_restrict, to work on the range).  OUT *out (NULL
 * on failure; free with linstab_moments_free), with lambda1 = NaN.
 * Errors: LINSTAB_ENOMEM (7 r x r matrices), those of
 * linstab_family_moments. */
LINSTAB_API linstab_status linstab_moments_compute(const linstab_family *f,
                                                   linstab_moments **out, linstab_error *err);

/*
 * The same with the mean H of f already computed (e.g. by
 * linstab_family_restrict_take): H (r x r, r = f->d, malloc'd; may be
 * NULL: computed as linstab_moments_compute does, lambda1 ignored) is
 * taken over -- freed with the moments, or at once on failure -- and not
 * recomputed.  lambda1 = lambda1(H) or NaN when unknown (kept in
 * out->lambda1, where the geometry reuses it).
 */
LINSTAB_API linstab_status linstab_moments_compute_take(const linstab_family *f, double *H, double lambda1,
                                                         linstab_moments **out, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
