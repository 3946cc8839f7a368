/* sampling.c -- mini-batch sampling coefficients (docs/math.md §2). */
#include <math.h>
#include <string.h>

#include <stdint.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "linstab/sampling.h"

const char *linstab_sampling_name(linstab_sampling s)
{
    switch (s) {
    case LINSTAB_SAMPLING_BERNOULLI: return "bernoulli";
    case LINSTAB_SAMPLING_WITHOUT: return "without";
    case LINSTAB_SAMPLING_WITH: return "with";
    }
    return "unknown";
}

linstab_status linstab_sampling_parse(const char *name, linstab_sampling *s, linstab_error *err)
{
    for (int i = 0; i <= (int)LINSTAB_SAMPLING_WITH; i++)
        if (strcmp(name, linstab_sampling_name((linstab_sampling)i)) == 0) {
            *s = (linstab_sampling)i;
            return LINSTAB_OK;
        }
    return linstab_error_set_param(err, LINSTAB_EINVAL, "sampling",
                                   "'%s' is not a sampling scheme: expected bernoulli, without or with",
                                   name);
}

void linstab_sampling_coeffs(linstab_sampling s, size_t n, size_t B, double *a, double *b)
{
    double N = (double)n, Bd = (double)B;
    switch (s) {
    case LINSTAB_SAMPLING_BERNOULLI:
        *a = 1.0;
        *b = (N - Bd) / (N * Bd);
        return;
    case LINSTAB_SAMPLING_WITHOUT:
        if (n == 1) {
            *a = 1.0;
            *b = 0.0;
            return;
        }
        *a = N * (Bd - 1.0) / (Bd * (N - 1.0));
        *b = (N - Bd) / (Bd * (N - 1.0));
        return;
    case LINSTAB_SAMPLING_WITH:
        *a = (Bd - 1.0) / Bd;
        *b = 1.0 / Bd;
        return;
    }
}

double linstab_sampling_batch_eff(linstab_sampling s, size_t n, size_t B)
{
    double N = (double)n, Bd = (double)B;
    switch (s) {
    case LINSTAB_SAMPLING_WITH: return Bd;
    case LINSTAB_SAMPLING_WITHOUT: return B >= n ? INFINITY : Bd * (N - 1.0) / (N - Bd);
    case LINSTAB_SAMPLING_BERNOULLI: return B >= n ? INFINITY : N * Bd / (N - Bd);
    }
    return NAN;
}

/*
 * k distinct indices of 0..n-1, uniformly (Floyd's algorithm, Bentley &
 * Floyd, CACM 1987): O(k) random numbers instead of O(n).  mark: n zeros on
 * entry and on exit (used as a membership table).
 */
/*
 * Uniform integer in [0, m) from 32-bit MT19937 output without bias:
 * Lemire's multiply-and-reject ("Fast random integer generation in an
 * interval", ACM TOMACS 2019), about twice as fast as a division per draw.
 */
static size_t below(gsl_rng *rng, size_t m)
{
    uint64_t x = (uint64_t)gsl_rng_get(rng) * (uint64_t)m;
    uint32_t low = (uint32_t)x;
    if (low < (uint32_t)m) {
        uint32_t threshold = (uint32_t)(-(uint32_t)m) % (uint32_t)m;
        while (low < threshold) {
            x = (uint64_t)gsl_rng_get(rng) * (uint64_t)m;
            low = (uint32_t)x;
        }
    }
    return (size_t)(x >> 32);
}

static size_t floyd(gsl_rng *rng, size_t n, size_t k, size_t *idx, size_t *mark)
{
    if (k - (n - k) > n / 4 && 2 * k > n) {
        /* most of the samples: draw the n - k left out (a uniform subset
         * too) and list the rest in order -- fewer random numbers for one
         * O(n) sweep */
        for (size_t j = k; j < n; j++) {
            size_t t = below(rng, j + 1);
            mark[t + (j - t) * mark[t]] = 1; /* mark[t] ? j : t, without a branch to mispredict */
        }
        size_t c = 0;
        for (size_t i = 0; i < n; i++) {
            idx[c] = i;
            c += !mark[i];
            mark[i] = 0;
        }
        return c;
    }
    size_t c = 0;
    for (size_t j = n - k; j < n; j++) {
        size_t t = below(rng, j + 1);
        size_t pick = t + (j - t) * mark[t]; /* mark[t] ? j : t */
        mark[pick] = 1;
        idx[c++] = pick;
    }
    for (size_t q = 0; q < c; q++) mark[idx[q]] = 0;
    return c;
}

/* K with P(K <= k) = cdf[k], by inversion with one uniform (binary search). */
static size_t binomial_from_cdf(gsl_rng *rng, const double *cdf, size_t n)
{
    double u = gsl_rng_uniform(rng);
    size_t lo = 0, hi = n; /* smallest k with u < cdf[k] */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (u < cdf[mid]) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

void linstab_sampling_binomial_cdf(size_t n, size_t B, double *cdf)
{
    double acc = 0.0;
    for (size_t k = 0; k <= n; k++) {
        acc += gsl_ran_binomial_pdf((unsigned)k, (double)B / (double)n, (unsigned)n);
        cdf[k] = acc;
    }
    cdf[n] = 2.0; /* every u in [0, 1) lands at or before n */
}

size_t linstab_sampling_draw_cdf(gsl_rng *rng, linstab_sampling s, size_t n, size_t B,
                                 size_t *idx, size_t *work, const double *cdf)
{
    switch (s) {
    case LINSTAB_SAMPLING_BERNOULLI: {
        /* |S| ~ Binomial(n, B/n), then a uniform subset of that size: the
         * same law as n independent coins, with O(|S|) random numbers */
        size_t k = cdf != NULL ? binomial_from_cdf(rng, cdf, n)
                               : (size_t)gsl_ran_binomial(rng, (double)B / (double)n, (unsigned)n);
        return floyd(rng, n, k, idx, work);
    }
    case LINSTAB_SAMPLING_WITH:
        for (size_t c = 0; c < B; c++) idx[c] = below(rng, n);
        return B;
    case LINSTAB_SAMPLING_WITHOUT: return floyd(rng, n, B, idx, work);
    }
    return 0;
}

size_t linstab_sampling_draw(gsl_rng *rng, linstab_sampling s, size_t n, size_t B, size_t *idx,
                             size_t *work)
{
    return linstab_sampling_draw_cdf(rng, s, n, B, idx, work, NULL);
}
