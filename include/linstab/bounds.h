/*
 * bounds.h -- what each published stability result says (docs/math.md §4-5).
 *
 *   GD                  diverges iff max_j (1 - eta l_j)^2 > 1 (lambda1(H) >
 *                       2/eta, or negative curvature)
 *   Dexter Theorem 1    diverges if lambda1(H) > 2/eta or lambda1(H) >
 *                       (sigma/eta)(n/B - 1)^(-1/2) (second condition only
 *                       for B < n); proved for Bernoulli sampling only
 *   Dexter Theorem 2    threshold 2 sigma / (eta (sigma + n/B - 1))
 *   Shin Theorem 9      stable if lambda_max(P) <= 1 (B = 1, SAM 'same')
 *   Shin (7)            per-term conditions on a, s2, s3, s4
 *   Zhou Theorem 4.1    necessary for stability:
 *                       ||H||_F^2 (1 + rho^2 gamma/B ||H||_F^2) <= B/(eta^2 gamma),
 *                       as stated (with-replacement noise) and corrected
 *                       with B_eff for the sampling in use
 * Thresholds and right-hand sides that are infinite (no condition) are
 * +INFINITY; a condition that is vacuous has holds = 1.
 */
#ifndef LINSTAB_BOUNDS_H
#define LINSTAB_BOUNDS_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/geometry.h"
#include "linstab/sampling.h"
#include "linstab/error.h"
#include "linstab/verdict.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linstab_hyper {
    double eta;    /* learning rate, > 0            */
    size_t batch;  /* batch size B in [1, n]        */
    double rho;    /* SAM radius, >= 0 (0: SGD)     */
    linstab_sampling sampling;
} linstab_hyper;

/* A condition "lhs <= rhs" (rhs = +INFINITY when vacuous). */
typedef struct linstab_condition {
    double lhs, rhs;
    int holds;
} linstab_condition;

typedef struct linstab_bounds {
    double gd_threshold;       /* 2/eta */
    double gd_radius;          /* max_j (1 - eta l_j)^2; NaN when H is definite
                                * and below 1 (its value needs lambda_min(H)) */
    linstab_verdict gd_verdict; /* the rule of verdict.h; UNSTABLE when H has
                                 * negative curvature */
    int gd_diverges;           /* gd_verdict == UNSTABLE */
    double thm1_threshold;     /* (sigma/eta)(n/B-1)^(-1/2); +INF when B = n */
    int thm1_diverges;
    int thm1_proved;           /* the sampling in use is Bernoulli */
    int thm1_defined;          /* H positive definite on the space (a PSD family) */
    double thm2_threshold;
    double thm9_lambda_max;    /* lambda_max(P) on the range */
    linstab_verdict thm9_verdict; /* lambda_max(P) vs 1 (verdict.h) */
    int thm9_stable;           /* thm9_verdict is STABLE or MARGINAL */
    int thm9_applies;          /* B = 1 (Theorem 9 is stated for B = 1) */
    linstab_condition eq7[4];  /* sharpness, s2, s3, s4 */
    int thm41_defined;         /* gamma_min defined (H positive definite on the
                                * space); else both 4.1 rows say nothing */
    linstab_condition thm41;   /* as stated, with B */
    double batch_eff;          /* +INF when the noise vanishes */
    linstab_condition thm41_corrected;
} linstab_bounds;

/*
 * Validate h for a family of n samples: eta finite and > 0, rho finite and
 * >= 0, 1 <= B <= n.  Reads h only.  Errors: LINSTAB_EINVAL, with the
 * offending value in err.
 */
LINSTAB_API linstab_status linstab_bounds_hyper_check(const linstab_hyper *h, size_t n,
                                                      linstab_error *err);

/*
 * eta k and rho k, for the largest curvature k of the family, must not
 * exceed LINSTAB_HYPER_SCALE_MAX (and eta k not fall below
 * LINSTAB_HYPER_SCALE_MIN): the operators hold their products up to
 * the fourth power.  LINSTAB_EINVAL (with the product) beyond.
 */
#define LINSTAB_HYPER_SCALE_MAX 1e60
/* eta k below this is refused too: 1/eta and eta^2 leave the normal range */
#define LINSTAB_HYPER_SCALE_MIN 1e-200
LINSTAB_API linstab_status linstab_bounds_hyper_check_scale(const linstab_hyper *h, double k, linstab_error *err);

/*
 * Each theorem is written once, below; linstab_bounds_compute, `linstab
 * critical`, the phase diagrams (map) and validation all call these.
 * n, batch: 1 <= batch <= n (not checked: the callers validate h).
 */

/*
 * Dexter et al. (2024) Theorem 1, second condition: at learning rate eta
 * SGD diverges if lambda1(H) > (sigma/eta) (n/B - 1)^(-1/2).  Returns that
 * curvature threshold, computed as sigma / eta / sqrt(n/B - 1); +INFINITY
 * at B = n (no second condition).  The first condition, lambda1(H) > 2/eta,
 * is GD's (linstab_bounds.gd_threshold).  Pure function.
 */
LINSTAB_API double linstab_bounds_thm1_threshold(double sigma, double eta, size_t n, size_t batch);

/*
 * Dexter et al. (2024) Theorem 1 solved for the learning rate at sharpness
 * lambda1 = lambda1(H) > 0: the theorem predicts divergence for every eta
 * above min(2/lambda1, sigma / (lambda1 sqrt(n/B - 1))), 2/lambda1 at B = n.
 * The column "Thm 1 eta" of `linstab critical`.  Pure function.
 */
LINSTAB_API double linstab_bounds_thm1_eta(double sigma, double lambda1, size_t n, size_t batch);

/*
 * Dexter et al. (2024) Theorem 2's line 2 sigma / (x (sigma + n/B - 1)).
 * The product eta lambda1(H) is what the line bounds, so with x = eta it is
 * the curvature threshold at that learning rate (linstab_bounds.thm2_threshold)
 * and with x = lambda1(H) the learning rate at that sharpness (`linstab
 * critical`).  Pure function.
 */
LINSTAB_API double linstab_bounds_thm2_threshold(double sigma, double x, size_t n, size_t batch);

/*
 * Shin et al.'s P = (I - eta H - eta rho H^2)^2 + eta(eta - 2 rho)(M2 - H^2)
 *   + 2 eta^2 rho (M3 - H^3) + eta^2 rho^2 (M4 - H^4)  (r x r, overwritten),
 * computed as the equal (1/n) sum_i (I - eta H_i - eta rho H_i^2)^2
 *   = I - 2 eta M1 + eta(eta - 2 rho) M2 + 2 eta^2 rho M3 + eta^2 rho^2 M4.
 */
LINSTAB_API void linstab_shin_P(const linstab_moments *m, double eta, double rho, double *P);

/*
 * Shin et al. (2023) Theorem 9 (B = 1, SAM 'same'): stable if
 * lambda_max(P) <= 1.  OUT *lambda_max = lambda_max(P) of linstab_shin_P on
 * the moments' space (r = m->r), by shift-invert about 1 (P is I minus
 * something small: its top is a cluster; LAPACK below rank 128).  Borrows
 * m; allocates and frees one r x r matrix.  Errors: LINSTAB_ENOMEM,
 * LINSTAB_ELAPACK.
 */
LINSTAB_API linstab_status linstab_bounds_thm9_lambda_max(const linstab_moments *m, double eta,
                                                          double rho, double *lambda_max,
                                                          linstab_error *err);

/*
 * Zhou et al. (2025) Theorem 4.1's necessary condition for batch size Bv
 * (may be +INFINITY: no noise, no condition):
 *   lhs = ||H||_F^2 (1 + rho^2 gamma ||H||_F^2 / Bv),  rhs = Bv / (eta^2 gamma)
 * (rhs = +INFINITY when gamma <= 0).  frobenius = ||H||_F, gamma =
 * gamma_min.  Pure function.
 */
LINSTAB_API linstab_condition linstab_bounds_thm41(double frobenius, double gamma, double eta,
                                                  double rho, double Bv);

/*
 * Theorem 4.1 corrected for the sampling in use: linstab_bounds_thm41 at
 * Bv = B_eff = linstab_sampling_batch_eff(sampling, n, batch), the batch
 * size whose with-replacement noise equals the sampling's (docs/math.md §5).
 * Pure function.
 */
LINSTAB_API linstab_condition linstab_bounds_thm41_corrected(double frobenius, double gamma,
                                                             double eta, double rho,
                                                             linstab_sampling sampling, size_t n,
                                                             size_t batch);

/*
 * All bounds for geometry g (with moments m) at hyper-parameters h, OUT *b
 * (every field written).  Borrows g and m.  Errors: LINSTAB_EINVAL (h, see
 * linstab_bounds_hyper_check and linstab_bounds_hyper_check_scale), LINSTAB_ENOMEM,
 * LINSTAB_ELAPACK (Theorem 9).
 */
LINSTAB_API linstab_status linstab_bounds_compute(const linstab_geometry *g,
                                                  const linstab_moments *m,
                                                  const linstab_hyper *h, linstab_bounds *b,
                                                  linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
