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

/* Validate eta > 0, rho >= 0 (finite), 1 <= B <= n. */
LINSTAB_API linstab_status linstab_hyper_check(const linstab_hyper *h, size_t n,
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
LINSTAB_API linstab_status linstab_hyper_check_scale(const linstab_hyper *h, double k, linstab_error *err);

/*
 * Shin et al.'s P = (I - eta H - eta rho H^2)^2 + eta(eta - 2 rho)(M2 - H^2)
 *   + 2 eta^2 rho (M3 - H^3) + eta^2 rho^2 (M4 - H^4)  (r x r, overwritten),
 * computed as the equal (1/n) sum_i (I - eta H_i - eta rho H_i^2)^2
 *   = I - 2 eta M1 + eta(eta - 2 rho) M2 + 2 eta^2 rho M3 + eta^2 rho^2 M4.
 */
LINSTAB_API void linstab_shin_P(const linstab_moments *m, double eta, double rho, double *P);

/* All bounds for geometry g (with moments m) at hyper-parameters h. */
LINSTAB_API linstab_status linstab_bounds_compute(const linstab_geometry *g,
                                                  const linstab_moments *m,
                                                  const linstab_hyper *h, linstab_bounds *b,
                                                  linstab_error *err);

/* Zhou et al. Theorem 4.1's condition for batch size Bv (may be +INFINITY). */
LINSTAB_API linstab_condition linstab_thm41(double frobenius, double gamma, double eta,
                                            double rho, double Bv);

/*
 * Dexter et al. Theorems 1 and 2 alone, for a family with coherence sigma
 * and n samples at learning rate eta and batch size batch (1 <= batch <= n,
 * eta > 0; not checked): OUT *thm1 = (sigma/eta)(n/B - 1)^(-1/2), +INFINITY
 * when B = n, and *thm2 = 2 sigma / (eta (sigma + n/B - 1)), the thresholds
 * on lambda1(H) of linstab_bounds (the same expressions, the same bits).
 * For callers that need no geometry or moments (the cells of a map).
 */
LINSTAB_API void linstab_bounds_dexter(double sigma, double eta, size_t n, size_t batch,
                                       double *thm1, double *thm2);

#ifdef __cplusplus
}
#endif
#endif
