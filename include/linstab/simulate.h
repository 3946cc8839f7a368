/*
 * simulate.h -- the linearized dynamics w <- J w with a random batch per
 * step (docs/math.md §3, §5), on any family representation at the cost
 * of B sample applications per step (never O(d^2) for diagonal or
 * factored families).
 *
 *   SGD            w <- w - eta Hhat w
 *   SAM_SAME       g = Hhat w;  w <- w - eta (g + rho Hhat g)
 *   SAM_INDEP      w <- w - eta Hhat1 (w + rho Hhat2 w), independent batches
 *   SAM_NORMALIZED w <- w - eta Hhat (w + rho g/||g||), g = Hhat w (Foret et al. 2021)
 * with Hhat = (1/B) sum_{i in S} H_i for the batch S of the sampling scheme
 * (1/B, not 1/|S|, also for a Bernoulli batch).  The first three are
 * linear in w, so a caller may rescale w between steps (the Monte Carlo
 * protocols do); SAM_NORMALIZED is the nonlinear Foret et al. step, not
 * homogeneous in w (docs/math.md §6): its iterates must be run as they
 * are, never rescaled (linstab_map_cell_run_normalized).  Implemented in
 * src/dynamics/simulate.c.
 */
#ifndef LINSTAB_SIMULATE_H
#define LINSTAB_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "linstab/export.h"
#include "linstab/optimizer.h"
#include "linstab/family.h"
#include "linstab/rng.h"
#include "linstab/sampling.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linstab_sim linstab_sim;
/* The batch-independent structure of a family for the dynamics: for a
 * diagonal family the nonzeros of its samples and the layout of the
 * Bernoulli lanes (see linstab_simulate_diag_run) -- one scan of the n x d
 * diagonals, shared by every workspace made from it (a map's cells at one
 * family and different eta, batch, rho). */
typedef struct linstab_sim_plan linstab_sim_plan;

/* The plan of f (borrowed: must outlive the plan and every workspace made
 * from it, and not change under them).  OUT *out (NULL on failure; free
 * with linstab_simulate_plan_free, after the workspaces made from it).
 * Immutable once made: workspaces on several threads may share it.
 * Errors: LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_simulate_plan_make(const linstab_family *f, linstab_sim_plan **out,
                                                      linstab_error *err);
/* Free a plan (may be NULL). */
LINSTAB_API void linstab_simulate_plan_free(linstab_sim_plan *plan);

/* linstab_simulate_alloc on the plan's family, borrowing plan (which must
 * outlive the workspace): the same workspace, the same numbers, without
 * rescanning the family.  Errors: LINSTAB_EINVAL (gd), LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_simulate_alloc_plan(const linstab_sim_plan *plan, linstab_optimizer dyn,
                                                       double eta, double rho, size_t batch,
                                                       linstab_sampling sampling, linstab_sim **out,
                                                       linstab_error *err);

/* The kernels of linstab_simulate_diag_run's Bernoulli lanes: 0 (the
 * default) the best the CPU has (AVX-512, AVX2, portable), 1 the portable
 * ones, 2 at most AVX2 (other values: 0).  All give the same bits (the
 * same numbers, the same operations in the same order); this is for the
 * tests that check so.  Never fails. */
LINSTAB_API void linstab_simulate_portable(linstab_sim *s, int level);

/* Workspace for the dynamics dyn at (eta, rho, batch, sampling) on f
 * (borrowed: must outlive the workspace and not change under it): index
 * and vector buffers, the Binomial CDF for Bernoulli batch sizes, and the
 * nonzeros of a diagonal family.  The parameters are not validated here
 * (batch in [1, n]: linstab_bounds_hyper_check).  OUT *out (NULL on failure;
 * free with linstab_simulate_free).  Errors: LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_simulate_alloc(const linstab_family *f, linstab_optimizer dyn,
                                             double eta, double rho, size_t batch,
                                             linstab_sampling sampling, linstab_sim **out,
                                             linstab_error *err);
/* Free s (may be NULL); the family is not touched. */
LINSTAB_API void linstab_simulate_free(linstab_sim *s);

/* One step w <- J w (w of length d, overwritten) with a batch (two for
 * SAM_INDEP: the descent batch first, then the ascent one) drawn from rng
 * (linstab_sampling_draw_cdf).  Uses s's buffers: one workspace per
 * thread.  Never fails. */
LINSTAB_API void linstab_simulate_step(linstab_sim *s, gsl_rng *rng, double *w);

/* The workspace's dynamics, eta and rho as given to linstab_simulate_alloc:
 * OUT *dyn, *eta, *rho (each may be NULL).  Never fails. */
LINSTAB_API void linstab_simulate_params(const linstab_sim *s, linstab_optimizer *dyn, double *eta,
                                         double *rho);

/* y = Hhat x = (1/B) sum_c H_{idx[c]} x for the batch idx[0..count)
 * (normalised by the workspace's B, not by count).  OUT y (length d,
 * overwritten; must not alias x).  Uses a scratch vector of s despite the
 * const: not for concurrent calls on one s. */
LINSTAB_API void linstab_simulate_batch_apply(const linstab_sim *s, const size_t *idx, size_t count,
                                         const double *x, double *y);

/*
 * The Dexter et al. (2024) protocol's inner loop on a diagonal family for
 * SGD and SAM 'same' (linear dynamics only: it rescales w), touching only
 * the coordinates a batch selects (O(B) per step instead of O(d)): at
 * most `steps` steps from w (length d, the protocol's unit start;
 * overwritten, and rescaled to unit norm whenever ||w|| leaves
 * [1e-100, 1e100], so that only the direction of w is meaningful on
 * return).  Returns +1 (log||w|| reached lg), -1
 * (reached -ls, or w = 0 exactly: *lognorm = -INFINITY), 0 (neither in
 * `steps`), with OUT *lognorm the log of the true norm at the stop; or 2
 * (nothing touched) if this fast path does not apply (the caller then
 * steps with linstab_simulate_step).  With Bernoulli sampling on a family
 * whose samples each touch at most one coordinate (one value per
 * coordinate, as Dexter et al.'s construction), only the counts matter: a
 * step draws one Bernoulli(B/n) bit per nonzero sample, 64 at a time (one
 * uniform byte per sample from eight xoshiro256++ generators side by side,
 * seeded by two numbers of rng, compared lazily with B/n's base-256
 * expansion: exact), and multiplies each coordinate by its factor at its
 * count (same law as the index sampler, another random stream); the
 * AVX2 / AVX-512 kernels, where the CPU has them, give the bits of the
 * portable one.  Uses s's buffers; never fails.
 */
LINSTAB_API int linstab_simulate_diag_run(linstab_sim *s, gsl_rng *rng, double *w, size_t steps,
                                     double lg, double ls, double *lognorm);



#ifdef __cplusplus
}
#endif
#endif
