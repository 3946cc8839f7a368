/*
 * exact.h -- what is exactly true: mean-square radius and critical values
 * of SGD and SAM, and the almost-sure (Lyapunov) exponent, for a family at
 * (eta, B, rho, sampling).  The orchestration behind `linstab check`'s
 * "exact" section and `linstab critical`.
 *
 * SAM: 'independent' batches for every B and sampling; 'same' batch at
 * B = 1 (with / without replacement: SGD on K_i = H_i + rho H_i^2), at
 * B = n without replacement (full batch), and at any other B through the
 * set-partition moment expansion (sam.h) when the rank is at most
 * LINSTAB_SAM_SAME_MAX_R.  Cases beyond are reported as unavailable, never
 * approximated.  Implemented in src/stability/exact.c, on top of
 * critical.h, secmom.h, sam.h and lyapunov.h.
 */
#ifndef LINSTAB_EXACT_H
#define LINSTAB_EXACT_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/bounds.h"
#include "linstab/eigen.h"
#include "linstab/export.h"
#include "linstab/optimizer.h"
#include "linstab/family.h"
#include "linstab/lyapunov.h"
#include "linstab/sam.h"
#include "linstab/sgd.h"
#include "linstab/error.h"
#include "linstab/verdict.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linstab_exact_opts {
    linstab_eigen_opts eigen;
    size_t lyap_runs, lyap_steps; /* Monte Carlo Lyapunov (0: 8 runs, 2000 steps) */
    uint64_t seed;
    int skip_lyapunov;
    size_t lemma_k; /* Dexter et al. 2024 Lemma 4.1 terms k = 1..lemma_k
                     * (0: 10; larger than LINSTAB_LEMMA_KMAX: clamped) */
    /* optional: called before each stage (stage 0..LINSTAB_EXACT_STAGES-1,
     * its name) and once with stage = LINSTAB_EXACT_STAGES when done; the
     * library never prints, a command line shows a progress bar with it */
    void (*progress)(int stage, const char *name, void *ctx);
    void *progress_ctx;
    /* optional (same ctx): the work inside each stage, for a progress bar
     * with an ETA.  Called at the stage's start with done = 0, as units
     * are done, and at its end with done = total (>= 1).  The units:
     *   0 SGD eta*, 1 SGD radius, 3 SAM radius: the one solve (0/1, 1/1);
     *   2 critical B: eta* solves; total AT MOST (the refinement's 4 and
     *     the scan's cap, critical.c), revised down as the scan goes;
     *   4 SAM eta*, 5 critical rho: radius evaluations of the bisection
     *     (linstab_critical_param); total an ESTIMATE until the bracket is
     *     found (the next doubling brackets the root, log2(1/rtol) halvings,
     *     the 8-point monotonicity grid for rho), then at most; the special
     *     cases solved in closed form or by one eta* are one unit;
     *   6 Lemma 4.1: its lemma_k terms (exact);
     *   7 Lyapunov: Monte Carlo steps, runs x steps (exact), reported every
     *     1/16 of a run; the exact diagonal formula is one unit.
     * total may change between calls (never below done; 0 at a stage's
     * start: not known yet); the library never prints. */
    void (*progress_units)(int stage, size_t done, size_t total, void *ctx);
} linstab_exact_opts;

#define LINSTAB_EXACT_STAGES 8

#define LINSTAB_LEMMA_KMAX 64

/* The defaults: linstab_eigen_defaults(), 8 Lyapunov runs of 2000 steps,
 * seed 0, Lyapunov on, lemma_k 0 (10), no progress callbacks. */
LINSTAB_API linstab_exact_opts linstab_exact_defaults(void);

typedef struct linstab_exact {
    double sgd_radius;            /* NaN: the eigensolver did not converge;
                                   * the verdict then follows from eta* */
    int sgd_stable;               /* sgd_verdict is STABLE or MARGINAL */
    linstab_verdict sgd_verdict;  /* the rule of verdict.h */
    double radius_tol;            /* the tolerance of that rule for SGD's radius */
    double sgd_eta_star;          /* mean-square critical eta at (B, sampling);
                                   * 0: no eta > 0 is stable (l_j <= 0) */
    size_t sgd_critical_batch;    /* smallest stable B at eta; 0: none <= n */
    int sam_available;
    linstab_optimizer sam_variant;
    double sam_radius;
    int sam_stable;               /* sam_verdict is STABLE or MARGINAL */
    linstab_verdict sam_verdict;
    double sam_radius_tol;
    double sam_eta_star;          /* at (B, rho); 0: no eta > 0 is stable (the
                                   * mean step I - eta K has K with an
                                   * eigenvalue <= 0) */
    double sam_critical_rho;      /* sup of stable rho at eta; NaN: unstable at rho = 0 */
    int sam_rho_monotone;
    linstab_lyap lyap;            /* of the dynamics run: SGD if rho = 0, else SAM */
    int lyap_done;
    size_t lemma_k;               /* Dexter et al. 2024, Lemma 4.1 (Bernoulli, on the range): */
    double lemma_trace[LINSTAB_LEMMA_KMAX]; /* tr(T^k(I)) = E||J_k...J_1||_F^2       */
    double lemma_lower[LINSTAB_LEMMA_KMAX]; /* c^k tr(N^k(I)), c = eta^2/(nB) - eta^2/n^2 */
} linstab_exact;

/*
 * Dexter et al. (2024) Lemma 4.1 quantities for SGD with Bernoulli
 * sampling on the range of the rotated family rf (borrowed) at (eta,
 * batch): trace[k-1] = tr(T^k(I)) exactly and lower[k-1] = c^k tr(N^k(I))
 * with N(X) = sum_i H_i X H_i and c = eta^2/(nB) - eta^2/n^2, the lemma's
 * lower-bound term (k = 1..K).  OUT trace, lower (K entries each,
 * overwritten).  Errors: LINSTAB_ENOMEM, those of linstab_secmom_alloc and
 * linstab_family_sandwich.
 */
LINSTAB_API linstab_status linstab_exact_lemma41(const linstab_rotated *rf, double eta, size_t batch,
                                           size_t K, double *trace, double *lower,
                                           linstab_error *err);

/*
 * The tolerance of verdict.h for a radius of T on rf at (eta, rho): T
 * has dimension r(r+1)/2 and entries of size (1 + eta k)^2, k the largest
 * |l_j| + rho l_j^2; the matrix-free path (the path eo would choose for
 * that dimension) adds ARPACK's tolerance.  eo may be NULL (the defaults).
 * What linstab_exact_compute uses.  Pure: no failure.
 */
LINSTAB_API double linstab_exact_radius_tol(const linstab_rotated *rf, double eta, double rho,
                                            const linstab_eigen_opts *eo);

/*
 * Everything in linstab_exact for the rotated family rf (from
 * linstab_family_rotated_make) at the hyper-parameters h, SAM variant
 * `variant`, with opts (required; linstab_exact_defaults): in order SGD
 * eta*, SGD radius and verdict, critical B, SAM radius / eta* / critical
 * rho (when sam_available), Lemma 4.1, Lyapunov exponent of the dynamics
 * run (exact for diagonal families of Dexter et al. 2024's kind, else Monte
 * Carlo; skipped with opts->skip_lyapunov).  rf, h and opts are borrowed
 * for the call; opts->progress is called from this thread.  OUT *out,
 * zeroed first and filled stage by stage (on failure the later fields stay
 * 0).  Errors: LINSTAB_EINVAL from linstab_bounds_hyper_check and
 * linstab_bounds_hyper_check_scale (eta, B, rho and eta k, rho k against the
 * largest |l_j|), then those of every stage (LINSTAB_ENOMEM,
 * LINSTAB_ELAPACK, LINSTAB_ENOCONV except for the SGD radius when eta* is
 * finite).
 */
LINSTAB_API linstab_status linstab_exact_compute(const linstab_rotated *rf,
                                                 const linstab_hyper *h,
                                                 linstab_optimizer variant,
                                                 const linstab_exact_opts *opts,
                                                 linstab_exact *out, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
