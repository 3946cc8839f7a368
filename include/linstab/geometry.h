/*
 * geometry.h -- loss-surface geometry of a Hessian family (docs/math.md §4-5).
 *
 * Computed on the range-restricted family (linstab_family_restrict): all
 * quantities below are invariant under that restriction for PSD families,
 * and the generalized problem of gamma_min needs H positive definite.
 *
 *   sharpness                lambda1(H)
 *   trace, frobenius         tr H, ||H||_F
 *   max_individual_sharpness max_i lambda1(H_i)
 *   lambda1_S, sigma         S_ij = sqrt(tr(H_i H_j)), sigma = lambda1(S) /
 *                            max_i lambda1(H_i)           (Dexter Def. 2)
 *   m{k}_gap, s{k}           lambda_max(M_k - H^k), s_k its signed k-th root
 *                            (Shin Theorem 9 and (7); M_3 - H^3 and M_4 - H^4
 *                            can be indefinite)
 *   gamma_min                mu_min(A, H on R) / ||H||_F^2 with
 *                            A = (1/n) sum_i H_i H H_i - H^3 (Zhou Assumption
 *                            4.1 for the squared loss at interpolation)
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
    double lambda1_S, sigma;
    double m2_gap, m3_gap, m4_gap, s2, s3, s4;
    double gamma_min; /* NaN when H is not positive definite on R */
} linstab_geometry;

/*
 * Geometry of the restricted family fr (rank = fr->d) with moments m;
 * d_full is the dimension before restriction (reported as g->d).
 */
LINSTAB_API linstab_status linstab_geometry_compute(const linstab_family *fr,
                                                    const linstab_moments *m, size_t d_full,
                                                    linstab_geometry *g, linstab_error *err);

/*
 * lambda_min(H) and rank(H) from every eigenvalue of H (LAPACK, r^3):
 * fills g->lambda_min and g->rank (g->d must be set).  Called by
 * linstab_geometry_compute when H is not positive definite on the space;
 * call it yourself to get lambda_min of a definite H (e.g. to report
 * whether a model source sits at a minimum).
 */
LINSTAB_API linstab_status linstab_geometry_lambda_min(const linstab_moments *m, linstab_geometry *g,
                                                       linstab_error *err);

/* Coherence alone: lambda1(S) and sigma (either output may be NULL). */
LINSTAB_API linstab_status linstab_geometry_coherence(const linstab_family *f, double *lambda1_S,
                                             double *sigma, linstab_error *err);

/* gamma_min alone (needs H positive definite on f's space; NaN if not). */
LINSTAB_API linstab_status linstab_geometry_gamma_min(const linstab_family *f, const linstab_moments *m,
                                             double *gamma_min, linstab_error *err);

/* Signed k-th root: sign(x) |x|^(1/k). */
LINSTAB_API double linstab_geometry_signed_root(double x, int k);

#ifdef __cplusplus
}
#endif
#endif
