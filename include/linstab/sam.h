/*
 * sam.h -- the exact mean-square stability of SAM (docs/math.md §5): its
 * second-moment operators, radius, critical eta and critical rho, for both
 * variants -- 'independent' (ascent and descent on independent batches)
 * and 'same' (one batch for both).
 *
 * 'independent' at every B and sampling, and 'same' at B = n without
 * replacement, go through the operator of secmom.h; 'same' at B = 1 is SGD
 * on the family K_i = H_i + rho H_i^2 (linstab_sam_family); 'same' at any
 * other B is the moment expansion over set partitions (linstab_sam_same_*),
 * dense on the r^2-dimensional vec space, so the rank r of the restricted
 * family is limited to LINSTAB_SAM_SAME_MAX_R.
 */
#ifndef LINSTAB_SAM_H
#define LINSTAB_SAM_H

#include <stddef.h>

#include "linstab/eigen.h"
#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/sampling.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LINSTAB_SAM_SAME_MAX_R 40

typedef enum linstab_sam_variant {
    LINSTAB_SAM_SAME = 0,
    LINSTAB_SAM_INDEPENDENT
} linstab_sam_variant;

typedef struct linstab_sam_same linstab_sam_same;

/* Workspace for family f (borrowed; r = f->d <= LINSTAB_SAM_SAME_MAX_R). */
LINSTAB_API linstab_status linstab_sam_same_alloc(const linstab_family *f, linstab_sam_same **out,
                                                 linstab_error *err);
LINSTAB_API void linstab_sam_same_free(linstab_sam_same *w);

/* T on the full vec space: r^2 x r^2 row-major, vec(A X B) = (A (x) B') vec X. */
LINSTAB_API linstab_status linstab_sam_same_full(linstab_sam_same *w, double eta, double rho,
                                                size_t batch, linstab_sampling s, double *T,
                                                linstab_error *err);

/* T in svec coordinates (m x m, m = r(r+1)/2). */
LINSTAB_API linstab_status linstab_sam_same_svec(linstab_sam_same *w, double eta, double rho,
                                                size_t batch, linstab_sampling s, double *Ts,
                                                linstab_error *err);

/* Mean-square spectral radius of T. */
LINSTAB_API linstab_status linstab_sam_same_radius(linstab_sam_same *w, double eta, double rho,
                                                  size_t batch, linstab_sampling s,
                                                  double *radius, linstab_error *err);

LINSTAB_API const char *linstab_sam_variant_name(linstab_sam_variant v);

LINSTAB_API linstab_status linstab_sam_variant_parse(const char *s, linstab_sam_variant *v,
                                                     linstab_error *err);

/* 1 if SAM (variant) at (B, sampling) has an exact operator (for some rank). */
LINSTAB_API int linstab_sam_available(linstab_sam_variant v, size_t n, size_t batch,
                                      linstab_sampling sampling);

/* ... and for a restricted family of this rank ('same' at general B is dense
 * on the r^2 vec space: rank <= LINSTAB_SAM_SAME_MAX_R). */
LINSTAB_API int linstab_sam_available_rank(linstab_sam_variant v, size_t n, size_t rank,
                                           size_t batch, linstab_sampling sampling);

/* Radius of SAM (variant) at (eta, rho, B, sampling) on a rotated family. */
LINSTAB_API linstab_status linstab_sam_radius(const linstab_rotated *rf, linstab_sam_variant v,
                                              double eta, double rho, size_t batch,
                                              linstab_sampling sampling,
                                              const linstab_eigen_opts *opts, double *radius,
                                              linstab_error *err);

/* SAM's mean-square critical eta at (rho, B, sampling) (OUT *eta_star). */
LINSTAB_API linstab_status linstab_sam_eta_star(const linstab_rotated *rf,
                                                linstab_sam_variant variant, double rho,
                                                size_t batch, linstab_sampling sampling,
                                                const linstab_eigen_opts *opts, double *eta_star,
                                                linstab_error *err);

/*
 * The family K_i = H_i + rho H_i^2 (same representation; OUT *out): SAM
 * 'same' at B = 1 is SGD at B = 1 on it.  Factored: U_i (I + rho U_i'U_i)^{1/2}.
 */
LINSTAB_API linstab_status linstab_sam_family(const linstab_family *f, double rho,
                                                   linstab_family **out, linstab_error *err);

/*
 * The largest rho at which SAM (variant) at (eta, B, sampling) is
 * mean-square stable: the first crossing of radius(rho) = 1 above 0,
 * bracketed from the hint (2/eta - l1)/l1^2 and bisected to relative
 * 1e-10 (linstab_critical_param).  OUT *rho_star (NaN: unstable at
 * rho = 0), *monotone (the bits of linstab_critical_param's monotone).
 * Errors: those of linstab_sam_radius.
 */
LINSTAB_API linstab_status linstab_sam_critical_rho(const linstab_rotated *rf,
                                                    linstab_sam_variant variant, double eta,
                                                    size_t batch, linstab_sampling sampling,
                                                    const linstab_eigen_opts *eo,
                                                    double *rho_star, int *monotone,
                                                    linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
