/* operator.c -- the dense form of a matrix-free operator. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/operator.h"


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
    linstab_status st = LINSTAB_OK;
    for (size_t j = 0; j < n && st == LINSTAB_OK; j++) {
        e[j] = 1.0;
        st = op->apply(e, col, op->ctx, err);
        e[j] = 0.0;
        for (size_t i = 0; st == LINSTAB_OK && i < n; i++) A[i * n + j] = col[i];
    }
    free(e);
    free(col);
    return st;
}
