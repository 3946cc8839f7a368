/*
 * sam.h -- the exact mean-square stability of SAM (docs/math.md §5): its
 * second-moment operators, radius, critical eta and critical rho, for both
 * variants -- 'independent' (ascent and descent on independent batches)
 * and 'same' (one batch for both).
 *
 * 'independent' at every B and sampling, and 'same' at B = n without
 * replacement, go through the operator of secmom.h; 'same' at B = 1 with
 * or without replacement is SGD on the family K_i = H_i + rho H_i^2
 * (linstab_sam_family); 'same' at any other (B, sampling) is the moment
 * expansion over set partitions (linstab_sam_same_*), dense on the
 * r^2-dimensional vec space, so the rank r of the restricted family is
 * limited to LINSTAB_SAM_SAME_MAX_R.  Implemented in src/stability/sam.c.
 *
 * The functions on a linstab_rotated take it from linstab_family_rotated_make
 * (borrowed for the call; l decreasing, H = diag(l)); eta > 0, rho >= 0 and
 * B in [1, n] are not checked here (linstab_bounds_hyper_check does); opts / eo
 * may be NULL (linstab_eigen_defaults).
 */
#ifndef LINSTAB_SAM_H
#define LINSTAB_SAM_H

#include <stddef.h>

#include "linstab/eigen.h"
#include "linstab/export.h"
#include "linstab/optimizer.h"
#include "linstab/family.h"
#include "linstab/sampling.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LINSTAB_SAM_SAME_MAX_R 40

typedef struct linstab_sam_same linstab_sam_same;

/* Workspace of the 'same' expansion for family f (borrowed: must outlive
 * the workspace; r = f->d): the dense samples, H, M_2 and
 * K = sum_i H_i (x) H_i, n r^2 + r^4 doubles.  OUT *out (NULL on failure;
 * free with linstab_sam_same_free).  Errors: LINSTAB_EINVAL when
 * r > LINSTAB_SAM_SAME_MAX_R, LINSTAB_ENOMEM, those of
 * linstab_family_moments. */
LINSTAB_API linstab_status linstab_sam_same_alloc(const linstab_family *f, linstab_sam_same **out,
                                                 linstab_error *err);
/* Free w (may be NULL); f is not touched. */
LINSTAB_API void linstab_sam_same_free(linstab_sam_same *w);

/* T(X) = E[J X J'], J = I - eta Hhat - eta rho Hhat^2 (docs/math.md §5), at
 * batch size `batch` and sampling s, on the full vec space: OUT T,
 * r^2 x r^2 row-major (overwritten), vec(A X B) = (A (x) B') vec X.
 * Allocates 5 r^4 doubles per call.  Errors: LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_sam_same_full(linstab_sam_same *w, double eta, double rho,
                                                size_t batch, linstab_sampling s, double *T,
                                                linstab_error *err);

/* The same T in svec coordinates (OUT Ts, m x m, m = r(r+1)/2,
 * overwritten).  The five eta- and rho-independent terms for
 * (batch, s) are cached in w, so calls at new (eta, rho) cost one
 * combination: w is modified (one workspace per thread).  Errors:
 * LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_sam_same_svec(linstab_sam_same *w, double eta, double rho,
                                                size_t batch, linstab_sampling s, double *Ts,
                                                linstab_error *err);

/* Mean-square spectral radius of T (OUT *radius = max |eigenvalue| of the
 * symmetrised Ts, LAPACK).  w as for linstab_sam_same_svec.  Errors:
 * LINSTAB_ENOMEM, LINSTAB_ELAPACK. */
LINSTAB_API linstab_status linstab_sam_same_radius(linstab_sam_same *w, double eta, double rho,
                                                  size_t batch, linstab_sampling s,
                                                  double *radius, linstab_error *err);

/* "same" or "independent" (static strings). */
LINSTAB_API const char *linstab_sam_variant_name(linstab_optimizer v);

/* Parse "same" or "independent" (s not NULL) into OUT *v; LINSTAB_EINVAL
 * (param "sam_variant") otherwise. */

LINSTAB_API linstab_status linstab_sam_variant_parse(const char *s, linstab_optimizer *v,
                                                     linstab_error *err);

/* 1 if SAM (variant) at (B, sampling) has an exact operator for some rank:
 * at present every (B, sampling) of both variants (n, batch and sampling
 * are not consulted). */
LINSTAB_API int linstab_sam_available(linstab_optimizer v, size_t n, size_t batch,
                                      linstab_sampling sampling);

/* ... and for a restricted family of this rank ('same' at general B is dense
 * on the r^2 vec space: rank <= LINSTAB_SAM_SAME_MAX_R). */
LINSTAB_API int linstab_sam_available_rank(linstab_optimizer v, size_t n, size_t rank,
                                           size_t batch, linstab_sampling sampling);

/* Mean-square radius of SAM (variant) at (eta, rho, B, sampling) on the
 * rotated family rf, by the route of the top comment (rho = 0 with 'same'
 * at B = 1: the SGD operator).  OUT *radius.  Errors: LINSTAB_EINVAL
 * ('same' at general B with rank > LINSTAB_SAM_SAME_MAX_R), LINSTAB_ENOMEM,
 * LINSTAB_ELAPACK, LINSTAB_ENOCONV, those of linstab_secmom_radius_at. */
LINSTAB_API linstab_status linstab_sam_radius(const linstab_rotated *rf, linstab_optimizer v,
                                              double eta, double rho, size_t batch,
                                              linstab_sampling sampling,
                                              const linstab_eigen_opts *opts, double *radius,
                                              linstab_error *err);

/* SAM's mean-square critical eta at (rho, B, sampling) (OUT *eta_star):
 * 0 when the mean step's curvature K (H + rho E[Hhat^2] for 'same',
 * H + rho H^2 for 'independent') has an eigenvalue <= 0; full batch
 * ('same', B = n without replacement): 2 / max_j (l_j + rho l_j^2) (Zhou
 * et al. 2025, after Prop. 4.1); 'same' at B = 1: linstab_critical_eta of
 * the K family; otherwise bisection on eta (linstab_critical_param from
 * 1 / max_j (l_j + rho l_j^2), relative 1e-10; +INFINITY possible).
 * Errors: LINSTAB_EINVAL when linstab_sam_available_rank says no, and
 * those of linstab_sam_radius and linstab_critical_eta. */
LINSTAB_API linstab_status linstab_sam_eta_star(const linstab_rotated *rf,
                                                linstab_optimizer variant, double rho,
                                                size_t batch, linstab_sampling sampling,
                                                const linstab_eigen_opts *opts, double *eta_star,
                                                linstab_error *err);

/*
 * The family K_i = H_i + rho H_i^2 of f (borrowed for the call; same
 * representation and sizes; OUT *out, NULL on failure, else a new family
 * the caller frees with linstab_family_free): SAM 'same' at B = 1 is SGD
 * at B = 1 on it.  Dense: H_i + rho H_i^2, symmetrised; diagonal:
 * entrywise; factored: U_i (I + rho U_i'U_i)^{1/2} (eigenvalues
 * of U_i'U_i below 0 clamped; needs rho >= 0).  Errors: those of
 * linstab_family_alloc, LINSTAB_ENOMEM, LINSTAB_ELAPACK.
 */
LINSTAB_API linstab_status linstab_sam_family(const linstab_family *f, double rho,
                                                   linstab_family **out, linstab_error *err);

/*
 * The largest rho at which SAM (variant) at (eta, B, sampling) is
 * mean-square stable: the first crossing of radius(rho) = 1 above 0,
 * bracketed from the hint (2/eta - l1)/l1^2 (1e-3/l1 when that is not
 * positive; l1 = max_j l_j) and bisected to relative 1e-10
 * (linstab_critical_param).  OUT *rho_star (NaN: unstable at rho = 0;
 * +INFINITY: stable up to 2^60 times the hint), *monotone (may be NULL;
 * the bits of linstab_critical_param's monotone).
 * Errors: those of linstab_sam_radius.
 */
LINSTAB_API linstab_status linstab_sam_critical_rho(const linstab_rotated *rf,
                                                    linstab_optimizer variant, double eta,
                                                    size_t batch, linstab_sampling sampling,
                                                    const linstab_eigen_opts *eo,
                                                    double *rho_star, int *monotone,
                                                    linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
