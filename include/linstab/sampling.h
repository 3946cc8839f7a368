/*
 * sampling.h -- mini-batch sampling schemes and their second-moment
 * coefficients (docs/math.md §2).
 *
 * For Hhat = (1/B) sum_{i in S} H_i,
 *   E[Hhat X Hhat] = a H X H + b M(X),   M(X) = (1/n) sum_i H_i X H_i.
 *   BERNOULLI  each i in S w.p. B/n independently (Dexter et al. Def. 1): a = 1, b = (n-B)/(nB)
 *   WITHOUT    uniform B-subset:       a = n(B-1)/(B(n-1)), b = (n-B)/(B(n-1))
 *   WITH       B i.i.d. uniform indices: a = (B-1)/B,        b = 1/B
 */
#ifndef LINSTAB_SAMPLING_H
#define LINSTAB_SAMPLING_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#include "linstab/export.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_sampling {
    LINSTAB_SAMPLING_BERNOULLI = 0,
    LINSTAB_SAMPLING_WITHOUT,
    LINSTAB_SAMPLING_WITH
} linstab_sampling;

/* "bernoulli", "without", "with". */
LINSTAB_API const char *linstab_sampling_name(linstab_sampling s);
LINSTAB_API linstab_status linstab_sampling_parse(const char *name, linstab_sampling *s,
                                                  linstab_error *err);

/* The coefficients (a, b) above for n samples and batch size B in [1, n].
 * (For n = 1 WITHOUT is GD: a = 1, b = 0.) */
LINSTAB_API void linstab_sampling_coeffs(linstab_sampling s, size_t n, size_t B, double *a,
                                         double *b);

/*
 * Effective batch size for a bound whose proof assumes with-replacement
 * noise covariance Sigma/B (Zhou et al. Thm 4.1): the B_eff with
 * 1/B_eff = b, i.e. B(n-1)/(n-B) (WITHOUT), nB/(n-B) (BERNOULLI), B (WITH);
 * +INFINITY when the mini-batch noise vanishes (B = n, WITHOUT/BERNOULLI).
 */
LINSTAB_API double linstab_sampling_batch_eff(linstab_sampling s, size_t n, size_t B);

/*
 * Draw one batch: indices (with multiplicity for WITH) into idx (capacity
 * n for BERNOULLI and WITHOUT, B for WITH); returns their number.  The
 * random stream is consumed in a fixed way per scheme (reproducible):
 * Bernoulli draws |S| ~ Binomial(n, B/n) and then a uniform |S|-subset,
 * without replacement a uniform B-subset (Floyd's algorithm), with
 * replacement B uniform indices.
 * work: n size_t, all zero on entry (left zero on exit); needed for
 * BERNOULLI and WITHOUT, may be NULL for WITH.
 */
/* The same with a precomputed Binomial(n, B/n) CDF (n + 1 entries, from
 * linstab_sampling_binomial_cdf) for BERNOULLI: one uniform per draw of the
 * batch size instead of GSL's general binomial sampler. */
LINSTAB_API void linstab_sampling_binomial_cdf(size_t n, size_t B, double *cdf);
LINSTAB_API size_t linstab_sampling_draw_cdf(gsl_rng *rng, linstab_sampling s, size_t n,
                                             size_t B, size_t *idx, size_t *work,
                                             const double *cdf);
LINSTAB_API size_t linstab_sampling_draw(gsl_rng *rng, linstab_sampling s, size_t n,
                                         size_t B, size_t *idx, size_t *work);

#ifdef __cplusplus
}
#endif
#endif
