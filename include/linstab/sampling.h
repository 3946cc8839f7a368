/*
 * sampling.h -- mini-batch sampling schemes: their second-moment
 * coefficients (docs/math.md §2) and the drawing of batches
 * (src/stability/sampling.c).
 *
 * For Hhat = (1/B) sum_{i in S} H_i,
 *   E[Hhat X Hhat] = a H X H + b M(X),   M(X) = (1/n) sum_i H_i X H_i.
 *   BERNOULLI  each i in S w.p. B/n independently (Dexter et al. 2024 Def. 1): a = 1, b = (n-B)/(nB)
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

/*
 * The default of every command and of every parameter struct that has a
 * sampling (linstab_map_defaults, linstab_trajectory_defaults, the CLI):
 * uniform B-subsets without replacement, what a shuffled data loader
 * draws and the sampling of Shin et al. (2023) and Zhou et al. (2025).
 * Dexter et al. (2024)'s Bernoulli sampling stays available by name.
 */
#define LINSTAB_SAMPLING_DEFAULT LINSTAB_SAMPLING_WITHOUT

/* "bernoulli", "without", "with" (static strings; "unknown" outside the enum). */
LINSTAB_API const char *linstab_sampling_name(linstab_sampling s);
/* The inverse of linstab_sampling_name (name not NULL) into OUT *s;
 * LINSTAB_EINVAL (param "sampling") on any other name. */
LINSTAB_API linstab_status linstab_sampling_parse(const char *name, linstab_sampling *s,
                                                  linstab_error *err);

/* The coefficients (a, b) above (OUT *a, *b) for n >= 1 samples and batch
 * size B in [1, n] (not checked: linstab_bounds_hyper_check does).
 * (For n = 1 WITHOUT is GD: a = 1, b = 0.) */
LINSTAB_API void linstab_sampling_coeffs(linstab_sampling s, size_t n, size_t B, double *a,
                                         double *b);

/*
 * Effective batch size for a bound whose proof assumes with-replacement
 * noise covariance Sigma/B (Zhou et al. 2025, Thm 4.1): the B_eff with
 * 1/B_eff = b, i.e. B(n-1)/(n-B) (WITHOUT), nB/(n-B) (BERNOULLI), B (WITH);
 * +INFINITY when the mini-batch noise vanishes (B = n, WITHOUT/BERNOULLI).
 */
LINSTAB_API double linstab_sampling_batch_eff(linstab_sampling s, size_t n, size_t B);

/* The Binomial(n, B/n) CDF into cdf (OUT, n + 1 entries; cdf[n] is set to
 * 2 so that every uniform in [0, 1) lands at or before n), for
 * linstab_sampling_draw_cdf.  B in [1, n]. */
LINSTAB_API void linstab_sampling_binomial_cdf(size_t n, size_t B, double *cdf);
/*
 * Draw one batch: indices in [0, n) (with multiplicity for WITH; in no
 * particular order) into idx (OUT, capacity n for BERNOULLI and WITHOUT,
 * B for WITH); returns their number (B, or the Bernoulli count |S|).
 * The random stream is consumed in a fixed way per scheme (reproducible):
 * Bernoulli draws |S| ~ Binomial(n, B/n) and then a uniform |S|-subset,
 * without replacement a uniform B-subset (Floyd's algorithm, Bentley &
 * Floyd 1987), with replacement B uniform indices (Lemire 2019's
 * unbiased multiply-and-reject).  rng: a generator with 32-bit output,
 * such as linstab_rng_stream / _stream_mc; n < 2^32.
 * work: n size_t, all zero on entry (left zero on exit); needed for
 * BERNOULLI and WITHOUT, may be NULL for WITH.
 * cdf (BERNOULLI only; may be NULL): the CDF of
 * linstab_sampling_binomial_cdf for (n, B), so that the batch size costs
 * one uniform instead of GSL's general binomial sampler (the two consume
 * the stream differently).  Never fails, allocates nothing.
 */
LINSTAB_API size_t linstab_sampling_draw_cdf(gsl_rng *rng, linstab_sampling s, size_t n,
                                             size_t B, size_t *idx, size_t *work,
                                             const double *cdf);
/* The same with cdf = NULL. */
LINSTAB_API size_t linstab_sampling_draw(gsl_rng *rng, linstab_sampling s, size_t n,
                                         size_t B, size_t *idx, size_t *work);

#ifdef __cplusplus
}
#endif
#endif
