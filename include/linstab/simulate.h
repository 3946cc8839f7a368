/*
 * simulate.h -- the linearized dynamics w <- J w with a random batch per
 * step (docs/math.md §3, §5), on any family representation at the cost
 * of B sample applications per step (never O(d^2) for diagonal or
 * factored families).
 *
 *   SGD            w <- w - eta Hhat w
 *   SAM_SAME       g = Hhat w;  w <- w - eta (g + rho Hhat g)
 *   SAM_INDEP      w <- w - eta Hhat1 (w + rho Hhat2 w), independent batches
 *   SAM_NORMALIZED w <- w - eta Hhat (w + rho g/||g||), g = Hhat w (Foret et al.)
 * with Hhat = (1/B) sum_{i in S} H_i for the batch S of the sampling scheme.
 */
#ifndef LINSTAB_SIMULATE_H
#define LINSTAB_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/rng.h"
#include "linstab/sampling.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_dynamics {
    LINSTAB_DYN_SGD = 0,
    LINSTAB_DYN_SAM_SAME,
    LINSTAB_DYN_SAM_INDEP,
    LINSTAB_DYN_SAM_NORMALIZED
} linstab_dynamics;

typedef struct linstab_sim linstab_sim;

/* Workspace for the dynamics on f (borrowed).  OUT *out. */
LINSTAB_API linstab_status linstab_simulate_alloc(const linstab_family *f, linstab_dynamics dyn,
                                             double eta, double rho, size_t batch,
                                             linstab_sampling sampling, linstab_sim **out,
                                             linstab_error *err);
LINSTAB_API void linstab_simulate_free(linstab_sim *s);

/* One step w <- J w (w of length d) with a batch drawn from rng. */
LINSTAB_API void linstab_simulate_step(linstab_sim *s, gsl_rng *rng, double *w);

/* y = Hhat x for the batch idx[0..count) (normalised by B). */
LINSTAB_API void linstab_simulate_batch_apply(const linstab_sim *s, const size_t *idx, size_t count,
                                         const double *x, double *y);

/*
 * The Dexter et al. protocol's inner loop on a diagonal family for SGD and SAM 'same',
 * touching only the coordinates a batch selects (O(B) per step instead of
 * O(d)).  w: unit start (modified).  Returns +1 (log||w|| reached lg),
 * -1 (reached -ls or w = 0), 0 (neither in `steps`), or 2 if this fast path
 * does not apply (the caller then steps with linstab_simulate_step).
 */
LINSTAB_API int linstab_simulate_diag_run(linstab_sim *s, gsl_rng *rng, double *w, size_t steps,
                                     double lg, double ls, double *lognorm);



#ifdef __cplusplus
}
#endif
#endif
