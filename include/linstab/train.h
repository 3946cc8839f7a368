/*
 * train.h -- training MLPs with mini-batch SGD and SAM (docs/math.md §5-6):
 * SAM normalized (Foret et al.) or unnormalized, with the same or an
 * independent ascent batch (Zhou et al. Eq. 4), momentum and weight decay,
 * switching SGD -> SAM or SAM -> SGD at a given step (Zhou et al. (2025),
 * Sharpness-aware minimization efficiently selects flatter minima late in
 * training), a constant or step learning rate, a resumed run, test-set
 * metrics and a stability monitor (the exact mean-square critical learning
 * rate of the current iterate, below).  Deterministic for a seed: batches are
 * the consecutive slices of a per-epoch permutation drawn from MT19937.
 * (src/nn/train.c; the monitor in src/nn/train_monitor.c.)
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
    size_t sgd_from;         /* SAM before this step, SGD from it (0: never);
                              * with both: sam_from < sgd_from, SAM on the
                              * steps t (0-based) with sam_from <= t < sgd_from */
    size_t decay_at;         /* multiply eta by decay_factor at these steps  */
    double decay_factor;     /* (every decay_at steps; 0 = constant eta)     */
    size_t log_every;        /* full-data loss/accuracy every K steps (0: end)*/
    size_t sharpness_every;  /* lambda1 of the full-data Hessian (0: never)  */
    uint64_t seed;           /* the batch stream's seed                      */
    size_t start_step;       /* resume: the first start_step steps are taken as
                              * done (batches drawn, schedules advanced, no
                              * parameter update); steps start_step+1..steps
                              * are run.  With m holding the checkpoint of
                              * step start_step of the same run (same seed,
                              * batch, schedule, no momentum), the result is
                              * bitwise that of the whole run.  The momentum
                              * buffer restarts at 0; the divergence rule's L0
                              * is the loss at the resumed parameters. */
    /* optional test set (borrowed; both or neither): test_loss and
     * test_accuracy at every logged step */
    const linstab_array *test_X, *test_Y;
    size_t monitor_every;    /* the stability monitor every K steps (0: never) */
    size_t monitor_samples;  /* its subsample size M (0: the default below;
                              * capped at n)                                */
    int quiet;               /* unused by the library (it never prints)     */
    /* optional: called every 50 steps and at the last with the steps done,
     * the total and the batch loss (the library never prints) */
    void (*progress)(size_t done, size_t total, double batch_loss, void *ctx);
    void *progress_ctx;
    /* optional (same ctx): called with phase "sharpness" or "monitor"
     * before each such full-data computation after step done of total, and
     * with "train" when the steps go on, so that a progress display can say
     * what the time goes to (NULL: not called) */
    void (*progress_phase)(const char *phase, size_t done, size_t total, void *ctx);
} linstab_train_opts;

/* The monitor's default subsample: M = LINSTAB_TRAIN_MONITOR_ROWS / dL
 * samples (dL outputs each, so that the family's M dL Gram rows are at most
 * 256; at least 1).  Its cost grows about as (M dL)^3 to (M dL)^4. */
#define LINSTAB_TRAIN_MONITOR_ROWS 256

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
 * loss,accuracy,sharpness, then test_loss,test_accuracy with a test set and
 * monitor_sharpness,eta_star_sgd,eta_star with the monitor; the header, then
 * one row per logged step, each from a successful evaluation, and a row for
 * a diverging step) goes to log (may be NULL; borrowed, not closed).  The
 * logged steps: every log_every, every monitor_every, the last and a
 * diverging one; a column not computed at a row is empty (sharpness and the
 * monitor are not computed at a diverging step).  A diverged run is a result,
 * not a failure: LINSTAB_OK with res->diverged = 1, m holding the
 * parameters after the diverging step.  OUT *res (may be NULL), filled
 * even on failure.  Errors: LINSTAB_EINVAL (batch outside [1, n], eta not
 * positive, sam_from, sgd_from or start_step beyond steps, sgd_from <=
 * sam_from when both are nonzero, a test set without both arrays),
 * LINSTAB_EDATA (data or test data
 * that do not fit the model, a non-finite initial loss), LINSTAB_ENOMEM,
 * the monitor's errors and the evaluations' errors (the step's
 * row is then not written).  The log's write errors are the caller's to
 * check (ferror).
 */
LINSTAB_API linstab_status linstab_train_run(linstab_mlp *m, const linstab_array *X,
                                             const linstab_array *Y, const linstab_train_opts *o,
                                             FILE *log, linstab_train_result *res,
                                             linstab_error *err);

/*
 * The stability monitor (src/nn/train_monitor.c).  At the iterate theta,
 * on a FIXED subsample of M training points: the Gauss-Newton family
 * H_i = J_i'J_i (J_i the Jacobian of the outputs at sample i; the Hessian
 * of the squared loss at an interpolating point), built from the NTK Gram
 * matrix (linstab_mlp_ntk_gram, linstab_family_from_gram: exact on the
 * range of H, never p x p), and on it
 *   sharpness     lambda1 of H = (1/M) sum_i H_i (the subsample's
 *                 Gauss-Newton mean Hessian, not the full data's Hessian)
 *   eta_star_sgd  the exact mean-square critical learning rate of
 *                 linearized SGD (critical.h) at batch min(B, M) drawn
 *                 without replacement from the M samples
 *   eta_star      that of the optimizer: eta_star_sgd for SGD (or rho = 0);
 *                 SAM unnormalized ('same' batch, or independent ascent
 *                 batches: linstab_sam_eta_star) at rho where sam.h has the
 *                 exact operator; NaN for normalized SAM (not linear) and
 *                 where no exact operator exists.
 * eta / eta_star near 1 is the edge of (mean-square) stability.  The
 * subsample is the indices of linstab_train_monitor_indices(n, M, seed).
 */
typedef struct linstab_train_monitor {
    double sharpness, eta_star_sgd, eta_star;
    size_t batch; /* min(B, M) */
    size_t rank;  /* of the family on range(H) */
} linstab_train_monitor;

/* OUT idx (M entries, increasing): M distinct indices of 0..n-1 drawn
 * from the seed's monitor stream (M <= n; M = n: all).  Cannot fail. */
LINSTAB_API void linstab_train_monitor_indices(size_t n, size_t M, uint64_t seed, size_t *idx);

/* The monitor of m at the subsample Xs (M x d0; its rows as given) for
 * batch B (capped at M), optimizer opt (SGD, SAM_SAME, SAM_INDEP,
 * SAM_NORMALIZED) at rho.  Cost: the (M dL)^2 Gram matrix, its eigen-
 * decomposition and the critical-eta eigenproblem on r(r+1)/2 coordinates
 * (r <= M dL the rank): about 0.02-0.6 s at M dL <= 256 on small to
 * 784-300-10 networks, 67 s at M dL = 640.  OUT *out (NaN fields on
 * failure).  Errors: LINSTAB_EINVAL (shape of Xs, batch 0), LINSTAB_EDATA
 * (a non-finite Gram entry: an overflowing iterate), LINSTAB_ENOMEM,
 * LINSTAB_ELAPACK, LINSTAB_ENOCONV. */
LINSTAB_API linstab_status linstab_train_monitor_at(const linstab_mlp *m, const linstab_array *Xs, size_t batch,
                                                    linstab_optimizer opt, double rho,
                                                    linstab_train_monitor *out, linstab_error *err);
/* The same on the Gauss-Newton family of `loss` (mlp.h,
 * linstab_mlp_sample_gn_factor): for CE the generalized Gauss-Newton
 * H_i = J_i'(diag(p_i) - p_i p_i')J_i, from linstab_mlp_gn_gram; for MSE
 * linstab_train_monitor_at.  linstab_train_run uses it with its loss. */
LINSTAB_API linstab_status linstab_train_monitor_gn_at(const linstab_mlp *m, const linstab_array *Xs,
                                                       linstab_loss loss, size_t batch, linstab_optimizer opt,
                                                       double rho, linstab_train_monitor *out, linstab_error *err);

/* linstab_train_run without the result: a diverged run is LINSTAB_EDATA
 * ("training diverged at step S: batch loss grew from L0 to L"). */
LINSTAB_API linstab_status linstab_train(linstab_mlp *m, const linstab_array *X,
                                         const linstab_array *Y, const linstab_train_opts *o,
                                         FILE *log, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
