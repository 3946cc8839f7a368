/*
 * mlp.c -- the MLP model (docs/math.md §8): allocation, parameter
 * offsets, activations (hidden and output), THE numeric forward pass (mlp_forward_pass, used by
 * every numeric caller), the loss with its gradient and Hessian-vector
 * product through the autograd graph, data checks, checkpoints and
 * evaluation.  The random initialisation is in mlp_init.c (GSL's
 * randist.h and OpenBLAS's cblas.h do not go in one file).  Per-sample Hessians and the geometry of
 * a model are in mlp_hessians.c; where a checkpoint sits in mlp_point.c.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>

#include "linstab/ad.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "nn_internal.h"

static const struct {
    const char *name;
    linstab_ad_op op;
} acts[] = {{"tanh", LINSTAB_AD_TANH},         {"relu", LINSTAB_AD_RELU},
            {"sigmoid", LINSTAB_AD_SIGMOID},   {"softplus", LINSTAB_AD_SOFTPLUS},
            {"gelu", LINSTAB_AD_GELU}};

linstab_status linstab_mlp_act_parse(const char *s, linstab_ad_op *act, linstab_error *err)
{
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(s, acts[i].name) == 0) {
            *act = acts[i].op;
            return LINSTAB_OK;
        }
    return linstab_error_set(err, LINSTAB_EINVAL,
                             "activation '%s': expected tanh, relu, sigmoid, softplus or gelu", s);
}

const char *linstab_mlp_act_name(linstab_ad_op act)
{
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i].op == act) return acts[i].name;
    return "?";
}

linstab_status linstab_mlp_output_parse(const char *s, linstab_ad_op *out_act, linstab_error *err)
{
    if (strcmp(s, "none") == 0) {
        *out_act = LINSTAB_MLP_OUT_NONE;
        return LINSTAB_OK;
    }
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(s, acts[i].name) == 0) {
            *out_act = acts[i].op;
            return LINSTAB_OK;
        }
    return linstab_error_set(err, LINSTAB_EINVAL,
                             "output activation '%s': expected none, tanh, relu, sigmoid, softplus or gelu", s);
}

const char *linstab_mlp_output_name(linstab_ad_op out_act)
{
    return out_act == LINSTAB_MLP_OUT_NONE ? "none" : linstab_mlp_act_name(out_act);
}

linstab_status linstab_mlp_set_output(linstab_mlp *m, linstab_ad_op out_act, linstab_error *err)
{
    if (out_act != LINSTAB_MLP_OUT_NONE && !(out_act >= LINSTAB_AD_TANH && out_act <= LINSTAB_AD_GELU))
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "output activation op %d: expected none, tanh, relu, sigmoid, softplus or gelu",
                                 (int)out_act);
    m->out_act = out_act;
    return LINSTAB_OK;
}

void linstab_mlp_free(linstab_mlp *m)
{
    if (m == NULL) return;
    free(m->theta);
    free(m);
}

linstab_status linstab_mlp_alloc(const size_t *sizes, size_t nlayers, linstab_ad_op act, int bias,
                                 linstab_mlp **out, linstab_error *err)
{
    *out = NULL;
    if (nlayers < 1 || nlayers > LINSTAB_MLP_MAX_LAYERS)
        return linstab_error_set(err, LINSTAB_EINVAL, "an MLP needs 1 to %d weight layers, got %zu",
                                 LINSTAB_MLP_MAX_LAYERS, nlayers);
    linstab_mlp *m = calloc(1, sizeof *m);
    if (m == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    m->nlayers = nlayers;
    m->act = act;
    m->out_act = LINSTAB_MLP_OUT_NONE;
    m->bias = bias != 0;
    for (size_t l = 0; l <= nlayers; l++) {
        if (sizes[l] == 0) {
            free(m);
            return linstab_error_set(err, LINSTAB_EINVAL, "layer %zu has width 0", l);
        }
        m->sizes[l] = sizes[l];
    }
    for (size_t l = 1; l <= nlayers; l++) {
        size_t w = 0, p = 0;
        /* widths come from model.json: the count must not wrap */
        if (__builtin_mul_overflow(sizes[l], sizes[l - 1], &w) || __builtin_add_overflow(w, m->bias ? sizes[l] : 0, &w) ||
            __builtin_add_overflow(m->p, w, &p) || p > SIZE_MAX / sizeof(double)) {
            free(m);
            return linstab_error_set(err, LINSTAB_EINVAL, "layer widths %zu x %zu: the parameter count overflows",
                                     sizes[l - 1], sizes[l]);
        }
        m->p = p;
    }
    m->theta = calloc(m->p, sizeof(double));
    if (m->theta == NULL) {
        size_t p = m->p;
        free(m);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%zu parameters: out of memory", p);
    }
    *out = m;
    return LINSTAB_OK;
}

size_t linstab_mlp_w_offset(const linstab_mlp *m, size_t l)
{
    size_t off = 0;
    for (size_t q = 1; q < l; q++) off += m->sizes[q] * m->sizes[q - 1] + (m->bias ? m->sizes[q] : 0);
    return off;
}

size_t linstab_mlp_b_offset(const linstab_mlp *m, size_t l)
{
    return linstab_mlp_w_offset(m, l) + m->sizes[l] * m->sizes[l - 1];
}

/* ---- the forward pass ---- */

void mlp_forward_pass(const linstab_mlp *m, const double *X, size_t rows, size_t upto, double *const *A,
                      double *const *S1, double *const *S2, mlp_product product)
{
    const double *in = X;
    for (size_t l = 1; l <= upto; l++) {
        size_t d = m->sizes[l], dp = m->sizes[l - 1];
        const double *W = m->theta + linstab_mlp_w_offset(m, l);
        double *Z = A[l];
        /* Z = A_{l-1} W_l' (rows x d), then the bias row */
        if (product == MLP_PRODUCT_GEMV)
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)d, (int)dp, 1.0, W, (int)dp, in, 1, 0.0, Z, 1);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)d, (int)dp, 1.0, in, (int)dp, W,
                        (int)dp, 0.0, Z, (int)d);
        if (m->bias) {
            const double *b = m->theta + linstab_mlp_b_offset(m, l);
            for (size_t r = 0; r < rows; r++)
                for (size_t j = 0; j < d; j++) Z[r * d + j] += b[j];
        }
        /* the hidden activation, and on the last layer the output activation if any */
        if (l < m->nlayers || m->out_act != LINSTAB_MLP_OUT_NONE) {
            linstab_ad_op op = l < m->nlayers ? m->act : m->out_act;
            double *s1 = S1 ? S1[l] : NULL, *s2 = S2 ? S2[l] : NULL;
            for (size_t j = 0; j < rows * d; j++) {
                double f, d1, d2;
                linstab_ad_activation(op, Z[j], &f, &d1, &d2);
                Z[j] = f;
                if (s1) s1[j] = d1;
                if (s2) s2[j] = d2;
            }
        }
        in = Z;
    }
}

linstab_status linstab_mlp_forward(const linstab_mlp *m, const double *X, size_t rows, double *F,
                                   linstab_error *err)
{
    size_t L = m->nlayers, width = 0;
    for (size_t l = 1; l < L; l++) width = m->sizes[l] > width ? m->sizes[l] : width;
    /* hidden layers ping-pong between two buffers; the last writes F */
    double *buf = NULL;
    if (L > 1 && rows > 0 && (buf = malloc(2 * rows * width * sizeof *buf)) == NULL)
        return linstab_error_set(err, LINSTAB_ENOMEM, "forward pass of %zu rows: out of memory", rows);
    double *A[LINSTAB_MLP_MAX_LAYERS + 1] = {NULL};
    for (size_t l = 1; l < L; l++) A[l] = buf + (l % 2) * rows * width;
    A[L] = F;
    mlp_forward_pass(m, X, rows, L, A, NULL, NULL, MLP_PRODUCT_GEMM);
    free(buf);
    return LINSTAB_OK;
}

/* ---- the loss: its value from the forward pass, its derivatives through
 * the autograd graph ---- */

linstab_status mlp_check_labels(const double *Y, size_t rows, size_t K, size_t r0, linstab_error *err)
{
    for (size_t r = 0; r < rows; r++)
        if (!(Y[r] >= 0.0 && Y[r] < (double)K && Y[r] == floor(Y[r])))
            return linstab_error_set(err, LINSTAB_EDATA, "sample %zu: label %g outside 0..%zu", r0 + r, Y[r], K - 1);
    return LINSTAB_OK;
}

/* The loss's value at the outputs F (rows x K) of those rows. */
static double output_loss(const linstab_mlp *m, const double *F, const double *Y, size_t rows, linstab_loss loss,
                          double smoothing)
{
    return ad_loss_value(loss == LINSTAB_LOSS_MSE ? LINSTAB_AD_MSE : LINSTAB_AD_XENT, rows, m->sizes[m->nlayers], F,
                         Y, smoothing);
}

/* the graph of f over a batch, parameters as leaves with tangents */
typedef struct net {
    linstab_ad_graph *g;
    linstab_ad_node *W[LINSTAB_MLP_MAX_LAYERS + 1], *b[LINSTAB_MLP_MAX_LAYERS + 1];
    linstab_ad_node *out;
} net;

static linstab_status build(const linstab_mlp *m, const double *X, size_t rows, const double *v,
                            net *nt, linstab_error *err)
{
    memset(nt, 0, sizeof *nt);
    nt->g = linstab_ad_graph_alloc();
    linstab_ad_node *h = nt->g ? linstab_ad_leaf(nt->g, rows, m->sizes[0], X, NULL) : NULL;
    for (size_t l = 1; h != NULL && l <= m->nlayers; l++) {
        size_t wo = linstab_mlp_w_offset(m, l), bo = linstab_mlp_b_offset(m, l);
        nt->W[l] = linstab_ad_leaf(nt->g, m->sizes[l], m->sizes[l - 1], m->theta + wo, v ? v + wo : NULL);
        h = linstab_ad_matmul_nt(nt->g, h, nt->W[l]); /* (rows x d_{l-1}) W' */
        if (m->bias && h != NULL) {
            nt->b[l] = linstab_ad_leaf(nt->g, 1, m->sizes[l], m->theta + bo, v ? v + bo : NULL);
            h = linstab_ad_add_row(nt->g, h, nt->b[l]);
        }
        if (l < m->nlayers && h != NULL) h = linstab_ad_unary(nt->g, m->act, h);
    }
    if (m->out_act != LINSTAB_MLP_OUT_NONE && h != NULL) h = linstab_ad_unary(nt->g, m->out_act, h);
    nt->out = h;
    if (h == NULL) {
        linstab_ad_graph_free(nt->g);
        nt->g = NULL;
        return linstab_error_set(err, LINSTAB_ENOMEM, "MLP graph: out of memory");
    }
    return LINSTAB_OK;
}

/* Gather a per-parameter field (g or gt) of the leaves into a p-vector. */
static void gather(const linstab_mlp *m, const net *nt, int tangent, double *out)
{
    for (size_t l = 1; l <= m->nlayers; l++) {
        size_t wo = linstab_mlp_w_offset(m, l), nw = m->sizes[l] * m->sizes[l - 1];
        memcpy(out + wo, tangent ? nt->W[l]->gt : nt->W[l]->g, nw * sizeof(double));
        if (m->bias)
            memcpy(out + wo + nw, tangent ? nt->b[l]->gt : nt->b[l]->g, m->sizes[l] * sizeof(double));
    }
}

linstab_status linstab_mlp_loss(const linstab_mlp *m, const double *X, const double *Y, size_t rows,
                                linstab_loss loss, double smoothing, const double *v, double *value,
                                double *grad, double *hv, linstab_error *err)
{
    size_t K = m->sizes[m->nlayers];
    linstab_status st = loss == LINSTAB_LOSS_CE ? mlp_check_labels(Y, rows, K, 0, err) : LINSTAB_OK;
    if (st != LINSTAB_OK) return st;
    if (grad == NULL && hv == NULL) { /* the value alone: no graph */
        double *F = malloc((rows ? rows : 1) * K * sizeof *F);
        if (F == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "loss of %zu rows: out of memory", rows);
        st = linstab_mlp_forward(m, X, rows, F, err);
        if (st == LINSTAB_OK && value) *value = output_loss(m, F, Y, rows, loss, smoothing);
        free(F);
        return st;
    }
    net nt;
    st = build(m, X, rows, v, &nt, err);
    if (st != LINSTAB_OK) return st;
    linstab_ad_node *L = loss == LINSTAB_LOSS_MSE ? linstab_ad_mse(nt.g, nt.out, Y)
                                                  : linstab_ad_xent(nt.g, nt.out, Y, smoothing);
    if (L == NULL) {
        linstab_ad_graph_free(nt.g);
        return linstab_error_set(err, LINSTAB_ENOMEM, "loss: out of memory");
    }
    if (value) *value = L->v[0];
    linstab_ad_backward(nt.g, L);
    if (grad) gather(m, &nt, 0, grad);
    if (hv) gather(m, &nt, 1, hv);
    linstab_ad_graph_free(nt.g);
    return LINSTAB_OK;
}

linstab_status linstab_mlp_check_data(const linstab_mlp *m, const linstab_array *X,
                                      const linstab_array *Y, linstab_loss loss, linstab_error *err)
{
    size_t d0 = m->sizes[0], K = m->sizes[m->nlayers];
    if (X->ndim != 2 || X->shape[1] != d0)
        return linstab_error_set(err, LINSTAB_EDATA, "inputs must have shape (n, %zu) for this model", d0);
    size_t n = X->shape[0];
    int yok = loss == LINSTAB_LOSS_MSE ? (Y->ndim == 2 && Y->shape[0] == n && Y->shape[1] == K)
                                       : (Y->ndim == 1 && Y->shape[0] == n);
    if (!yok)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "targets must have shape (%zu, %zu) for mse or (%zu,) labels for ce", n, K, n);
    for (size_t j = 0; j < n * d0; j++)
        if (!isfinite(X->data[j]))
            return linstab_error_set(err, LINSTAB_EDATA, "inputs: sample %zu is not finite", j / d0);
    size_t ny = loss == LINSTAB_LOSS_MSE ? n * K : n;
    for (size_t j = 0; j < ny; j++) {
        double v = Y->data[j];
        size_t i = loss == LINSTAB_LOSS_CE ? j : j / K;
        if (!isfinite(v)) return linstab_error_set(err, LINSTAB_EDATA, "targets: sample %zu is not finite", i);
        if (loss == LINSTAB_LOSS_CE && (v < 0 || v >= (double)K || v != floor(v)))
            return linstab_error_set(err, LINSTAB_EDATA, "targets: sample %zu has label %g, not a class 0..%zu", i, v,
                                     K - 1);
    }
    return LINSTAB_OK;
}

/* ---- checkpoints ---- */

/* A minimal reader for model.json's keys: "layers", "activation", "bias"
 * and the optional "output_activation" (OUT out: "none" when absent). */
static linstab_status parse_model_json(const char *path, size_t *sizes, size_t *nl, char *act,
                                       size_t actlen, int *bias, char *out, size_t outlen, linstab_error *err)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) return linstab_error_set(err, LINSTAB_EIO, "%s: %s", path, strerror(errno));
    char buf[8192];
    size_t len = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[len] = '\0';
    const char *s = strstr(buf, "\"layers\"");
    if (s == NULL || (s = strchr(s, '[')) == NULL)
        return linstab_error_set(err, LINSTAB_EDATA, "%s: no \"layers\": [...]", path);
    s++;
    size_t n = 0;
    for (;;) {
        while (isspace((unsigned char)*s) || *s == ',') s++;
        if (*s == ']') break;
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || n > LINSTAB_MLP_MAX_LAYERS)
            return linstab_error_set(err, LINSTAB_EDATA, "%s: \"layers\" must be positive integers (at most %d)",
                                     path, LINSTAB_MLP_MAX_LAYERS + 1);
        sizes[n++] = (size_t)v;
        s = end;
    }
    if (n < 2) return linstab_error_set(err, LINSTAB_EDATA, "%s: \"layers\" needs at least two sizes", path);
    *nl = n - 1;
    const char *a = strstr(buf, "\"activation\"");
    if (a == NULL || (a = strchr(a + 12, '"')) == NULL)
        return linstab_error_set(err, LINSTAB_EDATA, "%s: no \"activation\"", path);
    a++;
    size_t k = 0;
    while (*a && *a != '"' && k + 1 < actlen) act[k++] = *a++;
    act[k] = '\0';
    const char *b = strstr(buf, "\"bias\"");
    *bias = 1;
    if (b != NULL) {
        b = strchr(b + 6, ':');
        while (b && isspace((unsigned char)*++b)) {}
        if (b && strncmp(b, "false", 5) == 0) *bias = 0;
        else if (!(b && strncmp(b, "true", 4) == 0))
            return linstab_error_set(err, LINSTAB_EDATA, "%s: \"bias\" must be true or false", path);
    }
    snprintf(out, outlen, "none");
    const char *o = strstr(buf, "\"output_activation\"");
    if (o != NULL) {
        o += strlen("\"output_activation\"");
        while (isspace((unsigned char)*o)) o++;
        if (*o == ':') o++;
        while (isspace((unsigned char)*o)) o++;
        const char *e = *o == '"' ? strchr(o + 1, '"') : NULL;
        if (e == NULL || (size_t)(e - o - 1) >= outlen)
            return linstab_error_set(err, LINSTAB_EDATA, "%s: \"output_activation\" must be a name in quotes (none, "
                                     "tanh, relu, sigmoid, softplus or gelu)", path);
        memcpy(out, o + 1, (size_t)(e - o - 1));
        out[e - o - 1] = '\0';
    }
    return LINSTAB_OK;
}

linstab_status linstab_mlp_load(const char *dir, linstab_mlp **out, linstab_error *err)
{
    *out = NULL;
    if (linstab_mlp_is_safetensors_path(dir)) return linstab_mlp_load_safetensors(dir, NULL, NULL, out, err);
    char path[4096], act[32], outname[32];
    size_t sizes[LINSTAB_MLP_MAX_LAYERS + 2], nl = 0;
    int bias = 1;
    snprintf(path, sizeof path, "%s/model.json", dir);
    linstab_status st = parse_model_json(path, sizes, &nl, act, sizeof act, &bias, outname, sizeof outname, err);
    if (st != LINSTAB_OK) return st;
    linstab_ad_op op, out_op;
    if (linstab_mlp_act_parse(act, &op, err) != LINSTAB_OK)
        return linstab_error_set(err, LINSTAB_EDATA, "%s: unknown activation '%s'", path, act);
    if (linstab_mlp_output_parse(outname, &out_op, err) != LINSTAB_OK)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: unknown output_activation '%s' (expected none, tanh, relu, sigmoid, softplus "
                                 "or gelu)", path, outname);
    linstab_mlp *m = NULL;
    st = linstab_mlp_alloc(sizes, nl, op, bias, &m, err);
    if (st != LINSTAB_OK) return st;
    m->out_act = out_op;
    for (size_t l = 1; l <= nl && st == LINSTAB_OK; l++)
        for (int kind = 0; kind < (bias ? 2 : 1) && st == LINSTAB_OK; kind++) {
            snprintf(path, sizeof path, "%s/%c%zu.npy", dir, kind ? 'b' : 'W', l);
            /* a folder with model.json alone (the architecture, weights left out) is told apart from
             * a file that cannot be read */
            if (access(path, F_OK) != 0 && errno == ENOENT) {
                st = linstab_error_set(err, LINSTAB_EIO,
                                       "checkpoint %s has no %c%zu.npy (its model.json gives the architecture "
                                       "only: the weights W<l>.npy%s, as `linstab train --out %s` writes them, "
                                       "are missing)", dir, kind ? 'b' : 'W', l, bias ? " and b<l>.npy" : "", dir);
                break;
            }
            linstab_array a = {0};
            st = linstab_npy_read(path, 0, &a, err);
            if (st != LINSTAB_OK) break;
            size_t want_r = sizes[l], want_c = kind ? 1 : sizes[l - 1];
            int ok = kind ? (a.ndim == 1 && a.shape[0] == want_r)
                          : (a.ndim == 2 && a.shape[0] == want_r && a.shape[1] == want_c);
            if (!ok)
                st = linstab_error_set(err, LINSTAB_EDATA,
                                       "%s: shape does not chain with layers (want %s%zu x %zu)", path,
                                       kind ? "(" : "", want_r, want_c);
            for (size_t j = 0; ok && j < want_r * want_c; j++)
                if (!isfinite(a.data[j])) {
                    st = linstab_error_set(err, LINSTAB_EDATA, "%s: entry %zu is not finite", path, j);
                    break;
                }
            if (st == LINSTAB_OK)
                memcpy(m->theta + (kind ? linstab_mlp_b_offset(m, l) : linstab_mlp_w_offset(m, l)), a.data,
                       want_r * want_c * sizeof(double));
            linstab_npy_array_free(&a);
        }
    if (st != LINSTAB_OK) {
        linstab_mlp_free(m);
        return st;
    }
    *out = m;
    return LINSTAB_OK;
}

linstab_status linstab_mlp_save(const linstab_mlp *m, const char *dir, linstab_error *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return linstab_error_set(err, LINSTAB_EIO, "cannot create %s: %s", dir, strerror(errno));
    char path[4096], tmp[4200];
    linstab_status st = LINSTAB_OK;
    for (size_t l = 1; l <= m->nlayers && st == LINSTAB_OK; l++) {
        size_t sw[2] = {m->sizes[l], m->sizes[l - 1]}, sb[1] = {m->sizes[l]};
        snprintf(path, sizeof path, "%s/W%zu.npy", dir, l);
        st = linstab_npy_write(path, m->theta + linstab_mlp_w_offset(m, l), 2, sw, err);
        if (st == LINSTAB_OK && m->bias) {
            snprintf(path, sizeof path, "%s/b%zu.npy", dir, l);
            st = linstab_npy_write(path, m->theta + linstab_mlp_b_offset(m, l), 1, sb, err);
        }
    }
    if (st != LINSTAB_OK) return st;
    snprintf(path, sizeof path, "%s/model.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (fp == NULL) return linstab_error_set(err, LINSTAB_EIO, "cannot write %s: %s", path, strerror(errno));
    fprintf(fp, "{\"layers\": [");
    for (size_t l = 0; l <= m->nlayers; l++) fprintf(fp, "%s%zu", l ? ", " : "", m->sizes[l]);
    fprintf(fp, "], \"activation\": \"%s\", \"bias\": %s", linstab_mlp_act_name(m->act), m->bias ? "true" : "false");
    /* written only when there is one: a linear-output model.json is unchanged */
    if (m->out_act != LINSTAB_MLP_OUT_NONE)
        fprintf(fp, ", \"output_activation\": \"%s\"", linstab_mlp_output_name(m->out_act));
    fprintf(fp, "}\n");
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return linstab_error_set(err, LINSTAB_EIO, "cannot write %s", path);
    }
    return LINSTAB_OK;
}

/* ---- evaluation ---- */

static size_t targets_per_row(const linstab_mlp *m, linstab_loss loss)
{
    return loss == LINSTAB_LOSS_MSE ? m->sizes[m->nlayers] : 1;
}

linstab_status linstab_mlp_evaluate(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                    linstab_loss loss, double smoothing, double *mean_loss,
                                    double *accuracy, linstab_error *err)
{
    size_t n = X->shape[0], K = m->sizes[m->nlayers], d0 = m->sizes[0], ty = targets_per_row(m, loss);
    double total = 0.0;
    size_t correct = 0, chunk = 256;
    double *F = malloc(chunk * K * sizeof *F);
    if (F == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "evaluate: out of memory");
    linstab_status st = LINSTAB_OK;
    for (size_t r0 = 0; r0 < n && st == LINSTAB_OK; r0 += chunk) {
        size_t rows = r0 + chunk <= n ? chunk : n - r0;
        const double *Yc = Y->data + r0 * ty;
        if (loss == LINSTAB_LOSS_CE) st = mlp_check_labels(Yc, rows, K, r0, err);
        /* one forward pass gives the loss and the predictions */
        if (st == LINSTAB_OK) st = linstab_mlp_forward(m, X->data + r0 * d0, rows, F, err);
        if (st == LINSTAB_OK) total += output_loss(m, F, Yc, rows, loss, smoothing);
        for (size_t r = 0; st == LINSTAB_OK && r < rows; r++) {
            size_t af = 0, ay = 0;
            for (size_t c = 1; c < K; c++)
                if (F[r * K + c] > F[r * K + af]) af = c;
            if (loss == LINSTAB_LOSS_CE)
                ay = (size_t)Y->data[r0 + r];
            else
                for (size_t c = 1; c < K; c++)
                    if (Y->data[(r0 + r) * K + c] > Y->data[(r0 + r) * K + ay]) ay = c;
            correct += af == ay;
        }
    }
    free(F);
    if (st == LINSTAB_OK) {
        *mean_loss = total / (double)n;
        *accuracy = (double)correct / (double)n;
    }
    return st;
}
