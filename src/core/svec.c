/* svec.c -- svec / smat: Sym(r) <-> R^{r(r+1)/2} (svec.h). */
#include <math.h>
#include <stddef.h>

#include "linstab/svec.h"

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

void linstab_svec_smat(size_t r, const double *x, double *X)
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
