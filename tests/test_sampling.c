/*
 * test_sampling.c -- mini-batch samplers and their second-moment
 * coefficients.
 *
 * Coefficients (a, b) against brute-force enumeration of every batch;
 * batch draws: exact sizes and distinct in-range indices for every scheme
 * and B in {1, 2, n/2, n-1, n} and Floyd's complement branch (2B - n > n/4);
 * their law by chi-square tests with a fixed seed (deterministic) at level
 * alpha = 1e-6: the critical value is GSL's chi-square quantile
 * gsl_cdf_chisq_Qinv(1e-6, df) with df stated per test.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sf_gamma.h>

#include "linstab/sampling.h"
#include "testutil.h"

#define ALPHA 1e-6

static const linstab_sampling SCHEMES[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT,
                                            LINSTAB_SAMPLING_WITH};

Test(sampling, names_round_trip_through_the_parser)
{
    linstab_error err;
    for (int k = 0; k < 3; k++) {
        linstab_sampling s = (linstab_sampling)-1;
        cr_assert_eq(linstab_sampling_parse(linstab_sampling_name(SCHEMES[k]), &s, &err), LINSTAB_OK);
        cr_assert_eq(s, SCHEMES[k]);
    }
    cr_assert_str_eq(linstab_sampling_name(LINSTAB_SAMPLING_WITHOUT), "without");
    linstab_sampling s;
    cr_assert_eq(linstab_sampling_parse("Without", &s, &err), LINSTAB_EINVAL);
    cr_assert(strstr(err.msg, "Without") != NULL, "%s", err.msg);
    cr_assert_eq(linstab_sampling_parse("", &s, &err), LINSTAB_EINVAL);
}

/*
 * E[Hhat X Hhat] = (1/B^2) sum_ij E[z_i z_j] H_i X H_j with E[z_i z_j] =
 * alpha (i != j), beta (i = j), i.e. a = alpha n^2 / B^2 and
 * b = (beta - alpha) n / B^2.  alpha and beta by enumerating every batch.
 */
static void brute_coeffs(linstab_sampling s, int n, int B, double *a, double *b)
{
    double alpha = 0.0, beta = 0.0; /* E[z_0 z_1], E[z_0^2] */
    if (s == LINSTAB_SAMPLING_WITH) {
        long total = 1, s01 = 0, s00 = 0; /* exact integer sums */
        for (int k = 0; k < B; k++) total *= n;
        for (long code = 0; code < total; code++) {
            long z0 = 0, z1 = 0, c = code;
            for (int k = 0; k < B; k++, c /= n) {
                z0 += c % n == 0;
                z1 += c % n == 1;
            }
            s01 += z0 * z1;
            s00 += z0 * z0;
        }
        alpha = (double)s01 / (double)total;
        beta = (double)s00 / (double)total;
    } else {
        int nsub = 0;
        for (int mask = 0; mask < (1 << n); mask++) nsub += __builtin_popcount((unsigned)mask) == B;
        for (int mask = 0; mask < (1 << n); mask++) {
            int size = __builtin_popcount((unsigned)mask);
            double p;
            if (s == LINSTAB_SAMPLING_WITHOUT) {
                if (size != B) continue;
                p = 1.0 / nsub;
            } else {
                double q = (double)B / n;
                p = pow(q, size) * pow(1.0 - q, n - size);
            }
            int z0 = mask & 1, z1 = (mask >> 1) & 1;
            alpha += p * z0 * z1;
            beta += p * z0;
        }
    }
    *a = alpha * n * n / ((double)B * B);
    *b = (beta - alpha) * n / ((double)B * B);
}

Test(sampling, coefficients_match_enumeration_of_every_batch)
{
    for (int k = 0; k < 3; k++)
        for (int n = 2; n <= 6; n++)
            for (int B = 1; B <= n; B++) {
                double a, b, ea, eb;
                linstab_sampling_coeffs(SCHEMES[k], (size_t)n, (size_t)B, &a, &b);
                brute_coeffs(SCHEMES[k], n, B, &ea, &eb);
                /* sums of at most 6^6 terms of size <= 1: 64 n eps */
                cr_assert(fabs(a - ea) <= 64 * 6 * 2.3e-16 * fmax(1.0, fabs(ea)) &&
                              fabs(b - eb) <= 64 * 6 * 2.3e-16 * fmax(1.0, fabs(eb)),
                          "%s n=%d B=%d: (a,b) = (%.17g, %.17g), enumeration (%.17g, %.17g)",
                          linstab_sampling_name(SCHEMES[k]), n, B, a, b, ea, eb);
            }
    /* n = 1 without replacement is GD */
    double a, b;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_WITHOUT, 1, 1, &a, &b);
    cr_assert(a == 1.0 && b == 0.0);
}

Test(sampling, effective_batch_is_the_inverse_of_b)
{
    for (int k = 0; k < 3; k++)
        for (size_t n = 2; n <= 50; n += 7)
            for (size_t B = 1; B <= n; B++) {
                double a, b, be = linstab_sampling_batch_eff(SCHEMES[k], n, B);
                linstab_sampling_coeffs(SCHEMES[k], n, B, &a, &b);
                if (b == 0.0) {
                    cr_assert(isinf(be) && be > 0, "%s n=%zu B=%zu: %g", linstab_sampling_name(SCHEMES[k]), n, B, be);
                } else {
                    cr_assert(fabs(be * b - 1.0) <= 8 * 2.3e-16, "%s n=%zu B=%zu: B_eff %g, 1/b %g",
                              linstab_sampling_name(SCHEMES[k]), n, B, be, 1.0 / b);
                }
            }
    cr_assert_eq(linstab_sampling_batch_eff(LINSTAB_SAMPLING_WITH, 10, 10), 10.0);
    cr_assert_eq(linstab_sampling_batch_eff(LINSTAB_SAMPLING_WITHOUT, 10, 5), 5.0 * 9.0 / 5.0);
    cr_assert_eq(linstab_sampling_batch_eff(LINSTAB_SAMPLING_BERNOULLI, 10, 5), 10.0);
}

/* idx[0..c) distinct and in [0, n); work all zero. */
static void assert_subset(const size_t *idx, size_t c, size_t n, const size_t *work, const char *what)
{
    unsigned char *seen = calloc(n, 1);
    for (size_t q = 0; q < c; q++) {
        cr_assert(idx[q] < n, "%s: index %zu out of [0, %zu)", what, idx[q], n);
        cr_assert(!seen[idx[q]], "%s: index %zu drawn twice", what, idx[q]);
        seen[idx[q]] = 1;
    }
    for (size_t i = 0; i < n; i++) cr_assert_eq(work[i], 0, "%s: work[%zu] left nonzero", what, i);
    free(seen);
}

Test(sampling, without_replacement_batches_have_exactly_B_distinct_samples)
{
    gsl_rng *r = tu_rng(11);
    size_t ns[] = {1, 2, 7, 20, 100};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        size_t n = ns[t];
        size_t *idx = malloc(n * sizeof *idx), *work = calloc(n, sizeof *work);
        /* 1, 2, n/2, n-1, n and the complement branch (2B - n > n/4), e.g. 90 of 100 */
        size_t Bs[] = {1, 2, n / 2, n - 1, n, (9 * n + 9) / 10, (5 * n) / 8 + 1};
        for (size_t u = 0; u < sizeof Bs / sizeof Bs[0]; u++) {
            size_t B = Bs[u];
            if (B < 1 || B > n) continue;
            for (int rep = 0; rep < 2000; rep++) {
                size_t c = linstab_sampling_draw(r, LINSTAB_SAMPLING_WITHOUT, n, B, idx, work);
                char what[64];
                snprintf(what, sizeof what, "without n=%zu B=%zu", n, B);
                cr_assert_eq(c, B, "%s: a batch of %zu samples", what, c);
                assert_subset(idx, c, n, work, what);
            }
        }
        free(idx);
        free(work);
    }
    gsl_rng_free(r);
}

Test(sampling, with_replacement_batches_have_B_indices_in_range)
{
    gsl_rng *r = tu_rng(12);
    size_t n = 9, idx[40];
    size_t Bs[] = {1, 2, 4, 8, 9, 40};
    for (size_t u = 0; u < 6; u++)
        for (int rep = 0; rep < 1000; rep++) {
            size_t c = linstab_sampling_draw(r, LINSTAB_SAMPLING_WITH, n, Bs[u], idx, NULL);
            cr_assert_eq(c, Bs[u]);
            for (size_t q = 0; q < c; q++) cr_assert(idx[q] < n);
        }
    gsl_rng_free(r);
}

Test(sampling, bernoulli_batches_are_distinct_samples_at_B_equals_n_all_of_them)
{
    gsl_rng *r = tu_rng(13);
    size_t n = 30, idx[30], work[30] = {0};
    double cdf[31];
    linstab_sampling_binomial_cdf(n, n, cdf);
    for (int rep = 0; rep < 200; rep++) {
        size_t c = linstab_sampling_draw(r, LINSTAB_SAMPLING_BERNOULLI, n, n, idx, work);
        cr_assert_eq(c, n, "B = n: every sample w.p. 1, got %zu", c);
        assert_subset(idx, c, n, work, "bernoulli B=n");
        c = linstab_sampling_draw_cdf(r, LINSTAB_SAMPLING_BERNOULLI, n, n, idx, work, cdf);
        cr_assert_eq(c, n);
        assert_subset(idx, c, n, work, "bernoulli cdf B=n");
    }
    size_t B[] = {1, 7, 15, 29};
    for (int u = 0; u < 4; u++) {
        linstab_sampling_binomial_cdf(n, B[u], cdf);
        for (int rep = 0; rep < 500; rep++) {
            size_t c = linstab_sampling_draw_cdf(r, LINSTAB_SAMPLING_BERNOULLI, n, B[u], idx, work, cdf);
            cr_assert(c <= n);
            assert_subset(idx, c, n, work, "bernoulli");
        }
    }
    gsl_rng_free(r);
}

Test(sampling, binomial_cdf_is_the_sum_of_the_binomial_probabilities)
{
    size_t ns[] = {1, 5, 40};
    for (int t = 0; t < 3; t++) {
        size_t n = ns[t];
        double *cdf = malloc((n + 1) * sizeof *cdf);
        for (size_t B = 1; B <= n; B++) {
            linstab_sampling_binomial_cdf(n, B, cdf);
            double p = (double)B / (double)n, acc = 0.0;
            for (size_t k = 0; k < n; k++) {
                /* C(n, k) p^k (1-p)^(n-k) from log-gamma: an independent route */
                double term = k == 0 && p == 1.0 ? 0.0
                                                 : exp(gsl_sf_lnchoose((unsigned)n, (unsigned)k) +
                                                       k * log(p) + (n - k) * log1p(-p));
                acc += term;
                cr_assert(fabs(cdf[k] - acc) <= 1e-12, "n=%zu B=%zu k=%zu: %.17g vs %.17g", n, B, k,
                          cdf[k], acc);
            }
            cr_assert(cdf[n] >= 1.0, "the last entry catches every uniform in [0, 1)");
        }
        free(cdf);
    }
}

/* Pearson's statistic over cells with expected counts e (cells with
 * e < 5 pooled into one); *df = cells - 1 - constraints_extra (caller's). */
static double pearson(const double *obs, const double *e, size_t cells, size_t *used)
{
    double x2 = 0.0, po = 0.0, pe = 0.0;
    size_t u = 0;
    for (size_t c = 0; c < cells; c++) {
        if (e[c] < 5.0) {
            po += obs[c];
            pe += e[c];
            continue;
        }
        x2 += (obs[c] - e[c]) * (obs[c] - e[c]) / e[c];
        u++;
    }
    if (pe >= 5.0) {
        x2 += (po - pe) * (po - pe) / pe;
        u++;
    }
    *used = u;
    return x2;
}

/*
 * Every batch (a subset mask for n = 6) has its probability: uniform over
 * the C(6, B) subsets without replacement, p^|S| (1-p)^(6-|S|) for
 * Bernoulli.  Chi-square over the cells, df = cells - 1 (the total is fixed).
 */
static void subset_law(linstab_sampling s, size_t B, int use_cdf, unsigned long seed)
{
    enum { NS = 6, CELLS = 1 << NS };
    const size_t T = 128000;
    gsl_rng *r = tu_rng(seed);
    size_t idx[NS], work[NS] = {0};
    double cdf[NS + 1], obs[CELLS] = {0}, e[CELLS] = {0};
    linstab_sampling_binomial_cdf(NS, B, cdf);
    for (size_t t = 0; t < T; t++) {
        size_t c = use_cdf ? linstab_sampling_draw_cdf(r, s, NS, B, idx, work, cdf)
                           : linstab_sampling_draw(r, s, NS, B, idx, work);
        unsigned mask = 0;
        for (size_t q = 0; q < c; q++) mask |= 1u << idx[q];
        cr_assert_eq((size_t)__builtin_popcount(mask), c, "repeated index");
        obs[mask] += 1.0;
    }
    double p = (double)B / NS, nsub = gsl_sf_choose(NS, (unsigned)B);
    for (unsigned mask = 0; mask < CELLS; mask++) {
        int size = __builtin_popcount(mask);
        double prob = s == LINSTAB_SAMPLING_WITHOUT ? (size == (int)B ? 1.0 / nsub : 0.0)
                                                    : pow(p, size) * pow(1.0 - p, NS - size);
        e[mask] = prob * T;
        if (prob == 0.0) cr_assert_eq(obs[mask], 0.0, "B=%zu: a batch of size %d", B, size);
    }
    size_t used;
    double x2 = pearson(obs, e, CELLS, &used);
    if (used < 2) { /* one possible batch (B = n without replacement): all of them it */
        gsl_rng_free(r);
        return;
    }
    double crit = gsl_cdf_chisq_Qinv(ALPHA, (double)(used - 1));
    cr_assert(x2 <= crit, "%s B=%zu%s: chi-square %g over %zu cells > %g (df %zu, alpha 1e-6)",
              linstab_sampling_name(s), B, use_cdf ? " (cdf)" : "", x2, used, crit, used - 1);
    gsl_rng_free(r);
}

Test(sampling, without_replacement_draws_every_subset_equally_often)
{
    /* B = 1..3 by Floyd's main branch, 4..5 by its complement branch */
    for (size_t B = 1; B <= 6; B++) subset_law(LINSTAB_SAMPLING_WITHOUT, B, 0, 100 + B);
}

Test(sampling, bernoulli_draws_each_subset_with_its_product_probability)
{
    for (size_t B = 1; B <= 5; B++) {
        subset_law(LINSTAB_SAMPLING_BERNOULLI, B, 0, 200 + B);
        subset_law(LINSTAB_SAMPLING_BERNOULLI, B, 1, 300 + B);
    }
}

Test(sampling, with_replacement_draws_every_ordered_tuple_equally_often)
{
    /* n = 4, B = 3: 64 ordered tuples, df 63 */
    enum { NS = 4, BB = 3, CELLS = 64 };
    const size_t T = 64000;
    gsl_rng *r = tu_rng(400);
    size_t idx[BB];
    double obs[CELLS] = {0}, e[CELLS];
    for (size_t t = 0; t < T; t++) {
        cr_assert_eq(linstab_sampling_draw(r, LINSTAB_SAMPLING_WITH, NS, BB, idx, NULL), BB);
        obs[idx[0] + NS * idx[1] + NS * NS * idx[2]] += 1.0;
    }
    for (int c = 0; c < CELLS; c++) e[c] = (double)T / CELLS;
    size_t used;
    double x2 = pearson(obs, e, CELLS, &used), crit = gsl_cdf_chisq_Qinv(ALPHA, CELLS - 1);
    cr_assert_eq(used, CELLS);
    cr_assert(x2 <= crit, "chi-square %g > %g (df 63)", x2, crit);
    gsl_rng_free(r);
}

/*
 * Inclusion frequencies at n = 100: c_i = number of the T batches holding
 * i.  Without replacement the indicators have covariance
 * p(1-p) n/(n-1) (I - 11'/n), p = B/n, so
 *   X^2 = (n-1)/n sum_i (c_i - T p)^2 / (T p (1-p))  ~ chi-square, df n - 1;
 * with replacement the counts over T B draws are multinomial (df n - 1);
 * Bernoulli indicators are independent (df n).
 */
static void inclusion(linstab_sampling s, size_t n, size_t B, size_t T, unsigned long seed)
{
    gsl_rng *r = tu_rng(seed);
    size_t *idx = malloc((n > B ? n : B) * sizeof *idx), *work = calloc(n, sizeof *work);
    double *c = calloc(n, sizeof *c);
    size_t total = 0;
    for (size_t t = 0; t < T; t++) {
        size_t k = linstab_sampling_draw(r, s, n, B, idx, work);
        if (s == LINSTAB_SAMPLING_WITHOUT) cr_assert_eq(k, B, "n=%zu B=%zu: a batch of %zu", n, B, k);
        total += k;
        for (size_t q = 0; q < k; q++) c[idx[q]] += 1.0;
    }
    double p = (double)B / (double)n, x2 = 0.0, df;
    if (s == LINSTAB_SAMPLING_WITH) {
        double e = (double)T * B / n;
        for (size_t i = 0; i < n; i++) x2 += (c[i] - e) * (c[i] - e) / e;
        df = (double)(n - 1);
    } else {
        double e = T * p, v = T * p * (1.0 - p);
        for (size_t i = 0; i < n; i++) x2 += (c[i] - e) * (c[i] - e) / v;
        if (s == LINSTAB_SAMPLING_WITHOUT) {
            x2 *= (double)(n - 1) / (double)n;
            df = (double)(n - 1);
        } else {
            df = (double)n;
        }
    }
    double crit = gsl_cdf_chisq_Qinv(ALPHA, df);
    cr_assert(x2 <= crit, "%s n=%zu B=%zu: inclusion chi-square %g > %g (df %g, alpha 1e-6)",
              linstab_sampling_name(s), n, B, x2, crit, df);
    if (s == LINSTAB_SAMPLING_BERNOULLI) {
        /* mean batch size B within 6 standard errors sqrt(B (1-p) / T) */
        double mean = (double)total / T, se = sqrt(B * (1.0 - p) / T);
        cr_assert(fabs(mean - B) <= 6.0 * se, "mean Bernoulli batch %g vs %zu (se %g)", mean, B, se);
    }
    free(idx);
    free(work);
    free(c);
    gsl_rng_free(r);
}

Test(sampling, every_sample_is_included_with_probability_B_over_n)
{
    size_t Bs[] = {1, 2, 50, 63, 90, 99};
    for (int u = 0; u < 6; u++) {
        inclusion(LINSTAB_SAMPLING_WITHOUT, 100, Bs[u], 20000, 500 + u);
        inclusion(LINSTAB_SAMPLING_BERNOULLI, 100, Bs[u], 20000, 600 + u);
        inclusion(LINSTAB_SAMPLING_WITH, 100, Bs[u], 20000, 700 + u);
    }
}
