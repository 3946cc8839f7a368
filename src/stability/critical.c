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
#include "lanczos.h"
#include "units.h"
#include "linstab/sym.h"

/* x -> D (a Hd + b Ms - c Hd) D in svec coordinates, D = diag(dsc). */
typedef struct scaled_ctx {
    const linstab_family *f;
    const double *l;
    size_t r, m;
    double a, b;     /* weights of HXH and M(X) */
    double *dsc;     /* svec scaling (m) */
    double *X, *Y;
    linstab_family_workspace *ws; /* the sandwich's, when b != 0 */
} scaled_ctx;

static const double SQRT2 = 1.41421356237309504880168872420969808;

/* No allocation: the work matrices and the sandwich's workspace are in c.
 * y = D svec(b M(X) + a (l l') o X) with X = smat(D x), in two passes over
 * the upper triangle: the sandwich of dense and factored families reads
 * only X's upper triangle (diagonal families read it whole, entrywise, and
 * their upper Y from the upper X) and svec only
 * Y's (the same arithmetic as svec_smat, batch_moment and svec in turn). */
static linstab_status scaled_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    scaled_ctx *c = vctx;
    size_t r = c->r;
    const double *dsc = c->dsc, *l = c->l;
    double *X = c->X, *Y = c->Y, a = c->a, b = c->b;
    int whole = c->f->kind == LINSTAB_FAMILY_DIAGONAL;
    size_t p = 0;
    for (size_t j = 0; j < r; j++) {
        X[j * r + j] = dsc[p] * x[p];
        p++;
        for (size_t k = j + 1; k < r; k++, p++) {
            double v = dsc[p] * x[p] / SQRT2;
            X[j * r + k] = v;
            if (whole) X[k * r + j] = v;
        }
    }
    if (b != 0.0) {
        linstab_status st = c->ws != NULL ? linstab_family_sandwich_ws(c->f, c->ws, X, Y, err)
                                          : linstab_family_sandwich(c->f, X, Y, err);
        if (st != LINSTAB_OK) return st;
    }
    p = 0;
    for (size_t j = 0; j < r; j++)
        for (size_t k = j; k < r; k++, p++) {
            double t = a * l[j] * l[k] * X[j * r + k];
            double val = b != 0.0 ? b * Y[j * r + k] + t : 0.0 + t;
            y[p] = (k == j ? val : SQRT2 * val) * dsc[p];
        }
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
    scaled_ctx c = {f, l, r, m, a, b, (double *)dsc, NULL, NULL, NULL};
    c.X = malloc(r * r * sizeof(double));
    c.Y = malloc(r * r * sizeof(double));
    linstab_status st = LINSTAB_OK;
    if (c.X == NULL || c.Y == NULL)
        st = linstab_error_set(err, LINSTAB_ENOMEM, "critical value: out of memory");
    /* the matrix-free path applies the sandwich in a loop: its workspace
     * once (the dense path forms the svec matrix and needs none) */
    if (st == LINSTAB_OK && b != 0.0 && !linstab_eigen_is_dense(opts, m)) st = linstab_family_workspace_alloc(f, &c.ws, err);
    int done = 0;
    if (st == LINSTAB_OK && !linstab_eigen_is_dense(opts, m) && (opts == NULL || opts->start == NULL) && m >= 64) {
        /* Lanczos tested at every step: the top eigenvalue of these scaled
         * operators is usually separated, and converges in fewer products
         * than ARPACK's first cycle of ncv; ARPACK when it does not */
        double tol = opts != NULL && opts->tol > 0.0 ? opts->tol : 1e-12;
        size_t steps = 0;
        /* as many steps as 1 GiB of basis holds (at least 60, at most
         * 300): a clustered top (network families) needs more than one
         * ARPACK cycle, and full reorthogonalization beats its restarts */
        size_t cap = ((size_t)1 << 27) / m;
        cap = cap < 60 ? 60 : cap > 300 ? 300 : cap;
        int rc = linstab_lanczos_top_status(m, scaled_apply, &c, tol, cap, mu, &steps, err);
        if (rc < 0) st = err != NULL && err->code != LINSTAB_OK ? err->code : LINSTAB_ENOCONV;
        done = rc == 1;
    }
    if (st == LINSTAB_OK && !done) {
        linstab_operator op = {m, scaled_apply, scaled_apply, scaled_dense, 1, &c};
        st = linstab_eigen_top(&op, opts, mu, NULL, err);
    }
    linstab_family_workspace_free(c.ws);
    free(c.X);
    free(c.Y);
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

/* The eta* solves left at most in critical B's scan from Bs on (c the
 * first candidate, ceil(B0) clamped to [1, n]): it stops after the first
 * B >= B0 + 4 (at most c + 4) unless B + 4 >= n, where it goes on to n. */
static size_t scan_left(size_t c, size_t Bs, size_t n)
{
    size_t last = c + 8 < n ? c + 4 : n;
    return last >= Bs ? last - Bs + 1 : 0;
}

/* At most min(4, B - 1) refinement solves from B down, then the scan. */
static size_t refine_left(size_t c, size_t B, int iters, size_t n)
{
    size_t r = (size_t)(4 - iters);
    if (r > B - 1) r = B - 1;
    return r + scan_left(c, B - r, n);
}

linstab_status linstab_critical_batch(const linstab_family *f, const double *l, linstab_sampling s,
                                      double eta, const linstab_eigen_opts *opts, size_t *batch,
                                      linstab_error *err)
{
    return critical_batch_units(f, l, s, eta, opts, batch, NULL, err);
}

linstab_status critical_batch_units(const linstab_family *f, const double *l, linstab_sampling s,
                                    double eta, const linstab_eigen_opts *opts, size_t *batch, stab_units *u,
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
        if (u != NULL) u->done++; /* reported below, with what is left */
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
    /* B0 is exact up to the eigensolver's error: B is stable iff B >= B0
     * (b(B) decreases in B), so when B0 sits farther from every integer
     * than that error the critical batch is ceil(B0) without another solve
     * (the error of nu is at most tol nu, B0's relative error at most that;
     * a margin of 1e4 covers the residual-to-eigenvalue slack) */
    if (R_pd) {
        double tol = opts != NULL && opts->tol > 0.0 ? opts->tol : 1e-12;
        double margin = fmax(1e-9, 1e4 * tol) * fmax(B0, 1.0), fr = B0 - floor(B0);
        /* B0 = 1 exactly: nu <= 0, stable at every B */
        int clear = B0 == 1.0 || B0 < 1.0 - margin || (B0 > 1.0 && B0 < N && fr > margin && 1.0 - fr > margin);
        if (clear) {
            *batch = B0 <= 1.0 ? 1 : (size_t)ceil(B0);
            return LINSTAB_OK;
        }
    }
    /* refine against eta*(B) itself: rounding can move the ceiling by one */
    size_t B = B0 <= 1.0 ? 1 : B0 >= N ? n : (size_t)ceil(B0), c0 = B;
    if (u != NULL) {
        u->total = u->done + refine_left(c0, B, 0, n);
        units_report(u);
    }
    double es;
    for (int iter = 0; iter < 4 && B > 1; iter++) {
        double a, b;
        linstab_sampling_coeffs(s, n, B - 1, &a, &b);
        st = linstab_critical_eta(f, l, a, b, opts, &es, err);
        if (st != LINSTAB_OK) return st;
        int down = eta <= es;
        if (down) B--;
        units_tick(u, down ? refine_left(c0, B, iter + 1, n) : scan_left(c0, B, n));
        if (!down) break;
    }
    for (; B <= n; B++) {
        double a, b;
        linstab_sampling_coeffs(s, n, B, &a, &b);
        st = linstab_critical_eta(f, l, a, b, opts, &es, err);
        if (st != LINSTAB_OK) return st;
        units_tick(u, scan_left(c0, B + 1, n));
        if (eta <= es) {
            *batch = B;
            return LINSTAB_OK;
        }
        if (B + 4 < n && B >= B0 + 4) break; /* far above the prediction: not stabilised */
    }
    return LINSTAB_OK;
}

/* Bisection steps left on [lo, hi] until hi - lo <= rtol hi: at most
 * log2((hi - lo) / (rtol lo)) as hi stays >= lo > 0; with lo = 0 an
 * estimate from the present hi (hi may still shrink). */
static size_t bisect_left(double lo, double hi, double rtol)
{
    if (!(hi - lo > rtol * hi)) return 0;
    double q = (hi - lo) / (rtol * (lo > 0.0 ? lo : hi));
    return q > 1.0 ? (size_t)ceil(log2(q)) : 1;
}

linstab_status linstab_critical_param(linstab_param_fn fn, void *ctx, double x_hint, double rtol,
                                      double *x_crit, int *monotone, linstab_error *err)
{
    return critical_param_units(fn, ctx, x_hint, rtol, x_crit, monotone, NULL, err);
}

linstab_status critical_param_units(linstab_param_fn fn, void *ctx, double x_hint, double rtol, double *x_crit,
                                    int *monotone, stab_units *u, linstab_error *err)
{
    /* before the bracket is found, what is left is an estimate: the next
     * doubling brackets x_crit, the grid, log2(1/rtol) bisection steps */
    size_t grid_left = monotone ? 8 : 0, guess = 1 + grid_left + bisect_left(1.0, 2.0, rtol);
    double v0;
    linstab_status st = fn(0.0, &v0, ctx, err);
    if (st != LINSTAB_OK) return st;
    units_tick(u, v0 > 1.0 ? 0 : guess);
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
        if (v > 1.0) {
            units_tick(u, grid_left + bisect_left(lo, hi, rtol));
            break;
        }
        units_tick(u, k == 60 ? 0 : guess);
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
            units_tick(u, (size_t)(8 - g) + bisect_left(lo, hi, rtol));
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
        units_tick(u, bisect_left(lo, hi, rtol));
    }
    *x_crit = lo;
    return LINSTAB_OK;
}
