/*
 * objective.c -- the objectives of the nonlinear dynamics (objective.h):
 * closed-form values, gradients and Hessian-vector products.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"
#include "linstab/objective.h"
#include "linstab/sym.h"
#include "objective_internal.h"
#include "objective_forms.h"

struct linstab_objective {
    linstab_objective_kind kind;
    size_t d, n;
    double *L;    /* quadratic: d x d (full) or NULL */
    double *diag; /* quadratic: d (diagonal) or NULL */
    const linstab_family *f;
    double *tmp;  /* family: d scratch */
    linstab_objective_ops ops; /* custom and MLP objectives */
    void *ctx;                 /* owned: ops.free releases it */
};

static linstab_status make(linstab_objective_kind kind, size_t d, size_t n, linstab_objective **out,
                           linstab_error *err)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL) return oom(err, "objective");
    (*out)->kind = kind;
    (*out)->d = d;
    (*out)->n = n;
    return LINSTAB_OK;
}

static linstab_status check_entries(const double *x, size_t len, size_t d, linstab_error *err)
{
    if (d == 0) return linstab_error_set_param(err, LINSTAB_EINVAL, "spectrum", "the dimension is 0");
    for (size_t i = 0; i < len; i++)
        if (!isfinite(x[i]))
            return linstab_error_set_param(err, LINSTAB_EINVAL, "spectrum",
                                           "entry %zu is %g: entries must be finite", i, x[i]);
    return LINSTAB_OK;
}

linstab_status linstab_objective_quadratic(const double *spectrum, size_t d, linstab_objective **out,
                                           linstab_error *err)
{
    *out = NULL;
    linstab_status st = check_entries(spectrum, d, d, err);
    if (st == LINSTAB_OK) st = make(LINSTAB_OBJECTIVE_QUADRATIC, d, 1, out, err);
    if (st != LINSTAB_OK) return st;
    (*out)->diag = malloc(d * sizeof *(*out)->diag);
    if ((*out)->diag == NULL) {
        linstab_objective_free(*out);
        *out = NULL;
        return oom(err, "objective");
    }
    memcpy((*out)->diag, spectrum, d * sizeof *spectrum);
    return LINSTAB_OK;
}

linstab_status linstab_objective_quadratic_matrix(const double *L, size_t d, linstab_objective **out,
                                                  linstab_error *err)
{
    *out = NULL;
    int ovf = 0;
    size_t dd = mul_sz(d, d, &ovf);
    if (ovf) return linstab_error_set_param(err, LINSTAB_EINVAL, "spectrum", "d = %zu is too large", d);
    linstab_status st = check_entries(L, dd, d, err);
    if (st != LINSTAB_OK) return st;
    double scale = 0.0;
    for (size_t i = 0; i < dd; i++) scale = fmax(scale, fabs(L[i]));
    for (size_t i = 0; i < d; i++)
        for (size_t j = i + 1; j < d; j++)
            if (fabs(L[i * d + j] - L[j * d + i]) > 1e-12 * scale)
                return linstab_error_set(err, LINSTAB_EDATA,
                                         "the matrix is not symmetric: L[%zu][%zu] = %.17g, "
                                         "L[%zu][%zu] = %.17g",
                                         i, j, L[i * d + j], j, i, L[j * d + i]);
    st = make(LINSTAB_OBJECTIVE_QUADRATIC, d, 1, out, err);
    if (st != LINSTAB_OK) return st;
    (*out)->L = malloc(dd * sizeof *(*out)->L);
    if ((*out)->L == NULL) {
        linstab_objective_free(*out);
        *out = NULL;
        return oom(err, "objective");
    }
    /* the symmetric part, so that the gradient is exactly L w */
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) (*out)->L[i * d + j] = 0.5 * (L[i * d + j] + L[j * d + i]);
    return LINSTAB_OK;
}

linstab_status linstab_objective_bartlett(linstab_objective **out, linstab_error *err)
{
    return make(LINSTAB_OBJECTIVE_BARTLETT, 2, 1, out, err);
}

linstab_status linstab_objective_tanh2(linstab_objective **out, linstab_error *err)
{
    return make(LINSTAB_OBJECTIVE_TANH2, 2, 1, out, err);
}

linstab_status linstab_objective_family(const linstab_family *f, linstab_objective **out,
                                        linstab_error *err)
{
    *out = NULL;
    linstab_status st = make(LINSTAB_OBJECTIVE_FAMILY, f->d, f->n, out, err);
    if (st != LINSTAB_OK) return st;
    (*out)->f = f;
    (*out)->tmp = malloc(f->d * sizeof *(*out)->tmp);
    if ((*out)->tmp == NULL) {
        linstab_objective_free(*out);
        *out = NULL;
        return oom(err, "objective");
    }
    return LINSTAB_OK;
}

void linstab_objective_free(linstab_objective *o)
{
    if (o == NULL) return;
    free(o->L);
    free(o->diag);
    free(o->tmp);
    if (o->ops.free != NULL) o->ops.free(o->ctx);
    free(o);
}

linstab_objective_kind linstab_objective_kind_of(const linstab_objective *o) { return o->kind; }
size_t linstab_objective_dim(const linstab_objective *o) { return o->d; }
size_t linstab_objective_samples(const linstab_objective *o) { return o->n; }

/* y = L x for the quadratic */
static void quad_apply(const linstab_objective *o, const double *x, double *y)
{
    size_t d = o->d;
    if (o->diag != NULL)
        for (size_t j = 0; j < d; j++) y[j] = o->diag[j] * x[j];
    else
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)d, (int)d, 1.0, o->L, (int)d, x, 1, 0.0, y, 1);
}

/* y = (1/|S|) sum_{i in S} H_i x for the family (x and y may not alias) */
static void family_apply(const linstab_objective *o, const size_t *idx, size_t count, const double *x,
                         double *y)
{
    size_t d = o->d, m = idx != NULL ? count : o->n;
    memset(y, 0, d * sizeof *y);
    for (size_t s = 0; s < m; s++) {
        linstab_family_apply(o->f, idx != NULL ? idx[s] : s, x, o->tmp);
        for (size_t j = 0; j < d; j++) y[j] += o->tmp[j];
    }
    double inv = m > 0 ? 1.0 / (double)m : 0.0;
    for (size_t j = 0; j < d; j++) y[j] *= inv;
}

void linstab_objective_eval(const linstab_objective *o, const double *w, const size_t *idx, size_t count,
                            double *loss, double *grad)
{
    size_t d = o->d;
    switch (o->kind) {
    case LINSTAB_OBJECTIVE_QUADRATIC:
    case LINSTAB_OBJECTIVE_FAMILY: {
        /* the gradient is A w; the loss w'A w / 2 from it */
        double *g = grad, local[2];
        double *buf = NULL;
        if (g == NULL) {
            g = d <= 2 ? local : (buf = malloc(d * sizeof *buf));
            if (g == NULL) { /* out of memory without a gradient buffer: the loss alone */
                if (loss != NULL) *loss = NAN;
                return;
            }
        }
        if (o->kind == LINSTAB_OBJECTIVE_QUADRATIC)
            quad_apply(o, w, g);
        else
            family_apply(o, idx, count, w, g);
        if (loss != NULL) *loss = 0.5 * cblas_ddot((int)d, w, 1, g, 1);
        free(buf);
        return;
    }
    case LINSTAB_OBJECTIVE_BARTLETT: bartlett_eval(w, loss, grad); return;
    case LINSTAB_OBJECTIVE_TANH2: tanh2_eval(w, loss, grad); return;
    case LINSTAB_OBJECTIVE_CUSTOM:
    case LINSTAB_OBJECTIVE_MLP: o->ops.eval(o->ctx, w, idx, count, loss, grad); return;
    }
}

void linstab_objective_hvp(const linstab_objective *o, const double *w, const size_t *idx, size_t count,
                           const double *v, double *hv)
{
    switch (o->kind) {
    case LINSTAB_OBJECTIVE_QUADRATIC: quad_apply(o, v, hv); return;
    case LINSTAB_OBJECTIVE_FAMILY: family_apply(o, idx, count, v, hv); return;
    case LINSTAB_OBJECTIVE_BARTLETT: {
        double w1 = w[0], w2 = w[1], q = 1.0 + 0.5 * w2 * w2;
        double h11 = 2.0 / q;
        double h12 = -2.0 * w1 * w2 / (q * q);
        /* d/dw2 of (-w1^2 w2 / q^2 + w2) = -w1^2 (q^2 - w2 * 2 q w2) / q^4 + 1 */
        double h22 = -w1 * w1 * (q - 2.0 * w2 * w2) / (q * q * q) + 1.0;
        hv[0] = h11 * v[0] + h12 * v[1];
        hv[1] = h12 * v[0] + h22 * v[1];
        return;
    }
    case LINSTAB_OBJECTIVE_TANH2: {
        /* l = phi(z), z = v tanh u, phi(z) = tanh^2(z)/2:
         * phi' = f (1 - f^2), phi'' = (1 - f^2)(1 - 3 f^2), f = tanh z;
         * z_u = v (1 - t^2), z_v = t, z_uu = -2 v t (1 - t^2), z_uv = 1 - t^2 */
        double u = w[0], vv = w[1], t = tanh(u), z = vv * t, f = tanh(z);
        double p1 = f * (1.0 - f * f), p2 = (1.0 - f * f) * (1.0 - 3.0 * f * f);
        double tu = 1.0 - t * t;
        double zu = vv * tu, zv = t, zuu = -2.0 * vv * t * tu, zuv = tu;
        double h11 = p2 * zu * zu + p1 * zuu;
        double h12 = p2 * zu * zv + p1 * zuv;
        double h22 = p2 * zv * zv;
        hv[0] = h11 * v[0] + h12 * v[1];
        hv[1] = h12 * v[0] + h22 * v[1];
        return;
    }
    case LINSTAB_OBJECTIVE_CUSTOM:
    case LINSTAB_OBJECTIVE_MLP: o->ops.hvp(o->ctx, w, idx, count, v, hv); return;
    }
}

linstab_status linstab_objective_custom(const linstab_objective_ops *ops, void *ctx, size_t d, size_t n,
                                        linstab_objective **out, linstab_error *err)
{
    *out = NULL;
    if (ops == NULL || ops->eval == NULL || ops->hvp == NULL || d == 0 || n == 0) {
        if (ops != NULL && ops->free != NULL) ops->free(ctx);
        return linstab_error_set_param(err, LINSTAB_EINVAL, "objective",
                                       "a custom objective needs eval and hvp and d, n >= 1 (d = %zu, n = %zu)", d,
                                       n);
    }
    linstab_status st = make(LINSTAB_OBJECTIVE_CUSTOM, d, n, out, err);
    if (st != LINSTAB_OK) {
        if (ops->free != NULL) ops->free(ctx);
        return st;
    }
    (*out)->ops = *ops;
    (*out)->ctx = ctx;
    return LINSTAB_OK;
}

void objective_set_kind(linstab_objective *o, linstab_objective_kind kind)
{
    o->kind = kind;
}


linstab_status linstab_objective_hessian(const linstab_objective *o, const double *w, const size_t *idx,
                                         size_t count, double *H, linstab_error *err)
{
    size_t d = o->d;
    double *e = calloc(d, sizeof *e), *col = malloc(d * sizeof *col);
    if (e == NULL || col == NULL) {
        free(e);
        free(col);
        return oom(err, "Hessian");
    }
    for (size_t j = 0; j < d; j++) {
        e[j] = 1.0;
        linstab_objective_hvp(o, w, idx, count, e, col);
        e[j] = 0.0;
        for (size_t i = 0; i < d; i++) H[i * d + j] = col[i];
    }
    free(e);
    free(col);
    linstab_sym_symmetrize(d, H);
    return LINSTAB_OK;
}
