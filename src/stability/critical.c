/*
 * critical.c -- exact mean-square critical learning rate and batch size
 * (docs/math.md §3; Mulayoff & Michaeli, "Exact mean square linear
 * stability analysis for SGD", COLT 2024), and a bracketing bisection for
 * the critical values that have no closed form (SAM radius, independent
 * SAM batches).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/critical.h"
#include "linstab/sym.h"

/* x -> D (a Hd + b Ms - c Hd) D in svec coordinates, D = diag(dsc). */
typedef struct scaled_ctx {
    const linstab_family *f;
    const double *l;
    size_t r, m;
    double a, b;     /* weights of HXH and M(X) */
    double *dsc;     /* svec scaling (m) */
    double *X, *Y, *v;
    linstab_family_workspace *ws; /* the sandwich's, when b != 0 */
} scaled_ctx;

/* no allocation: the work matrices and the sandwich's workspace are in c */
static linstab_status scaled_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    scaled_ctx *c = vctx;
    size_t r = c->r;
    for (size_t p = 0; p < c->m; p++) c->v[p] = c->dsc[p] * x[p];
    linstab_svec_smat(r, c->v, c->X);
    linstab_status st = linstab_secmom_batch_moment(c->f, c->l, c->a, c->b, c->ws, c->X, c->Y, err);
    if (st != LINSTAB_OK) return st;
    linstab_svec(r, c->Y, y);
    for (size_t p = 0; p < c->m; p++) y[p] *= c->dsc[p];
    return LINSTAB_OK;
}

static linstab_status scaled_dense(double *A, void *vctx, linstab_error *err)
{
    scaled_ctx *c = vctx;
    size_t m = c->m, r = c->r;
    linstab_status st = LINSTAB_OK;
    if (c->b != 0.0)
        st = linstab_family_sandwich_svec(c->f, A, err);
    else
        memset(A, 0, m * m * sizeof *A);
    if (st != LINSTAB_OK) return st;
    size_t p = 0;
    for (size_t j = 0; j < r; j++)
        for (size_t k = j; k < r; k++, p++) A[p * m + p] = c->b * A[p * m + p] + c->a * c->l[j] * c->l[k];
    for (size_t i = 0; i < m; i++)
        for (size_t q = 0; q < m; q++) {
            if (i != q) A[i * m + q] *= c->b;
            A[i * m + q] *= c->dsc[i] * c->dsc[q];
        }
    return LINSTAB_OK;
}

/* Top eigenvalue of D (a Hd + b Ms) D with D = diag(dsc). */
static linstab_status scaled_top(const linstab_family *f, const double *l, double a, double b,
                                 const double *dsc, const linstab_eigen_opts *opts, double *mu,
                                 linstab_error *err)
{
    size_t r = f->d, m = r * (r + 1) / 2;
    scaled_ctx c = {f, l, r, m, a, b, (double *)dsc, NULL, NULL, NULL, NULL};
    c.X = malloc(r * r * sizeof(double));
    c.Y = malloc(r * r * sizeof(double));
    c.v = malloc(m * sizeof(double));
    linstab_status st = LINSTAB_OK;
    if (c.X == NULL || c.Y == NULL || c.v == NULL)
        st = linstab_error_set(err, LINSTAB_ENOMEM, "critical value: out of memory");
    /* the matrix-free path applies the sandwich in a loop: its workspace
     * once (the dense path forms the svec matrix and needs none) */
    if (st == LINSTAB_OK && b != 0.0 && !linstab_eigen_is_dense(opts, m)) st = linstab_family_workspace_alloc(f, &c.ws, err);
    if (st == LINSTAB_OK) {
        linstab_operator op = {m, scaled_apply, scaled_apply, scaled_dense, 1, &c};
        st = linstab_eigen_top(&op, opts, mu, NULL, err);
    }
    linstab_family_workspace_free(c.ws);
    free(c.X);
    free(c.Y);
    free(c.v);
    return st;
}

int linstab_critical_curvature_positive(size_t r, const double *l)
{
    double lmax = 0.0;
    for (size_t j = 0; j < r; j++) lmax = fmax(lmax, fabs(l[j]));
    double tol = (double)r * DBL_EPSILON * lmax;
    for (size_t j = 0; j < r; j++)
        if (!(l[j] > tol)) return 0;
    return r > 0;
}

linstab_status linstab_critical_eta(const linstab_family *f, const double *l, double a, double b,
                                    const linstab_eigen_opts *opts, double *eta_star,
                                    linstab_error *err)
{
    size_t r = f->d, m = r * (r + 1) / 2;
    if (!linstab_critical_curvature_positive(r, l)) {
        /* an eigenvalue l <= 0 of H on the space (indefinite family): E[J]
         * has the eigenvalue 1 - eta l >= 1 and radius(T) >= (1 - eta l)^2
         * >= 1 for every eta > 0 -- no eta is (strictly) stable */
        *eta_star = 0.0;
        return LINSTAB_OK;
    }
    double *dsc = malloc(m * sizeof *dsc);
    if (dsc == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "critical eta: out of memory");
    size_t p = 0;
    for (size_t j = 0; j < r; j++)
        for (size_t k = j; k < r; k++) dsc[p++] = 1.0 / sqrt(l[j] + l[k]);
    double mu = 0.0;
    linstab_status st = scaled_top(f, l, a, b, dsc, opts, &mu, err);
    free(dsc);
    if (st != LINSTAB_OK) return st;
    *eta_star = mu > 0.0 ? 1.0 / mu : INFINITY;
    return LINSTAB_OK;
}

linstab_status linstab_critical_batch(const linstab_family *f, const double *l, linstab_sampling s,
                                      double eta, const linstab_eigen_opts *opts, size_t *batch,
                                      linstab_error *err)
{
    size_t r = f->d, m = r * (r + 1) / 2, n = f->n;
    double N = (double)n;
    *batch = 0;
    if (!linstab_critical_curvature_positive(r, l)) return LINSTAB_OK; /* no B is stable (see critical eta) */
    /* R = A - eta Hd must be positive definite: l_j + l_k - eta l_j l_k > 0 */
    int R_pd = 1;
    double *dsc = malloc(m * sizeof *dsc);
    if (dsc == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "critical batch: out of memory");
    size_t p = 0;
    for (size_t j = 0; j < r; j++)
        for (size_t k = j; k < r; k++) {
            double R = l[j] + l[k] - eta * l[j] * l[k];
            if (!(R > 0.0)) R_pd = 0;
            dsc[p++] = R > 0.0 ? 1.0 / sqrt(R) : 0.0;
        }
    double B0 = N; /* candidate, real-valued */
    linstab_status st = LINSTAB_OK;
    if (R_pd) {
        /* b eta (Ms - c Hd) <= R with c = 1 when a = 1 - b, c = 0 (Bernoulli, a = 1) */
        double c = s == LINSTAB_SAMPLING_BERNOULLI ? 0.0 : 1.0, nu = 0.0;
        st = scaled_top(f, l, -c * eta, eta, dsc, opts, &nu, err);
        if (st == LINSTAB_OK) {
            if (nu <= 0.0) {
                B0 = 1.0;
            } else {
                double bstar = 1.0 / nu;
                switch (s) {
                case LINSTAB_SAMPLING_WITHOUT: B0 = N / (1.0 + bstar * (N - 1.0)); break;
                case LINSTAB_SAMPLING_BERNOULLI: B0 = N / (1.0 + N * bstar); break;
                case LINSTAB_SAMPLING_WITH: B0 = 1.0 / bstar; break;
                }
            }
        }
    }
    free(dsc);
    if (st != LINSTAB_OK) return st;
    /* refine against eta*(B) itself: rounding can move the ceiling by one */
    size_t B = B0 <= 1.0 ? 1 : B0 >= N ? n : (size_t)ceil(B0);
    double es;
    for (int iter = 0; iter < 4 && B > 1; iter++) {
        double a, b;
        linstab_sampling_coeffs(s, n, B - 1, &a, &b);
        st = linstab_critical_eta(f, l, a, b, opts, &es, err);
        if (st != LINSTAB_OK) return st;
        if (eta <= es) B--;
        else break;
    }
    for (; B <= n; B++) {
        double a, b;
        linstab_sampling_coeffs(s, n, B, &a, &b);
        st = linstab_critical_eta(f, l, a, b, opts, &es, err);
        if (st != LINSTAB_OK) return st;
        if (eta <= es) {
            *batch = B;
            return LINSTAB_OK;
        }
        if (B + 4 < n && B >= B0 + 4) break; /* far above the prediction: not stabilised */
    }
    return LINSTAB_OK;
}

linstab_status linstab_critical_param(linstab_param_fn fn, void *ctx, double x_hint, double rtol,
                                      double *x_crit, int *monotone, linstab_error *err)
{
    double v0;
    linstab_status st = fn(0.0, &v0, ctx, err);
    if (st != LINSTAB_OK) return st;
    if (monotone) *monotone = 1;
    if (v0 > 1.0) {
        *x_crit = NAN;
        return LINSTAB_OK;
    }
    double lo = 0.0, hi = x_hint > 0.0 ? x_hint : 1.0, v;
    int k;
    for (k = 0; k <= 60; k++) { /* hint, 2 hint, ..., 2^60 hint */
        st = fn(hi, &v, ctx, err);
        if (st != LINSTAB_OK) return st;
        if (v > 1.0) break;
        lo = hi;
        hi *= 2.0;
    }
    if (k > 60) {
        *x_crit = INFINITY;
        return LINSTAB_OK;
    }
    if (monotone) {
        /* bit 0: non-decreasing on the grid; bit 1: fn - 1 changes sign at
         * most once there (the stable set looks like an interval) */
        double prev = v0;
        int nondecr = 1, crossings = 0;
        for (int g = 1; g <= 8; g++) {
            double x = hi * g / 8.0, vg;
            st = fn(x, &vg, ctx, err);
            if (st != LINSTAB_OK) return st;
            if (vg < prev - 1e-12 * fmax(1.0, fabs(prev))) nondecr = 0;
            crossings += (vg > 1.0) != (prev > 1.0);
            prev = vg;
        }
        *monotone = nondecr | (crossings <= 1 ? 2 : 0);
    }
    while (hi - lo > rtol * hi) {
        double mid = 0.5 * (lo + hi);
        st = fn(mid, &v, ctx, err);
        if (st != LINSTAB_OK) return st;
        if (v > 1.0)
            hi = mid;
        else
            lo = mid;
    }
    *x_crit = lo;
    return LINSTAB_OK;
}
