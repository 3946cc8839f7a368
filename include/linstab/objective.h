/*
 * objective.h -- objectives for the nonlinear dynamics
 * (src/dynamics/objective.c, docs/math.md §6): a function of the iterate
 * w in R^d that is a mean of n per-sample losses, each giving its value,
 * gradient and Hessian-vector products at a point.
 *
 *   quadratic   l(w) = w' L w / 2 with L = diag(spectrum) or a given
 *               symmetric matrix (n = 1)
 *   bartlett    l(w) = w1^2 / (1 + w2^2 / 2) + w2^2 / 2 (d = 2, n = 1;
 *               Bartlett et al. 2023, Figures 3-5)
 *   tanh2       l(u, v) = tanh^2(v tanh u) / 2 (d = 2, n = 1; Zhou et al.
 *               2025, Example 4.1)
 *   family      the linearized dynamics of a Hessian family:
 *               l_i(w) = w' H_i w / 2, i = 1..n (borrowed family)
 *   mlp         an MLP's loss on its data (mlp.h): w is the parameter
 *               vector theta (d = p), sample i the loss of row i
 *               (objective_mlp.c)
 *   custom      any function given by callbacks (linstab_objective_custom)
 *
 * The loss of a batch S is (1/|S|) sum_{i in S} l_i; batch NULL is the full
 * mean.  Closed-form gradients and Hessian-vector products; the tests
 * compare them with central differences.
 */
#ifndef LINSTAB_OBJECTIVE_H
#define LINSTAB_OBJECTIVE_H

#include <stddef.h>

#include "linstab/error.h"
#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_objective_kind {
    LINSTAB_OBJECTIVE_QUADRATIC = 0,
    LINSTAB_OBJECTIVE_BARTLETT,
    LINSTAB_OBJECTIVE_TANH2,
    LINSTAB_OBJECTIVE_FAMILY,
    LINSTAB_OBJECTIVE_MLP,
    LINSTAB_OBJECTIVE_CUSTOM
} linstab_objective_kind;

typedef struct linstab_objective linstab_objective;

/* l(w) = w' diag(spectrum) w / 2 (d entries, each finite; any sign: a
 * saddle or a maximum is a valid objective).  OUT *out (free with
 * linstab_objective_free).  Errors: LINSTAB_EINVAL (d = 0, non-finite
 * entry; param "spectrum"), LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_objective_quadratic(const double *spectrum, size_t d,
                                                       linstab_objective **out,
                                                       linstab_error *err);

/* l(w) = w' L w / 2 with L (d x d row-major, symmetric to 1e-12 relative,
 * copied).  Errors as above, and LINSTAB_EDATA for an asymmetric L. */
LINSTAB_API linstab_status linstab_objective_quadratic_matrix(const double *L, size_t d,
                                                              linstab_objective **out,
                                                              linstab_error *err);

/* Bartlett et al. (2023)'s w1^2/(1 + w2^2/2) + w2^2/2 (d = 2). */
LINSTAB_API linstab_status linstab_objective_bartlett(linstab_objective **out, linstab_error *err);

/* Zhou et al. (2025)'s Example 4.1, tanh^2(v tanh u)/2 at w = (u, v). */
LINSTAB_API linstab_status linstab_objective_tanh2(linstab_objective **out, linstab_error *err);

/* The per-sample quadratics w' H_i w / 2 of f (borrowed: must outlive the
 * objective; any representation). */
LINSTAB_API linstab_status linstab_objective_family(const linstab_family *f,
                                                    linstab_objective **out, linstab_error *err);

/*
 * The mean loss of an MLP (m's shapes, activations and loss; its theta is
 * not used: the iterate is the parameter vector) over the rows of X and Y
 * (checked with linstab_mlp_check_data; targets n x dL for MSE, n labels
 * for CE), d = m->p, n = the number of rows.  m, X and Y are borrowed and
 * must outlive the objective.  Evaluations go through linstab_mlp_loss;
 * one that fails (out of memory) returns NaN, which a trajectory treats as
 * a divergence.  The objective keeps a scratch copy of a batch's rows:
 * it is not safe to evaluate from two threads at once.  Errors:
 * LINSTAB_EINVAL (smoothing outside [0, 1)), LINSTAB_EDATA (data that do
 * not fit the model), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_objective_mlp(const linstab_mlp *m, const linstab_array *X,
                                                 const linstab_array *Y, linstab_loss loss,
                                                 double smoothing, linstab_objective **out,
                                                 linstab_error *err);

/* The callbacks of a custom objective: eval and hvp as linstab_objective_eval
 * and linstab_objective_hvp below (the batch loss is the caller's mean over
 * idx; idx NULL = all n samples), free (may be NULL) releases ctx. */
typedef struct linstab_objective_ops {
    void (*eval)(void *ctx, const double *w, const size_t *idx, size_t count, double *loss,
                 double *grad);
    void (*hvp)(void *ctx, const double *w, const size_t *idx, size_t count, const double *v,
                double *hv);
    void (*free)(void *ctx);
} linstab_objective_ops;

/* An objective of dimension d and n samples from callbacks (ops copied;
 * ctx owned from the call on: ops->free(ctx) runs when the objective is
 * freed, and on failure).  Errors: LINSTAB_EINVAL (eval or hvp NULL, d or
 * n zero), LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_objective_custom(const linstab_objective_ops *ops, void *ctx,
                                                    size_t d, size_t n, linstab_objective **out,
                                                    linstab_error *err);

/* Free o and what it owns (not a borrowed family); NULL is a no-op. */
LINSTAB_API void linstab_objective_free(linstab_objective *o);

/* The kind of o, its dimension d and its number of samples n (1 for the
 * built-in objectives, f->n for a family). */
LINSTAB_API linstab_objective_kind linstab_objective_kind_of(const linstab_objective *o);
LINSTAB_API size_t linstab_objective_dim(const linstab_objective *o);     /* d */
LINSTAB_API size_t linstab_objective_samples(const linstab_objective *o); /* n */

/*
 * The loss of the batch idx[0..count) (idx NULL: all n samples) at w:
 * OUT *loss (may be NULL) and grad (d, may be NULL; overwritten).  Never
 * fails for a finite w; a non-finite result is returned as computed.
 */
LINSTAB_API void linstab_objective_eval(const linstab_objective *o, const double *w,
                                        const size_t *idx, size_t count, double *loss,
                                        double *grad);

/* hv = (Hessian of the batch loss at w) v (d; overwritten). */
LINSTAB_API void linstab_objective_hvp(const linstab_objective *o, const double *w,
                                       const size_t *idx, size_t count, const double *v,
                                       double *hv);

/*
 * The Hessian of the batch loss at w (idx NULL: the full mean) into H
 * (d x d row-major, overwritten): d Hessian-vector products with the unit
 * vectors, symmetrized.  Errors: LINSTAB_ENOMEM (two d-vectors).
 */
LINSTAB_API linstab_status linstab_objective_hessian(const linstab_objective *o, const double *w,
                                                     const size_t *idx, size_t count, double *H,
                                                     linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
