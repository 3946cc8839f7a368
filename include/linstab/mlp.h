/*
 * mlp.h -- multi-layer perceptrons, their checkpoints, and per-sample
 * derivatives through the autograd engine (ad.h): docs/math.md §8.
 *
 *   f(x) = W_L act(... act(W_1 x + b_1) ...) + b_L
 * The parameter vector is W_1 (row-major, d1 x d0), b_1, W_2, b_2, ...: the
 * order of every gradient, Hessian and factor linstab writes.
 * Checkpoint: a folder with model.json {"layers": [d0, ..., dL],
 * "activation": "tanh", "bias": true} and W1.npy (d1 x d0), b1.npy (d1,), ...
 * Losses: squared l = ||f(x) - y||^2 / 2, and softmax cross-entropy with
 * label smoothing alpha (targets: class indices stored as doubles).
 */
#ifndef LINSTAB_MLP_H
#define LINSTAB_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/ad.h"
#include "linstab/family.h"
#include "linstab/npy.h"
#include "linstab/export.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LINSTAB_MLP_MAX_LAYERS 16

typedef enum linstab_loss { LINSTAB_LOSS_MSE = 0, LINSTAB_LOSS_CE } linstab_loss;

typedef struct linstab_mlp {
    size_t nlayers;                          /* L (weight matrices)      */
    size_t sizes[LINSTAB_MLP_MAX_LAYERS + 1]; /* d0 .. dL                 */
    linstab_ad_op act;                        /* TANH, RELU, SIGMOID, SOFTPLUS, GELU */
    int bias;
    size_t p;                                 /* number of parameters     */
    double *theta;                            /* p, owned                 */
} linstab_mlp;

/* Parse "tanh", "relu", "sigmoid", "softplus", "gelu". */
LINSTAB_API linstab_status linstab_mlp_act_parse(const char *s, linstab_ad_op *act,
                                                 linstab_error *err);
LINSTAB_API const char *linstab_mlp_act_name(linstab_ad_op act);

/* An MLP with zero parameters (OUT *out; free with linstab_mlp_free). */
LINSTAB_API linstab_status linstab_mlp_alloc(const size_t *sizes, size_t nlayers, linstab_ad_op act,
                                             int bias, linstab_mlp **out, linstab_error *err);
LINSTAB_API void linstab_mlp_free(linstab_mlp *m);

/* Offsets of W_l and b_l (l = 1..L) in theta. */
LINSTAB_API size_t linstab_mlp_w_offset(const linstab_mlp *m, size_t l);
LINSTAB_API size_t linstab_mlp_b_offset(const linstab_mlp *m, size_t l);

/* Load / save a checkpoint folder (see above).  Load checks that shapes
 * chain and that every entry is finite. */
LINSTAB_API linstab_status linstab_mlp_load(const char *dir, linstab_mlp **out, linstab_error *err);
LINSTAB_API linstab_status linstab_mlp_save(const linstab_mlp *m, const char *dir,
                                            linstab_error *err);

/* Outputs f(x_r) for m rows of X (rows x d0) into F (rows x dL). */
LINSTAB_API linstab_status linstab_mlp_forward(const linstab_mlp *m, const double *X, size_t rows,
                                               double *F, linstab_error *err);

/*
 * Sum over the rows of the per-sample loss, its gradient (p, may be NULL)
 * and, for a direction v (p, may be NULL), the Hessian-vector product hv
 * (p, may be NULL).  Y: rows x dL targets (MSE) or rows labels (CE).
 */
LINSTAB_API linstab_status linstab_mlp_loss(const linstab_mlp *m, const double *X, const double *Y,
                                            size_t rows, linstab_loss loss, double smoothing,
                                            const double *v, double *value, double *grad,
                                            double *hv, linstab_error *err);

/*
 * out = (1/n) sum_i H_i (H_i v) over the n rows (H_i: the exact Hessian of
 * row i's loss, all terms), in two batched forward-over-reverse passes:
 * the per-sample products H_i v enter the second pass only through
 * per-sample scalars (mlp.c), so no per-sample pass and no n x p buffer.
 * hv (may be NULL): also (1/n) sum_i H_i v, from the first pass; out may be
 * NULL for that alone (linstab_mlp_hvp).
 */
LINSTAB_API linstab_status linstab_mlp_m2_product(const linstab_mlp *m, const double *X, const double *Y,
                                                  size_t n, linstab_loss loss, double smoothing,
                                                  const double *v, double *out, double *hv, linstab_error *err);

/* (1/n) sum_i H_i v (the mean loss's Hessian times v), batched by hand:
 * the same numbers as linstab_mlp_loss's tape divided by n, faster. */
LINSTAB_API linstab_status linstab_mlp_hvp(const linstab_mlp *m, const double *X, const double *Y, size_t n,
                                           linstab_loss loss, double smoothing, const double *v, double *hv,
                                           linstab_error *err);

/* Exact Hessian of one sample's loss (p x p, all terms): forward-over-
 * reverse along all p unit directions at once (mlp.c); the same numbers
 * as p Hessian-vector products with linstab_mlp_loss. */
LINSTAB_API linstab_status linstab_mlp_sample_hessian(const linstab_mlp *m, const double *x,
                                                      const double *y, linstab_loss loss,
                                                      double smoothing, double *H,
                                                      linstab_error *err);

/* Jacobian of the outputs at one sample, transposed: U = J' (p x dL), the
 * Gauss-Newton factor of the squared loss (H = U U' at interpolation). */
LINSTAB_API linstab_status linstab_mlp_sample_jacobian_t(const linstab_mlp *m, const double *x,
                                                         double *U, linstab_error *err);

/*
 * Check inputs X (n x d0) and targets (n x dL for MSE, n labels for CE)
 * against the model: shapes, finite values, labels in range.  Messages
 * name the sample.  LINSTAB_EDATA on failure.
 */
LINSTAB_API linstab_status linstab_mlp_check_data(const linstab_mlp *m, const linstab_array *X,
                                                  const linstab_array *Y, linstab_loss loss,
                                                  linstab_error *err);

/*
 * Where a checkpoint sits, for the premise of every stability result:
 * an interpolating minimum, where each per-sample loss l_i is minimal
 * (grad l_i = 0 for every i, so H_i is PSD for the squared loss and
 * H_i = J_i' J_i).  mean_loss = (1/n) sum_i l_i, grad_norm = ||grad L||,
 * max_sample_grad_norm = max_i ||grad l_i||, param_norm = ||theta||.
 * OUT *out.  Errors: those of linstab_mlp_check_data, LINSTAB_ENOMEM.
 */
typedef struct linstab_mlp_point {
    double mean_loss, grad_norm, max_sample_grad_norm, param_norm;
} linstab_mlp_point;

LINSTAB_API linstab_status linstab_mlp_point_at(const linstab_mlp *m, const linstab_array *X,
                                                const linstab_array *Y, linstab_loss loss, double smoothing,
                                                linstab_mlp_point *out, linstab_error *err);

/*
 * The rule linstab reports: the point is an interpolating minimum when
 * max_i ||grad l_i|| <= LINSTAB_MINIMUM_GRAD_RTOL max(1, lambda1(H) ||theta||)
 * (the gradient is small against the curvature times the scale of the
 * parameters) and lambda_min(H) >= -LINSTAB_MINIMUM_CURV_RTOL lambda1(H)
 * (no negative curvature beyond rounding; NaN lambda_min: not known,
 * taken as none).  1 if so, else 0.
 */
#define LINSTAB_MINIMUM_GRAD_RTOL 1e-6
#define LINSTAB_MINIMUM_CURV_RTOL 1e-8
LINSTAB_API int linstab_mlp_point_is_minimum(const linstab_mlp_point *pt, double sharpness, double lambda_min);
/* Its first half alone: the per-sample gradients vanish by that rule. */
LINSTAB_API int linstab_mlp_point_stationary(const linstab_mlp_point *pt, double sharpness);

/*
 * The per-sample Hessian family at the samples of X: exact Hessians
 * (DENSE, n x p x p) or, with gn, Gauss-Newton factors U_i = J_i'
 * (FACTORED, n x p x dL; squared loss).  Samples are computed in parallel
 * with one BLAS thread each; the result does not depend on the thread
 * count.  OUT *out (caller frees).  max_bytes (0: no limit) is checked
 * before allocating (LINSTAB_ENOMEM).
 */
LINSTAB_API linstab_status linstab_mlp_family(const linstab_mlp *m, const linstab_array *X,
                                              const linstab_array *Y, linstab_loss loss,
                                              double smoothing, int gn, size_t max_bytes,
                                              struct linstab_family **out, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
