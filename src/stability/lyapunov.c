/*
 * lyapunov.c -- top Lyapunov exponent of the linearized dynamics:
 * renormalised products (the one-vector case of the QR method of
 * Benettin et al. 1980) for any family, exact enumeration over batch
 * counts for diagonal families of Dexter et al.'s kind.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_statistics_double.h>

#include "internal.h"
#include "linstab/lyapunov.h"
#include "units.h"

/* (gsl_randist.h brings GSL's own CBLAS declarations, which clash with
 * OpenBLAS's cblas.h: this file uses plain loops for its vector norms.) */
static double norm2(size_t d, const double *w)
{
    double s = 0.0;
    for (size_t j = 0; j < d; j++) s += w[j] * w[j];
    return sqrt(s);
}

static void scale(size_t d, double a, double *w)
{
    for (size_t j = 0; j < d; j++) w[j] *= a;
}

linstab_status linstab_lyapunov_mc(const linstab_family *f, linstab_optimizer dyn, double eta,
                                   double rho, size_t batch, linstab_sampling sampling,
                                   size_t runs, size_t steps, uint64_t seed, linstab_lyap *out,
                                   linstab_error *err)
{
    return lyapunov_mc_units(f, dyn, eta, rho, batch, sampling, runs, steps, seed, out, NULL, err);
}

/* units: the steps of all runs (a run that collapsed or blew up counts
 * its remaining steps as done), reported every 1/16 of a run */
linstab_status lyapunov_mc_units(const linstab_family *f, linstab_optimizer dyn, double eta, double rho,
                                 size_t batch, linstab_sampling sampling, size_t runs, size_t steps,
                                 uint64_t seed, linstab_lyap *out, stab_units *u, linstab_error *err)
{
    if (runs < 2 || steps < 10)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "Lyapunov exponent: need >= 2 runs of >= 10 steps");
    size_t d = f->d, burn = steps / 10;
    double *ex = malloc(runs * sizeof *ex), *w = malloc(d * sizeof *w);
    linstab_status st = LINSTAB_OK;
    if (ex == NULL || w == NULL) {
        free(ex);
        free(w);
        return linstab_error_set(err, LINSTAB_ENOMEM, "Lyapunov exponent: out of memory");
    }
    /* runs of small sequential products: BLAS threads would only hand them
     * back and forth (measured: 4x the time on 65 x 65 Hessians) */
    int blas = blas_threads_single();
    size_t every = steps / 16 > 0 ? steps / 16 : 1;
    if (u != NULL) {
        u->done = 0;
        u->total = runs * steps;
        units_report(u);
    }
    for (size_t k = 0; k < runs && st == LINSTAB_OK; k++) {
        linstab_sim *sim = NULL;
        st = linstab_simulate_alloc(f, dyn, eta, rho, batch, sampling, &sim, err);
        if (st != LINSTAB_OK) break;
        gsl_rng *rng = linstab_rng_stream_mc(seed, k); /* 64-bit seeded state */
        if (rng == NULL) {
            linstab_simulate_free(sim);
            st = linstab_error_set(err, LINSTAB_ENOMEM, "Lyapunov exponent: random stream: out of memory");
            break;
        }
        for (size_t j = 0; j < d; j++) w[j] = gsl_ran_gaussian_ziggurat(rng, 1.0);
        double nrm = norm2(d, w), acc = 0.0;
        scale(d, 1.0 / nrm, w);
        for (size_t t = 0; t < steps; t++) {
            linstab_simulate_step(sim, rng, w);
            nrm = norm2(d, w);
            if (!(nrm > 0.0) || !isfinite(nrm)) {
                acc = nrm > 0.0 ? INFINITY : -INFINITY; /* exact zero: collapsed */
                break;
            }
            if (t >= burn) acc += log(nrm);
            scale(d, 1.0 / nrm, w);
            if (u != NULL && (t + 1) % every == 0 && t + 1 < steps) {
                u->done = k * steps + t + 1;
                units_report(u);
            }
        }
        if (u != NULL) {
            u->done = (k + 1) * steps;
            units_report(u);
        }
        ex[k] = isfinite(acc) ? acc / (double)(steps - burn) : acc;
        gsl_rng_free(rng);
        linstab_simulate_free(sim);
    }
    blas_threads_restore(blas);
    if (st == LINSTAB_OK) {
        /* a run that reached w = 0 exactly has exponent -inf (GSL's running
         * mean would turn -inf into NaN) */
        int collapsed = 0;
        for (size_t k = 0; k < runs; k++) collapsed |= isinf(ex[k]) && ex[k] < 0.0;
        out->exponent = collapsed ? -INFINITY : gsl_stats_mean(ex, 1, runs);
        out->stderr_ = collapsed ? 0.0 : gsl_stats_sd(ex, 1, runs) / sqrt((double)runs);
        out->exact = 0;
        out->runs = runs;
        out->steps = steps;
    }
    free(ex);
    free(w);
    return st;
}

/* Probability that the batch holds K of the s samples of a coordinate. */
static double count_pmf(linstab_sampling sampling, size_t n, size_t s, size_t B, size_t K)
{
    switch (sampling) {
    case LINSTAB_SAMPLING_BERNOULLI:
        return gsl_ran_binomial_pdf((unsigned)K, (double)B / (double)n, (unsigned)s);
    case LINSTAB_SAMPLING_WITH:
        return gsl_ran_binomial_pdf((unsigned)K, (double)s / (double)n, (unsigned)B);
    case LINSTAB_SAMPLING_WITHOUT:
        return gsl_ran_hypergeometric_pdf((unsigned)K, (unsigned)s, (unsigned)(n - s),
                                          (unsigned)B);
    }
    return 0.0;
}

static size_t count_max(linstab_sampling sampling, size_t s, size_t B)
{
    if (sampling == LINSTAB_SAMPLING_BERNOULLI) return s;
    if (sampling == LINSTAB_SAMPLING_WITH) return B;
    return s < B ? s : B;
}

linstab_status linstab_lyapunov_diag_exact(const linstab_family *f, linstab_optimizer dyn,
                                           double eta, double rho, size_t batch,
                                           linstab_sampling sampling, linstab_lyap *out, int *ok,
                                           linstab_error *err)
{
    (void)err;
    *ok = 0;
    if (f->kind != LINSTAB_FAMILY_DIAGONAL || dyn == LINSTAB_OPT_SAM_NORMALIZED) return LINSTAB_OK;
    size_t n = f->n, d = f->d;
    double best = -INFINITY, Bd = (double)batch;
    /* coordinates with the same (value, support size) share their exponent */
    enum { MEMO = 16 };
    double memo_c[MEMO], memo_e[MEMO];
    size_t memo_s[MEMO], nmemo = 0;
    for (size_t j = 0; j < d; j++) {
        double c = 0.0;
        size_t s = 0;
        for (size_t i = 0; i < n; i++) {
            double v = f->data[i * d + j];
            if (v == 0.0) continue;
            if (s > 0 && v != c) return LINSTAB_OK; /* two nonzero values: not enumerable */
            c = v;
            s++;
        }
        if (s == 0) {
            best = fmax(best, 0.0); /* a flat coordinate: J = 1 there */
            continue;
        }
        int hit = 0;
        for (size_t q = 0; q < nmemo && !hit; q++)
            if (memo_c[q] == c && memo_s[q] == s) {
                best = fmax(best, memo_e[q]);
                hit = 1;
            }
        if (hit) continue;
        size_t kmax = count_max(sampling, s, batch);
        double e = 0.0;
        for (size_t K = 0; K <= kmax; K++) {
            double pK = count_pmf(sampling, n, s, batch, K);
            if (pK == 0.0) continue;
            double h = c * (double)K / Bd;
            if (dyn == LINSTAB_OPT_SAM_INDEP) {
                /* E over the independent ascent count K2 */
                for (size_t K2 = 0; K2 <= kmax; K2++) {
                    double p2 = count_pmf(sampling, n, s, batch, K2);
                    if (p2 == 0.0) continue;
                    double h2 = c * (double)K2 / Bd;
                    e += pK * p2 * log(fabs(1.0 - eta * h * (1.0 + rho * h2)));
                }
            } else {
                double g = dyn == LINSTAB_OPT_SAM_SAME ? h + rho * h * h : h;
                e += pK * log(fabs(1.0 - eta * g));
            }
        }
        best = fmax(best, e);
        if (nmemo < MEMO) {
            memo_c[nmemo] = c;
            memo_s[nmemo] = s;
            memo_e[nmemo++] = e;
        }
    }
    out->exponent = best;
    out->stderr_ = 0.0;
    out->exact = 1;
    out->runs = 0;
    out->steps = 0;
    *ok = 1;
    return LINSTAB_OK;
}
