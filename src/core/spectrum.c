/*
 * spectrum.c -- spectral diagnostics of self-adjoint operators: exact and
 * Hutchinson traces, Lanczos with full reorthogonalization and stochastic
 * Lanczos quadrature, the broadened spectral density.  The top-k
 * eigenpairs are linstab_eigen_topk (eigen.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <lapacke.h>

#include "lanczos.h"
#include "linstab/rng.h"
#include "linstab/spectrum.h"

linstab_status linstab_spectrum_probe(uint64_t seed, uint64_t j, size_t dim, double *z, linstab_error *err)
{
    gsl_rng *r = linstab_rng_stream_mc(seed, j);
    if (r == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "probe %llu: out of memory", (unsigned long long)j);
    unsigned long word = 0;
    for (size_t i = 0; i < dim; i++) {
        if (i % 32 == 0) word = gsl_rng_get(r); /* taus2: 32 random bits */
        z[i] = (word >> (i % 32)) & 1UL ? 1.0 : -1.0;
    }
    gsl_rng_free(r);
    return LINSTAB_OK;
}

linstab_status linstab_spectrum_trace_exact(const linstab_operator *op, double *trace, linstab_error *err)
{
    size_t n = op->dim;
    if (n == 0) return linstab_error_set(err, LINSTAB_EINVAL, "trace: operator of dimension 0");
    linstab_status st = LINSTAB_OK;
    double t = 0.0;
    if (op->form_dense != NULL) {
        double *A = malloc(n * n * sizeof *A);
        if (A == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "trace of size %zu: out of memory", n);
        st = op->form_dense(A, op->ctx, err);
        for (size_t i = 0; st == LINSTAB_OK && i < n; i++) t += A[i * n + i];
        free(A);
    } else {
        double *e = calloc(n, sizeof *e), *y = malloc(n * sizeof *y);
        if (e == NULL || y == NULL) st = linstab_error_set(err, LINSTAB_ENOMEM, "trace of size %zu: out of memory", n);
        for (size_t i = 0; st == LINSTAB_OK && i < n; i++) {
            e[i] = 1.0;
            st = op->apply(e, y, op->ctx, err);
            e[i] = 0.0;
            t += y[i];
        }
        free(e);
        free(y);
    }
    if (st == LINSTAB_OK) *trace = t;
    return st;
}

/* mean and standard error of the samples t (N) */
static void mean_se(size_t N, const double *t, double *mean, double *se)
{
    double s = 0.0;
    for (size_t j = 0; j < N; j++) s += t[j];
    double mu = s / (double)N, ss = 0.0;
    for (size_t j = 0; j < N; j++) ss += (t[j] - mu) * (t[j] - mu);
    *mean = mu;
    *se = N > 1 ? sqrt(ss / (double)(N - 1)) / sqrt((double)N) : NAN;
}

/* t_j = z_j' A z_j for the probes from `probes` (given) or from seed */
static linstab_status hutchinson(const linstab_operator *op, size_t N, const double *probes, uint64_t seed,
                                 double *mean, double *se, double *samples, linstab_error *err)
{
    size_t n = op->dim;
    if (n == 0) return linstab_error_set(err, LINSTAB_EINVAL, "trace: operator of dimension 0");
    if (N == 0) return linstab_error_set_param(err, LINSTAB_EINVAL, "probes", "Hutchinson trace: no probes");
    double *t = malloc(N * sizeof *t), *y = malloc(n * sizeof *y), *z = probes ? NULL : malloc(n * sizeof *z);
    linstab_status st = t && y && (probes || z) ? LINSTAB_OK
                                                : linstab_error_set(err, LINSTAB_ENOMEM, "Hutchinson trace: out of memory");
    for (size_t j = 0; st == LINSTAB_OK && j < N; j++) {
        const double *zj = probes ? probes + j * n : z;
        if (!probes) st = linstab_spectrum_probe(seed, j, n, z, err);
        if (st == LINSTAB_OK) st = op->apply(zj, y, op->ctx, err);
        if (st == LINSTAB_OK) t[j] = cblas_ddot((int)n, zj, 1, y, 1);
    }
    if (st == LINSTAB_OK) {
        mean_se(N, t, mean, se);
        if (samples) memcpy(samples, t, N * sizeof *samples);
    }
    free(t);
    free(y);
    free(z);
    return st;
}

linstab_status linstab_spectrum_hutchinson_probes(const linstab_operator *op, size_t nprobes, const double *probes,
                                                  double *mean, double *se, double *samples, linstab_error *err)
{
    if (probes == NULL) return linstab_error_set(err, LINSTAB_EINVAL, "Hutchinson trace: no probe vectors");
    return hutchinson(op, nprobes, probes, 0, mean, se, samples, err);
}

linstab_status linstab_spectrum_hutchinson(const linstab_operator *op, size_t nprobes, uint64_t seed, double *mean,
                                           double *se, double *samples, linstab_error *err)
{
    return hutchinson(op, nprobes, NULL, seed, mean, se, samples, err);
}

/* ---- Lanczos with full reorthogonalization, Gauss quadrature ---- */

linstab_status linstab_spectrum_lanczos(const linstab_operator *op, const double *v, size_t m, double *nodes,
                                        double *weights, size_t *steps, linstab_error *err)
{
    size_t n = op->dim;
    if (n == 0) return linstab_error_set(err, LINSTAB_EINVAL, "Lanczos: operator of dimension 0");
    if (!op->self_adjoint) return linstab_error_set(err, LINSTAB_EINVAL, "Lanczos: the operator is not self-adjoint");
    if (m == 0) return linstab_error_set_param(err, LINSTAB_EINVAL, "lanczos_steps", "Lanczos: no steps");
    size_t mmax = m < n ? m : n;
    double nv = cblas_dnrm2((int)n, v, 1);
    if (!(nv > 0.0) || !isfinite(nv))
        return linstab_error_set(err, LINSTAB_EINVAL, "Lanczos: the start vector is zero or not finite");
    double *Q = malloc(mmax * n * sizeof *Q), *w = malloc(n * sizeof *w), *h = malloc(mmax * sizeof *h);
    double *al = malloc(mmax * sizeof *al), *be = malloc(mmax * sizeof *be), *Z = malloc(mmax * mmax * sizeof *Z);
    /* large operators: the reorthogonalization by blocks on OpenMP threads */
    int blocked = n >= 8 * LINSTAB_REORTH_BLOCK;
    double *part = blocked ? malloc(linstab_lanczos_reorth_blocks(n) * mmax * sizeof *part) : NULL;
    linstab_status st = LINSTAB_OK;
    if (!Q || !w || !h || !al || !be || !Z || (blocked && !part)) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "Lanczos of size %zu, %zu steps: out of memory", n, mmax);
        goto done;
    }
    for (size_t i = 0; i < n; i++) Q[i] = v[i] / nv;
    size_t j = 0;
    double tnorm = 0.0;
    for (;;) {
        st = op->apply(Q + j * n, w, op->ctx, err);
        if (st != LINSTAB_OK) goto done;
        al[j] = blocked ? linstab_lanczos_reorth_blocked(n, j + 1, Q, w, h, part)
                        : linstab_lanczos_reorth(n, j + 1, Q, w, h); /* full reorthogonalization */
        be[j] = cblas_dnrm2((int)n, w, 1);
        tnorm = fmax(tnorm, fabs(al[j]) + be[j] + (j > 0 ? be[j - 1] : 0.0));
        j++;
        if (j == mmax || !(be[j - 1] > 1e-12 * tnorm)) break; /* done, or an invariant subspace */
        for (size_t i = 0; i < n; i++) Q[j * n + i] = w[i] / be[j - 1];
    }
    /* T_j = tridiag(be, al, be): eigenvalues and eigenvectors (LAPACK dstev) */
    memcpy(nodes, al, j * sizeof *nodes);
    lapack_int info = LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', (lapack_int)j, nodes, be, Z, (lapack_int)j);
    if (info != 0) {
        st = linstab_error_set(err, LINSTAB_ELAPACK, "LAPACK dstev failed (info %d)", (int)info);
        goto done;
    }
    for (size_t i = 0; i < j; i++) weights[i] = Z[i * j] * Z[i * j]; /* column i, first row */
    for (size_t i = j; i < m; i++) {
        nodes[i] = NAN;
        weights[i] = 0.0;
    }
    if (steps) *steps = j;
done:
    free(Q);
    free(w);
    free(h);
    free(al);
    free(be);
    free(Z);
    free(part);
    return st;
}

linstab_status linstab_spectrum_slq(const linstab_operator *op, size_t nprobes, size_t m, uint64_t seed,
                                    double *nodes, double *weights, size_t *steps, linstab_error *err)
{
    size_t n = op->dim;
    if (n == 0) return linstab_error_set(err, LINSTAB_EINVAL, "SLQ: operator of dimension 0");
    if (nprobes == 0) return linstab_error_set_param(err, LINSTAB_EINVAL, "density_probes", "SLQ: no probes");
    double *z = malloc(n * sizeof *z);
    if (z == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "SLQ: out of memory");
    linstab_status st = LINSTAB_OK;
    for (size_t j = 0; st == LINSTAB_OK && j < nprobes; j++) {
        st = linstab_spectrum_probe(seed, j, n, z, err);
        if (st == LINSTAB_OK)
            st = linstab_spectrum_lanczos(op, z, m, nodes + j * m, weights + j * m, steps ? steps + j : NULL, err);
    }
    free(z);
    return st;
}

double linstab_spectrum_default_sigma(size_t count, const double *nodes, const double *weights)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < count; i++) {
        if (!(weights[i] > 0.0) || !isfinite(nodes[i])) continue;
        lo = fmin(lo, nodes[i]);
        hi = fmax(hi, nodes[i]);
    }
    if (!(hi >= lo)) return 1.0;
    if (hi == lo) return 0.01 * fmax(1.0, fabs(hi));
    return 0.01 * (hi - lo);
}

linstab_status linstab_spectrum_density(size_t nprobes, size_t m, const double *nodes, const double *weights,
                                        double sigma, size_t grid, double *x, double *density, double *sigma_used,
                                        linstab_error *err)
{
    if (nprobes == 0 || m == 0) return linstab_error_set(err, LINSTAB_EINVAL, "density: no nodes");
    if (grid < 2) return linstab_error_set_param(err, LINSTAB_EINVAL, "grid", "density: a grid of %zu points (at least 2)", grid);
    if (!isfinite(sigma)) return linstab_error_set_param(err, LINSTAB_EINVAL, "sigma", "density: sigma is not finite");
    size_t count = nprobes * m;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < count; i++) {
        if (!(weights[i] > 0.0) || !isfinite(nodes[i])) continue;
        lo = fmin(lo, nodes[i]);
        hi = fmax(hi, nodes[i]);
    }
    if (!(hi >= lo)) return linstab_error_set(err, LINSTAB_EINVAL, "density: no node with a positive weight");
    double s = sigma > 0.0 ? sigma : linstab_spectrum_default_sigma(count, nodes, weights);
    double a = lo - 6.0 * s, b = hi + 6.0 * s, c = 1.0 / ((double)nprobes * s * 2.5066282746310002); /* sqrt(2 pi) */
    for (size_t g = 0; g < grid; g++) {
        x[g] = a + (b - a) * (double)g / (double)(grid - 1);
        density[g] = 0.0;
    }
    for (size_t i = 0; i < count; i++) {
        if (!(weights[i] > 0.0) || !isfinite(nodes[i])) continue;
        for (size_t g = 0; g < grid; g++) {
            double u = (x[g] - nodes[i]) / s;
            density[g] += c * weights[i] * exp(-0.5 * u * u);
        }
    }
    if (sigma_used) *sigma_used = s;
    return LINSTAB_OK;
}
