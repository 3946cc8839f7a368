/*
 * lyapunov.h -- almost-sure stability: the top Lyapunov exponent
 * lim (1/t) log ||J_t ... J_1 w|| of the random product (docs/math.md §3).
 * Negative: almost every run converges; positive: almost every run
 * diverges.  Mean-square stability implies almost-sure stability, not
 * conversely.
 */
#ifndef LINSTAB_LYAPUNOV_H
#define LINSTAB_LYAPUNOV_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/export.h"
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
 * Monte Carlo estimate: `runs` independent runs of `steps` steps (the first
 * steps/10 discarded), renormalising w every step; run k uses the stream
 * linstab_rng_stream(seed, k).  Mean and standard error over runs.
 */
LINSTAB_API linstab_status linstab_lyapunov_mc(const linstab_family *f, linstab_dynamics dyn,
                                               double eta, double rho, size_t batch,
                                               linstab_sampling sampling, size_t runs,
                                               size_t steps, uint64_t seed, linstab_lyap *out,
                                               linstab_error *err);

/*
 * Exact exponent of a diagonal family whose every coordinate takes one
 * nonzero value c_j on s_j samples (e.g. Dexter et al.'s construction): coordinates
 * decouple and the batch count K of coordinate j has a binomial
 * (Bernoulli, with replacement) or hypergeometric (without) law, so the
 * exponent is max_j E log|1 - eta g(c_j K / B)|, by enumeration of K.
 * OUT *ok = 0 (and nothing else) when the family is not of that form or
 * the dynamics are not linear (normalized SAM).
 */
LINSTAB_API linstab_status linstab_lyapunov_diag_exact(const linstab_family *f,
                                                       linstab_dynamics dyn, double eta,
                                                       double rho, size_t batch,
                                                       linstab_sampling sampling,
                                                       linstab_lyap *out, int *ok,
                                                       linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
