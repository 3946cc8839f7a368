/*
 * lanczos.c -- a reentrant Lanczos iteration for the largest eigenvalue of
 * a symmetric operator given by a callback: full reorthogonalisation (two
 * classical Gram-Schmidt passes per step), ARPACK's residual test
 * beta_j |s_j| <= tol |theta| on the Ritz value, a fixed start vector (so
 * the result is reproducible).  ARPACK keeps static state and cannot run
 * on several threads at once; this can (every buffer is local).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <lapacke.h>

#include "internal.h"
#include "lanczos.h"

double linstab_lanczos_reorth(size_t n, size_t k, const double *Q, double *w, double *h)
{
    double alpha = 0.0;
    for (int pass = 0; pass < 2; pass++) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)k, (int)n, 1.0, Q, (int)n, w, 1, 0.0, h, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)k, (int)n, -1.0, Q, (int)n, h, 1, 1.0, w, 1);
        alpha += h[k - 1];
    }
    return alpha;
}

size_t linstab_lanczos_reorth_blocks(size_t n) { return (n + LINSTAB_REORTH_BLOCK - 1) / LINSTAB_REORTH_BLOCK; }

/* h = the sum over blocks b = 0, 1, ... (in that order) of part_b (k each) */
static void sum_blocks(size_t nb, size_t k, const double *part, double *h)
{
    memcpy(h, part, k * sizeof *h);
    for (size_t b = 1; b < nb; b++)
        for (size_t i = 0; i < k; i++) h[i] += part[b * k + i];
}

static double reorth_blocked(size_t n, size_t k, const double *Q, double *w, double *h, double *part, int par)
{
    size_t nb = linstab_lanczos_reorth_blocks(n), B = LINSTAB_REORTH_BLOCK;
    int bt = par ? blas_threads_single() : -1;
    double alpha = 0.0;
#pragma omp parallel if (par) /* one region per step: the threads wake once */
    {
        /* pass 1: h = Q w */
#pragma omp for schedule(static)
        for (size_t b = 0; b < nb; b++) {
            size_t c0 = b * B, len = n - c0 < B ? n - c0 : B;
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)k, (int)len, 1.0, Q + c0, (int)n, w + c0, 1, 0.0,
                        part + b * k, 1);
        }
#pragma omp single
        {
            sum_blocks(nb, k, part, h);
            alpha = h[k - 1];
        }
        /* pass 1: w -= Q' h, and block by block pass 2's Q w */
#pragma omp for schedule(static)
        for (size_t b = 0; b < nb; b++) {
            size_t c0 = b * B, len = n - c0 < B ? n - c0 : B;
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)k, (int)len, -1.0, Q + c0, (int)n, h, 1, 1.0, w + c0, 1);
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)k, (int)len, 1.0, Q + c0, (int)n, w + c0, 1, 0.0,
                        part + b * k, 1);
        }
#pragma omp single
        {
            sum_blocks(nb, k, part, h);
            alpha += h[k - 1];
        }
        /* pass 2: w -= Q' h */
#pragma omp for schedule(static)
        for (size_t b = 0; b < nb; b++) {
            size_t c0 = b * B, len = n - c0 < B ? n - c0 : B;
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)k, (int)len, -1.0, Q + c0, (int)n, h, 1, 1.0, w + c0, 1);
        }
    }
    blas_threads_restore(bt);
    return alpha;
}

double linstab_lanczos_reorth_blocked(size_t n, size_t k, const double *Q, double *w, double *h, double *part)
{
    return reorth_blocked(n, k, Q, w, h, part, 1);
}

/* Steps before the dense fallback: max(120, n/8), at most 600.  A dense
 * product (memory-bound, 8 n^2 bytes) costs about 1/(0.11 n) of LAPACK's
 * reduction (4/3 n^3 flops) on this class of machine, so n/8 steps stay
 * at about LAPACK's cost; a soft spectral edge (Marchenko-Pastur: H of rank-one
 * Gaussian factors, n = d = 4000) needs a few hundred. */
#define LANCZOS_MIN_STEPS 120
#define LANCZOS_MAX_STEPS 600
#define LANCZOS_TOL 1e-14

int linstab_lanczos_top(size_t n, lanczos_apply apply, const void *ctx, double *out)
{
    size_t cap = n / 8 < LANCZOS_MIN_STEPS ? LANCZOS_MIN_STEPS : n / 8 > LANCZOS_MAX_STEPS ? LANCZOS_MAX_STEPS : n / 8;
    size_t mmax = n < cap ? n : cap;
    double *Q = malloc((mmax + 1) * n * sizeof *Q); /* row j: q_j */
    double *w = malloc(n * sizeof *w), *h = malloc((mmax + 1) * sizeof *h);
    double *al = malloc(mmax * sizeof *al), *be = malloc(mmax * sizeof *be);
    /* th: calloc, LAPACKE_dstein checks all m entries of w for NaN though only
     * th[0] is computed (uninitialised ones could fail the check at random) */
    double *dd = malloc(mmax * sizeof *dd), *ee = malloc(mmax * sizeof *ee), *th = calloc(mmax, sizeof *th);
    double *s = malloc(mmax * sizeof *s);
    lapack_int *ib = malloc(mmax * sizeof *ib), *is = malloc(mmax * sizeof *is), *ifail = malloc(sizeof *ifail);
    int ok = 0;
    if (!Q || !w || !h || !al || !be || !dd || !ee || !th || !s || !ib || !is || !ifail) goto done;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    if (rng == NULL) goto done;
    gsl_rng_set(rng, 20240601);
    for (size_t i = 0; i < n; i++) Q[i] = gsl_rng_uniform(rng) - 0.5;
    gsl_rng_free(rng);
    double nrm = cblas_dnrm2((int)n, Q, 1);
    cblas_dscal((int)n, 1.0 / nrm, Q, 1);
    /* a step costs n^2 flops, a convergence test O(j): test every step for large n */
    int every = n >= 400;
    double anorm = 0.0;
    for (size_t j = 0; j < mmax; j++) {
        apply(Q + j * n, w, ctx);
        al[j] = linstab_lanczos_reorth(n, j + 1, Q, w, h);
        be[j] = cblas_dnrm2((int)n, w, 1);
        anorm = fmax(anorm, fabs(al[j]) + be[j] + (j > 0 ? be[j - 1] : 0.0));
        int last = j + 1 == mmax || be[j] <= 1e-15 * anorm; /* invariant subspace */
        if (!last && !every && (j < 4 || j % (j < 32 ? 4 : 8) != 3)) {
            cblas_dcopy((int)n, w, 1, Q + (j + 1) * n, 1);
            cblas_dscal((int)n, 1.0 / be[j], Q + (j + 1) * n, 1);
            continue;
        }
        lapack_int m = (lapack_int)(j + 1), found = 0, nsplit = 0;
        memcpy(dd, al, (size_t)m * sizeof *dd);
        memcpy(ee, be, (size_t)m * sizeof *ee);
        if (LAPACKE_dstebz('I', 'B', m, 0.0, 0.0, m, m, 0.0, dd, ee, &found, &nsplit, th, ib, is) != 0 ||
            found != 1)
            goto done;
        if (LAPACKE_dstein(LAPACK_COL_MAJOR, m, dd, ee, 1, th, ib, is, s, m, ifail) != 0) goto done;
        double resid = be[j] * fabs(s[m - 1]);
        if (resid <= LANCZOS_TOL * fabs(th[0]) || be[j] <= 1e-15 * anorm) {
            *out = th[0];
            ok = 1;
            goto done;
        }
        if (last) goto done;
        cblas_dcopy((int)n, w, 1, Q + (j + 1) * n, 1);
        cblas_dscal((int)n, 1.0 / be[j], Q + (j + 1) * n, 1);
    }
done:
    free(Q);
    free(w);
    free(h);
    free(al);
    free(be);
    free(dd);
    free(ee);
    free(th);
    free(s);
    free(ib);
    free(is);
    free(ifail);
    return ok;
}

/* x'y in blocks of 4096 summed in order: below OpenBLAS's threading
 * threshold per call, so the same bytes for any thread count. */
static double det_dot(size_t n, const double *x, const double *y)
{
    double s = 0.0;
    for (size_t c0 = 0; c0 < n; c0 += 4096) {
        size_t len = n - c0 < 4096 ? n - c0 : 4096;
        s += cblas_ddot((int)len, x + c0, 1, y + c0, 1);
    }
    return s;
}

/*
 * Partial reorthogonalization (H. D. Simon, "The Lanczos algorithm with
 * partial reorthogonalization", Math. Comp. 1984) on long vectors: each
 * step orthogonalizes w against q_j and q_{j-1} only (twice against q_j),
 * and Simon's recurrence estimates omega_{j+1,k} = q_{j+1}'q_k from the
 * tridiagonal coefficients; when an estimate exceeds sqrt(eps) the step,
 * and the next one, reorthogonalize fully.  Semi-orthogonality (|omega| <=
 * sqrt(eps)) keeps the Ritz values accurate to O(eps ||A||), and a step
 * costs a few sweeps over one vector instead of three over all of them.
 */
#define PRO_MIN_N ((size_t)1 << 12)

/* omega_{j+1,k}, k < j, into on; oc = omega_{j,.}, op = omega_{j-1,.} */
static double pro_estimate(size_t j, const double *al, const double *be, const double *oc, const double *op,
                           double noise, double *on)
{
    double worst = 0.0;
    for (size_t k = 0; k + 1 <= j; k++) {
        double t = be[k] * oc[k + 1] + (al[k] - al[j]) * oc[k] - be[j - 1] * op[k];
        if (k > 0) t += be[k - 1] * oc[k - 1];
        t = (t + copysign(noise, t)) / be[j];
        on[k] = t;
        worst = fmax(worst, fabs(t));
    }
    return worst;
}

/*
 * The largest eigenvalue with a status-returning product, ARPACK's
 * residual test at the given tolerance checked after every step (ARPACK
 * checks after each restart cycle of ncv products, so a well-separated top
 * eigenvalue costs here the steps it needs, not ncv), full
 * reorthogonalization by blocks over threads (the same bytes for any
 * thread count), the fixed start vector of linstab_lanczos_top.
 */
int linstab_lanczos_top_status(size_t n, linstab_apply_fn apply, void *ctx, double tol, size_t max_steps,
                               double *out, size_t *steps, linstab_error *err)
{
    size_t mmax = n < max_steps ? n : max_steps;
    size_t nb = linstab_lanczos_reorth_blocks(n);
    double *Q = malloc((mmax + 1) * n * sizeof *Q);
    double *w = malloc(n * sizeof *w), *h = malloc((mmax + 1) * sizeof *h);
    double *part = malloc(nb * (mmax + 1) * sizeof *part);
    double *al = malloc(mmax * sizeof *al), *be = malloc(mmax * sizeof *be);
    double *dd = malloc(mmax * sizeof *dd), *ee = malloc(mmax * sizeof *ee), *th = calloc(mmax, sizeof *th);
    double *s = malloc(mmax * sizeof *s);
    lapack_int *ib = malloc(mmax * sizeof *ib), *is = malloc(mmax * sizeof *is), *ifail = malloc(sizeof *ifail);
    int ok = 0;
    double *om = NULL;
    *steps = 0;
    if (!Q || !w || !h || !part || !al || !be || !dd || !ee || !th || !s || !ib || !is || !ifail) goto done;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    if (rng == NULL) goto done;
    gsl_rng_set(rng, 20240601);
    for (size_t i = 0; i < n; i++) Q[i] = gsl_rng_uniform(rng) - 0.5;
    gsl_rng_free(rng);
    double nrm = cblas_dnrm2((int)n, Q, 1);
    cblas_dscal((int)n, 1.0 / nrm, Q, 1);
    double anorm = 0.0;
    int pro = n >= PRO_MIN_N, force = 0;
    om = pro ? malloc(3 * (mmax + 2) * sizeof *om) : NULL;
    if (pro && om == NULL) goto done;
    /* omega rows j-1, j, j+1 in rotation */
    double *op = om, *oc = pro ? om + (mmax + 2) : NULL, *on = pro ? om + 2 * (mmax + 2) : NULL;
    double level = DBL_EPSILON * sqrt((double)n), limit = sqrt(DBL_EPSILON);
    if (pro) oc[0] = 1.0; /* omega_{0,0} */
    for (size_t j = 0; j < mmax; j++) {
        if (apply(Q + j * n, w, ctx, err) != LINSTAB_OK) {
            ok = -1;
            goto done;
        }
        *steps = j + 1;
        /* the same blocks on one thread below 2^21 coordinates: there the
         * step's product (BLAS threads) dwarfs the reorthogonalization,
         * and OpenMP threads that spin after a region would slow it */
        int par = n >= ((size_t)1 << 21);
        if (!pro) {
            al[j] = reorth_blocked(n, j + 1, Q, w, h, part, par);
        } else {
            const double *qj = Q + j * n;
            double a = det_dot(n, qj, w);
            cblas_daxpy((int)n, -a, qj, 1, w, 1);
            if (j > 0) cblas_daxpy((int)n, -be[j - 1], Q + (j - 1) * n, 1, w, 1);
            double a2 = det_dot(n, qj, w);
            cblas_daxpy((int)n, -a2, qj, 1, w, 1);
            al[j] = a + a2;
        }
        be[j] = cblas_dnrm2((int)n, w, 1);
        if (pro && isfinite(al[j]) && be[j] > 0.0) {
            double bound = fmax(anorm, fabs(al[j]) + be[j] + (j > 0 ? be[j - 1] : 0.0));
            double worst = j > 0 ? pro_estimate(j, al, be, oc, op, DBL_EPSILON * bound, on) : 0.0;
            if (force || worst > limit) {
                al[j] += reorth_blocked(n, j + 1, Q, w, h, part, par);
                be[j] = cblas_dnrm2((int)n, w, 1);
                for (size_t k = 0; k < j; k++) on[k] = level;
                force = !force; /* this step's and the next one's */
            }
            on[j] = level;
            on[j + 1] = 1.0;
            double *t = op;
            op = oc;
            oc = on;
            on = t;
        }
        if (!isfinite(al[j]) || !isfinite(be[j])) goto done;
        anorm = fmax(anorm, fabs(al[j]) + be[j] + (j > 0 ? be[j - 1] : 0.0));
        lapack_int m = (lapack_int)(j + 1), found = 0, nsplit = 0;
        memcpy(dd, al, (size_t)m * sizeof *dd);
        memcpy(ee, be, (size_t)m * sizeof *ee);
        if (LAPACKE_dstebz('I', 'B', m, 0.0, 0.0, m, m, 0.0, dd, ee, &found, &nsplit, th, ib, is) != 0 ||
            found != 1)
            goto done;
        if (LAPACKE_dstein(LAPACK_COL_MAJOR, m, dd, ee, 1, th, ib, is, s, m, ifail) != 0) goto done;
        double resid = be[j] * fabs(s[m - 1]);
        /* at least 3 steps: a start vector nearly orthogonal to the top
         * eigenvector can look converged on a lower Ritz value at step 1 */
        if ((j >= 2 && resid <= tol * fabs(th[0])) || be[j] <= 1e-15 * anorm) {
            *out = th[0];
            ok = 1;
            goto done;
        }
        cblas_dcopy((int)n, w, 1, Q + (j + 1) * n, 1);
        cblas_dscal((int)n, 1.0 / be[j], Q + (j + 1) * n, 1);
    }
done:
    free(om);
    free(Q);
    free(w);
    free(h);
    free(part);
    free(al);
    free(be);
    free(dd);
    free(ee);
    free(th);
    free(s);
    free(ib);
    free(is);
    free(ifail);
    return ok;
}
