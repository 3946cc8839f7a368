/*
 * nn_internal.h -- declarations shared by the files of src/nn/ (the
 * autograd engine, the MLP model and its per-sample derivatives), not
 * exported.
 */
#ifndef LINSTAB_NN_INTERNAL_H
#define LINSTAB_NN_INTERNAL_H

#include <stddef.h>

#include "linstab/ad.h"
#include "linstab/eigen.h"
#include "linstab/operator.h"
#include "linstab/mlp.h"

/*
 * THE numeric forward pass of an MLP (docs/math.md §8) over `rows`
 * samples, every row at once:
 *     Z_l = A_{l-1} W_l' + 1 b_l'   (one GEMM per layer, then the bias)
 *     A_l = act(Z_l) for l < L,  A_L = out_act(Z_L) = f(X)
 * (A_L = Z_L without an output activation), with A_0 = X (rows x d0,
 * borrowed).  Layers 1..upto are computed
 * (upto = m->nlayers for the outputs; m->nlayers - 1 stops at the last
 * hidden layer).  OUT A[l] (rows x d_l) for l = 1..upto; OUT S1[l], S2[l]
 * (rows x d_l) = act'(Z_l), act''(Z_l) for l < L, and out_act'(Z_L),
 * out_act''(Z_L) for l = L when the model has an output activation (else
 * S1[L], S2[L] are not touched), when S1 / S2 and the entry are not NULL.  A[l] may be the same buffer as A[l - 2] (ping-pong), never
 * as A[l - 1].  No allocation, cannot fail.
 *
 * The product kernel: MLP_PRODUCT_GEMM for any number of rows (the same
 * call as the autograd graph's matmul, so the same numbers), or
 * MLP_PRODUCT_GEMV for one row (rows = 1; the per-sample Hessians, whose
 * references were made with it: BLAS rounds a matrix-vector product
 * differently from a one-row matrix product).
 *
 * Every numeric forward of linstab (outputs, loss values, evaluation, the
 * batched Hessian products, per-sample Hessians, the NTK factors) is this
 * one; the autograd graph of mlp.c builds the same numbers with tangents.
 */
typedef enum mlp_product { MLP_PRODUCT_GEMM = 0, MLP_PRODUCT_GEMV } mlp_product;

void mlp_forward_pass(const linstab_mlp *m, const double *X, size_t rows, size_t upto, double *const *A,
                      double *const *S1, double *const *S2, mlp_product product);

/* CE targets: every one of the rows labels of Y is a class in 0..K-1, or
 * LINSTAB_EDATA naming the first that is not as sample r0 + r. */
linstab_status mlp_check_labels(const double *Y, size_t rows, size_t K, size_t r0, linstab_error *err);

/*
 * The value of the loss ops of ad.c at outputs F (rows x cols) without a
 * graph: MSE sum_r ||f_r - y_r||^2 / 2 (target rows x cols), XENT the sum
 * over rows of the label-smoothed softmax cross-entropy (target: rows
 * labels, assumed valid).  The same numbers as linstab_ad_mse /
 * linstab_ad_xent's value (they call it).  op is LINSTAB_AD_MSE or
 * LINSTAB_AD_XENT (NaN for any other op).  No allocation.
 */
double ad_loss_value(linstab_ad_op op, size_t rows, size_t cols, const double *F, const double *target,
                     double smoothing);

/*
 * The per-sample middle factors of the Gauss-Newton second moment:
 * G_i^2 = J_i' M_i J_i with M_i = C_i (J_i J_i') C_i (K x K), C_i the
 * output curvature of gn (I for MSE, diag(p_i) - p_i p_i' for CE) and
 * J_i J_i' the sample's diagonal NTK block (output activation included).
 * OUT M (n x K x K, caller-allocated).  Errors: LINSTAB_ENOMEM.
 */
linstab_status mlp_gn_square_middle(const linstab_mlp *m, const linstab_array *X, linstab_loss loss, double *M,
                                    linstab_error *err);

/* The options of every top-eigenvalue solve of a network's p x p map:
 * ARPACK (dense below p = 3), tolerance 1e-8, 20 Lanczos vectors. */
linstab_eigen_opts mlp_top_opts(size_t p);

/* Make a Gauss-Newton operator of linstab_mlp_hessian_operator apply
 * (1/n) sum_i J_i' M_i J_i v (M: n x K x K, borrowed) instead of
 * (1/n) sum_i J_i' C_i J_i v; NULL restores C_i. */
void mlp_gn_operator_set_middle(linstab_operator *op, const double *M);

/*
 * The primal pass of the exact batched Hessian products, cached: for the n
 * rows of X (borrowed, as Y, m: they must not change while the cache
 * lives) the activations A_l, act'(Z_l), act''(Z_l), the backward signal
 * G_l = dl/dz_l and B_l (G_{l+1} W_{l+1}; dl/df at the output), none of
 * which depends on the direction, computed once (mlp_hvp_cache_init).
 * Then mlp_hvp_cached is linstab_mlp_hvp's (1/n) sum_i H_i v without the
 * primal forward and backward GEMMs (and without layer 1's product with
 * the zero tangent of the input), and mlp_quad_cached gives z' H z by a
 * second-order forward pass alone (Taylor mode: z_l'' = 2 a'_{l-1} V_l' +
 * a''_{l-1} W_l', a_l'' = act'' o z_l'^2 + act' o z_l''; z'Hz = (1/n)
 * sum_i z_L'^T (hess_z l_i) z_L' + G_L^T z_L''), no backward pass.
 *
 * The rows are cut into chunks whose size depends on n alone; chunk c
 * belongs to slot c mod nslots (its own tangent workspace and partial sum),
 * the slots run on OpenMP threads with one BLAS thread each and the
 * partial sums are added in slot order: the same bytes for any thread
 * count.  The same numbers as linstab_mlp_hvp to rounding.
 */
#define MLP_CACHE_SLOTS 4
typedef struct mlp_hvp_slot {
    double *Ad[LINSTAB_MLP_MAX_LAYERS + 1], *Zd[LINSTAB_MLP_MAX_LAYERS + 1], *Gd[LINSTAB_MLP_MAX_LAYERS + 1];
    double *Zd2[LINSTAB_MLP_MAX_LAYERS + 1], *Ad2[LINSTAB_MLP_MAX_LAYERS + 1];
    double *pbuf, *hv; /* K; the slot's partial H v (p) */
} mlp_hvp_slot;

typedef struct mlp_hvp_cache {
    const linstab_mlp *m;
    const double *X, *Y;
    size_t n, rchunk, nchunks, nslots;
    linstab_loss loss;
    double smoothing;
    double *A[LINSTAB_MLP_MAX_LAYERS + 1], *S1[LINSTAB_MLP_MAX_LAYERS + 1], *S2[LINSTAB_MLP_MAX_LAYERS + 1];
    double *G[LINSTAB_MLP_MAX_LAYERS + 1], *B[LINSTAB_MLP_MAX_LAYERS + 1];
    double *tq; /* the chunks' partial quadratic forms (nchunks) */
    mlp_hvp_slot slot[MLP_CACHE_SLOTS];
} mlp_hvp_cache;

/* Bytes the cache of n rows needs (for a memory cap). */
double mlp_hvp_cache_bytes(const linstab_mlp *m, size_t n);
/* Compute the cache (zeroed first).  Errors: LINSTAB_ENOMEM; LINSTAB_EDATA
 * (CE labels outside 0..K-1).  On error nothing is left to free. */
linstab_status mlp_hvp_cache_init(mlp_hvp_cache *c, const linstab_mlp *m, const double *X, const double *Y,
                                  size_t n, linstab_loss loss, double smoothing, linstab_error *err);
void mlp_hvp_cache_free(mlp_hvp_cache *c);
/* OUT hv (p) = (1/n) sum_i H_i v.  No allocation, cannot fail. */
void mlp_hvp_cached(mlp_hvp_cache *c, const double *v, double *hv);
/* z' H z, H = (1/n) sum_i H_i.  No allocation, cannot fail. */
double mlp_quad_cached(mlp_hvp_cache *c, const double *z);

/* dl/df of one sample at outputs f (K) and target y (K values for MSE, a
 * label for CE, smoothed): OUT g (K; not written if NULL) and, for CE,
 * p = softmax(f) (K). */
void mlp_loss_gradient(linstab_loss loss, double smoothing, size_t K, const double *f, const double *y, double *g,
                       double *p);

#endif
