/*
 * geometry.h -- loss-surface geometry of a Hessian family (docs/math.md §4-5),
 * implemented in src/stability/geometry.c.
 *
 * Computed on the range-restricted family (linstab_family_restrict): all
 * quantities below are invariant under that restriction for PSD families,
 * and the generalized problem of gamma_min needs H positive definite.
 *
 *   sharpness                lambda1(H)
 *   trace, frobenius         tr H, ||H||_F
 *   max_individual_sharpness max_i lambda1(H_i)
 *   lambda1_S, sigma         S_ij = sqrt(tr(H_i H_j)), sigma = lambda1(S) /
 *                            max_i lambda1(H_i)  (Dexter et al. 2024, Def. 2)
 *   m{k}_gap, s{k}           lambda_max(M_k - H^k), s_k its signed k-th root
 *                            (Shin et al. 2023, Theorem 9 and (7); M_3 - H^3 and M_4 - H^4
 *                            can be indefinite)
 *   gamma_min                mu_min(A, H on R) / ||H||_F^2 with
 *                            A = (1/n) sum_i H_i H H_i - H^3 (Zhou et al. 2025,
 *                            Assumption 4.1 for the squared loss at interpolation)
 *
 * Both are differences of computed matrices, so they carry rounding of
 * order r eps times the terms: a gap with |lambda_max| <= 32 r eps ||M_k||_F,
 * and gamma_min when ||A||_F <= 32 r eps ||(1/n) sum H_i H H_i||_F, are
 * zero within rounding and reported as exactly 0 (identical samples give
 * M_k = H^k and A = 0 exactly; their roots would otherwise be noise such
 * as (1e-16)^(1/3)).
 */
#ifndef LINSTAB_GEOMETRY_H
#define LINSTAB_GEOMETRY_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/moments.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linstab_geometry {
    size_t n, d;
    size_t rank;      /* rank of H itself (numpy's rule on its eigenvalues) */
    size_t space_dim; /* dimension of the analysed space: range(H) for PSD
                       * families, range(M_2) >= rank for indefinite ones */
    int definite;     /* 1: H is positive definite on that space (Cholesky) */
    double lambda_min; /* smallest eigenvalue of H on R^d when !definite
                        * (0 if only zero/positive ones), else NaN: not
                        * computed (see linstab_geometry_lambda_min) */
    double sharpness, trace, frobenius, max_individual_sharpness;
    double lambda1_S, sigma; /* sigma NaN when every lambda1(H_i) <= 0 */
    double m2_gap, m3_gap, m4_gap, s2, s3, s4;
    double gamma_min; /* NaN when H is not positive definite on R */
} linstab_geometry;

/*
 * Geometry of the restricted family fr (rank = fr->d) with its moments m
 * (linstab_moments_compute on fr; both borrowed for the call); d_full is
 * the dimension before restriction (reported as g->d).  OUT *g, every
 * field overwritten.  Reuses m->lambda1 as the sharpness when finite.
 * Errors: LINSTAB_ENOMEM, LINSTAB_ELAPACK, those of the family kernels
 * (per-sample lambda1, Gram matrix, sandwich).
 */
LINSTAB_API linstab_status linstab_geometry_compute(const linstab_family *fr,
                                                    const linstab_moments *m, size_t d_full,
                                                    linstab_geometry *g, linstab_error *err);

/*
 * lambda_min(H) and rank(H) from every eigenvalue of H = m->Hp[0] (LAPACK,
 * r^3): overwrites g->lambda_min (0 instead of a positive value when
 * g->d > r: H vanishes beyond the space) and g->rank (numpy's rule with
 * tolerance g->d eps max|eigenvalue|), nothing else; g->d must be set.
 * When g->definite (H has a Cholesky factor on the space, whose dimension
 * is then the rank), only lambda_min, by linstab_sym_lambda_min_psd.
 * Errors: LINSTAB_ENOMEM, LINSTAB_ELAPACK.  Called by
 * linstab_geometry_compute when H is not positive definite on the space;
 * call it yourself to get lambda_min of a definite H (e.g. to report
 * whether a model source sits at a minimum).
 */
LINSTAB_API linstab_status linstab_geometry_lambda_min(const linstab_moments *m, linstab_geometry *g,
                                                       linstab_error *err);

/* Coherence alone, for any family f (restricted or not; borrowed for the
 * call): OUT *lambda1_S = lambda1(S) and *sigma (either may be NULL; sigma
 * NaN when every lambda1(H_i) <= 0).  Forms the n x n matrix S.  Errors:
 * LINSTAB_ENOMEM, those of linstab_family_gram, _sample_lambda1 and
 * linstab_sym_lambda_max. */
LINSTAB_API linstab_status linstab_geometry_coherence(const linstab_family *f, double *lambda1_S,
                                             double *sigma, linstab_error *err);

/* gamma_min alone for the restricted family f and its moments m (both
 * borrowed): OUT *gamma_min, NaN when H is not positive definite on f's
 * space (not an error), 0 when A vanishes within rounding.  Errors:
 * LINSTAB_ENOMEM, LINSTAB_ELAPACK, those of linstab_family_sandwich_chol. */
LINSTAB_API linstab_status linstab_geometry_gamma_min(const linstab_family *f, const linstab_moments *m,
                                             double *gamma_min, linstab_error *err);

/* Signed k-th root: sign(x) |x|^(1/k) (k >= 1; 0, NaN and +-inf returned as is). */
LINSTAB_API double linstab_geometry_signed_root(double x, int k);

#ifdef __cplusplus
}
#endif
#endif
