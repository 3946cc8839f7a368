/* operator.c -- dense form of a matrix-free operator; svec / smat. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/operator.h"

static const double SQRT2 = 1.41421356237309504880168872420969808;

size_t linstab_svec_dim(size_t r) { return r * (r + 1) / 2; }

void linstab_svec(size_t r, const double *X, double *x)
{
    size_t p = 0;
    for (size_t j = 0; j < r; j++) {
        x[p++] = X[j * r + j];
        for (size_t k = j + 1; k < r; k++) x[p++] = SQRT2 * X[j * r + k];
    }
}

void linstab_smat(size_t r, const double *x, double *X)
{
    size_t p = 0;
    for (size_t j = 0; j < r; j++) {
        X[j * r + j] = x[p++];
        for (size_t k = j + 1; k < r; k++) {
            double v = x[p++] / SQRT2;
            X[j * r + k] = v;
            X[k * r + j] = v;
        }
    }
}

linstab_status linstab_operator_dense(const linstab_operator *op, double *A, linstab_error *err)
{
    if (op->form_dense != NULL) return op->form_dense(A, op->ctx, err);
    size_t n = op->dim;
    double *e = calloc(n, sizeof *e), *col = malloc(n * sizeof *col);
    if (e == NULL || col == NULL) {
        free(e);
        free(col);
        return linstab_error_set(err, LINSTAB_ENOMEM, "dense operator of size %zu: out of memory", n);
    }
    for (size_t j = 0; j < n; j++) {
        e[j] = 1.0;
        op->apply(e, col, op->ctx);
        e[j] = 0.0;
        for (size_t i = 0; i < n; i++) A[i * n + j] = col[i];
    }
    free(e);
    free(col);
    return LINSTAB_OK;
}
