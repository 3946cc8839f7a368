/*
 * ad.c -- reverse-mode automatic differentiation with forward-over-reverse
 * Hessian-vector products (Pearlmutter, "Fast exact multiplication by the
 * Hessian", Neural Computation 1994).  Each op's forward (value, tangent)
 * and backward (gradient, gradient tangent) sit side by side; the tape is
 * the creation order of the nodes, which is topological.
 *
 * Rules used throughout, for y = f(x) elementwise with f', f'':
 *   forward   t_y  = f'(x) t_x
 *   backward  g_x += f'(x) g_y,   gt_x += f'(x) gt_y + f''(x) t_x g_y
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "linstab/ad.h"
#include "nn_internal.h"

struct linstab_ad_graph {
    linstab_ad_node **nodes;
    size_t count, cap;
};

linstab_ad_graph *linstab_ad_graph_alloc(void) { return calloc(1, sizeof(linstab_ad_graph)); }

void linstab_ad_graph_free(linstab_ad_graph *g)
{
    if (g == NULL) return;
    for (size_t i = 0; i < g->count; i++) {
        linstab_ad_node *n = g->nodes[i];
        free(n->v);
        free(n->t);
        free(n->g);
        free(n->gt);
        free(n->aux);
        free(n);
    }
    free(g->nodes);
    free(g);
}

static linstab_ad_node *node(linstab_ad_graph *g, linstab_ad_op op, size_t rows, size_t cols,
                             linstab_ad_node *a, linstab_ad_node *b)
{
    if (g == NULL) return NULL;
    if (g->count == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 32;
        linstab_ad_node **nn = realloc(g->nodes, cap * sizeof *nn);
        if (nn == NULL) return NULL;
        g->nodes = nn;
        g->cap = cap;
    }
    linstab_ad_node *n = calloc(1, sizeof *n);
    size_t len = rows * cols;
    if (n == NULL) return NULL;
    n->op = op;
    n->rows = rows;
    n->cols = cols;
    n->a = a;
    n->b = b;
    n->v = calloc(len, sizeof(double));
    n->t = calloc(len, sizeof(double));
    n->g = calloc(len, sizeof(double));
    n->gt = calloc(len, sizeof(double));
    if (!n->v || !n->t || !n->g || !n->gt) {
        free(n->v);
        free(n->t);
        free(n->g);
        free(n->gt);
        free(n);
        return NULL;
    }
    g->nodes[g->count++] = n;
    return n;
}

linstab_ad_node *linstab_ad_leaf(linstab_ad_graph *g, size_t rows, size_t cols, const double *v,
                                 const double *t)
{
    linstab_ad_node *n = node(g, LINSTAB_AD_LEAF, rows, cols, NULL, NULL);
    if (n == NULL) return NULL;
    memcpy(n->v, v, rows * cols * sizeof(double));
    if (t) memcpy(n->t, t, rows * cols * sizeof(double));
    return n;
}

/* ---- matrix product C = A B' (A m x k, B n x k) ---- */

linstab_ad_node *linstab_ad_matmul_nt(linstab_ad_graph *g, linstab_ad_node *a, linstab_ad_node *b)
{
    if (a == NULL || b == NULL || a->cols != b->cols) return NULL;
    size_t m = a->rows, n = b->rows, k = a->cols;
    linstab_ad_node *c = node(g, LINSTAB_AD_MATMUL_NT, m, n, a, b);
    if (c == NULL) return NULL;
    /* v = A B', t = tA B' + A tB' */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0, a->v, (int)k,
                b->v, (int)k, 0.0, c->v, (int)n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0, a->t, (int)k,
                b->v, (int)k, 0.0, c->t, (int)n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0, a->v, (int)k,
                b->t, (int)k, 1.0, c->t, (int)n);
    return c;
}

static void matmul_nt_backward(linstab_ad_node *c)
{
    linstab_ad_node *a = c->a, *b = c->b;
    int m = (int)a->rows, n = (int)b->rows, k = (int)a->cols;
    /* gA += gC B, gtA += gtC B + gC tB */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0, c->g, n, b->v, k, 1.0, a->g, k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0, c->gt, n, b->v, k, 1.0, a->gt, k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0, c->g, n, b->t, k, 1.0, a->gt, k);
    /* gB += gC' A, gtB += gtC' A + gC' tA */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1.0, c->g, n, a->v, k, 1.0, b->g, k);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1.0, c->gt, n, a->v, k, 1.0, b->gt, k);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1.0, c->g, n, a->t, k, 1.0, b->gt, k);
}

/* ---- Y = X + 1 b ---- */

linstab_ad_node *linstab_ad_add_row(linstab_ad_graph *g, linstab_ad_node *x, linstab_ad_node *b)
{
    if (x == NULL || b == NULL || b->rows * b->cols != x->cols) return NULL;
    linstab_ad_node *y = node(g, LINSTAB_AD_ADD_ROW, x->rows, x->cols, x, b);
    if (y == NULL) return NULL;
    for (size_t r = 0; r < x->rows; r++)
        for (size_t c = 0; c < x->cols; c++) {
            y->v[r * x->cols + c] = x->v[r * x->cols + c] + b->v[c];
            y->t[r * x->cols + c] = x->t[r * x->cols + c] + b->t[c];
        }
    return y;
}

static void add_row_backward(linstab_ad_node *y)
{
    size_t len = y->rows * y->cols;
    for (size_t j = 0; j < len; j++) {
        y->a->g[j] += y->g[j];
        y->a->gt[j] += y->gt[j];
        y->b->g[j % y->cols] += y->g[j];
        y->b->gt[j % y->cols] += y->gt[j];
    }
}

/* ---- elementwise activations: value, first and second derivative ---- */

static void act(linstab_ad_op op, double x, double *f, double *d1, double *d2);

void linstab_ad_activation(linstab_ad_op op, double x, double *f, double *d1, double *d2)
{
    act(op, x, f, d1, d2);
}

static void act(linstab_ad_op op, double x, double *f, double *d1, double *d2)
{
    switch (op) {
    case LINSTAB_AD_TANH: {
        double y = tanh(x);
        *f = y;
        *d1 = 1.0 - y * y;
        *d2 = -2.0 * y * (1.0 - y * y);
        return;
    }
    case LINSTAB_AD_RELU:
        *f = x > 0.0 ? x : 0.0;
        *d1 = x > 0.0 ? 1.0 : 0.0;
        *d2 = 0.0;
        return;
    case LINSTAB_AD_SIGMOID: {
        double s = x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
        *f = s;
        *d1 = s * (1.0 - s);
        *d2 = s * (1.0 - s) * (1.0 - 2.0 * s);
        return;
    }
    case LINSTAB_AD_SOFTPLUS: {
        double s = x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
        *f = x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
        *d1 = s;
        *d2 = s * (1.0 - s);
        return;
    }
    case LINSTAB_AD_GELU: {
        /* x Phi(x): f' = Phi + x phi, f'' = phi (2 - x^2) */
        double Phi = 0.5 * erfc(-x / 1.41421356237309504880), phi = exp(-0.5 * x * x) * 0.39894228040143267794;
        *f = x * Phi;
        *d1 = Phi + x * phi;
        *d2 = phi * (2.0 - x * x);
        return;
    }
    default: *f = *d1 = *d2 = NAN;
    }
}

linstab_ad_node *linstab_ad_unary(linstab_ad_graph *g, linstab_ad_op op, linstab_ad_node *x)
{
    if (x == NULL || op < LINSTAB_AD_TANH || op > LINSTAB_AD_GELU) return NULL;
    linstab_ad_node *y = node(g, op, x->rows, x->cols, x, NULL);
    if (y == NULL) return NULL;
    for (size_t j = 0; j < x->rows * x->cols; j++) {
        double f, d1, d2;
        act(op, x->v[j], &f, &d1, &d2);
        y->v[j] = f;
        y->t[j] = d1 * x->t[j];
    }
    return y;
}

static void unary_backward(linstab_ad_node *y)
{
    linstab_ad_node *x = y->a;
    for (size_t j = 0; j < y->rows * y->cols; j++) {
        double f, d1, d2;
        act(y->op, x->v[j], &f, &d1, &d2);
        x->g[j] += d1 * y->g[j];
        x->gt[j] += d1 * y->gt[j] + d2 * x->t[j] * y->g[j];
    }
}

/* ---- losses (scalar results) ---- */

linstab_ad_node *linstab_ad_mse(linstab_ad_graph *g, linstab_ad_node *f, const double *y)
{
    if (f == NULL) return NULL;
    linstab_ad_node *l = node(g, LINSTAB_AD_MSE, 1, 1, f, NULL);
    if (l == NULL) return NULL;
    l->target = y;
    l->v[0] = ad_loss_value(LINSTAB_AD_MSE, f->rows, f->cols, f->v, y, 0.0);
    for (size_t j = 0; j < f->rows * f->cols; j++) l->t[0] += (f->v[j] - y[j]) * f->t[j];
    return l;
}

/* softmax of row z (K) into p (p may be NULL: the sum alone); returns
 * logsumexp */
static double softmax(const double *z, size_t K, double *p)
{
    double m = z[0], s = 0.0;
    for (size_t c = 1; c < K; c++) m = fmax(m, z[c]);
    for (size_t c = 0; c < K; c++) {
        double e = exp(z[c] - m);
        s += e;
        if (p) p[c] = e;
    }
    for (size_t c = 0; p && c < K; c++) p[c] /= s;
    return m + log(s);
}

/* label smoothing's target q_c for label lab of K classes */
static double smoothed_target(size_t c, size_t lab, size_t K, double smoothing)
{
    return (c == lab ? 1.0 - smoothing : 0.0) + smoothing / (double)K;
}

double ad_loss_value(linstab_ad_op op, size_t rows, size_t cols, const double *F, const double *target,
                     double smoothing)
{
    double v = 0.0;
    if (op == LINSTAB_AD_MSE) {
        for (size_t j = 0; j < rows * cols; j++) {
            double r = F[j] - target[j];
            v += 0.5 * r * r;
        }
        return v;
    }
    if (op != LINSTAB_AD_XENT) return NAN;
    for (size_t r = 0; r < rows; r++) {
        const double *zr = F + r * cols;
        double lse = softmax(zr, cols, NULL);
        size_t lab = (size_t)target[r];
        for (size_t c = 0; c < cols; c++) v += smoothed_target(c, lab, cols, smoothing) * (lse - zr[c]);
    }
    return v;
}

linstab_ad_node *linstab_ad_xent(linstab_ad_graph *g, linstab_ad_node *z, const double *labels,
                                 double smoothing)
{
    if (z == NULL) return NULL;
    size_t K = z->cols;
    /* the softmax of every row, kept for the backward pass (which then
     * allocates nothing and cannot fail) */
    double *P = malloc(z->rows * K * sizeof *P);
    linstab_ad_node *l = P ? node(g, LINSTAB_AD_XENT, 1, 1, z, NULL) : NULL;
    if (l == NULL) {
        free(P);
        return NULL;
    }
    l->aux = P;
    l->target = labels;
    l->c = smoothing;
    l->v[0] = ad_loss_value(LINSTAB_AD_XENT, z->rows, K, z->v, labels, smoothing);
    for (size_t r = 0; r < z->rows; r++) {
        const double *zr = z->v + r * K, *tr = z->t + r * K;
        double *p = P + r * K;
        softmax(zr, K, p);
        size_t lab = (size_t)labels[r];
        for (size_t c = 0; c < K; c++) l->t[0] += (p[c] - smoothed_target(c, lab, K, smoothing)) * tr[c];
    }
    return l;
}

static void xent_backward(linstab_ad_node *l)
{
    linstab_ad_node *z = l->a;
    size_t K = z->cols;
    double gl = l->g[0], gtl = l->gt[0];
    for (size_t r = 0; r < z->rows; r++) {
        const double *tr = z->t + r * K, *p = l->aux + r * K;
        size_t lab = (size_t)l->target[r];
        double pt = 0.0;
        for (size_t c = 0; c < K; c++) pt += p[c] * tr[c];
        for (size_t c = 0; c < K; c++) {
            double q = smoothed_target(c, lab, K, l->c);
            z->g[r * K + c] += gl * (p[c] - q);
            /* d(p - q) along t: p o (t - <p, t>) */
            z->gt[r * K + c] += gtl * (p[c] - q) + gl * p[c] * (tr[c] - pt);
        }
    }
}

void linstab_ad_backward(linstab_ad_graph *g, linstab_ad_node *loss)
{
    for (size_t i = 0; i < g->count; i++) {
        linstab_ad_node *n = g->nodes[i];
        memset(n->g, 0, n->rows * n->cols * sizeof(double));
        memset(n->gt, 0, n->rows * n->cols * sizeof(double));
    }
    loss->g[0] = 1.0;
    for (size_t i = g->count; i-- > 0;) {
        linstab_ad_node *n = g->nodes[i];
        switch (n->op) {
        case LINSTAB_AD_LEAF: break;
        case LINSTAB_AD_MATMUL_NT: matmul_nt_backward(n); break;
        case LINSTAB_AD_ADD_ROW: add_row_backward(n); break;
        case LINSTAB_AD_TANH:
        case LINSTAB_AD_RELU:
        case LINSTAB_AD_SIGMOID:
        case LINSTAB_AD_SOFTPLUS:
        case LINSTAB_AD_GELU: unary_backward(n); break;
        case LINSTAB_AD_MSE:
            for (size_t j = 0; j < n->a->rows * n->a->cols; j++) {
                double r = n->a->v[j] - n->target[j];
                n->a->g[j] += n->g[0] * r;
                n->a->gt[j] += n->gt[0] * r + n->g[0] * n->a->t[j];
            }
            break;
        case LINSTAB_AD_XENT: xent_backward(n); break;
        }
    }
}
