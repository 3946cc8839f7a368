/*
 * mlp.h -- multi-layer perceptrons: the model, its checkpoints, its one
 * forward pass and loss, its per-sample second derivatives and its
 * geometry (docs/math.md §8).  Module mlp, in three files of src/nn/:
 *   mlp.c           the model: alloc/free, offsets, activations, the
 *                   forward pass, loss (autograd, ad.h), data checks,
 *                   checkpoints, evaluation (mlp_init.c: initialisation)
 *   mlp_hessians.c  Hessian-vector and M_2 products, per-sample Hessians,
 *                   Jacobians, the family of a model, the NTK Gram matrix,
 *                   sharpness, s_2^2, the Gauss-Newton coherence
 *   mlp_point.c     where a checkpoint sits (the interpolating minimum)
 *   mlp_safetensors.c  PyTorch nn.Sequential state dicts (.safetensors)
 *
 *   f(x) = out_act(W_L act(... act(W_1 x + b_1) ...) + b_L)
 * with an optional elementwise output activation out_act (none by default:
 * the linear output z_L = W_L h + b_L is f; see linstab_mlp_set_output).
 * Every derivative below is that of the activated output f = out_act(z_L):
 * the Jacobians J (d f / d theta = diag(out_act'(z_L)) d z_L / d theta), the
 * Hessians (the exact Hessian of l(out_act(z_L)), out_act'' terms included)
 * and the Gauss-Newton factors.
 * The parameter vector is W_1 (row-major, d1 x d0), b_1, W_2, b_2, ...: the
 * order of every gradient, Hessian and factor linstab writes.
 * Checkpoint: a folder with model.json {"layers": [d0, ..., dL],
 * "activation": "tanh", "bias": true} and W1.npy (d1 x d0), b1.npy (d1,), ...
 * and, only for a model with an output activation, the key
 * "output_activation": "tanh" (absent, or "none": the linear output).
 * Losses: squared l = ||f(x) - y||^2 / 2, and softmax cross-entropy with
 * label smoothing alpha (targets: class indices stored as doubles).
 * Samples are rows: X is n x d0 (row-major), targets n x dL (MSE) or n
 * labels (CE).
 *
 * Conventions of every function below: the caller owns every array it
 * passes and every output buffer (sized as stated, overwritten); nothing is
 * kept after the call.  Errors are a status with a message in *err
 * (LINSTAB_ENOMEM when a workspace cannot be allocated, on every
 * function that allocates).  The functions that take raw rows (forward,
 * loss, products, per-sample Hessians) trust the shapes and the finiteness
 * of their inputs: check external data once with linstab_mlp_check_data.
 * The model is read-only everywhere except linstab_mlp_init, load and
 * (in train.h) linstab_train_run; no result is cached in it, so a changed
 * theta is always seen.
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

/*
 * The model.  The caller may read every field and write theta's entries
 * (training does); the shape fields (nlayers, sizes, act, bias, p) are
 * fixed by linstab_mlp_alloc and must not be changed; out_act likewise,
 * set only by linstab_mlp_set_output (or load) before the model is used.
 */
typedef struct linstab_mlp {
    size_t nlayers;                          /* L (weight matrices)      */
    size_t sizes[LINSTAB_MLP_MAX_LAYERS + 1]; /* d0 .. dL                 */
    linstab_ad_op act;                        /* TANH, RELU, SIGMOID, SOFTPLUS, GELU */
    int bias;
    size_t p;                                 /* number of parameters     */
    double *theta;                            /* p, owned                 */
    linstab_ad_op out_act;                    /* LINSTAB_MLP_OUT_NONE or TANH .. GELU */
} linstab_mlp;

/* The output activation of a model without one (f = z_L, linear): the
 * identity, spelled as the autograd engine's leaf op.  linstab_mlp_alloc
 * sets it; "none" in names. */
#define LINSTAB_MLP_OUT_NONE LINSTAB_AD_LEAF

/* ---- the model (mlp.c) ---- */

/* Parse an activation name, "tanh", "relu", "sigmoid", "softplus" or
 * "gelu", into OUT *act.  Errors: LINSTAB_EINVAL naming the string. */
LINSTAB_API linstab_status linstab_mlp_act_parse(const char *s, linstab_ad_op *act,
                                                 linstab_error *err);
/* The name of an activation (a static string), "?" for any other op. */
LINSTAB_API const char *linstab_mlp_act_name(linstab_ad_op act);

/*
 * An MLP of widths sizes[0..nlayers] (copied), activation act, with or
 * without biases, no output activation (LINSTAB_MLP_OUT_NONE; give it one
 * with linstab_mlp_set_output), all parameters zero.  OUT *out (NULL on failure), owned
 * by the caller: free with linstab_mlp_free.  Errors: LINSTAB_EINVAL
 * (nlayers outside 1..LINSTAB_MLP_MAX_LAYERS, a zero width, a parameter
 * count that overflows), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_mlp_alloc(const size_t *sizes, size_t nlayers, linstab_ad_op act,
                                             int bias, linstab_mlp **out, linstab_error *err);
/*
 * Give m the output activation out_act: f = out_act(W_L h + b_L)
 * elementwise, out_act one of TANH, RELU, SIGMOID, SOFTPLUS, GELU, or
 * LINSTAB_MLP_OUT_NONE for the linear output (what linstab_mlp_alloc
 * sets; results are then bit-identical to a model that never had one).
 * Every numeric function below honours it.  With cross-entropy the
 * softmax is taken of the activated outputs f (the chain rule is exact).
 * Errors: LINSTAB_EINVAL (any other op; m is unchanged).
 */
LINSTAB_API linstab_status linstab_mlp_set_output(linstab_mlp *m, linstab_ad_op out_act, linstab_error *err);
/* Parse an output activation name, "none" or an activation name (as
 * linstab_mlp_act_parse), into OUT *out_act.  Errors: LINSTAB_EINVAL
 * naming the string. */
LINSTAB_API linstab_status linstab_mlp_output_parse(const char *s, linstab_ad_op *out_act, linstab_error *err);
/* The name of an output activation: "none" for LINSTAB_MLP_OUT_NONE, else
 * linstab_mlp_act_name's (a static string). */
LINSTAB_API const char *linstab_mlp_output_name(linstab_ad_op out_act);

/* Free m and its parameters; NULL is a no-op. */
LINSTAB_API void linstab_mlp_free(linstab_mlp *m);

/* Offsets of W_l and b_l (l = 1..L) in theta (b_l: meaningful with bias). */
LINSTAB_API size_t linstab_mlp_w_offset(const linstab_mlp *m, size_t l);
LINSTAB_API size_t linstab_mlp_b_offset(const linstab_mlp *m, size_t l);

/*
 * Load a checkpoint folder (see above) into OUT *out (NULL on failure;
 * free with linstab_mlp_free).  Checks that the shapes chain and that every
 * entry is finite; an "output_activation" that is not "none" or an
 * activation name is LINSTAB_EDATA.  Errors (naming the file): LINSTAB_EIO,
 * LINSTAB_EDATA, LINSTAB_ENOMEM.
 * Save m into the folder dir (created if missing; W*.npy, b*.npy written
 * atomically each, model.json last; "output_activation" only when m has
 * one, so the model.json of a linear-output model is as before).
 * Errors: LINSTAB_EIO.
 * A path ending in ".safetensors" that is not a folder is read with
 * linstab_mlp_load_safetensors(dir, NULL, NULL, ...): the activations its
 * __metadata__ records (a linstab_mlp_save_safetensors file).
 */
LINSTAB_API linstab_status linstab_mlp_load(const char *dir, linstab_mlp **out, linstab_error *err);
LINSTAB_API linstab_status linstab_mlp_save(const linstab_mlp *m, const char *dir,
                                            linstab_error *err);

/* ---- safetensors state dicts (mlp_safetensors.c) ---- */

struct linstab_safetensors;

/*
 * An MLP from a PyTorch nn.Sequential state dict (safetensors.h): tensors
 * "K.weight" (d_l x d_{l-1}, torch's Linear layout, out x in row-major =
 * linstab's W_l) and "K.bias" (d_l), the module indices K increasing with
 * a gap of at least one module (the activation) between two Linear
 * layers; the layers are ordered by K and their shapes must chain; biases
 * all or none.  act and out_act are activation names (as
 * linstab_mlp_act_parse, linstab_mlp_output_parse); NULL takes the one the
 * file's __metadata__ records ("activation", "output_activation", as
 * linstab_mlp_save_safetensors writes them; no output activation
 * recorded: none).  A name given and a different one recorded is
 * LINSTAB_EINVAL.  OUT *out (NULL on failure; linstab_mlp_free).  Errors
 * (naming what and the tensors): LINSTAB_EINVAL (param "activation" or
 * "output_activation": no activation given nor recorded, a bad name, a
 * mismatch), LINSTAB_EDATA (a tensor that is not K.weight or K.bias,
 * shapes that do not chain, a bias without its weight, a missing bias,
 * two Linear layers without a module between them, a name recorded that
 * is not an activation), LINSTAB_ENOMEM.
 * linstab_mlp_load_safetensors reads path (linstab_safetensors_read's
 * errors, then these).  linstab_mlp_save_safetensors writes m as such a
 * state dict (modules 0, 2, 4, ...: nn.Sequential(Linear, act, Linear,
 * ...)), F64, with __metadata__ {"format": "pt", "activation": ...,
 * "output_activation": ...}, atomically (linstab_safetensors_write).
 */
LINSTAB_API linstab_status linstab_mlp_from_safetensors(const struct linstab_safetensors *st, const char *what,
                                                        const char *act, const char *out_act, linstab_mlp **out,
                                                        linstab_error *err);
LINSTAB_API linstab_status linstab_mlp_load_safetensors(const char *path, const char *act, const char *out_act,
                                                        linstab_mlp **out, linstab_error *err);
LINSTAB_API linstab_status linstab_mlp_save_safetensors(const linstab_mlp *m, const char *path, linstab_error *err);
/* 1 if path names a safetensors file for linstab_mlp_load: it ends in
 * ".safetensors" and is not a folder; else 0. */
LINSTAB_API int linstab_mlp_is_safetensors_path(const char *path);

/*
 * The outputs f(x_r) of `rows` rows of X (rows x d0) into OUT F (rows x dL,
 * overwritten): linstab's one numeric forward pass, a GEMM per layer over
 * all rows (the loss, evaluation, the Hessian products and the NTK factors
 * use the same pass).  Errors: LINSTAB_ENOMEM (two hidden-layer buffers of
 * rows x the widest hidden width).
 */
LINSTAB_API linstab_status linstab_mlp_forward(const linstab_mlp *m, const double *X, size_t rows,
                                               double *F, linstab_error *err);

/*
 * The sum over `rows` rows of the per-sample loss (OUT *value, may be
 * NULL), its gradient (OUT grad, p, may be NULL) and, for a direction v
 * (p, may be NULL: zero), the Hessian-vector product (OUT hv, p, may be
 * NULL).  Y: rows x dL targets (MSE) or rows labels (CE).  The value alone
 * comes from the forward pass; the derivatives from the autograd graph
 * (ad.h).  Errors: LINSTAB_EDATA (a CE label outside 0..dL-1, naming the
 * row), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_mlp_loss(const linstab_mlp *m, const double *X, const double *Y,
                                            size_t rows, linstab_loss loss, double smoothing,
                                            const double *v, double *value, double *grad,
                                            double *hv, linstab_error *err);

/*
 * Check inputs X (n x d0) and targets (n x dL for MSE, n labels for CE)
 * against the model: shapes, finite values, labels in range.  Messages
 * name the sample.  LINSTAB_EDATA on failure.
 */
LINSTAB_API linstab_status linstab_mlp_check_data(const linstab_mlp *m, const linstab_array *X,
                                                  const linstab_array *Y, linstab_loss loss,
                                                  linstab_error *err);

/* He (relu) or Xavier (the others) normal initialisation of m's weights
 * from the random stream of `seed`, zero biases; theta is overwritten
 * (mlp_init.c).  Deterministic for a seed; cannot fail. */
LINSTAB_API void linstab_mlp_init(linstab_mlp *m, uint64_t seed);

/*
 * Mean loss (OUT *mean_loss) and accuracy (OUT *accuracy; CE: argmax f =
 * label; MSE: argmax f = argmax y) over all rows of X and Y, from one
 * forward pass per chunk of 256 rows.  X, Y as for linstab_mlp_check_data
 * (not checked here beyond the labels).  Errors: LINSTAB_EDATA (a CE label
 * out of range), LINSTAB_ENOMEM; the outputs are set only on success.
 */
LINSTAB_API linstab_status linstab_mlp_evaluate(const linstab_mlp *m, const linstab_array *X,
                                                const linstab_array *Y, linstab_loss loss,
                                                double smoothing, double *mean_loss,
                                                double *accuracy, linstab_error *err);

/* ---- per-sample Hessians and the geometry of a model (mlp_hessians.c) ---- */

/*
 * OUT out (p, may be NULL) = (1/n) sum_i H_i (H_i v) over the n rows (H_i:
 * the exact Hessian of row i's loss, all terms), in two batched
 * forward-over-reverse passes: the per-sample products H_i v enter the
 * second pass only through per-sample scalars, so no per-sample pass and
 * no n x p buffer.  OUT hv (p, may be NULL) = (1/n) sum_i H_i v, from the
 * first pass; out may be NULL for that alone (linstab_mlp_hvp).
 * Errors: LINSTAB_EDATA (a CE label out of range), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_mlp_m2_product(const linstab_mlp *m, const double *X, const double *Y,
                                                  size_t n, linstab_loss loss, double smoothing,
                                                  const double *v, double *out, double *hv, linstab_error *err);

/* OUT hv (p) = (1/n) sum_i H_i v (the mean loss's Hessian times v), batched
 * by hand: the same numbers as linstab_mlp_loss's tape divided by n,
 * faster.
 * Errors as for linstab_mlp_m2_product. */
LINSTAB_API linstab_status linstab_mlp_hvp(const linstab_mlp *m, const double *X, const double *Y, size_t n,
                                           linstab_loss loss, double smoothing, const double *v, double *hv,
                                           linstab_error *err);

/*
 * OUT H (p x p, overwritten, exactly symmetric): the exact Hessian of one
 * sample's loss (x: d0 inputs, y: dL targets or one label), all terms,
 * from the layers' small factors (the loss's Hessian in each layer's
 * pre-activations, the layer-to-layer Jacobians dz_n/dz_m and the bilinear
 * term of W_n a_{n-1}; mlp_hessians.c): one product per entry, the same
 * numbers to rounding as p Hessian-vector products with linstab_mlp_loss.
 * Workspace about sum_{m<n} 2 d_m d_n (d_{n-1} + 1) doubles.  Errors:
 * LINSTAB_EDATA (the label), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_mlp_sample_hessian(const linstab_mlp *m, const double *x,
                                                      const double *y, linstab_loss loss,
                                                      double smoothing, double *H,
                                                      linstab_error *err);

/* OUT U (p x dL, overwritten) = J', the transposed Jacobian of the
 * (activated) outputs f at one sample x (d0): the Gauss-Newton factor of
 * the squared loss (H = U U' at interpolation).  With an output activation
 * J = diag(out_act'(z_L)) J_z, J_z the Jacobian of the pre-activation
 * outputs z_L.  Errors: LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_mlp_sample_jacobian_t(const linstab_mlp *m, const double *x,
                                                         double *U, linstab_error *err);

/*
 * OUT U (p x dL, overwritten): the (generalized) Gauss-Newton factor of
 * one sample x, U = J' R with R R' = hess_f l, the loss's curvature in the
 * activated outputs f, so U U' = J' (hess_f l) J (PSD).  MSE: R = I, U = J'
 * (linstab_mlp_sample_jacobian_t).  CE (softmax cross-entropy):
 * hess_f l = diag(p) - p p', p = softmax(f), and R = diag(sqrt p) -
 * p sqrt(p)' (a closed-form, non-symmetric square root; U has rank <= dL - 1
 * since R' 1 = 0).  It depends on p only: not on the label, not on the
 * label smoothing.  Errors: LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_mlp_sample_gn_factor(const linstab_mlp *m, const double *x, linstab_loss loss,
                                                        double *U, linstab_error *err);

/*
 * The per-sample Hessian family at the samples of X: exact Hessians
 * (DENSE, n x p x p) or, with gn, Gauss-Newton factors U_i = J_i' R_i
 * (FACTORED, n x p x dL; linstab_mlp_sample_gn_factor: R_i = I for MSE,
 * the root of diag(p_i) - p_i p_i' for CE, the generalized Gauss-Newton).
 * Gauss-Newton is taken with respect to the activated output f: G_i =
 * J_i' (hess_f l) J_i with J_i = diag(out_act'(z_L)) J_z,i; it drops the
 * terms sum_o (dl/df_o) hess f_o (among them the out_act'' term), so for
 * MSE G_i = H_i at an interpolating minimum as without an output
 * activation; for CE G_i is PSD everywhere (H_i need not be).  X, Y are checked
 * (linstab_mlp_check_data).  Samples are computed in parallel with one
 * BLAS thread each; the result does not depend on the thread count.
 * OUT *out (NULL on failure), owned by the caller (linstab_family_free).
 * max_bytes (0: no limit) is checked before allocating.  Errors: those
 * of linstab_mlp_check_data, LINSTAB_ENOMEM
 * (beyond max_bytes, or out of memory), the first failing sample's error.
 */
LINSTAB_API linstab_status linstab_mlp_family(const linstab_mlp *m, const linstab_array *X,
                                              const linstab_array *Y, linstab_loss loss,
                                              double smoothing, int gn, size_t max_bytes,
                                              struct linstab_family **out, linstab_error *err);
/* linstab_mlp_family with progress (may be NULL): called with (0, n) first,
 * with the samples done so far as they are (from the calling thread only,
 * so not after every sample when they run in parallel) and with (n, n) at
 * a successful end; ctx is passed through.  The library never prints. */
LINSTAB_API linstab_status linstab_mlp_family_progress(const linstab_mlp *m, const linstab_array *X,
                                                       const linstab_array *Y, linstab_loss loss,
                                                       double smoothing, int gn, size_t max_bytes,
                                                       void (*progress)(size_t done, size_t total, void *ctx),
                                                       void *ctx, struct linstab_family **out,
                                                       linstab_error *err);

/*
 * The exact per-sample Hessians of linstab_mlp_family (gn = 0), streamed:
 * the samples in chunks of `chunk` (0: about 64 MB of output a chunk;
 * rounded up to a multiple of the thread count),
 * each chunk's Hessians (count x p x p, C order: doubles, or with float32
 * floats, the doubles rounded) handed to sink(i0, count, data, sink_ctx,
 * err) in sample order, one call at a time, while the next chunk is
 * computed (two chunk buffers).  sink NULL: compute only.  A sink error
 * stops the stream and is returned; a sample's error (a CE label) is
 * returned as "sample i: ..." before its chunk reaches the sink.  The same
 * bytes for any thread count.  progress as linstab_mlp_family_progress,
 * after each chunk.  OUT compute_seconds (may be NULL): the thread-seconds
 * of the Hessian kernels over the thread count (the compute-only wall
 * time of perfectly spread samples); OUT sink_seconds: seconds in sink.
 */
typedef linstab_status (*linstab_mlp_hessians_sink)(size_t i0, size_t count, const void *data, void *ctx,
                                                    linstab_error *err);
LINSTAB_API linstab_status linstab_mlp_hessians_stream(const linstab_mlp *m, const linstab_array *X,
                                                       const linstab_array *Y, linstab_loss loss,
                                                       double smoothing, int float32, size_t chunk,
                                                       linstab_mlp_hessians_sink sink, void *sink_ctx,
                                                       void (*progress)(size_t done, size_t total, void *ctx),
                                                       void *progress_ctx, double *compute_seconds,
                                                       double *sink_seconds, linstab_error *err);

/*
 * OUT G (n k x n k, row-major, overwritten; k = dL): the NTK Gram matrix of
 * the samples X (n x d0, shape not checked), blocks G_ij = J_i J_j' =
 * U_i'U_j for the Gauss-Newton factors U_i = J_i' (of the activated
 * outputs), assembled layer by layer from the activations and output
 * derivatives (no Jacobian; d f / d z_L = diag(out_act'(z_L))).  With
 * linstab_family_from_gram it gives the Gauss-Newton family of a network
 * with many parameters restricted to its range, without the n p k
 * factors.  Workspace: the layer factors, n k (sum of the widths) doubles.
 * Errors: LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_mlp_ntk_gram(const linstab_mlp *m, const linstab_array *X, double *G,
                                               linstab_error *err);
/* The same Gram matrix for the Gauss-Newton factors of `loss`: blocks
 * G_ij = U_i'U_j = R_i' J_i J_j' R_j (R_i as linstab_mlp_sample_gn_factor;
 * the NTK blocks sandwiched, for CE).  MSE: linstab_mlp_ntk_gram.  Errors:
 * LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_mlp_gn_gram(const linstab_mlp *m, const linstab_array *X, linstab_loss loss,
                                               double *G, linstab_error *err);

/*
 * The coherence sigma (Dexter et al. Def. 2) of the Gauss-Newton Hessians
 * H_i = J_i'J_i at the samples X (n x d0, shape not checked), from the
 * Gram entries tr(H_i H_j) = ||J_i J_j'||_F^2 (blocks of the NTK Gram
 * matrix, as linstab_mlp_ntk_gram), computed over blocks of samples whose
 * NTK blocks fit in `block_bytes`: the n k x n k matrix is never stored.
 * OUT *lambda1_S (lambda1 of S_ij = ||J_i J_j'||_F), *sigma (lambda1_S /
 * max_i lambda1(H_i); NaN when every H_i is 0).  Errors: LINSTAB_ENOMEM,
 * LINSTAB_ELAPACK.
 */
LINSTAB_API linstab_status linstab_mlp_coherence_gn(const linstab_mlp *m, const linstab_array *X,
                                                    size_t block_bytes, double *lambda1_S,
                                                    double *sigma, linstab_error *err);
/* The same for the Gauss-Newton Hessians of `loss`, H_i = U_i U_i' with
 * U_i = J_i' R_i (linstab_mlp_sample_gn_factor), from the blocks of
 * linstab_mlp_gn_gram: tr(H_i H_j) = ||R_i' J_i J_j' R_j||_F^2.  MSE:
 * linstab_mlp_coherence_gn.  Errors as for it. */
LINSTAB_API linstab_status linstab_mlp_coherence_ggn(const linstab_mlp *m, const linstab_array *X,
                                                     linstab_loss loss, size_t block_bytes, double *lambda1_S,
                                                     double *sigma, linstab_error *err);

/*
 * OUT *lambda1: the sharpness, lambda1 of the full-data mean-loss Hessian,
 * by Lanczos on batched Hessian-vector products (linstab_mlp_hvp; never
 * forms p x p).  X, Y as for linstab_mlp_check_data (not checked here).
 * Errors: those of linstab_mlp_hvp and of the eigensolver
 * (LINSTAB_ENOCONV, LINSTAB_ENOMEM).
 */
LINSTAB_API linstab_status linstab_mlp_sharpness(const linstab_mlp *m, const linstab_array *X,
                                                 const linstab_array *Y, linstab_loss loss,
                                                 double smoothing, double *lambda1,
                                                 linstab_error *err);

/*
 * OUT *gap = s_2^2 = lambda_max(M_2 - H^2) of the per-sample Hessians at
 * the samples, matrix-free: Lanczos on v -> (1/n) sum_i H_i (H_i v) -
 * H (H v) with the batched products (linstab_mlp_m2_product; Shin et
 * al.'s non-uniformity; no p x p matrix is formed).  Errors as for
 * linstab_mlp_sharpness.
 */
LINSTAB_API linstab_status linstab_mlp_m2_gap(const linstab_mlp *m, const linstab_array *X,
                                              const linstab_array *Y, linstab_loss loss,
                                              double smoothing, double *gap, linstab_error *err);

/*
 * The same two numbers for the (generalized) Gauss-Newton Hessians
 * G_i = J_i' C_i J_i (C_i = I for MSE, diag(p_i) - p_i p_i' for CE; PSD,
 * no label or smoothing enters) at the samples of X (mlp_gn_geometry.c):
 * OUT *lambda1 = lambda1(G), G = (1/n) sum_i G_i, and OUT *gap =
 * lambda_max(M_2 - G^2), M_2 = (1/n) sum_i G_i^2, by Lanczos on batched
 * products (G_i^2 = J_i' C_i (J_i J_i') C_i J_i from the diagonal NTK
 * blocks; no p x p matrix).  Errors: LINSTAB_ENOCONV, LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_mlp_gn_sharpness(const linstab_mlp *m, const linstab_array *X,
                                                    linstab_loss loss, double *lambda1, linstab_error *err);
LINSTAB_API linstab_status linstab_mlp_gn_m2_gap(const linstab_mlp *m, const linstab_array *X,
                                                 linstab_loss loss, double *gap, linstab_error *err);

/*
 * OUT *trace = tr H of the mean loss's Hessian at the samples (gn = 0:
 * exact, all terms; gn = 1: the (generalized) Gauss-Newton matrix), exact
 * and without Hessian-vector products (mlp_trace.c): the diagonal block of
 * layer l is (a a' (+) 1) (x) Q_l with Q_l the loss's Hessian in the
 * pre-activations z_l, propagated backwards, so tr H = (1/n) sum_i sum_l
 * (|a_{l-1,i}|^2 + 1) tr Q_{l,i}; Q_1 is never formed.  The same bytes for
 * any thread count.  Errors: those of linstab_mlp_check_data, LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_mlp_hessian_trace(const linstab_mlp *m, const linstab_array *X,
                                                     const linstab_array *Y, linstab_loss loss, double smoothing,
                                                     int gn, double *trace, linstab_error *err);

/* ---- where a checkpoint sits (mlp_point.c) ---- */

/*
 * Where a checkpoint sits, for the premise of every stability result:
 * an interpolating minimum, where each per-sample loss l_i is minimal
 * (grad l_i = 0 for every i, so H_i is PSD for the squared loss and
 * H_i = J_i' J_i).  mean_loss = (1/n) sum_i l_i, grad_norm = ||grad L||,
 * max_sample_grad_norm = max_i ||grad l_i||, param_norm = ||theta||.
 * OUT *out.  Errors: those of linstab_mlp_check_data,
 * LINSTAB_ENOMEM.
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

#ifdef __cplusplus
}
#endif
#endif
