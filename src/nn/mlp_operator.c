/*
 * mlp_operator.c -- a network's mean-loss Hessian (or its Gauss-Newton
 * matrix) at a checkpoint as a matrix-free operator (operator.h), for the
 * eigensolvers and the spectral diagnostics (spectrum.h).
 *
 * Exact Hessian: linstab_mlp_hvp (batched forward-over-reverse).
 * Gauss-Newton: G v = (1/n) sum_i J_i' C_i J_i v with C_i = hess_f l_i
 * (I for MSE, diag(p) - p p' for CE, p = softmax(f)), by a forward
 * tangent pass (J v, a GEMM pair per layer), the curvature at the output
 * and one backward pass (J' u) over chunks of rows: no second-order term.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "linstab/mlp.h"
#include "linstab/spectrum.h"
#include "nn_internal.h"

#define GN_CHUNK 256

typedef struct mlp_op_ctx {
    const linstab_mlp *m;
    const linstab_array *X, *Y;
    linstab_loss loss;
    double smoothing;
    /* Gauss-Newton workspace, per layer l = 0..L: A (primal), S1 (act'),
     * Zd (tangent of z_l, then of a_l), G (backward signal) */
    size_t rmax;
    double *A[LINSTAB_MLP_MAX_LAYERS + 1], *S1[LINSTAB_MLP_MAX_LAYERS + 1];
    double *Zd[LINSTAB_MLP_MAX_LAYERS + 1], *G[LINSTAB_MLP_MAX_LAYERS + 1];
    const double *middle; /* n x K x K in place of C_i (mlp_gn_operator_set_middle), or NULL */
    /* exact Hessian: the primal pass cached (cached = 1), or linstab_mlp_hvp per apply */
    int gn, cached;
    mlp_hvp_cache hc;
    const void *tag; /* &op_tag: a context of this file */
} mlp_op_ctx;

static const char op_tag = 'H';

/* the cache of the primal pass, up to this many bytes */
#define CACHE_MAX_BYTES (1024.0 * 1024.0 * 1024.0)

static linstab_status hessian_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    mlp_op_ctx *c = vctx;
    if (c->cached) {
        mlp_hvp_cached(&c->hc, x, y);
        return LINSTAB_OK;
    }
    return linstab_mlp_hvp(c->m, c->X->data, c->Y->data, c->X->shape[0], c->loss, c->smoothing, x, y, err);
}

static void softmax_row(size_t K, const double *z, double *p)
{
    double mx = z[0], s = 0.0;
    for (size_t k = 1; k < K; k++) mx = fmax(mx, z[k]);
    for (size_t k = 0; k < K; k++) s += (p[k] = exp(z[k] - mx));
    for (size_t k = 0; k < K; k++) p[k] /= s;
}

static linstab_status gn_apply(const double *v, double *y, void *vctx, linstab_error *err)
{
    (void)err;
    mlp_op_ctx *c = vctx;
    const linstab_mlp *m = c->m;
    size_t L = m->nlayers, K = m->sizes[L], n = c->X->shape[0], d0 = m->sizes[0];
    memset(y, 0, m->p * sizeof *y);
    for (size_t r0 = 0; r0 < n; r0 += c->rmax) {
        size_t R = n - r0 < c->rmax ? n - r0 : c->rmax;
        double *A[LINSTAB_MLP_MAX_LAYERS + 1], *S1[LINSTAB_MLP_MAX_LAYERS + 1];
        memcpy(A, c->A, sizeof A);
        memcpy(S1, c->S1, sizeof S1);
        A[0] = (double *)c->X->data + r0 * d0; /* read only */
        if (m->out_act == LINSTAB_MLP_OUT_NONE) S1[L] = NULL;
        mlp_forward_pass(m, A[0], R, L, A, S1, NULL, MLP_PRODUCT_GEMM);
        /* forward tangent: Zd_l = A_{l-1} V_l' + Ad_{l-1} W_l' + vb_l, Ad_l = act'(Z_l) o Zd_l */
        for (size_t l = 1; l <= L; l++) {
            size_t d = m->sizes[l], dp = m->sizes[l - 1];
            const double *W = m->theta + linstab_mlp_w_offset(m, l), *V = v + linstab_mlp_w_offset(m, l);
            double *Zd = c->Zd[l];
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 1.0, A[l - 1], (int)dp, V,
                        (int)dp, 0.0, Zd, (int)d);
            if (l > 1)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 1.0, c->Zd[l - 1],
                            (int)dp, W, (int)dp, 1.0, Zd, (int)d);
            if (m->bias) {
                const double *vb = v + linstab_mlp_b_offset(m, l);
                for (size_t r = 0; r < R; r++)
                    for (size_t j = 0; j < d; j++) Zd[r * d + j] += vb[j];
            }
            if (l < L || S1[L] != NULL)
                for (size_t j = 0; j < R * d; j++) Zd[j] *= S1[l][j]; /* the tangent of a_l (of f at l = L) */
        }
        /* the output: u = C (J v), then the backward signal G_L = out_act' o u */
        double *GL = c->G[L], *Fd = c->Zd[L];
        for (size_t r = 0; r < R; r++) {
            double *g = GL + r * K;
            const double *fd = Fd + r * K;
            if (c->middle != NULL) {
                cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)K, (int)K, 1.0, c->middle + (r0 + r) * K * K, (int)K,
                            fd, 1, 0.0, g, 1);
            } else if (c->loss == LINSTAB_LOSS_MSE) {
                memcpy(g, fd, K * sizeof *g);
            } else {
                double *p = c->G[0]; /* spare row of K */
                softmax_row(K, A[L] + r * K, p);
                double pt = 0.0;
                for (size_t k = 0; k < K; k++) pt += p[k] * fd[k];
                for (size_t k = 0; k < K; k++) g[k] = p[k] * (fd[k] - pt);
            }
            if (S1[L] != NULL)
                for (size_t k = 0; k < K; k++) g[k] *= S1[L][r * K + k];
        }
        /* backward: grad W_l += G_l' A_{l-1}, b_l += sum_r G_l, G_{l-1} = act' o (G_l W_l) */
        for (size_t l = L; l >= 1; l--) {
            size_t d = m->sizes[l], dp = m->sizes[l - 1];
            const double *W = m->theta + linstab_mlp_w_offset(m, l);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)dp, (int)R, 1.0, c->G[l], (int)d,
                        A[l - 1], (int)dp, 1.0, y + linstab_mlp_w_offset(m, l), (int)dp);
            if (m->bias) {
                double *yb = y + linstab_mlp_b_offset(m, l);
                for (size_t r = 0; r < R; r++)
                    for (size_t j = 0; j < d; j++) yb[j] += c->G[l][r * d + j];
            }
            if (l == 1) break;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)dp, (int)d, 1.0, c->G[l], (int)d, W,
                        (int)dp, 0.0, c->G[l - 1], (int)dp);
            for (size_t j = 0; j < R * dp; j++) c->G[l - 1][j] *= S1[l - 1][j];
        }
    }
    for (size_t j = 0; j < m->p; j++) y[j] /= (double)n;
    return LINSTAB_OK;
}

static void ctx_free(mlp_op_ctx *c)
{
    if (c == NULL) return;
    if (c->cached) mlp_hvp_cache_free(&c->hc);
    for (size_t l = 0; l <= LINSTAB_MLP_MAX_LAYERS; l++) {
        free(c->A[l]);
        free(c->S1[l]);
        free(c->Zd[l]);
        free(c->G[l]);
    }
    free(c);
}

linstab_status linstab_mlp_hessian_operator(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                            linstab_loss loss, double smoothing, int gn, linstab_operator *op,
                                            linstab_error *err)
{
    memset(op, 0, sizeof *op);
    mlp_op_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "Hessian operator: out of memory");
    c->m = m;
    c->X = X;
    c->Y = Y;
    c->loss = loss;
    c->smoothing = smoothing;
    c->gn = gn;
    c->tag = &op_tag;
    if (!gn && X->shape[0] > 0 && mlp_hvp_cache_bytes(m, X->shape[0]) <= CACHE_MAX_BYTES) {
        /* labels CE cannot use (or no memory): no cache, the applies report it as before */
        linstab_error e = {0};
        c->cached = mlp_hvp_cache_init(&c->hc, m, X->data, Y->data, X->shape[0], loss, smoothing, &e) == LINSTAB_OK;
    }
    if (gn) {
        size_t n = X->shape[0], L = m->nlayers;
        c->rmax = n < GN_CHUNK ? n : GN_CHUNK;
        if (c->rmax == 0) c->rmax = 1;
        int ok = 1;
        for (size_t l = 0; l <= L && ok; l++) {
            size_t d = m->sizes[l], sz = c->rmax * d > m->sizes[L] ? c->rmax * d : m->sizes[L];
            /* A[0] is the data itself; G[0] holds one softmax row */
            if (l > 0) ok = (c->A[l] = malloc(sz * sizeof(double))) && (c->S1[l] = malloc(sz * sizeof(double))) &&
                            (c->Zd[l] = malloc(sz * sizeof(double)));
            if (ok) ok = (c->G[l] = malloc(sz * sizeof(double))) != NULL;
        }
        if (!ok) {
            ctx_free(c);
            return linstab_error_set(err, LINSTAB_ENOMEM, "Gauss-Newton operator: out of memory");
        }
    }
    op->dim = m->p;
    op->apply = gn ? gn_apply : hessian_apply;
    op->apply_adjoint = op->apply;
    op->form_dense = NULL;
    op->self_adjoint = 1;
    op->ctx = c;
    return LINSTAB_OK;
}

void mlp_gn_operator_set_middle(linstab_operator *op, const double *M)
{
    ((mlp_op_ctx *)op->ctx)->middle = M;
}

void linstab_mlp_hessian_operator_free(linstab_operator *op)
{
    if (op == NULL) return;
    ctx_free(op->ctx);
    memset(op, 0, sizeof *op);
}

linstab_status linstab_mlp_hessian_operator_quad(const linstab_operator *op, size_t k, const double *Z, double *t,
                                                 linstab_error *err)
{
    mlp_op_ctx *c = op->ctx;
    if (c == NULL || c->tag != &op_tag || op->dim != c->m->p)
        return linstab_error_set(err, LINSTAB_EINVAL, "quadratic forms: not an operator of linstab_mlp_hessian_operator");
    size_t p = op->dim;
    if (c->cached) {
        for (size_t j = 0; j < k; j++) t[j] = mlp_quad_cached(&c->hc, Z + j * p);
        return LINSTAB_OK;
    }
    double *y = malloc(p * sizeof *y);
    if (y == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "quadratic forms: out of memory");
    linstab_status st = LINSTAB_OK;
    for (size_t j = 0; j < k && st == LINSTAB_OK; j++) {
        st = op->apply(Z + j * p, y, op->ctx, err);
        if (st == LINSTAB_OK) t[j] = cblas_ddot((int)p, Z + j * p, 1, y, 1);
    }
    free(y);
    return st;
}
