/*
 * train.h -- training MLPs with mini-batch SGD and SAM (docs/math.md §5-6):
 * SAM normalized (Foret et al.) or unnormalized, with the same or an
 * independent ascent batch (Zhou et al. Eq. 4), momentum and weight decay,
 * switching SGD -> SAM at a given step (Zhou et al.), a constant or step learning
 * rate.  Deterministic for a seed: batches are the consecutive slices of a
 * per-epoch permutation drawn from MT19937.  (src/nn/train.c.)
 *
 * The model's loss, gradient, evaluation and sharpness are mlp.h's; this
 * module only steps the parameters.  Nothing is printed (progress goes to
 * a callback) and nothing is kept after a call.
 */
#ifndef LINSTAB_TRAIN_H
#define LINSTAB_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "linstab/export.h"
#include "linstab/optimizer.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The options of a run (start from linstab_train_defaults). */
typedef struct linstab_train_opts {
    linstab_loss loss;
    double smoothing;        /* CE label smoothing in [0, 1)                 */
    double eta, momentum, weight_decay; /* eta > 0; v <- mu v + g + wd theta */
    size_t batch, steps;     /* batch in [1, n]                             */
    linstab_optimizer sam;
    double rho;              /* SAM radius (0: SGD steps)                    */
    int independent_ascent;  /* ascent gradient on another batch            */
    size_t sam_from;         /* SGD before this step, SAM from it (0: always)*/
    size_t decay_at;         /* multiply eta by decay_factor at these steps  */
    double decay_factor;     /* (every decay_at steps; 0 = constant eta)     */
    size_t log_every;        /* full-data loss/accuracy every K steps (0: end)*/
    size_t sharpness_every;  /* lambda1 of the full-data Hessian (0: never)  */
    uint64_t seed;           /* the batch stream's seed                      */
    int quiet;               /* unused by the library (it never prints)     */
    /* optional: called every 50 steps and at the last with the steps done,
     * the total and the batch loss (the library never prints) */
    void (*progress)(size_t done, size_t total, double batch_loss, void *ctx);
    void *progress_ctx;
} linstab_train_opts;

/* The defaults: MSE, eta 0.1, batch 32, 1000 steps, SGD; everything else
 * 0 (no smoothing, momentum, weight decay, decay, logging before the end,
 * sharpness or progress callback; seed 0). */
LINSTAB_API linstab_train_opts linstab_train_defaults(void);

/*
 * Divergence: training stops as diverged at the first step whose batch
 * loss (the batch's mean), or whose full-data loss where it is evaluated
 * (the logged steps), is not finite or exceeds
 *     LINSTAB_TRAIN_DIVERGENCE_FACTOR x max(L0, L_zero),
 * L0 the full-data loss at the initial parameters and L_zero the loss of
 * the output f = 0 (mean ||y||^2 / 2 for mse, log K for ce), so that a
 * network that starts near its targets is not called diverged at a loss
 * of order one.  A growth by 10^6 is far beyond the noise of a batch loss
 * and, for a loss quadratic in the parameters, means they grew by 10^3.
 */
#define LINSTAB_TRAIN_DIVERGENCE_FACTOR 1e6

/* What a training run did (filled even when it fails; NaN where unknown). */
typedef struct linstab_train_result {
    size_t steps;        /* steps taken (the diverging one included)          */
    int diverged;        /* stopped by the divergence rule                    */
    size_t diverged_at;  /* that step (1-based, the log's step), or 0         */
    const char *measure; /* "batch loss" or "full-data loss" that tripped it  */
    double loss0;        /* the full-data loss at the initial parameters      */
    double threshold;    /* the rule's threshold                              */
    double loss;         /* the loss that exceeded it                         */
    double final_loss;   /* the last full-data loss evaluated (L0 if none)    */
} linstab_train_result;

/*
 * Train m in place on X (n x d0) and Y (n x dL for MSE, n labels for CE;
 * checked with linstab_mlp_check_data): m->theta is overwritten by the
 * parameters after the last step taken.  A CSV log (step,eta,batch_loss,
 * loss,accuracy,sharpness; the header, then one row per logged step, each
 * from a successful evaluation, and a row for a diverging step) goes to
 * log (may be NULL; borrowed, not closed).  A diverged run is a result,
 * not a failure: LINSTAB_OK with res->diverged = 1, m holding the
 * parameters after the diverging step.  OUT *res (may be NULL), filled
 * even on failure.  Errors: LINSTAB_EINVAL (batch outside [1, n], eta not
 * positive), LINSTAB_EDATA (data that do not fit the model, a non-finite
 * initial loss), LINSTAB_ENOMEM, and the evaluations' errors (the step's
 * row is then not written).  The log's write errors are the caller's to
 * check (ferror).
 */
LINSTAB_API linstab_status linstab_train_run(linstab_mlp *m, const linstab_array *X,
                                             const linstab_array *Y, const linstab_train_opts *o,
                                             FILE *log, linstab_train_result *res,
                                             linstab_error *err);

/* linstab_train_run without the result: a diverged run is LINSTAB_EDATA
 * ("training diverged at step S: batch loss grew from L0 to L"). */
LINSTAB_API linstab_status linstab_train(linstab_mlp *m, const linstab_array *X,
                                         const linstab_array *Y, const linstab_train_opts *o,
                                         FILE *log, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
