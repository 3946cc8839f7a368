/* sampling.c -- mini-batch sampling coefficients (SPEC.md section 2). */
#include <math.h>
#include <string.h>

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
    return linstab_error_set(err, LINSTAB_EINVAL,
                             "--sampling '%s': expected bernoulli, without or with", name);
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

size_t linstab_sampling_draw(gsl_rng *rng, linstab_sampling s, size_t n, size_t B,
                             size_t *idx, size_t *work)
{
    size_t c = 0;
    switch (s) {
    case LINSTAB_SAMPLING_BERNOULLI: {
        double p = (double)B / (double)n;
        for (size_t i = 0; i < n; i++)
            if (gsl_rng_uniform(rng) < p) idx[c++] = i;
        return c;
    }
    case LINSTAB_SAMPLING_WITH:
        for (; c < B; c++) idx[c] = (size_t)gsl_rng_uniform_int(rng, n);
        return c;
    case LINSTAB_SAMPLING_WITHOUT:
        /* partial Fisher-Yates on 0..n-1: the first B of a uniform permutation */
        for (size_t i = 0; i < n; i++) work[i] = i;
        for (; c < B; c++) {
            size_t j = c + (size_t)gsl_rng_uniform_int(rng, n - c);
            size_t t = work[c];
            work[c] = work[j];
            work[j] = t;
            idx[c] = work[c];
        }
        return c;
    }
    return 0;
}
