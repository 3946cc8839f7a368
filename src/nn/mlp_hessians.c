/*
 * mlp_hessians.c -- second-order information of an MLP at its samples
 * (docs/math.md §8): Hessian-vector products and M_2 products batched by
 * hand, exact per-sample Hessians (all terms), Gauss-Newton factors
 * (Jacobians), the per-sample Hessian family of a model, the NTK Gram
 * matrix, and the model's geometry: sharpness, s_2^2 = lambda_max(M_2 -
 * H^2) and the Gauss-Newton coherence sigma.  Every primal forward is
 * mlp.c's mlp_forward_pass.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "internal.h"
#include "linstab/ad.h"
#include "linstab/eigen.h"
#include "linstab/sym.h"
#include "linstab/mlp.h"
#include "linstab/operator.h"
#include "linstab/spectrum.h"
#include "nn_internal.h"

/* ---- (1/n) sum_i H_i (H_i v) for a batch, without per-sample passes ----
 *
 * Forward-over-reverse along v gives, per sample i and layer l, the
 * activation a = a_{l-1}, its tangent a', the backpropagated signal G_l =
 * dl_i/dz_l and its tangent G'_l; sample i's Hessian-vector product is
 * u_i = H_i v has the blocks U_l = G'_l a_{l-1}^T + G_l a'_{l-1}^T and,
 * for the bias, G'_l.  A second
 * forward-over-reverse along each u_i needs u_i only through U_l a_{l-1} =
 * G'_l |a_{l-1}|^2 + G_l <a'_{l-1}, a_{l-1}> (plus G'_l for the bias) and
 * U_l^T G_l = a_{l-1} <G'_l, G_l> + a'_{l-1} |G_l|^2: per-sample scalars.
 * So both passes run on the whole chunk of samples with matrix products,
 * and the sum of the second products is one product per layer.  The
 * per-sample loop through the tape (linstab_mlp_loss on one row, twice)
 * is the reference it is tested against.
 */
typedef struct m2_layer {
    double *A, *Ad, *S1, *S2, *Zd, *G, *Gd, *Ad2, *Zd2, *Gd2, *B;
} m2_layer;

static void rowwise_scale_add(size_t R, size_t d, const double *alpha, const double *X, const double *beta,
                              const double *Y, double *out)
{
    for (size_t r = 0; r < R; r++)
        for (size_t j = 0; j < d; j++) out[r * d + j] += alpha[r] * X[r * d + j] + beta[r] * Y[r * d + j];
}

static void row_dots(size_t R, size_t d, const double *X, const double *Y, double *out)
{
    for (size_t r = 0; r < R; r++) out[r] = cblas_ddot((int)d, X + r * d, 1, Y + r * d, 1);
}

/*
 * The loss at one output row z (K), in the two parts every derivative
 * needs: OUT g = dl/dz (K, may be NULL) and, for CE, OUT p = softmax(z)
 * (K), the state of the curvature; y: the row's K targets (MSE) or label
 * (CE).  Then OUT gd = C t, the loss's curvature in f along a tangent t
 * (MSE: t; CE: p o (t - <p, t>)).
 */
static void softmax(size_t K, const double *z, double *p)
{
    double mx = z[0], s = 0.0;
    for (size_t c = 1; c < K; c++) mx = fmax(mx, z[c]);
    for (size_t c = 0; c < K; c++) s += (p[c] = exp(z[c] - mx));
    for (size_t c = 0; c < K; c++) p[c] /= s;
}

static void loss_gradient(linstab_loss loss, double smoothing, size_t K, const double *z, const double *y,
                          double *g, double *p)
{
    if (loss == LINSTAB_LOSS_MSE) {
        for (size_t c = 0; g && c < K; c++) g[c] = z[c] - y[c];
        return;
    }
    softmax(K, z, p);
    size_t lab = (size_t)y[0];
    for (size_t c = 0; g && c < K; c++) g[c] = p[c] - ((c == lab ? 1.0 - smoothing : 0.0) + smoothing / (double)K);
}

void mlp_loss_gradient(linstab_loss loss, double smoothing, size_t K, const double *f, const double *y, double *g,
                       double *p)
{
    loss_gradient(loss, smoothing, K, f, y, g, p);
}

static void loss_curvature(linstab_loss loss, size_t K, const double *p, const double *t, double *gd)
{
    if (loss == LINSTAB_LOSS_MSE) {
        for (size_t c = 0; c < K; c++) gd[c] = t[c];
        return;
    }
    double pt = 0.0;
    for (size_t c = 0; c < K; c++) pt += p[c] * t[c];
    for (size_t c = 0; c < K; c++) gd[c] = p[c] * (t[c] - pt);
}

/* dl/dz at the output (G, if want_g) and its tangent along Zd (Gd) for R rows. */
static void loss_signal(linstab_loss loss, double smoothing, size_t R, size_t K, const double *Z, const double *Zd,
                        const double *Y, double *G, double *Gd, double *pbuf, int want_g)
{
    size_t ty = loss == LINSTAB_LOSS_MSE ? K : 1;
    for (size_t r = 0; r < R; r++) {
        loss_gradient(loss, smoothing, K, Z + r * K, Y + r * ty, want_g ? G + r * K : NULL, pbuf);
        loss_curvature(loss, K, pbuf, Zd + r * K, Gd + r * K);
    }
}

/*
 * The output layer's backward signal for R rows of the layer o = ly[L]:
 * G = dl/dz_L (into o->G, when want_g) and its tangent Gd along the tangent
 * Zd of z_L.  Without an output activation f = z_L: loss_signal.  With
 * f = s(z_L) (o->S1 = s'(z_L), o->S2 = s''(z_L) from the forward pass),
 * B = dl/df (into o->B when want_g; read otherwise: pass 2 reuses pass
 * 1's), OUT Fd = s' o Zd (the tangent of f) and
 *     G = s' o B,    Gd = s'' o Zd o B + s' o C Fd,
 * the hidden layers' rule with the loss in place of the next layer: the
 * Hessian of l(s(z)) in z is diag(s'') diag(B) + diag(s') C diag(s'), for
 * MSE diag(s'^2 + (f - y) s'').
 */
static void output_signal(const linstab_mlp *m, linstab_loss loss, double smoothing, size_t R, m2_layer *o,
                          const double *Zd, double *Fd, double *Gd, const double *Y, double *pbuf, int want_g)
{
    size_t K = m->sizes[m->nlayers], ty = loss == LINSTAB_LOSS_MSE ? K : 1;
    if (m->out_act == LINSTAB_MLP_OUT_NONE) {
        loss_signal(loss, smoothing, R, K, o->A, Zd, Y, o->G, Gd, pbuf, want_g);
        return;
    }
    for (size_t r = 0; r < R; r++) {
        const double *s1 = o->S1 + r * K, *s2 = o->S2 + r * K, *zd = Zd + r * K;
        double *b = o->B + r * K, *fd = Fd + r * K, *gd = Gd + r * K;
        loss_gradient(loss, smoothing, K, o->A + r * K, Y + r * ty, want_g ? b : NULL, pbuf);
        for (size_t c = 0; c < K; c++) fd[c] = s1[c] * zd[c];
        loss_curvature(loss, K, pbuf, fd, gd);
        for (size_t c = 0; c < K; c++) gd[c] = s2[c] * zd[c] * b[c] + s1[c] * gd[c];
        for (size_t c = 0; want_g && c < K; c++) o->G[r * K + c] = s1[c] * b[c];
    }
}

#define M2_CHUNK 256

/* Rows' sum of the per-layer products Gd_l^T A_{l-1} + G_l^T Ad_{l-1} (and
 * Gd_l for the bias) into out: the gradient's tangent summed over rows. */
static void add_grad_tangent(const linstab_mlp *m, const m2_layer *ly, size_t R, double *const *Gd,
                             double *const *Ad, double *out)
{
    for (size_t l = 1; l <= m->nlayers; l++) {
        size_t d = m->sizes[l], dp = m->sizes[l - 1];
        double *o = out + linstab_mlp_w_offset(m, l);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)dp, (int)R, 1.0, Gd[l], (int)d, ly[l - 1].A,
                    (int)dp, 1.0, o, (int)dp);
        if (l > 1)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)dp, (int)R, 1.0, ly[l].G, (int)d, Ad[l - 1],
                        (int)dp, 1.0, o, (int)dp);
        if (m->bias) {
            double *ob = out + linstab_mlp_b_offset(m, l);
            for (size_t r = 0; r < R; r++)
                for (size_t j = 0; j < d; j++) ob[j] += Gd[l][r * d + j];
        }
    }
}

linstab_status linstab_mlp_hvp(const linstab_mlp *m, const double *X, const double *Y, size_t n, linstab_loss loss,
                               double smoothing, const double *v, double *hv, linstab_error *err)
{
    return linstab_mlp_m2_product(m, X, Y, n, loss, smoothing, v, NULL, hv, err);
}

linstab_status linstab_mlp_m2_product(const linstab_mlp *m, const double *X, const double *Y, size_t n,
                                      linstab_loss loss, double smoothing, const double *v, double *out, double *hv,
                                      linstab_error *err)
{
    size_t L = m->nlayers, K = m->sizes[L], ty = loss == LINSTAB_LOSS_MSE ? K : 1;
    linstab_status st = loss == LINSTAB_LOSS_CE ? mlp_check_labels(Y, n, K, 0, err) : LINSTAB_OK;
    if (st != LINSTAB_OK) return st;
    size_t Rmax = n < M2_CHUNK ? n : M2_CHUNK, width = 0;
    for (size_t l = 0; l <= L; l++) width = m->sizes[l] > width ? m->sizes[l] : width;
    m2_layer ly[LINSTAB_MLP_MAX_LAYERS + 1];
    memset(ly, 0, sizeof ly);
    double *scal = malloc(4 * Rmax * sizeof *scal), *pbuf = malloc(K * sizeof *pbuf);
    int ok = scal != NULL && pbuf != NULL;
    for (size_t l = 0; l <= L && ok; l++) {
        size_t d = m->sizes[l];
        /* the last three only for the second pass */
        double **f[] = {&ly[l].A, &ly[l].Ad, &ly[l].S1, &ly[l].S2, &ly[l].Zd, &ly[l].G, &ly[l].Gd, &ly[l].B,
                        &ly[l].Ad2, &ly[l].Zd2, &ly[l].Gd2};
        size_t nf = out != NULL ? sizeof f / sizeof f[0] : sizeof f / sizeof f[0] - 3;
        for (size_t q = 0; q < nf && ok; q++) ok = (*f[q] = calloc(Rmax * d, sizeof(double))) != NULL;
    }
    st = ok ? LINSTAB_OK : linstab_error_set(err, LINSTAB_ENOMEM, "M2 product: out of memory");
    if (st == LINSTAB_OK && out != NULL) memset(out, 0, m->p * sizeof *out);
    if (st == LINSTAB_OK && hv != NULL) memset(hv, 0, m->p * sizeof *hv);
    double *al = scal, *be = scal + Rmax, *ga = scal + 2 * Rmax, *ka = scal + 3 * Rmax;
    for (size_t r0 = 0; st == LINSTAB_OK && r0 < n; r0 += Rmax) {
        size_t R = n - r0 < Rmax ? n - r0 : Rmax;
        const double *Yc = Y + r0 * ty;
        /* pass 1 forward: the primal A_l, act', act'' (mlp_forward_pass),
         * then the tangents along v: Zd_l = A_{l-1} V_l' + Ad_{l-1} W_l' + vb_l */
        memcpy(ly[0].A, X + r0 * m->sizes[0], R * m->sizes[0] * sizeof(double));
        memset(ly[0].Ad, 0, R * m->sizes[0] * sizeof(double));
        double *Al[LINSTAB_MLP_MAX_LAYERS + 1], *S1l[LINSTAB_MLP_MAX_LAYERS + 1], *S2l[LINSTAB_MLP_MAX_LAYERS + 1];
        for (size_t l = 0; l <= L; l++) {
            Al[l] = ly[l].A;
            S1l[l] = ly[l].S1;
            S2l[l] = ly[l].S2;
        }
        mlp_forward_pass(m, ly[0].A, R, L, Al, S1l, S2l, MLP_PRODUCT_GEMM);
        for (size_t l = 1; l <= L; l++) {
            size_t d = m->sizes[l], dp = m->sizes[l - 1];
            const double *W = m->theta + linstab_mlp_w_offset(m, l), *V = v + linstab_mlp_w_offset(m, l);
            double *Zd = ly[l].Zd;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 1.0, ly[l - 1].A, (int)dp,
                        V, (int)dp, 0.0, Zd, (int)d);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 1.0, ly[l - 1].Ad,
                        (int)dp, W, (int)dp, 1.0, Zd, (int)d);
            if (m->bias) {
                const double *vb = v + linstab_mlp_b_offset(m, l);
                for (size_t r = 0; r < R; r++)
                    for (size_t j = 0; j < d; j++) Zd[r * d + j] += vb[j];
            }
            if (l < L)
                for (size_t j = 0; j < R * d; j++) ly[l].Ad[j] = ly[l].S1[j] * Zd[j];
        }
        /* pass 1 backward: G, Gd (B = G_{l+1} W_{l+1} is shared by both passes) */
        output_signal(m, loss, smoothing, R, &ly[L], ly[L].Zd, ly[L].Ad, ly[L].Gd, Yc, pbuf, 1);
        for (size_t l = L - 1; l >= 1; l--) {
            size_t d = m->sizes[l], dn = m->sizes[l + 1];
            const double *W = m->theta + linstab_mlp_w_offset(m, l + 1), *V = v + linstab_mlp_w_offset(m, l + 1);
            double *B = ly[l].B, *Bd = ly[l].Gd;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)d, (int)dn, 1.0, ly[l + 1].G, (int)dn,
                        W, (int)d, 0.0, B, (int)d);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)d, (int)dn, 1.0, ly[l + 1].Gd,
                        (int)dn, W, (int)d, 0.0, Bd, (int)d);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)d, (int)dn, 1.0, ly[l + 1].G, (int)dn,
                        V, (int)d, 1.0, Bd, (int)d);
            for (size_t j = 0; j < R * d; j++) {
                ly[l].G[j] = ly[l].S1[j] * B[j];
                Bd[j] = ly[l].S2[j] * ly[l].Zd[j] * B[j] + ly[l].S1[j] * Bd[j]; /* Gd_l */
            }
            if (l == 1) break;
        }
        if (hv != NULL) { /* sum_i u_i = sum_i H_i v, from pass 1 alone */
            double *Gd1[LINSTAB_MLP_MAX_LAYERS + 1], *Ad1[LINSTAB_MLP_MAX_LAYERS + 1];
            for (size_t l = 0; l <= L; l++) {
                Gd1[l] = ly[l].Gd;
                Ad1[l] = ly[l].Ad;
            }
            add_grad_tangent(m, ly, R, Gd1, Ad1, hv);
        }
        if (out == NULL) continue;
        /* pass 2 forward along u_i: Zd2_l = Gd_l (|a|^2 + bias) + G_l <a', a> + Ad2_{l-1} W_l' */
        memset(ly[0].Ad2, 0, R * m->sizes[0] * sizeof(double));
        for (size_t l = 1; l <= L; l++) {
            size_t d = m->sizes[l], dp = m->sizes[l - 1];
            const double *W = m->theta + linstab_mlp_w_offset(m, l);
            row_dots(R, dp, ly[l - 1].A, ly[l - 1].A, al);
            row_dots(R, dp, ly[l - 1].Ad, ly[l - 1].A, be);
            if (m->bias)
                for (size_t r = 0; r < R; r++) al[r] += 1.0;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 1.0, ly[l - 1].Ad2, (int)dp,
                        W, (int)dp, 0.0, ly[l].Zd2, (int)d);
            rowwise_scale_add(R, d, al, ly[l].Gd, be, ly[l].G, ly[l].Zd2);
            if (l < L)
                for (size_t j = 0; j < R * d; j++) ly[l].Ad2[j] = ly[l].S1[j] * ly[l].Zd2[j];
        }
        /* pass 2 backward: Gd2_L from the loss; Bd2_l = Gd2_{l+1} W + a_l <Gd, G>_{l+1} + a'_l |G_{l+1}|^2 */
        output_signal(m, loss, smoothing, R, &ly[L], ly[L].Zd2, ly[L].Ad2, ly[L].Gd2, Yc, pbuf, 0);
        for (size_t l = L - 1; l >= 1; l--) {
            size_t d = m->sizes[l], dn = m->sizes[l + 1];
            const double *W = m->theta + linstab_mlp_w_offset(m, l + 1);
            double *Bd2 = ly[l].Gd2;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)d, (int)dn, 1.0, ly[l + 1].Gd2,
                        (int)dn, W, (int)d, 0.0, Bd2, (int)d);
            row_dots(R, dn, ly[l + 1].Gd, ly[l + 1].G, ga);
            row_dots(R, dn, ly[l + 1].G, ly[l + 1].G, ka);
            rowwise_scale_add(R, d, ga, ly[l].A, ka, ly[l].Ad, Bd2);
            for (size_t j = 0; j < R * d; j++)
                Bd2[j] = ly[l].S2[j] * ly[l].Zd2[j] * ly[l].B[j] + ly[l].S1[j] * Bd2[j];
            if (l == 1) break;
        }
        /* sum_i H_i u_i: W_l block Gd2_l^T A_{l-1} + G_l^T Ad2_{l-1}, bias block sum of Gd2_l */
        double *Gd2[LINSTAB_MLP_MAX_LAYERS + 1], *Ad2[LINSTAB_MLP_MAX_LAYERS + 1];
        for (size_t l = 0; l <= L; l++) {
            Gd2[l] = ly[l].Gd2;
            Ad2[l] = ly[l].Ad2;
        }
        add_grad_tangent(m, ly, R, Gd2, Ad2, out);
    }
    for (size_t j = 0; st == LINSTAB_OK && out != NULL && j < m->p; j++) out[j] /= (double)n;
    for (size_t j = 0; st == LINSTAB_OK && hv != NULL && j < m->p; j++) hv[j] /= (double)n;
    for (size_t l = 0; l <= L; l++) {
        free(ly[l].A);
        free(ly[l].Ad);
        free(ly[l].S1);
        free(ly[l].S2);
        free(ly[l].Zd);
        free(ly[l].G);
        free(ly[l].Gd);
        free(ly[l].Ad2);
        free(ly[l].Zd2);
        free(ly[l].Gd2);
        free(ly[l].B);
    }
    free(scal);
    free(pbuf);
    return st;
}

/* ---- the batched products with the primal pass cached (mlp_hvp_cache) ---- */

/* chunks of n / MLP_CACHE_SLOTS rows (at least 32, at most 256): a slot each for n <= 1024 */
static size_t cache_chunk(size_t n)
{
    size_t r = (n + MLP_CACHE_SLOTS - 1) / MLP_CACHE_SLOTS;
    return r < 32 ? (n < 32 ? n : 32) : r > 256 ? 256 : r;
}

double mlp_hvp_cache_bytes(const linstab_mlp *m, size_t n)
{
    size_t L = m->nlayers, rc = cache_chunk(n), nch = rc ? (n + rc - 1) / rc : 0;
    double S = (double)(nch < MLP_CACHE_SLOTS ? nch : MLP_CACHE_SLOTS), s = S * (double)m->p;
    for (size_t l = 1; l <= L; l++) s += (double)m->sizes[l] * (5.0 * (double)n + 5.0 * S * (double)rc);
    return 8.0 * (s + (double)nch);
}

void mlp_hvp_cache_free(mlp_hvp_cache *c)
{
    for (size_t l = 0; l <= LINSTAB_MLP_MAX_LAYERS; l++) {
        double *f[] = {c->A[l], c->S1[l], c->S2[l], c->G[l], c->B[l]};
        for (size_t q = 0; q < sizeof f / sizeof f[0]; q++) free(f[q]);
    }
    for (size_t s = 0; s < MLP_CACHE_SLOTS; s++) {
        mlp_hvp_slot *w = &c->slot[s];
        for (size_t l = 0; l <= LINSTAB_MLP_MAX_LAYERS; l++) {
            free(w->Ad[l]);
            free(w->Zd[l]);
            free(w->Gd[l]);
            free(w->Zd2[l]);
            free(w->Ad2[l]);
        }
        free(w->pbuf);
        free(w->hv);
    }
    free(c->tq);
    memset(c, 0, sizeof *c);
}

/* rows r0..r0+R-1 of the cache: the primal forward, the output signal and the backward signal */
static void cache_fill(mlp_hvp_cache *c, size_t r0, size_t R, double *pbuf)
{
    const linstab_mlp *m = c->m;
    size_t L = m->nlayers, K = m->sizes[L], ty = c->loss == LINSTAB_LOSS_MSE ? K : 1;
    double *A[LINSTAB_MLP_MAX_LAYERS + 1] = {NULL}, *S1[LINSTAB_MLP_MAX_LAYERS + 1] = {NULL},
           *S2[LINSTAB_MLP_MAX_LAYERS + 1] = {NULL};
    for (size_t l = 1; l <= L; l++) {
        A[l] = c->A[l] + r0 * m->sizes[l];
        S1[l] = c->S1[l] + r0 * m->sizes[l];
        S2[l] = c->S2[l] + r0 * m->sizes[l];
    }
    mlp_forward_pass(m, c->X + r0 * m->sizes[0], R, L, A, S1, S2, MLP_PRODUCT_GEMM);
    /* G_L = dl/dz_L (B_L = dl/df with an output activation) */
    for (size_t r = r0; r < r0 + R; r++) {
        if (m->out_act == LINSTAB_MLP_OUT_NONE) {
            loss_gradient(c->loss, c->smoothing, K, c->A[L] + r * K, c->Y + r * ty, c->G[L] + r * K, pbuf);
        } else {
            double *b = c->B[L] + r * K;
            loss_gradient(c->loss, c->smoothing, K, c->A[L] + r * K, c->Y + r * ty, b, pbuf);
            for (size_t k = 0; k < K; k++) c->G[L][r * K + k] = c->S1[L][r * K + k] * b[k];
        }
    }
    /* B_l = G_{l+1} W_{l+1}, G_l = act'(Z_l) o B_l */
    for (size_t l = L - 1; l >= 1; l--) {
        size_t d = m->sizes[l], dn = m->sizes[l + 1];
        const double *W = m->theta + linstab_mlp_w_offset(m, l + 1);
        double *Bl = c->B[l] + r0 * d, *Gl = c->G[l] + r0 * d;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)d, (int)dn, 1.0, c->G[l + 1] + r0 * dn,
                    (int)dn, W, (int)d, 0.0, Bl, (int)d);
        for (size_t j = 0; j < R * d; j++) Gl[j] = S1[l][j] * Bl[j];
        if (l == 1) break;
    }
}

linstab_status mlp_hvp_cache_init(mlp_hvp_cache *c, const linstab_mlp *m, const double *X, const double *Y,
                                  size_t n, linstab_loss loss, double smoothing, linstab_error *err)
{
    memset(c, 0, sizeof *c);
    size_t L = m->nlayers, K = m->sizes[L];
    if (n == 0) return linstab_error_set(err, LINSTAB_EINVAL, "Hessian cache: no samples");
    linstab_status st = loss == LINSTAB_LOSS_CE ? mlp_check_labels(Y, n, K, 0, err) : LINSTAB_OK;
    if (st != LINSTAB_OK) return st;
    c->m = m;
    c->X = X;
    c->Y = Y;
    c->n = n;
    c->loss = loss;
    c->smoothing = smoothing;
    c->rchunk = cache_chunk(n);
    c->nchunks = (n + c->rchunk - 1) / c->rchunk;
    c->nslots = c->nchunks < MLP_CACHE_SLOTS ? c->nchunks : MLP_CACHE_SLOTS;
    int ok = (c->tq = malloc(c->nchunks * sizeof *c->tq)) != NULL;
    for (size_t l = 1; l <= L && ok; l++) {
        double **f[] = {&c->A[l], &c->S1[l], &c->S2[l], &c->G[l], &c->B[l]};
        for (size_t q = 0; q < sizeof f / sizeof f[0] && ok; q++)
            ok = (*f[q] = calloc(n * m->sizes[l], sizeof(double))) != NULL;
    }
    for (size_t s = 0; s < c->nslots && ok; s++) {
        mlp_hvp_slot *w = &c->slot[s];
        ok = (w->pbuf = malloc(K * sizeof *w->pbuf)) != NULL && (w->hv = malloc(m->p * sizeof *w->hv)) != NULL;
        for (size_t l = 1; l <= L && ok; l++) {
            double **g[] = {&w->Ad[l], &w->Zd[l], &w->Gd[l], &w->Zd2[l], &w->Ad2[l]};
            for (size_t q = 0; q < sizeof g / sizeof g[0] && ok; q++)
                ok = (*g[q] = calloc(c->rchunk * m->sizes[l], sizeof(double))) != NULL;
        }
    }
    if (!ok) {
        mlp_hvp_cache_free(c);
        return linstab_error_set(err, LINSTAB_ENOMEM, "Hessian cache of %zu samples: out of memory", n);
    }
    int bt = blas_threads_single(); /* chunks in parallel, the same bytes for any thread count */
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t s = 0; s < c->nslots; s++)
        for (size_t ch = s; ch < c->nchunks; ch += c->nslots) {
            size_t r0 = ch * c->rchunk, R = n - r0 < c->rchunk ? n - r0 : c->rchunk;
            cache_fill(c, r0, R, c->slot[s].pbuf);
        }
    blas_threads_restore(bt);
    return LINSTAB_OK;
}

/* The layers' views of rows r0.. of the cache; tangents in the slot's workspace. */
static void cache_rows(const mlp_hvp_cache *c, const mlp_hvp_slot *w, size_t r0, m2_layer *ly)
{
    const linstab_mlp *m = c->m;
    memset(ly, 0, (m->nlayers + 1) * sizeof *ly);
    ly[0].A = (double *)c->X + r0 * m->sizes[0]; /* read only */
    for (size_t l = 1; l <= m->nlayers; l++) {
        size_t o = r0 * m->sizes[l];
        ly[l].A = c->A[l] + o;
        ly[l].S1 = c->S1[l] + o;
        ly[l].S2 = c->S2[l] + o;
        ly[l].G = c->G[l] + o;
        ly[l].B = c->B[l] + o;
        ly[l].Ad = w->Ad[l];
        ly[l].Zd = w->Zd[l];
        ly[l].Gd = w->Gd[l];
        ly[l].Zd2 = w->Zd2[l];
        ly[l].Ad2 = w->Ad2[l];
    }
}

/* The tangent forward along v for R rows: Zd_l = A_{l-1} V_l' + Ad_{l-1} W_l' + vb_l (no Ad_0: the input's
 * tangent is zero), Ad_l = act' o Zd_l (l < L); with second, also the second-order tangents Zd2_l =
 * 2 Ad_{l-1} V_l' + Ad2_{l-1} W_l' (zero at layer 1) and Ad2_l = act'' o Zd_l^2 + act' o Zd2_l. */
static void cache_tangent_forward(const mlp_hvp_cache *c, m2_layer *ly, size_t R, const double *v, int second)
{
    const linstab_mlp *m = c->m;
    size_t L = m->nlayers;
    for (size_t l = 1; l <= L; l++) {
        size_t d = m->sizes[l], dp = m->sizes[l - 1];
        const double *W = m->theta + linstab_mlp_w_offset(m, l), *V = v + linstab_mlp_w_offset(m, l);
        double *Zd = ly[l].Zd, *Zd2 = ly[l].Zd2;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 1.0, ly[l - 1].A, (int)dp, V,
                    (int)dp, 0.0, Zd, (int)d);
        if (l > 1)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 1.0, ly[l - 1].Ad, (int)dp,
                        W, (int)dp, 1.0, Zd, (int)d);
        if (m->bias) {
            const double *vb = v + linstab_mlp_b_offset(m, l);
            for (size_t r = 0; r < R; r++)
                for (size_t j = 0; j < d; j++) Zd[r * d + j] += vb[j];
        }
        if (second) {
            if (l == 1) {
                memset(Zd2, 0, R * d * sizeof *Zd2);
            } else {
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 2.0, ly[l - 1].Ad,
                            (int)dp, V, (int)dp, 0.0, Zd2, (int)d);
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)d, (int)dp, 1.0, ly[l - 1].Ad2,
                            (int)dp, W, (int)dp, 1.0, Zd2, (int)d);
            }
        }
        if (l < L) {
            for (size_t j = 0; j < R * d; j++) ly[l].Ad[j] = ly[l].S1[j] * Zd[j];
            if (second)
                for (size_t j = 0; j < R * d; j++) ly[l].Ad2[j] = ly[l].S2[j] * Zd[j] * Zd[j] + ly[l].S1[j] * Zd2[j];
        }
    }
}

/* sum over the rows r0.. (R) of H_i v into hv (the slot's partial sum) */
static void cache_hvp_rows(const mlp_hvp_cache *c, mlp_hvp_slot *w, size_t r0, size_t R, const double *v,
                           double *hv)
{
    const linstab_mlp *m = c->m;
    size_t L = m->nlayers, K = m->sizes[L], ty = c->loss == LINSTAB_LOSS_MSE ? K : 1;
    m2_layer ly[LINSTAB_MLP_MAX_LAYERS + 1];
    cache_rows(c, w, r0, ly);
    cache_tangent_forward(c, ly, R, v, 0);
    /* the backward tangent (G, B cached): Bd_l = Gd_{l+1} W + G_{l+1} V, Gd_l = act'' Zd B + act' Bd */
    output_signal(m, c->loss, c->smoothing, R, &ly[L], ly[L].Zd, ly[L].Ad, ly[L].Gd, c->Y + r0 * ty, w->pbuf, 0);
    for (size_t l = L - 1; l >= 1; l--) {
        size_t d = m->sizes[l], dn = m->sizes[l + 1];
        const double *W = m->theta + linstab_mlp_w_offset(m, l + 1), *V = v + linstab_mlp_w_offset(m, l + 1);
        double *Bd = ly[l].Gd;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)d, (int)dn, 1.0, ly[l + 1].Gd, (int)dn,
                    W, (int)d, 0.0, Bd, (int)d);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)d, (int)dn, 1.0, ly[l + 1].G, (int)dn, V,
                    (int)d, 1.0, Bd, (int)d);
        for (size_t j = 0; j < R * d; j++) Bd[j] = ly[l].S2[j] * ly[l].Zd[j] * ly[l].B[j] + ly[l].S1[j] * Bd[j];
        if (l == 1) break;
    }
    double *Gd[LINSTAB_MLP_MAX_LAYERS + 1], *Ad[LINSTAB_MLP_MAX_LAYERS + 1];
    for (size_t l = 0; l <= L; l++) {
        Gd[l] = ly[l].Gd;
        Ad[l] = ly[l].Ad;
    }
    add_grad_tangent(m, ly, R, Gd, Ad, hv);
}

void mlp_hvp_cached(mlp_hvp_cache *c, const double *v, double *hv)
{
    size_t p = c->m->p;
    int bt = blas_threads_single();
    double inv = 1.0 / (double)c->n;
#pragma omp parallel /* one region: the threads wake once per product */
    {
#pragma omp for schedule(dynamic, 1)
        for (size_t s = 0; s < c->nslots; s++) {
            mlp_hvp_slot *w = &c->slot[s];
            memset(w->hv, 0, p * sizeof *w->hv);
            for (size_t ch = s; ch < c->nchunks; ch += c->nslots) {
                size_t r0 = ch * c->rchunk, R = c->n - r0 < c->rchunk ? c->n - r0 : c->rchunk;
                cache_hvp_rows(c, w, r0, R, v, w->hv);
            }
        }
        /* the slots' partial sums in slot order */
#pragma omp for schedule(static)
        for (size_t j = 0; j < p; j++) {
            double t = 0.0;
            for (size_t s = 0; s < c->nslots; s++) t += c->slot[s].hv[j];
            hv[j] = t * inv;
        }
    }
    blas_threads_restore(bt);
}

double mlp_quad_cached(mlp_hvp_cache *c, const double *z)
{
    const linstab_mlp *m = c->m;
    size_t L = m->nlayers, K = m->sizes[L], ty = c->loss == LINSTAB_LOSS_MSE ? K : 1;
    int bt = blas_threads_single();
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t s = 0; s < c->nslots; s++) {
        mlp_hvp_slot *w = &c->slot[s];
        m2_layer ly[LINSTAB_MLP_MAX_LAYERS + 1];
        for (size_t ch = s; ch < c->nchunks; ch += c->nslots) {
            size_t r0 = ch * c->rchunk, R = c->n - r0 < c->rchunk ? c->n - r0 : c->rchunk;
            cache_rows(c, w, r0, ly);
            cache_tangent_forward(c, ly, R, z, 1);
            /* (hess_z l) z_L' into Gd_L (the output's curvature along the tangent), then per row
             * z_L'^T (hess_z l) z_L' + G_L^T z_L'' */
            output_signal(m, c->loss, c->smoothing, R, &ly[L], ly[L].Zd, ly[L].Ad, ly[L].Gd, c->Y + r0 * ty, w->pbuf,
                          0);
            double t = 0.0;
            for (size_t r = 0; r < R; r++) {
                const double *zd = ly[L].Zd + r * K, *gd = ly[L].Gd + r * K, *g = ly[L].G + r * K,
                             *z2 = ly[L].Zd2 + r * K;
                double q = 0.0;
                for (size_t k = 0; k < K; k++) q += zd[k] * gd[k] + g[k] * z2[k];
                t += q;
            }
            c->tq[ch] = t;
        }
    }
    blas_threads_restore(bt);
    double t = 0.0;
    for (size_t ch = 0; ch < c->nchunks; ch++) t += c->tq[ch];
    return t / (double)c->n;
}

/*
 * Exact Hessian of one sample's loss from the layers' small factors.  With
 * z_l = W_l a_{l-1} + b_l, g_l = dl/dz_l, M_l = d^2 l / dz_l^2 (d_l x d_l:
 * M_L the loss's curvature C, with an output activation s
 * diag(s') C diag(s') + diag(s'' o dl/df; M_l = diag(act'_l) W_{l+1}' M_{l+1}
 * W_{l+1} diag(act'_l) + diag(act''_l o W_{l+1}' g_{l+1}) going back),
 * P_{n,m} = dz_n/dz_m (m < n, P_{m+1,m} = W_{m+1} diag(act'_m)) and
 * J_{n-1,m} = diag(act'_{n-1}) P_{n-1,m} (J_{m,m} = diag(act'_m)), the
 * blocks of H are, with ~a = (a; 1) (the bias as column d_{l-1} of the
 * layer's ~a):
 *   H[W_n(r,c), W_n(r',c')] = M_n[r,r'] (~a_{n-1}[c] ~a_{n-1}[c'])
 *   H[W_m(r,c), W_n(j)]     = ~a_{m-1}[c] R^{mn}_r[j],   m < n,
 *   R^{mn}_r[(r',c')] = Q[r,r'] ~a_{n-1}[c'] + [c' < d_{n-1}] g_n[r'] J_{n-1,m}[c',r],
 *   Q = P_{n,m}' M_n
 * (the second term: z_n is bilinear in W_n and a_{n-1}).  Each entry is
 * one product of two numbers that its mirror entry forms from the same two
 * (M_n symmetrised first), so H is exactly symmetric with no transpose
 * pass, and p^2 multiplications fill it; the factors cost O(sum d^3).
 * The tests compare it with p Hessian-vector products through the tape and
 * with differences of gradients.
 */
typedef struct hs_work {
    const linstab_mlp *m;
    size_t w[LINSTAB_MLP_MAX_LAYERS + 1];  /* block width of layer l: d_l (d_{l-1} + bias) */
    size_t e[LINSTAB_MLP_MAX_LAYERS + 1];  /* d_{l-1} + bias: the columns of ~a_{l-1} */
    double *a[LINSTAB_MLP_MAX_LAYERS + 1], *s1[LINSTAB_MLP_MAX_LAYERS + 1], *s2[LINSTAB_MLP_MAX_LAYERS + 1];
    double *g[LINSTAB_MLP_MAX_LAYERS + 1], *bk[LINSTAB_MLP_MAX_LAYERS + 1];
    double *ta[LINSTAB_MLP_MAX_LAYERS + 1];  /* ~a_{l-1} (e_l) */
    double *aa[LINSTAB_MLP_MAX_LAYERS + 1];  /* ~a_{l-1} ~a_{l-1}' (e_l x e_l) */
    double *M[LINSTAB_MLP_MAX_LAYERS + 1];   /* d_l x d_l */
    double *R[LINSTAB_MLP_MAX_LAYERS + 1][LINSTAB_MLP_MAX_LAYERS + 1];  /* m < n: d_m x w_n */
    double *Rt[LINSTAB_MLP_MAX_LAYERS + 1][LINSTAB_MLP_MAX_LAYERS + 1]; /* m < n: w_n x d_m */
    double *P, *J, *Q, *T, *pr; /* scratch: width^2 each (pr: K) */
} hs_work;

static void hs_free(hs_work *w)
{
    for (size_t l = 0; l <= LINSTAB_MLP_MAX_LAYERS; l++) {
        double *f[] = {w->a[l], w->s1[l], w->s2[l], w->g[l], w->bk[l], w->ta[l], w->aa[l], w->M[l]};
        for (size_t q = 0; q < sizeof f / sizeof f[0]; q++) free(f[q]);
        for (size_t n = 0; n <= LINSTAB_MLP_MAX_LAYERS; n++) {
            free(w->R[l][n]);
            free(w->Rt[l][n]);
        }
    }
    free(w->P);
    free(w->J);
    free(w->Q);
    free(w->T);
    free(w->pr);
    memset(w, 0, sizeof *w);
}

static linstab_status hs_alloc(const linstab_mlp *m, hs_work *w, linstab_error *err)
{
    memset(w, 0, sizeof *w);
    w->m = m;
    size_t L = m->nlayers, width = 0, bias = m->bias ? 1 : 0;
    for (size_t l = 0; l <= L; l++) width = m->sizes[l] > width ? m->sizes[l] : width;
    width += 1;
    int ok = (w->P = malloc(width * width * sizeof(double))) && (w->J = malloc(width * width * sizeof(double))) &&
             (w->Q = malloc(width * width * sizeof(double))) && (w->T = malloc(width * width * sizeof(double))) &&
             (w->pr = malloc(width * sizeof(double)));
    for (size_t l = 0; l <= L && ok; l++) {
        size_t d = m->sizes[l];
        ok = (w->a[l] = malloc(d * sizeof(double))) && (w->s1[l] = malloc(d * sizeof(double))) &&
             (w->s2[l] = malloc(d * sizeof(double))) && (w->g[l] = malloc(d * sizeof(double))) &&
             (w->bk[l] = malloc(d * sizeof(double)));
        if (!ok || l == 0) continue;
        w->e[l] = m->sizes[l - 1] + bias;
        w->w[l] = d * w->e[l];
        ok = (w->ta[l] = malloc(w->e[l] * sizeof(double))) && (w->aa[l] = malloc(w->e[l] * w->e[l] * sizeof(double))) &&
             (w->M[l] = malloc(d * d * sizeof(double)));
    }
    for (size_t mm = 1; mm <= L && ok; mm++)
        for (size_t n = mm + 1; n <= L && ok; n++)
            ok = (w->R[mm][n] = malloc(m->sizes[mm] * w->w[n] * sizeof(double))) &&
                 (w->Rt[mm][n] = malloc(m->sizes[mm] * w->w[n] * sizeof(double)));
    if (ok) return LINSTAB_OK;
    hs_free(w);
    return linstab_error_set(err, LINSTAB_ENOMEM, "Hessian: out of memory");
}

/* The factors of one sample's Hessian into w. */
static linstab_status hs_prepare(hs_work *w, const double *x, const double *y, linstab_loss loss, double smoothing,
                                 linstab_error *err)
{
    const linstab_mlp *m = w->m;
    size_t L = m->nlayers, K = m->sizes[L], bias = m->bias ? 1 : 0;
    if (loss == LINSTAB_LOSS_CE && !(y[0] >= 0.0 && y[0] < (double)K && y[0] == floor(y[0])))
        return linstab_error_set(err, LINSTAB_EDATA, "label %g outside 0..%zu", y[0], K - 1);
    memcpy(w->a[0], x, m->sizes[0] * sizeof(double));
    mlp_forward_pass(m, w->a[0], 1, L, w->a, w->s1, w->s2, MLP_PRODUCT_GEMV);
    /* M_L and g_L: C's columns are the curvature along unit tangents */
    double *ML = w->M[L], *unit = w->T, *col = w->Q;
    int out = m->out_act != LINSTAB_MLP_OUT_NONE;
    loss_gradient(loss, smoothing, K, w->a[L], y, out ? w->bk[L] : w->g[L], w->pr);
    for (size_t j = 0; j < K; j++) {
        for (size_t c = 0; c < K; c++) unit[c] = c == j ? 1.0 : 0.0;
        loss_curvature(loss, K, w->pr, unit, col);
        for (size_t c = 0; c < K; c++) ML[c * K + j] = col[c];
    }
    if (out) {
        const double *s1 = w->s1[L], *s2 = w->s2[L];
        for (size_t j = 0; j < K; j++) w->g[L][j] = s1[j] * w->bk[L][j];
        for (size_t i = 0; i < K; i++)
            for (size_t j = 0; j < K; j++)
                ML[i * K + j] = (s1[i] * s1[j]) * ML[i * K + j] + (i == j ? s2[i] * w->bk[L][i] : 0.0);
    }
    /* backward: B_l = W_{l+1}' g_{l+1} (bk), g_l = act' o B_l,
     * M_l = (act'_i act'_j) sym(W' M_{l+1} W)_ij + [i = j] act''_i B_l[i] */
    for (size_t l = L - 1; l >= 1; l--) {
        size_t d = m->sizes[l], dn = m->sizes[l + 1];
        const double *W = m->theta + linstab_mlp_w_offset(m, l + 1);
        const double *s1 = w->s1[l], *s2 = w->s2[l];
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)dn, (int)d, 1.0, W, (int)d, w->g[l + 1], 1, 0.0, w->bk[l], 1);
        for (size_t j = 0; j < d; j++) w->g[l][j] = s1[j] * w->bk[l][j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)dn, (int)d, (int)dn, 1.0, w->M[l + 1], (int)dn, W,
                    (int)d, 0.0, w->T, (int)d);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)dn, 1.0, W, (int)d, w->T, (int)d, 0.0,
                    w->Q, (int)d);
        double *Ml = w->M[l];
        for (size_t i = 0; i < d; i++)
            for (size_t j = i; j < d; j++) {
                double v = (s1[i] * s1[j]) * (0.5 * (w->Q[i * d + j] + w->Q[j * d + i]));
                if (i == j) v += s2[i] * w->bk[l][i];
                Ml[i * d + j] = Ml[j * d + i] = v;
            }
        if (l == 1) break;
    }
    for (size_t l = 1; l <= L; l++) {
        size_t dp = m->sizes[l - 1], e = w->e[l];
        for (size_t c = 0; c < dp; c++) w->ta[l][c] = w->a[l - 1][c];
        if (bias) w->ta[l][dp] = 1.0;
        for (size_t c = 0; c < e; c++)
            for (size_t c2 = c; c2 < e; c2++) w->aa[l][c * e + c2] = w->aa[l][c2 * e + c] = w->ta[l][c] * w->ta[l][c2];
    }
    /* the off-diagonal blocks: for each m, J = J_{n-1,m}, P = P_{n,m} = W_n J, Q = P' M_n, R^{mn} */
    for (size_t mm = 1; mm < L; mm++) {
        size_t dm = m->sizes[mm];
        double *J = w->J;
        memset(J, 0, dm * dm * sizeof *J);
        for (size_t r = 0; r < dm; r++) J[r * dm + r] = w->s1[mm][r];
        for (size_t n = mm + 1; n <= L; n++) {
            size_t dn = m->sizes[n], dp = m->sizes[n - 1], wn = w->w[n];
            const double *W = m->theta + linstab_mlp_w_offset(m, n);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)dn, (int)dm, (int)dp, 1.0, W, (int)dp, J,
                        (int)dm, 0.0, w->P, (int)dm);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dm, (int)dn, (int)dn, 1.0, w->P, (int)dm,
                        w->M[n], (int)dn, 0.0, w->Q, (int)dn);
            double *R = w->R[mm][n], *Rt = w->Rt[mm][n];
            const double *ta = w->ta[n], *gn = w->g[n];
            for (size_t r = 0; r < dm; r++) {
                double *Rr = R + r * wn;
                for (size_t r2 = 0; r2 < dn; r2++) {
                    double q = w->Q[r * dn + r2], gg = gn[r2];
                    double *o = Rr + r2 * dp;
                    for (size_t c = 0; c < dp; c++) o[c] = q * ta[c] + gg * J[c * dm + r];
                    if (bias) Rr[dn * dp + r2] = q;
                }
            }
            for (size_t r = 0; r < dm; r++)
                for (size_t j = 0; j < wn; j++) Rt[j * dm + r] = R[r * wn + j];
            if (n < L) { /* J_{n,m} = diag(act'_n) P_{n,m} */
                for (size_t r2 = 0; r2 < dn; r2++)
                    for (size_t r = 0; r < dm; r++) J[r2 * dm + r] = w->s1[n][r2] * w->P[r2 * dm + r];
            }
        }
    }
    return LINSTAB_OK;
}

/* The sample's Hessian (p x p) from its factors into H, as doubles or floats: every entry is a product of two
 * doubles, rounded to float in the float version (so it is the double version rounded). */
#define HS_FILL(NAME, TYPE)                                                                                         \
    static void NAME(const hs_work *w, TYPE *H)                                                                     \
    {                                                                                                               \
        const linstab_mlp *m = w->m;                                                                                \
        size_t L = m->nlayers, p = m->p;                                                                            \
        TYPE *row = H;                                                                                              \
        for (size_t mm = 1; mm <= L; mm++) {                                                                        \
            size_t dm = m->sizes[mm], em = w->e[mm], dpm = m->sizes[mm - 1];                                        \
            for (size_t j = 0; j < w->w[mm]; j++, row += p) {                                                       \
                /* row j of block mm: W_mm(r, c) for j < dm dpm, b_mm(r) after */                                  \
                size_t r = j < dm * dpm ? j / dpm : j - dm * dpm, c = j < dm * dpm ? j % dpm : dpm;                 \
                double av = w->ta[mm][c];                                                                           \
                TYPE *o = row;                                                                                      \
                for (size_t n = 1; n < mm; n++) { /* the mirror of block (n, mm) */                                 \
                    size_t dn = m->sizes[n], dpn = m->sizes[n - 1];                                                 \
                    const double *rt = w->Rt[n][mm] + j * dn, *ta = w->ta[n];                                       \
                    for (size_t r2 = 0; r2 < dn; r2++) {                                                            \
                        double v = rt[r2];                                                                          \
                        for (size_t c2 = 0; c2 < dpn; c2++) o[r2 * dpn + c2] = (TYPE)(ta[c2] * v);                  \
                        if (w->e[n] > dpn) o[dn * dpn + r2] = (TYPE)(ta[dpn] * v);                                  \
                    }                                                                                               \
                    o += w->w[n];                                                                                   \
                }                                                                                                   \
                {                                                                                                   \
                    const double *Mr = w->M[mm] + r * dm, *aac = w->aa[mm] + c * em;                                \
                    for (size_t r2 = 0; r2 < dm; r2++) {                                                            \
                        double v = Mr[r2];                                                                          \
                        for (size_t c2 = 0; c2 < dpm; c2++) o[r2 * dpm + c2] = (TYPE)(v * aac[c2]);                 \
                        if (em > dpm) o[dm * dpm + r2] = (TYPE)(v * aac[dpm]);                                      \
                    }                                                                                               \
                    o += w->w[mm];                                                                                  \
                }                                                                                                   \
                for (size_t n = mm + 1; n <= L; n++) {                                                              \
                    size_t wn = w->w[n];                                                                            \
                    const double *Rr = w->R[mm][n] + r * wn;                                                        \
                    for (size_t k = 0; k < wn; k++) o[k] = (TYPE)(av * Rr[k]);                                      \
                    o += wn;                                                                                        \
                }                                                                                                   \
            }                                                                                                       \
        }                                                                                                           \
    }
HS_FILL(hs_fill_f64, double)
HS_FILL(hs_fill_f32, float)

linstab_status linstab_mlp_sample_hessian(const linstab_mlp *m, const double *x, const double *y,
                                          linstab_loss loss, double smoothing, double *H,
                                          linstab_error *err)
{
    hs_work w;
    linstab_status st = hs_alloc(m, &w, err);
    if (st != LINSTAB_OK) return st;
    st = hs_prepare(&w, x, y, loss, smoothing, err);
    if (st == LINSTAB_OK) hs_fill_f64(&w, H);
    hs_free(&w);
    return st;
}

linstab_status linstab_mlp_sample_jacobian_t(const linstab_mlp *m, const double *x, double *U,
                                             linstab_error *err)
{
    size_t K = m->sizes[m->nlayers], p = m->p;
    double *f = malloc(K * sizeof *f), *t = malloc(K * sizeof *t), *grad = malloc(p * sizeof *grad);
    linstab_status st = (f && t && grad) ? linstab_mlp_forward(m, x, 1, f, err)
                                         : linstab_error_set(err, LINSTAB_ENOMEM, "Jacobian: out of memory");
    /* the gradient of ||f - (f - e_o)||^2/2 at these parameters is J' e_o,
     * J the Jacobian of the activated outputs f (the tape holds out_act) */
    for (size_t o = 0; o < K && st == LINSTAB_OK; o++) {
        for (size_t c = 0; c < K; c++) t[c] = f[c] - (c == o ? 1.0 : 0.0);
        st = linstab_mlp_loss(m, x, t, 1, LINSTAB_LOSS_MSE, 0.0, NULL, NULL, grad, NULL, err);
        for (size_t i = 0; i < p; i++) U[i * K + o] = grad[i];
    }
    free(f);
    free(t);
    free(grad);
    return st;
}


/*
 * The square root of the loss's curvature in f that the generalized
 * Gauss-Newton factors carry: OUT R (K x K, row-major) with R R' = C.
 * MSE: C = I, R = I.  CE: C = diag(p) - p p' (p = softmax(f), rank K - 1,
 * independent of the label and of the smoothing) and
 *     R = diag(sqrt p) - p sqrt(p)',
 * since R R' = diag(p) - 2 p p' + p (sqrt(p)' sqrt(p)) p' = diag(p) - p p'
 * (sum p = 1).  A closed form, not the symmetric square root: no
 * eigendecomposition, exact to rounding; R' 1 = 0 (the rank deficit).
 */
static void gn_root(linstab_loss loss, size_t K, const double *f, double *pbuf, double *R)
{
    if (loss == LINSTAB_LOSS_MSE) {
        for (size_t a = 0; a < K; a++)
            for (size_t c = 0; c < K; c++) R[a * K + c] = a == c ? 1.0 : 0.0;
        return;
    }
    softmax(K, f, pbuf);
    for (size_t a = 0; a < K; a++)
        for (size_t c = 0; c < K; c++) R[a * K + c] = (a == c ? sqrt(pbuf[a]) : 0.0) - pbuf[a] * sqrt(pbuf[c]);
}

linstab_status linstab_mlp_sample_gn_factor(const linstab_mlp *m, const double *x, linstab_loss loss, double *U,
                                            linstab_error *err)
{
    linstab_status st = linstab_mlp_sample_jacobian_t(m, x, U, err);
    if (st != LINSTAB_OK || loss == LINSTAB_LOSS_MSE) return st;
    size_t K = m->sizes[m->nlayers], p = m->p;
    double *f = malloc(K * sizeof *f), *pr = malloc(K * sizeof *pr), *R = malloc(K * K * sizeof *R),
           *T = malloc(p * K * sizeof *T);
    st = (f && pr && R && T) ? linstab_mlp_forward(m, x, 1, f, err)
                             : linstab_error_set(err, LINSTAB_ENOMEM, "Gauss-Newton factor: out of memory");
    if (st == LINSTAB_OK) {
        /* U = J' R (p x K) */
        gn_root(loss, K, f, pr, R);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)K, (int)K, 1.0, U, (int)K, R, (int)K, 0.0,
                    T, (int)K);
        memcpy(U, T, p * K * sizeof *U);
    }
    free(f);
    free(pr);
    free(R);
    free(T);
    return st;
}


/* ---- the per-sample Hessian family of a model ---- */

linstab_status linstab_mlp_family(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                  linstab_loss loss, double smoothing, int gn, size_t max_bytes,
                                  linstab_family **out, linstab_error *err)
{
    return linstab_mlp_family_progress(m, X, Y, loss, smoothing, gn, max_bytes, NULL, NULL, out, err);
}

linstab_status linstab_mlp_family_progress(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                           linstab_loss loss, double smoothing, int gn, size_t max_bytes,
                                           void (*progress)(size_t done, size_t total, void *ctx), void *ctx,
                                           linstab_family **out, linstab_error *err)
{
    *out = NULL;
    linstab_status st = linstab_mlp_check_data(m, X, Y, loss, err);
    if (st != LINSTAB_OK) return st;
    size_t n = X->shape[0], d0 = m->sizes[0], K = m->sizes[m->nlayers], p = m->p;
    double need = (double)n * (double)p * (double)(gn ? K : p) * 8.0;
    if (max_bytes > 0 && need > (double)max_bytes)
        return linstab_error_set(err, LINSTAB_ENOMEM,
                                 "%s of %zu samples with %zu parameters need %.2f GB, more than %.2f GB",
                                 gn ? "the factors" : "the exact Hessians", n, p, need / 1e9,
                                 (double)max_bytes / 1e9);
    st = linstab_family_alloc(gn ? LINSTAB_FAMILY_FACTORED : LINSTAB_FAMILY_DENSE, n, p, gn ? K : p, out, err);
    if (st != LINSTAB_OK) return st;
    linstab_family *f = *out;
    size_t per = gn ? p * K : p * p;
    /* samples in parallel, one BLAS thread each: the products are small,
     * and OpenBLAS's own threads would only spin */
    int blas_threads = blas_threads_single();
    linstab_status first = LINSTAB_OK;
    size_t bad = n, ndone = 0;
    char msg[LINSTAB_ERROR_MSG_LEN] = "";
    if (progress) progress(0, n, ctx);
#pragma omp parallel for schedule(dynamic)
    for (size_t i = 0; i < n; i++) {
        if (first != LINSTAB_OK) continue;
        const double *x = X->data + i * d0, *y = Y->data + (loss == LINSTAB_LOSS_MSE ? i * K : i);
        linstab_error e = {0};
        linstab_status si = gn ? linstab_mlp_sample_gn_factor(m, x, loss, f->data + i * per, &e)
                               : linstab_mlp_sample_hessian(m, x, y, loss, smoothing, f->data + i * per, &e);
        if (si != LINSTAB_OK) {
#pragma omp critical(mlp_family_error)
            if (i < bad) {
                bad = i;
                first = si;
                memcpy(msg, e.msg, sizeof msg);
            }
        }
        if (progress) {
            size_t k;
#pragma omp atomic capture
            k = ++ndone;
            int caller = 1; /* the callback runs in the calling thread only */
#ifdef _OPENMP
            caller = omp_get_thread_num() == 0;
#endif
            if (caller && k < n) progress(k, n, ctx);
        }
    }
    blas_threads_restore(blas_threads);
    if (progress && first == LINSTAB_OK) progress(n, n, ctx);
    if (first != LINSTAB_OK) {
        linstab_family_free(f);
        *out = NULL;
        return linstab_error_set(err, first, "sample %zu: %s", bad, msg);
    }
    return LINSTAB_OK;
}

/* ---- exact per-sample Hessians streamed chunk by chunk ---- */

static double hs_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

linstab_status linstab_mlp_hessians_stream(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                           linstab_loss loss, double smoothing, int float32, size_t chunk,
                                           linstab_mlp_hessians_sink sink, void *sink_ctx,
                                           void (*progress)(size_t done, size_t total, void *ctx), void *progress_ctx,
                                           double *compute_seconds, double *sink_seconds, linstab_error *err)
{
    if (compute_seconds) *compute_seconds = 0.0;
    if (sink_seconds) *sink_seconds = 0.0;
    linstab_status st = linstab_mlp_check_data(m, X, Y, loss, err);
    if (st != LINSTAB_OK) return st;
    size_t n = X->shape[0], d0 = m->sizes[0], K = m->sizes[m->nlayers], p = m->p, per = p * p;
    size_t esz = float32 ? sizeof(float) : sizeof(double);
    if (chunk == 0) chunk = ((size_t)64 << 20) / (per * esz); /* about 64 MB of output a chunk */
    int nth = 1;
#ifdef _OPENMP
    nth = omp_get_max_threads();
#endif
    if (chunk < 1) chunk = 1;
    chunk = (chunk + (size_t)nth - 1) / (size_t)nth * (size_t)nth; /* a whole number of samples a thread */
    if (chunk > n) chunk = n > 0 ? n : 1;
    size_t nchunks = (n + chunk - 1) / chunk;
    unsigned char *buf[2] = {malloc(chunk * per * esz), nchunks > 1 ? malloc(chunk * per * esz) : NULL};
    hs_work *w = calloc((size_t)nth, sizeof *w);
    int ok = buf[0] != NULL && (nchunks < 2 || buf[1] != NULL) && w != NULL;
    int nw = 0;
    for (; ok && nw < nth; nw++)
        if (hs_alloc(m, &w[nw], NULL) != LINSTAB_OK) ok = 0;
    if (!ok) {
        for (int t = 0; t < nw; t++) hs_free(&w[t]);
        free(w);
        free(buf[0]);
        free(buf[1]);
        return linstab_error_set(err, LINSTAB_ENOMEM, "exact Hessians: out of memory for two chunks of %zu samples",
                                 chunk);
    }
    /* chunk c is computed (a task per sample) while chunk c - 1 goes to the sink (one task): the same bytes
     * for any thread count, each sample's numbers from one thread with one BLAS thread */
    int bt = blas_threads_single();
    size_t bad = n;
    linstab_status kst = LINSTAB_OK, sst = LINSTAB_OK;
    char msg[LINSTAB_ERROR_MSG_LEN] = "";
    linstab_error serr = {0};
    double tk = 0.0, tsink = 0.0;
    if (progress) progress(0, n, progress_ctx);
#pragma omp parallel
#pragma omp master /* the calling thread: it alone calls progress */
    for (size_t c = 0; c <= nchunks; c++) {
        int go = kst == LINSTAB_OK && sst == LINSTAB_OK;
#pragma omp taskgroup
        {
            if (c > 0 && go && sink != NULL) {
#pragma omp task
                {
                    size_t i0 = (c - 1) * chunk, cnt = n - i0 < chunk ? n - i0 : chunk;
                    double t0 = hs_now();
                    sst = sink(i0, cnt, buf[(c - 1) % 2], sink_ctx, &serr);
                    tsink += hs_now() - t0;
                }
            }
            for (size_t i = c * chunk; go && c < nchunks && i < n && i < (c + 1) * chunk; i++) {
#pragma omp task
                {
                    int tid = 0;
#ifdef _OPENMP
                    tid = omp_get_thread_num();
#endif
                    double t0 = hs_now();
                    const double *x = X->data + i * d0, *y = Y->data + (loss == LINSTAB_LOSS_MSE ? i * K : i);
                    linstab_error e = {0};
                    linstab_status si = hs_prepare(&w[tid], x, y, loss, smoothing, &e);
                    unsigned char *out = buf[c % 2] + (i - c * chunk) * per * esz;
                    if (si == LINSTAB_OK) {
                        if (float32)
                            hs_fill_f32(&w[tid], (float *)(void *)out);
                        else
                            hs_fill_f64(&w[tid], (double *)(void *)out);
                    }
                    double dt = hs_now() - t0;
#pragma omp critical(mlp_hessians_stream)
                    {
                        tk += dt;
                        if (si != LINSTAB_OK && i < bad) {
                            bad = i;
                            kst = si;
                            memcpy(msg, e.msg, sizeof msg);
                        }
                    }
                }
            }
        }
        if (progress && c < nchunks && kst == LINSTAB_OK) {
            size_t done = (c + 1) * chunk < n ? (c + 1) * chunk : n;
            if (done < n) progress(done, n, progress_ctx);
        }
    }
    blas_threads_restore(bt);
    for (int t = 0; t < nth; t++) hs_free(&w[t]);
    free(w);
    free(buf[0]);
    free(buf[1]);
    if (compute_seconds) *compute_seconds = tk / (double)nth;
    if (sink_seconds) *sink_seconds = tsink;
    if (kst != LINSTAB_OK) return linstab_error_set(err, kst, "sample %zu: %s", bad, msg);
    if (sst != LINSTAB_OK) {
        if (err) *err = serr;
        return sst;
    }
    if (progress) progress(n, n, progress_ctx);
    return LINSTAB_OK;
}

/*
 * The NTK blocks K_ij = J_i J_j' (k x k) without any Jacobian.  Layer l maps
 * its input a_{l-1} to z_l = W_l a_{l-1} + b_l, and the derivative of output
 * c with respect to W_l[u][v] is D_l[c][u] a_{l-1}[v], D_l = df/dz_l (k x d_l),
 * so the Jacobian block of W_l is D_l (x) a_{l-1}' (f: the activated
 * outputs) and
 *   K_ij = sum_l (D_{l,i} D_{l,j}') (a_{l-1,i}' a_{l-1,j} + [bias]).
 * A forward pass gives every a_{l-1} and act'(z_l); D_L = I_k (diag of
 * out_act'(z_L) with an output activation) and
 * D_l = (D_{l+1} W_{l+1}) o act'(z_l) going back -- one GEMM per layer for
 * a stack of samples.  Per pair of samples that is k^2 sum d_l + sum d_{l-1}
 * flops instead of the k^2 p of J_i J_j'.
 */
typedef struct ntk_factors {
    size_t n, k;
    double *A[LINSTAB_MLP_MAX_LAYERS + 1]; /* A[l]: n x d_{l-1}, input of layer l */
    double *D[LINSTAB_MLP_MAX_LAYERS + 1]; /* D[l]: (n k) x d_l                  */
} ntk_factors;

static void ntk_free(ntk_factors *t)
{
    for (size_t l = 0; l <= LINSTAB_MLP_MAX_LAYERS; l++) {
        free(t->A[l]);
        free(t->D[l]);
    }
}

static linstab_status ntk_compute(const linstab_mlp *m, const linstab_array *X, linstab_loss loss, ntk_factors *t,
                                  linstab_error *err)
{
    size_t n = X->shape[0], L = m->nlayers, k = m->sizes[L];
    memset(t, 0, sizeof *t);
    t->n = n;
    t->k = k;
    double *S[LINSTAB_MLP_MAX_LAYERS + 1] = {NULL}; /* act'(z_l), n x d_l, l < L; out_act'(z_L) */
    int out = m->out_act != LINSTAB_MLP_OUT_NONE, ce = loss == LINSTAB_LOSS_CE, fwd = out || ce;
    /* f, for out_act'(z_L) and for CE's p = softmax(f); R: gn_root's k x k */
    double *F = fwd ? malloc(n * k * sizeof *F) : NULL, *R = ce ? malloc(k * k * sizeof *R) : NULL,
           *pr = ce ? malloc(k * sizeof *pr) : NULL;
    S[L] = out ? malloc(n * k * sizeof(double)) : NULL;
    int ok = (!fwd || F) && (!out || S[L]) && (!ce || (R && pr));
    for (size_t l = 1; l <= L; l++) {
        t->A[l] = malloc(n * m->sizes[l - 1] * sizeof(double));
        t->D[l] = malloc(n * k * m->sizes[l] * sizeof(double));
        if (l < L) S[l] = malloc(n * m->sizes[l] * sizeof(double));
        ok = ok && t->A[l] && t->D[l] && (l == L || S[l]);
    }
    if (!ok) {
        for (size_t l = 1; l <= L; l++) free(S[l]);
        free(F);
        free(R);
        free(pr);
        ntk_free(t);
        return linstab_error_set(err, LINSTAB_ENOMEM, "coherence: out of memory for the layer factors of %zu samples", n);
    }
    memcpy(t->A[1], X->data, n * m->sizes[0] * sizeof(double));
    /* forward to the last hidden layer (to the outputs with an output
     * activation, for out_act'(z_L)): layer l's output is layer l + 1's input */
    double *Aout[LINSTAB_MLP_MAX_LAYERS + 1] = {NULL};
    for (size_t l = 1; l < L; l++) Aout[l] = t->A[l + 1];
    Aout[L] = F;
    mlp_forward_pass(m, t->A[1], n, fwd ? L : L - 1, Aout, S, NULL, MLP_PRODUCT_GEMM);
    /* D_L = df/dz_L = I_k for every sample (diag(out_act'(z_L)) with an
     * output activation); for CE the rows are those of R_i' J_i (the
     * generalized Gauss-Newton factor U_i = J_i' R_i, gn_root), so
     * D_L = R_i' diag(out_act'(z_L)); D_l = (D_{l+1} W_{l+1}) o act'(z_l) */
    memset(t->D[L], 0, n * k * k * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        if (ce) gn_root(loss, k, F + i * k, pr, R);
        for (size_t c = 0; c < k; c++)
            for (size_t u = 0; u < k; u++) {
                double r = ce ? R[u * k + c] : (c == u ? 1.0 : 0.0);
                t->D[L][(i * k + c) * k + u] = r * (out ? S[L][i * k + u] : 1.0);
            }
    }
    for (size_t l = L - 1; l >= 1; l--) {
        size_t dl = m->sizes[l], dn = m->sizes[l + 1];
        const double *W = m->theta + linstab_mlp_w_offset(m, l + 1); /* dn x dl */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(n * k), (int)dl, (int)dn, 1.0, t->D[l + 1],
                    (int)dn, W, (int)dl, 0.0, t->D[l], (int)dl);
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < k; c++)
                for (size_t u = 0; u < dl; u++) t->D[l][(i * k + c) * dl + u] *= S[l][i * dl + u];
    }
    for (size_t l = 1; l <= L; l++) free(S[l]);
    free(F);
    free(R);
    free(pr);
    return LINSTAB_OK;
}

/* K (bi k x bj k) = the NTK blocks of samples i0.. (bi) against j0.. (bj);
 * G (bi k x bj k) and Ag (bi x bj) are workspaces. */
static void ntk_block(const linstab_mlp *m, const ntk_factors *t, size_t i0, size_t bi, size_t j0, size_t bj,
                      double *K, double *G, double *Ag)
{
    size_t k = t->k, cols = bj * k;
    memset(K, 0, bi * k * cols * sizeof *K);
    for (size_t l = 1; l <= m->nlayers; l++) {
        size_t dl = m->sizes[l], di = m->sizes[l - 1];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(bi * k), (int)cols, (int)dl, 1.0,
                    t->D[l] + i0 * k * dl, (int)dl, t->D[l] + j0 * k * dl, (int)dl, 0.0, G, (int)cols);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bi, (int)bj, (int)di, 1.0, t->A[l] + i0 * di,
                    (int)di, t->A[l] + j0 * di, (int)di, 0.0, Ag, (int)bj);
        double one = m->bias ? 1.0 : 0.0;
        for (size_t qi = 0; qi < bi; qi++)
            for (size_t a = 0; a < k; a++) {
                double *Kr = K + (qi * k + a) * cols;
                const double *Gr = G + (qi * k + a) * cols;
                for (size_t qj = 0; qj < bj; qj++) {
                    double s = Ag[qi * bj + qj] + one;
                    for (size_t c = 0; c < k; c++) Kr[qj * k + c] += Gr[qj * k + c] * s;
                }
            }
    }
}

linstab_status mlp_gn_square_middle(const linstab_mlp *m, const linstab_array *X, linstab_loss loss, double *M,
                                    linstab_error *err)
{
    size_t n = X->shape[0], K = m->sizes[m->nlayers];
    ntk_factors t;
    linstab_status st = ntk_compute(m, X, LINSTAB_LOSS_MSE, &t, err); /* J_i J_i' */
    if (st != LINSTAB_OK) return st;
    int ce = loss == LINSTAB_LOSS_CE;
    double *G = malloc(K * K * sizeof *G), *Ag = malloc(sizeof *Ag), *F = ce ? malloc(n * K * sizeof *F) : NULL,
           *C = malloc(K * K * sizeof *C), *T = malloc(K * K * sizeof *T), *pr = malloc(K * sizeof *pr);
    if (!G || !Ag || !C || !T || !pr || (ce && !F))
        st = linstab_error_set(err, LINSTAB_ENOMEM, "Gauss-Newton second moment: out of memory");
    if (st == LINSTAB_OK && ce) st = linstab_mlp_forward(m, X->data, n, F, err);
    for (size_t i = 0; st == LINSTAB_OK && i < n; i++) {
        double *Mi = M + i * K * K;
        ntk_block(m, &t, i, 1, i, 1, Mi, G, Ag);
        if (!ce) continue;
        /* M_i = C_i (J_i J_i') C_i, C_i = diag(p) - p p' */
        softmax(K, F + i * K, pr);
        for (size_t a = 0; a < K; a++)
            for (size_t c = 0; c < K; c++) C[a * K + c] = (a == c ? pr[a] : 0.0) - pr[a] * pr[c];
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)K, (int)K, 1.0, C, (int)K, Mi, (int)K, 0.0, T, (int)K);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)K, (int)K, 1.0, T, (int)K, C, (int)K, 0.0,
                    Mi, (int)K);
    }
    ntk_free(&t);
    free(G);
    free(Ag);
    free(F);
    free(C);
    free(T);
    free(pr);
    return st;
}

linstab_status linstab_mlp_ntk_gram(const linstab_mlp *m, const linstab_array *X, double *G, linstab_error *err)
{
    return linstab_mlp_gn_gram(m, X, LINSTAB_LOSS_MSE, G, err);
}

linstab_status linstab_mlp_gn_gram(const linstab_mlp *m, const linstab_array *X, linstab_loss loss, double *G,
                                   linstab_error *err)
{
    size_t n = X->shape[0], K = m->sizes[m->nlayers], nk = n * K;
    size_t b = 256 / K > 0 ? 256 / K : 1; /* blocks of b samples */
    if (b > n) b = n;
    ntk_factors t;
    linstab_status st = ntk_compute(m, X, loss, &t, err);
    if (st != LINSTAB_OK) return st;
    double *Kb = malloc(b * K * b * K * sizeof *Kb), *W = malloc(b * K * b * K * sizeof *W), *Ag = malloc(b * b * sizeof *Ag);
    if (!Kb || !W || !Ag) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "NTK Gram matrix: out of memory");
    } else {
        for (size_t i0 = 0; i0 < n; i0 += b) {
            size_t bi = i0 + b <= n ? b : n - i0;
            for (size_t j0 = i0; j0 < n; j0 += b) {
                size_t bj = j0 + b <= n ? b : n - j0, cols = bj * K;
                ntk_block(m, &t, i0, bi, j0, bj, Kb, W, Ag);
                for (size_t r = 0; r < bi * K; r++)
                    for (size_t c = 0; c < cols; c++) {
                        double v = Kb[r * cols + c];
                        G[(i0 * K + r) * nk + j0 * K + c] = v;
                        G[(j0 * K + c) * nk + i0 * K + r] = v;
                    }
            }
        }
    }
    ntk_free(&t);
    free(Kb);
    free(W);
    free(Ag);
    return st;
}

linstab_status linstab_mlp_coherence_gn(const linstab_mlp *m, const linstab_array *X, size_t block_bytes,
                                        double *lambda1_S, double *sigma, linstab_error *err)
{
    return linstab_mlp_coherence_ggn(m, X, LINSTAB_LOSS_MSE, block_bytes, lambda1_S, sigma, err);
}

linstab_status linstab_mlp_coherence_ggn(const linstab_mlp *m, const linstab_array *X, linstab_loss loss,
                                         size_t block_bytes, double *lambda1_S, double *sigma, linstab_error *err)
{
    size_t n = X->shape[0], K = m->sizes[m->nlayers];
    /* blocks of b samples: K and G are (b k)^2 each */
    size_t b = (size_t)(sqrt((double)block_bytes / (2.0 * sizeof(double))) / (double)K);
    if (b < 1) b = 1;
    if (b > n) b = n;
    ntk_factors t;
    linstab_status st = ntk_compute(m, X, loss, &t, err);
    if (st != LINSTAB_OK) return st;
    double *Kb = malloc(b * K * b * K * sizeof *Kb), *G = malloc(b * K * b * K * sizeof *G);
    double *Ag = malloc(b * b * sizeof *Ag), *S = calloc(n * n, sizeof *S), *lam = calloc(n, sizeof *lam);
    if (!Kb || !G || !Ag || !S || !lam) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "coherence: out of memory (blocks of %zu samples)", b);
        goto done;
    }
    for (size_t i0 = 0; i0 < n && st == LINSTAB_OK; i0 += b) {
        size_t bi = i0 + b <= n ? b : n - i0;
        for (size_t j0 = i0; j0 < n && st == LINSTAB_OK; j0 += b) {
            size_t bj = j0 + b <= n ? b : n - j0, cols = bj * K;
            ntk_block(m, &t, i0, bi, j0, bj, Kb, G, Ag);
            /* tr(H_i H_j) = ||K_ij||_F^2 */
            for (size_t qi = 0; qi < bi; qi++)
                for (size_t qj = 0; qj < bj; qj++) {
                    double s2 = 0.0;
                    for (size_t a = 0; a < K; a++)
                        for (size_t c = 0; c < K; c++) {
                            double v = Kb[(qi * K + a) * cols + qj * K + c];
                            s2 += v * v;
                        }
                    S[(i0 + qi) * n + j0 + qj] = S[(j0 + qj) * n + i0 + qi] = sqrt(s2);
                    if (i0 + qi == j0 + qj) {
                        /* lambda1(H_i) = lambda1(K_ii) (k x k) */
                        double *C = G; /* G is free again: borrow k^2 of it */
                        for (size_t a = 0; a < K; a++)
                            for (size_t c = 0; c < K; c++) C[a * K + c] = Kb[(qi * K + a) * cols + qj * K + c];
                        linstab_sym_symmetrize(K, C);
                        st = linstab_sym_lambda_max(K, C, &lam[i0 + qi], err);
                        if (st != LINSTAB_OK) break;
                        if (lam[i0 + qi] < 0.0) lam[i0 + qi] = 0.0; /* rounding: K_ii is PSD */
                    }
                }
        }
    }
    if (st == LINSTAB_OK) {
        double lmax = 0.0;
        for (size_t i = 0; i < n; i++) lmax = fmax(lmax, lam[i]);
        st = linstab_sym_lambda_max(n, S, lambda1_S, err);
        if (st == LINSTAB_OK) *sigma = lmax > 0 ? *lambda1_S / lmax : NAN;
    }
done:
    ntk_free(&t);
    free(Kb);
    free(G);
    free(Ag);
    free(S);
    free(lam);
    return st;
}


/* ---- the geometry of a model: Lanczos on its Hessian products ---- */


typedef struct hvp_ctx {
    const linstab_mlp *m;
    const linstab_array *X, *Y;
    linstab_loss loss;
    double smoothing;
} hvp_ctx;

static linstab_status hvp_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    hvp_ctx *c = vctx;
    size_t n = c->X->shape[0];
    return linstab_mlp_hvp(c->m, c->X->data, c->Y->data, n, c->loss, c->smoothing, x, y, err); /* the mean loss's Hessian */
}

/* Top eigenvalue of a p x p self-adjoint map of the model, matrix-free
 * (Lanczos on `apply`, whose failure ends it with the product's error). */
static linstab_status model_top(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                linstab_loss loss, double smoothing, linstab_apply_fn apply,
                                double *top, linstab_error *err)
{
    hvp_ctx c = {m, X, Y, loss, smoothing};
    linstab_operator op = {m->p, apply, apply, NULL, 1, &c};
    linstab_eigen_opts o = mlp_top_opts(m->p);
    return linstab_eigen_top(&op, &o, top, NULL, err);
}

linstab_eigen_opts mlp_top_opts(size_t p)
{
    linstab_eigen_opts o = linstab_eigen_defaults();
    o.path = p >= 3 ? LINSTAB_EIGEN_ARPACK : LINSTAB_EIGEN_DENSE;
    o.tol = 1e-8;
    o.ncv = 20;
    return o;
}

linstab_status linstab_mlp_sharpness(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                     linstab_loss loss, double smoothing, double *lambda1,
                                     linstab_error *err)
{
    /* the exact Hessian operator of mlp_operator.c: its primal pass cached
     * once, each product then the tangent passes alone */
    linstab_operator op;
    linstab_status st = linstab_mlp_hessian_operator(m, X, Y, loss, smoothing, 0, &op, err);
    if (st != LINSTAB_OK) return st;
    linstab_eigen_opts o = mlp_top_opts(m->p);
    st = linstab_eigen_top(&op, &o, lambda1, NULL, err);
    linstab_mlp_hessian_operator_free(&op);
    return st;
}

static linstab_status m2gap_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    hvp_ctx *c = vctx;
    const linstab_mlp *m = c->m;
    size_t n = c->X->shape[0], p = m->p;
    double *Hv = malloc(p * sizeof *Hv), *HHv = malloc(p * sizeof *HHv);
    memset(y, 0, p * sizeof *y);
    linstab_status st = Hv != NULL && HHv != NULL ? LINSTAB_OK
                                                  : linstab_error_set(err, LINSTAB_ENOMEM, "s2: out of memory");
    /* y = (1/n) sum_i H_i (H_i x), batched (linstab_mlp_m2_product) */
    if (st == LINSTAB_OK)
        st = linstab_mlp_m2_product(m, c->X->data, c->Y->data, n, c->loss, c->smoothing, x, y, Hv, err);
    /* minus H (H x) with the mean Hessian (H x came with the first pass) */
    if (st == LINSTAB_OK) st = hvp_apply(Hv, HHv, c, err);
    for (size_t j = 0; st == LINSTAB_OK && j < p; j++) y[j] -= HHv[j];
    free(Hv);
    free(HHv);
    return st;
}

linstab_status linstab_mlp_m2_gap(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                  linstab_loss loss, double smoothing, double *gap, linstab_error *err)
{
    return model_top(m, X, Y, loss, smoothing, m2gap_apply, gap, err);
}
