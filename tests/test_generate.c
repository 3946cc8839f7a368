/*
 * test_generate.c -- synthetic families: each generator re-implemented here
 * from generate.h's definition (MT19937 seeded with the mixed 64-bit seed,
 * ziggurat Gaussians in the order sample, row, column) and compared bit for
 * bit; DEXTER against 004's construction built by hand and its closed-form
 * coherence and sharpness; a Monte Carlo check of the scale (E tr H_i = 1
 * for WISHART) within 6 standard errors; the argument checks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "testutil.h"

/* The documented seeding, written again: GSL's for seeds below 2^32, else
 * MT19937's 624 state words from splitmix64 (top bit of the first set). */
static gsl_rng *mixed(uint64_t seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (seed >> 32 == 0) {
        gsl_rng_set(r, (unsigned long)seed);
        return r;
    }
    struct { unsigned long mt[624]; int mti; } *st = gsl_rng_state(r);
    cr_assert_eq(gsl_rng_size(r), sizeof *st);
    uint64_t x = seed;
    for (int i = 0; i < 624; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        st->mt[i] = (unsigned long)((z ^ (z >> 31)) & 0xffffffffUL);
    }
    st->mt[0] |= 0x80000000UL;
    st->mti = 624;
    return r;
}

static linstab_family *gen(linstab_gen_kind kind, size_t n, size_t d, size_t rank, double noise, uint64_t seed)
{
    linstab_gen_params p = {kind, n, d, rank, 0, noise, seed};
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_generate(&p, &f, &err), LINSTAB_OK, "%s", err.msg);
    return f;
}

Test(generate, kind_names_round_trip_through_the_parser)
{
    const char *names[] = {"rank1", "lowrank", "wishart", "aligned", "dexter"};
    linstab_error err;
    for (int k = 0; k < 5; k++) {
        linstab_gen_kind g;
        cr_assert_str_eq(linstab_generate_kind_name((linstab_gen_kind)k), names[k]);
        cr_assert_eq(linstab_generate_kind_parse(names[k], &g, &err), LINSTAB_OK);
        cr_assert_eq((int)g, k);
    }
    linstab_gen_kind g;
    cr_assert_eq(linstab_generate_kind_parse("Rank1", &g, &err), LINSTAB_EINVAL);
    cr_assert(strstr(err.msg, "Rank1") != NULL);
    cr_assert_str_eq(linstab_generate_kind_name((linstab_gen_kind)17), "unknown");
}

Test(generate, factored_kinds_are_the_seeded_gaussians_bit_for_bit)
{
    uint64_t seed = 0x123456789abcdefULL;
    size_t n = 7, d = 5;
    struct { linstab_gen_kind kind; size_t rank, k; } cases[] = {
        {LINSTAB_GEN_RANK1, 3, 1}, {LINSTAB_GEN_LOWRANK, 0, 2}, {LINSTAB_GEN_LOWRANK, 3, 3}};
    for (int c = 0; c < 3; c++) {
        linstab_family *f = gen(cases[c].kind, n, d, cases[c].rank, -1.0, seed);
        cr_assert_eq(f->kind, LINSTAB_FAMILY_FACTORED);
        cr_assert_eq(f->k, cases[c].k);
        gsl_rng *r = mixed(seed);
        for (size_t j = 0; j < n * d * cases[c].k; j++)
            cr_assert_eq(f->data[j], gsl_ran_gaussian_ziggurat(r, 1.0 / sqrt((double)d)), "case %d entry %zu", c, j);
        gsl_rng_free(r);
        linstab_family_free(f);
    }
}

Test(generate, aligned_is_a_shared_direction_plus_scaled_noise)
{
    uint64_t seed = 99;
    size_t n = 6, d = 4, k = 2;
    double noise = 0.25;
    linstab_family *f = gen(LINSTAB_GEN_ALIGNED, n, d, k, noise, seed);
    gsl_rng *r = mixed(seed);
    double sd = 1.0 / sqrt((double)d), V[8];
    for (size_t j = 0; j < d * k; j++) V[j] = gsl_ran_gaussian_ziggurat(r, sd);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d * k; j++) {
            double z = gsl_ran_gaussian_ziggurat(r, sd);
            cr_assert_eq(f->data[i * d * k + j], V[j] + noise * z);
        }
    gsl_rng_free(r);
    linstab_family_free(f);
    /* noise < 0: the default 0.1 */
    linstab_family *g = gen(LINSTAB_GEN_ALIGNED, n, d, k, -1.0, seed), *h = gen(LINSTAB_GEN_ALIGNED, n, d, k, 0.1, seed);
    cr_assert_eq(memcmp(g->data, h->data, n * d * k * sizeof(double)), 0);
    linstab_family_free(g);
    linstab_family_free(h);
}

Test(generate, wishart_is_g_g_transpose_over_k)
{
    uint64_t seed = 5;
    size_t n = 4, d = 3, k = 2;
    linstab_family *f = gen(LINSTAB_GEN_WISHART, n, d, k, -1.0, seed);
    cr_assert_eq(f->kind, LINSTAB_FAMILY_DENSE);
    gsl_rng *r = mixed(seed);
    double G[6];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d * k; j++) G[j] = gsl_ran_gaussian_ziggurat(r, 1.0 / sqrt((double)d));
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                double s = 0.0;
                for (size_t c = 0; c < k; c++) s += G[(a <= b ? a : b) * k + c] * G[(a <= b ? b : a) * k + c];
                cr_assert_eq(f->data[i * d * d + a * d + b], s / (double)k, "sample %zu (%zu, %zu)", i, a, b);
            }
    }
    gsl_rng_free(r);
    linstab_family_free(f);
}

Test(generate, wishart_traces_average_one_within_six_standard_errors)
{
    /* tr H_i = ||G_i||_F^2 / k with d k entries N(0, 1/d): mean 1, variance
     * 2 d k / (d^2 k^2) = 2/(d k) per sample */
    size_t n = 4000, d = 6, k = 3;
    linstab_family *f = gen(LINSTAB_GEN_WISHART, n, d, k, -1.0, 77);
    double mean = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < d; a++) mean += f->data[i * d * d + a * d + a] / (double)n;
    double se = sqrt(2.0 / (double)(d * k) / (double)n);
    cr_assert(fabs(mean - 1.0) <= 6.0 * se, "mean trace %g, se %g", mean, se);
    linstab_family_free(f);
}

Test(generate, dexter_is_004s_construction_with_sharpness_2_and_coherence_sigma)
{
    size_t cases[][2] = {{10, 1}, {10, 10}, {12, 4}, {50, 5}};
    for (int c = 0; c < 4; c++) {
        size_t n = cases[c][0], sigma = cases[c][1];
        linstab_gen_params p = {LINSTAB_GEN_DEXTER, n, 999, 0, sigma, -1.0, 1};
        linstab_family *f = NULL, *want = tu_family_004(n, sigma);
        linstab_error err;
        cr_assert_eq(linstab_generate(&p, &f, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(f->kind, LINSTAB_FAMILY_DIAGONAL);
        cr_assert_eq(f->d, n - sigma + 1);
        cr_assert_eq(memcmp(f->data, want->data, n * f->d * sizeof(double)), 0);
        double l1S, sg;
        cr_assert_eq(linstab_geometry_coherence(f, &l1S, &sg, &err), LINSTAB_OK);
        /* eigenvalues of a 0/1-pattern Gram matrix: c n eps relative, c = 64 */
        cr_expect(fabs(sg - (double)sigma) <= 64 * n * 2.2e-16 * sigma, "sigma %.17g vs %zu", sg, sigma);
        cr_expect(fabs(tu_lambda1_mean(f) - 2.0) <= 64 * n * 2.2e-16 * 2.0);
        linstab_family_free(f);
        linstab_family_free(want);
    }
}

Test(generate, rejects_empty_and_out_of_range_requests)
{
    linstab_family *f = NULL;
    linstab_error err;
    linstab_gen_params p = {LINSTAB_GEN_LOWRANK, 0, 3, 0, 0, -1, 1};
    cr_assert_eq(linstab_generate(&p, &f, &err), LINSTAB_EINVAL);
    p.n = 3;
    p.d = 0;
    cr_assert_eq(linstab_generate(&p, &f, &err), LINSTAB_EINVAL);
    linstab_gen_params q = {LINSTAB_GEN_DEXTER, 5, 0, 0, 6, -1, 1};
    cr_assert_eq(linstab_generate(&q, &f, &err), LINSTAB_EINVAL);
    cr_assert(strstr(err.msg, "sigma") != NULL, "%s", err.msg);
    q.sigma = 0;
    cr_assert_eq(linstab_generate(&q, &f, &err), LINSTAB_EINVAL);
    linstab_gen_params big = {LINSTAB_GEN_WISHART, (size_t)1 << 40, (size_t)1 << 20, 0, 0, -1, 1};
    cr_assert_eq(linstab_generate(&big, &f, &err), LINSTAB_EINVAL);
    cr_assert_null(f);
}

Test(generate, distinct_64_bit_seeds_give_distinct_families_and_small_seeds_keep_gsl_seeding)
{
    static const uint64_t seeds[4] = {0, 18446744073709551615ULL, 4294967296ULL, 4294967295ULL};
    linstab_family *f[4];
    for (int t = 0; t < 4; t++) f[t] = gen(LINSTAB_GEN_RANK1, 5, 3, 0, -1.0, seeds[t]);
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            cr_expect(memcmp(f[a]->data, f[b]->data, 15 * sizeof(double)) != 0, "seeds %d and %d collide", a, b);
    /* below 2^32: exactly GSL's gsl_rng_set(seed) stream */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 4294967295UL);
    for (size_t j = 0; j < 15; j++) cr_expect_eq(f[3]->data[j], gsl_ran_gaussian_ziggurat(r, 1.0 / sqrt(3.0)));
    gsl_rng_free(r);
    for (int t = 0; t < 4; t++) linstab_family_free(f[t]);
}
