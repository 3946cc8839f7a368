/*
 * optimizer.h -- the one optimizer enum (src/dynamics/optimizer.c), used by
 * every module that runs or analyses an optimizer: the exact operators
 * (secmom.h, sam.h), the linearized dynamics (simulate.h, lyapunov.h),
 * maps (map.h) and training (train.h).
 *
 *   SGD              w <- w - eta g_B(w)
 *   SAM_SAME         unnormalized SAM with one batch B for the ascent and the
 *                    descent: w <- w - eta g_B(w + rho g_B(w))
 *   SAM_INDEP        unnormalized SAM with independent batches for the
 *                    ascent and the descent (exact operators only)
 *   SAM_NORMALIZED   Foret et al. (2021)'s SAM:
 *                    w <- w - eta g_B(w + rho g_B(w) / ||g_B(w)||)
 *   GD               w <- w - eta g(w), the full gradient
 *
 * A module that supports only some of them says which in its header and
 * refuses the others with LINSTAB_EINVAL.
 */
#ifndef LINSTAB_OPTIMIZER_H
#define LINSTAB_OPTIMIZER_H

#include "linstab/error.h"
#include "linstab/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_optimizer {
    LINSTAB_OPT_SGD = 0,
    LINSTAB_OPT_SAM_SAME,
    LINSTAB_OPT_SAM_INDEP,
    LINSTAB_OPT_SAM_NORMALIZED,
    LINSTAB_OPT_GD               /* full-batch gradient descent (trajectory.h) */
} linstab_optimizer;

/* The name of opt as the commands spell it: "sgd", "sam-same",
 * "sam-independent", "sam-normalized", "gd" (a static string; "?" when
 * opt is not one of them). */
LINSTAB_API const char *linstab_optimizer_name(linstab_optimizer opt);

/* Parse one of those names into *opt.  Errors: LINSTAB_EINVAL (param
 * "optimizer") naming the accepted names; *opt is then unchanged. */
LINSTAB_API linstab_status linstab_optimizer_parse(const char *name, linstab_optimizer *opt,
                                                   linstab_error *err);

/* 1 for the three SAM optimizers, 0 for SGD and GD. */
LINSTAB_API int linstab_optimizer_is_sam(linstab_optimizer opt);

#ifdef __cplusplus
}
#endif
#endif
