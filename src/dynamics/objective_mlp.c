/*
 * objective_mlp.c -- an MLP checkpoint's training loss as an objective of
 * the dynamics (objective.h): the iterate is the parameter vector theta,
 * sample i is the loss of row i of the data, values and gradients from
 * linstab_mlp_loss (autograd) and Hessian-vector products from the same
 * graph.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "linstab/mlp.h"
#include "linstab/objective.h"
#include "objective_internal.h"

typedef struct mlp_ctx {
    const linstab_mlp *m; /* borrowed: shapes; theta is the iterate */
    const double *X, *Y;  /* borrowed: n x d0, n x ycols */
    size_t n, d0, ycols;
    linstab_loss loss;
    double smoothing;
    double *Xb, *Yb; /* the rows of a batch (n x d0, n x ycols) */
} mlp_ctx;

static void mlp_ctx_free(void *vctx)
{
    mlp_ctx *c = vctx;
    if (c == NULL) return;
    free(c->Xb);
    free(c->Yb);
    free(c);
}

/* The rows of the batch (all of them when idx is NULL): pointers to X and
 * Y themselves or to the gathered copies; OUT *rows. */
static void batch_rows(mlp_ctx *c, const size_t *idx, size_t count, const double **X, const double **Y,
                       size_t *rows)
{
    if (idx == NULL) {
        *X = c->X;
        *Y = c->Y;
        *rows = c->n;
        return;
    }
    for (size_t r = 0; r < count; r++) {
        memcpy(c->Xb + r * c->d0, c->X + idx[r] * c->d0, c->d0 * sizeof *c->Xb);
        memcpy(c->Yb + r * c->ycols, c->Y + idx[r] * c->ycols, c->ycols * sizeof *c->Yb);
    }
    *X = c->Xb;
    *Y = c->Yb;
    *rows = count;
}

/* a failure (out of memory) is a non-finite value: the run stops there */
static void fill_nan(size_t p, double *x)
{
    if (x != NULL)
        for (size_t j = 0; j < p; j++) x[j] = NAN;
}

static void mlp_eval(void *vctx, const double *w, const size_t *idx, size_t count, double *loss, double *grad)
{
    mlp_ctx *c = vctx;
    linstab_mlp mm = *c->m;
    mm.theta = (double *)w; /* read only: linstab_mlp_loss does not write the model */
    const double *X, *Y;
    size_t rows;
    batch_rows(c, idx, count, &X, &Y, &rows);
    double value = NAN;
    linstab_error err;
    if (linstab_mlp_loss(&mm, X, Y, rows, c->loss, c->smoothing, NULL, &value, grad, NULL, &err) != LINSTAB_OK) {
        fill_nan(mm.p, grad);
        value = NAN;
    } else if (grad != NULL) {
        for (size_t j = 0; j < mm.p; j++) grad[j] /= (double)rows;
    }
    if (loss != NULL) *loss = value / (double)rows;
}

static void mlp_hvp(void *vctx, const double *w, const size_t *idx, size_t count, const double *v, double *hv)
{
    mlp_ctx *c = vctx;
    linstab_mlp mm = *c->m;
    mm.theta = (double *)w;
    const double *X, *Y;
    size_t rows;
    batch_rows(c, idx, count, &X, &Y, &rows);
    linstab_error err;
    if (linstab_mlp_loss(&mm, X, Y, rows, c->loss, c->smoothing, v, NULL, NULL, hv, &err) != LINSTAB_OK) {
        fill_nan(mm.p, hv);
        return;
    }
    for (size_t j = 0; j < mm.p; j++) hv[j] /= (double)rows;
}

linstab_status linstab_objective_mlp(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                     linstab_loss loss, double smoothing, linstab_objective **out,
                                     linstab_error *err)
{
    *out = NULL;
    if (!(smoothing >= 0.0 && smoothing < 1.0))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "smoothing",
                                       "label smoothing must lie in [0, 1), got %g", smoothing);
    linstab_status st = linstab_mlp_check_data(m, X, Y, loss, err);
    if (st != LINSTAB_OK) return st;
    mlp_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) return oom(err, "MLP objective");
    c->m = m;
    c->X = X->data;
    c->Y = Y->data;
    c->n = X->shape[0];
    c->d0 = m->sizes[0];
    c->ycols = Y->ndim >= 2 ? Y->shape[1] : 1;
    c->loss = loss;
    c->smoothing = smoothing;
    c->Xb = malloc(c->n * c->d0 * sizeof *c->Xb);
    c->Yb = malloc(c->n * c->ycols * sizeof *c->Yb);
    if (c->Xb == NULL || c->Yb == NULL) {
        mlp_ctx_free(c);
        return oom(err, "MLP objective");
    }
    const linstab_objective_ops ops = {mlp_eval, mlp_hvp, mlp_ctx_free};
    st = linstab_objective_custom(&ops, c, m->p, c->n, out, err);
    if (st == LINSTAB_OK) objective_set_kind(*out, LINSTAB_OBJECTIVE_MLP);
    return st;
}
