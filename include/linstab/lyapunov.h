/*
 * lyapunov.h -- almost-sure stability: the top Lyapunov exponent
 * lim (1/t) log ||J_t ... J_1 w|| of the random product (docs/math.md §3).
 * Negative: almost every run converges; positive: almost every run
 * diverges.  Mean-square stability implies almost-sure stability, not
 * conversely.  Implemented in src/stability/lyapunov.c (renormalised
 * products, the one-vector case of Benettin et al. 1980's QR method, and
 * exact enumeration for diagonal families).
 *
 * Both functions borrow f for the call and use the dynamics of simulate.h
 * at (eta, rho, batch, sampling); the parameters are not validated here
 * (linstab_bounds_hyper_check does).
 */
#ifndef LINSTAB_LYAPUNOV_H
#define LINSTAB_LYAPUNOV_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/export.h"
#include "linstab/optimizer.h"
#include "linstab/family.h"
#include "linstab/simulate.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linstab_lyap {
    double exponent; /* per step, natural log */
    double stderr_;  /* standard error over runs (0 when exact) */
    int exact;       /* 1: by enumeration (diagonal families) */
    size_t runs, steps;
} linstab_lyap;

/*
 * Monte Carlo estimate: `runs` independent runs of `steps` steps from a
 * random Gaussian unit start (the first steps/10 discarded), renormalising
 * w every step; run k uses the stream linstab_rng_stream_mc(seed, k), so
 * the result depends on (seed, runs, steps) only.  OUT *out: mean and standard error over
 * runs (exponent -INFINITY, stderr 0 when a run reaches w = 0 exactly),
 * exact = 0; *out is untouched on failure.  OpenBLAS runs single-threaded
 * during the call (set to 1 and put back): not for two threads that use
 * BLAS at once.  Errors: LINSTAB_EINVAL
 * (runs < 2 or steps < 10), LINSTAB_ENOMEM, those of
 * linstab_simulate_alloc.
 */
LINSTAB_API linstab_status linstab_lyapunov_mc(const linstab_family *f, linstab_optimizer dyn,
                                               double eta, double rho, size_t batch,
                                               linstab_sampling sampling, size_t runs,
                                               size_t steps, uint64_t seed, linstab_lyap *out,
                                               linstab_error *err);

/*
 * Exact exponent of a diagonal family whose every coordinate takes one
 * nonzero value c_j on s_j samples (e.g. Dexter et al. 2024's
 * construction): coordinates decouple and the batch count K of coordinate
 * j has a binomial (Bernoulli, with replacement) or hypergeometric
 * (without) law, so the exponent is max_j E log|1 - eta g(c_j K / B)|,
 * g(h) = h (SGD) or h + rho h^2 (SAM 'same'), by enumeration of K (for
 * SAM 'independent' E log|1 - eta h (1 + rho h2)| over two independent
 * counts); a coordinate no sample touches contributes 0.
 * OUT *ok = 1 and *out (exact = 1, stderr 0, runs = steps = 0); or *ok = 0
 * (and nothing else written) when the family is not of that form or the
 * dynamics are not linear (normalized SAM).  Never fails: always
 * LINSTAB_OK, err is not written.
 */
LINSTAB_API linstab_status linstab_lyapunov_diag_exact(const linstab_family *f,
                                                       linstab_optimizer dyn, double eta,
                                                       double rho, size_t batch,
                                                       linstab_sampling sampling,
                                                       linstab_lyap *out, int *ok,
                                                       linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
