/* lobpcg.c -- block-size-one LOBPCG for the smallest eigenvalue (lobpcg.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "lobpcg.h"

/* v <- v - sum_q (q'v) q over the k orthonormal vectors Q[0..k-1], twice;
 * also applied to Av with the same coefficients (A Q known); returns the
 * norm of v before the passes. */
static double orth_against(size_t n, int k, double *const *Q, double *const *AQ, double *v, double *Av)
{
    double before = cblas_dnrm2((int)n, v, 1);
    for (int pass = 0; pass < 2; pass++)
        for (int q = 0; q < k; q++) {
            double c = cblas_ddot((int)n, Q[q], 1, v, 1);
            cblas_daxpy((int)n, -c, Q[q], 1, v, 1);
            if (Av != NULL) cblas_daxpy((int)n, -c, AQ[q], 1, Av, 1);
        }
    return before;
}

int linstab_lobpcg_min(size_t n, lobpcg_apply apply, void *ctx, const double *prec, const double *x0,
                       double tol, int max_iter, double *xout, lobpcg_result *res, linstab_error *err)
{
    memset(res, 0, sizeof *res);
    if (n == 0) return 0;
    double *buf = malloc(8 * n * sizeof *buf);
    if (buf == NULL) return 0;
    double *x = buf, *Ax = buf + n, *w = buf + 2 * n, *Aw = buf + 3 * n, *p = buf + 4 * n, *Ap = buf + 5 * n;
    double *t = buf + 6 * n, *At = buf + 7 * n;
    int ok = 0, have_p = 0;
    double nx = cblas_dnrm2((int)n, x0, 1);
    if (!(nx > 0.0) || !isfinite(nx)) goto done;
    for (size_t i = 0; i < n; i++) x[i] = x0[i] / nx;
    if (apply(x, Ax, ctx, err) != LINSTAB_OK) goto done;
    res->products++;
    double theta = cblas_ddot((int)n, x, 1, Ax, 1);
    for (int it = 0; it < max_iter; it++) {
        res->iters = it;
        /* every 20 steps x's implicit A-image is refreshed by a product.
         * The search direction p is kept: dropping it restarted the
         * iteration as steepest descent (the exact section's radius of a
         * 784-100-10 network: 88 products with the restart, 74 without,
         * the same radius); its own image's drift only enters the next
         * Rayleigh-Ritz step, and convergence is confirmed on a fresh
         * product below */
        if (it > 0 && it % 20 == 0) {
            if (apply(x, Ax, ctx, err) != LINSTAB_OK) goto done;
            res->products++;
            theta = cblas_ddot((int)n, x, 1, Ax, 1);
        }
        for (size_t i = 0; i < n; i++) w[i] = Ax[i] - theta * x[i];
        double rn = cblas_dnrm2((int)n, w, 1);
        if (!isfinite(rn)) goto done;
        if (rn <= tol) {
            /* confirm on a fresh product: the implicit images drift */
            if (apply(x, Ax, ctx, err) != LINSTAB_OK) goto done;
            res->products++;
            theta = cblas_ddot((int)n, x, 1, Ax, 1);
            for (size_t i = 0; i < n; i++) w[i] = Ax[i] - theta * x[i];
            rn = cblas_dnrm2((int)n, w, 1);
            if (rn <= tol) {
                res->theta = theta;
                res->resnorm = rn;
                ok = 1;
                goto done;
            }
            have_p = 0;
        }
        for (size_t i = 0; i < n; i++) w[i] *= prec[i];
        /* basis Q = [x, p, w] orthonormal, with its A-images */
        double *Q[3] = {x, NULL, NULL}, *AQ[3] = {Ax, NULL, NULL};
        int k = 1;
        if (have_p) {
            double b = orth_against(n, 1, Q, AQ, p, Ap), a = cblas_dnrm2((int)n, p, 1);
            if (a > 1e-10 * b && a > 0.0) {
                cblas_dscal((int)n, 1.0 / a, p, 1);
                cblas_dscal((int)n, 1.0 / a, Ap, 1);
                Q[k] = p;
                AQ[k] = Ap;
                k++;
            }
        }
        double b = orth_against(n, k, Q, NULL, w, NULL), a = cblas_dnrm2((int)n, w, 1);
        if (!(a > 1e-12 * b && a > 0.0)) goto done; /* the residual lies in span{x, p}: stagnation */
        cblas_dscal((int)n, 1.0 / a, w, 1);
        if (apply(w, Aw, ctx, err) != LINSTAB_OK) goto done;
        res->products++;
        Q[k] = w;
        AQ[k] = Aw;
        k++;
        /* Rayleigh-Ritz on the k x k projection */
        double G[9], ev[3];
        for (int i = 0; i < k; i++)
            for (int j = i; j < k; j++) G[i * k + j] = G[j * k + i] = cblas_ddot((int)n, Q[i], 1, AQ[j], 1);
        if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', k, G, k, ev) != 0) goto done;
        double c[3];
        for (int i = 0; i < k; i++) c[i] = G[i * k + 0]; /* the smallest: column 0 */
        /* p <- the new direction (components on p and w), x <- S c */
        memset(t, 0, n * sizeof *t);
        memset(At, 0, n * sizeof *At);
        for (int i = 1; i < k; i++) {
            cblas_daxpy((int)n, c[i], Q[i], 1, t, 1);
            cblas_daxpy((int)n, c[i], AQ[i], 1, At, 1);
        }
        cblas_dscal((int)n, c[0], x, 1);
        cblas_dscal((int)n, c[0], Ax, 1);
        cblas_daxpy((int)n, 1.0, t, 1, x, 1);
        cblas_daxpy((int)n, 1.0, At, 1, Ax, 1);
        double nn = cblas_dnrm2((int)n, x, 1);
        cblas_dscal((int)n, 1.0 / nn, x, 1);
        cblas_dscal((int)n, 1.0 / nn, Ax, 1);
        memcpy(p, t, n * sizeof *p);
        memcpy(Ap, At, n * sizeof *Ap);
        have_p = 1;
        theta = cblas_ddot((int)n, x, 1, Ax, 1);
    }
done:
    if (ok && xout != NULL) memcpy(xout, x, n * sizeof *x);
    free(buf);
    return ok;
}
