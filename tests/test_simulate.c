/*
 * test_simulate.c -- the diagonal Monte Carlo kernel when the batches
 * cover every coordinate (the case that wrote one element past its list;
 * run under the ASan build), against the update's definition; and the
 * random streams: reproducible, and distinct over 2 * 10^5 (seed, stream)
 * pairs (a 32-bit seed gives ~4.6 expected collisions there).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>

#include "linstab/map.h"
#include "linstab/simulate.h"
#include "testutil.h"

/* One step of SGD / SAM 'same' on a diagonal family with the full batch
 * (B = n without replacement): w_j <- w_j (1 - eta (h_j + rho h_j^2)),
 * h = mean of the diagonals.  Here n = 12 samples on d = 8 coordinates
 * (the construction of Dexter et al. (2024), sigma = 5): every coordinate is hit, and the
 * samples sharing coordinate 0 revisit it after all d are listed. */
Test(simulate, the_diagonal_kernel_with_batches_covering_every_coordinate_equals_the_update)
{
    size_t n = 12, sigma = 5;
    linstab_family *f = tu_family_004(n, sigma);
    size_t d = f->d;
    cr_assert_eq(d, n - sigma + 1);
    double h[64] = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) h[j] += f->data[i * d + j] / (double)n;
    linstab_optimizer dyn[2] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME};
    /* the samples listed in reverse order hit coordinate 0 last: worst case for the list */
    for (int k = 0; k < 2; k++)
        for (int samp = 0; samp < 2; samp++) {
            double eta = 0.3, rho = k ? 0.2 : 0.0;
            linstab_sampling s = samp ? LINSTAB_SAMPLING_BERNOULLI : LINSTAB_SAMPLING_WITHOUT;
            linstab_sim *sim = NULL;
            linstab_error err;
            /* Bernoulli with B = n includes every sample with probability 1 */
            cr_assert_eq(linstab_simulate_alloc(f, dyn[k], eta, rho, n, s, &sim, &err), LINSTAB_OK, "%s", err.msg);
            gsl_rng *g = tu_rng(3);
            double w[64], w0[64];
            for (size_t j = 0; j < d; j++) w0[j] = w[j] = 1.0 / sqrt((double)d) * (j % 2 ? -1.0 : 1.0);
            double logn = 0.0;
            size_t steps = 3;
            int v = linstab_simulate_diag_run(sim, g, w, steps, 50.0, 50.0, &logn);
            cr_expect_eq(v, 0, "no threshold is reached in 3 steps");
            double sq = 0.0;
            for (size_t j = 0; j < d; j++) {
                double m = 1.0 - eta * (h[j] + rho * h[j] * h[j]);
                double want = w0[j] * m * m * m;
                cr_expect_lt(fabs(w[j] - want), 4 * 1e-16 * (1 + fabs(want)) * 3, "dyn %d coordinate %zu", k, j);
                sq += want * want;
            }
            cr_expect_lt(fabs(logn - 0.5 * log(sq)), 1e-13, "log-norm");
            gsl_rng_free(g);
            linstab_simulate_free(sim);
        }
    linstab_family_free(f);
}

/* The map at sigma = n, B = n: the whole construction in one coordinate
 * block, every batch covers every coordinate (the reported reproducer was
 * `map --dexter 50 --eta 0.8 --x sigma=1:50 --y batch=1:50`). */
Test(simulate, a_dexter_map_cell_whose_batches_cover_every_coordinate_runs)
{
    linstab_map_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("sigma=1,2,25,49,50", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=49,50", &y, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, 50, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.eta = 0.8;
    p.steps = 50;
    p.exact = 0;
    for (size_t iy = 0; iy < y.count; iy++)
        for (size_t ix = 0; ix < x.count; ix++) {
            linstab_map_cell c;
            cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
            cr_expect(c.frac_div >= 0.0 && c.frac_div <= 1.0);
        }
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
}

typedef struct { unsigned long a, b, c; } triplet;

static int cmp_triplet(const void *p, const void *q)
{
    const triplet *x = p, *y = q;
    if (x->a != y->a) return x->a < y->a ? -1 : 1;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    if (x->c != y->c) return x->c < y->c ? -1 : 1;
    return 0;
}

static size_t duplicates(gsl_rng *(*make)(uint64_t, uint64_t), size_t count, int vary_seed)
{
    triplet *t = malloc(count * sizeof *t);
    cr_assert_not_null(t);
    for (size_t k = 0; k < count; k++) {
        gsl_rng *r = vary_seed ? make((uint64_t)k * 0x9e3779b97f4a7c15ULL, 7) : make(2024, k);
        cr_assert_not_null(r);
        t[k].a = gsl_rng_get(r);
        t[k].b = gsl_rng_get(r);
        t[k].c = gsl_rng_get(r);
        gsl_rng_free(r);
    }
    qsort(t, count, sizeof *t, cmp_triplet);
    size_t dup = 0;
    for (size_t k = 1; k < count; k++) dup += cmp_triplet(&t[k - 1], &t[k]) == 0;
    free(t);
    return dup;
}

Test(simulate, two_hundred_thousand_streams_have_distinct_first_outputs)
{
    cr_expect_eq(duplicates(linstab_rng_stream_mc, 200000, 0), 0, "taus2 streams of one seed");
    cr_expect_eq(duplicates(linstab_rng_stream_mc, 200000, 1), 0, "taus2 streams of distinct seeds");
}

Test(simulate, a_stream_is_reproducible_and_seeds_differing_in_high_bits_differ)
{
    gsl_rng *(*make[2])(uint64_t, uint64_t) = {linstab_rng_stream_mc, linstab_rng_stream};
    for (int m = 0; m < 2; m++) {
        gsl_rng *a = make[m](5, 1ULL << 40), *b = make[m](5, 1ULL << 40), *c = make[m](5 + (1ULL << 33), 1ULL << 40);
        int same = 1, differ = 0;
        for (int k = 0; k < 1000; k++) {
            unsigned long x = gsl_rng_get(a), y = gsl_rng_get(b), z = gsl_rng_get(c);
            same &= x == y;
            differ += x != z;
        }
        cr_expect(same, "generator %d: same (seed, stream), same numbers", m);
        cr_expect_gt(differ, 990, "generator %d: another seed, other numbers", m);
        /* the outputs are 32-bit uniforms: their mean is (2^32 - 1) / 2 within 5 standard errors */
        double s = 0.0;
        for (int k = 0; k < 10000; k++) s += (double)gsl_rng_get(a) / 4294967296.0;
        cr_expect_lt(fabs(s / 10000 - 0.5), 5 * sqrt(1.0 / 12 / 10000), "generator %d: mean", m);
        gsl_rng_free(a);
        gsl_rng_free(b);
        gsl_rng_free(c);
    }
}

/* chi-square of counts obs[0..m) against probabilities pr[0..m), bins with
 * expected counts below 5 merged into their neighbour */
static double chi_square(const double *obs, const double *pr, size_t m, double N, size_t *df)
{
    double chi = 0.0, o = 0.0, e = 0.0;
    size_t bins = 0;
    for (size_t k = 0; k < m; k++) {
        o += obs[k];
        e += N * pr[k];
        if (e >= 5.0 || k + 1 == m) {
            chi += (o - e) * (o - e) / (e > 0.0 ? e : 1.0);
            bins++;
            o = e = 0.0;
        }
    }
    *df = bins - 1;
    return chi;
}

/* The Bernoulli fast path (each sample included with probability p = B/n,
 * independently) against the law enumerated exactly: one step from
 * w = (1, 1, ...) on a diagonal family whose coordinate 0 carries a group
 * of g equal samples and coordinates 1..s one sample each (plus z zero
 * samples).  Then w_0 = 1 - eta v0 K / B with K ~ Binomial(g, p) and w_j =
 * 1 - eta v1 b_j / B with b_j ~ Bernoulli(p): the joint law of (K, number
 * of singletons hit) is Binomial(g, p) x Binomial(s, p) -- which also
 * checks that the lanes are independent.  Two layouts: lanes within one
 * 64-bit word, and a group straddling two word boundaries; p = 3/7 and
 * 55/150 (not dyadic). */
Test(simulate, bernoulli_lanes_draw_counts_with_the_exact_binomial_law)
{
    struct { size_t g, s, z, B; } cs[2] = {{4, 1, 2, 3}, {100, 50, 0, 55}};
    for (int c = 0; c < 2; c++) {
        size_t g = cs[c].g, s = cs[c].s, n = g + s + cs[c].z, d = s + 1, B = cs[c].B;
        linstab_family *f = NULL;
        linstab_error err;
        cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, d, 1, &f, &err), LINSTAB_OK);
        double v0 = 1.0, v1 = 2.0, eta = 0.01;
        for (size_t i = 0; i < g; i++) f->data[i * d] = v0;
        for (size_t j = 1; j <= s; j++) f->data[(g + j - 1) * d + j] = v1;
        linstab_sim *sim = NULL;
        cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SGD, eta, 0.0, B, LINSTAB_SAMPLING_BERNOULLI, &sim, &err),
                     LINSTAB_OK, "%s", err.msg);
        gsl_rng *r = linstab_rng_stream_mc(77, (uint64_t)c);
        size_t N = 100000;
        double *ok = calloc((g + 1) * (s + 1), sizeof *ok), *pk = malloc((g + 1) * (s + 1) * sizeof *pk);
        double w[64];
        int bad = 0;
        for (size_t t = 0; t < N; t++) {
            for (size_t j = 0; j < d; j++) w[j] = 1.0;
            double logn;
            int v = linstab_simulate_diag_run(sim, r, w, 1, 50.0, 50.0, &logn);
            bad += v != 0;
            double kk = (1.0 - w[0]) * (double)B / (eta * v0);
            size_t k = (size_t)lround(kk), hits = 0;
            bad += fabs(kk - (double)k) > 1e-6 || k > g;
            for (size_t j = 1; j <= s; j++) {
                double b = (1.0 - w[j]) * (double)B / (eta * v1);
                bad += fabs(b) > 1e-9 && fabs(b - 1.0) > 1e-9;
                hits += b > 0.5;
            }
            if (k <= g) ok[k * (s + 1) + hits] += 1.0;
        }
        cr_assert_eq(bad, 0, "case %d: every factor is one of the enumerated values", c);
        double p = (double)B / (double)n;
        for (size_t k = 0; k <= g; k++)
            for (size_t h = 0; h <= s; h++)
                pk[k * (s + 1) + h] = gsl_ran_binomial_pdf((unsigned)k, p, (unsigned)g) *
                                      gsl_ran_binomial_pdf((unsigned)h, p, (unsigned)s);
        /* the joint law; and each margin (where the joint's bins are thin) */
        size_t df;
        double chi = chi_square(ok, pk, (g + 1) * (s + 1), (double)N, &df);
        double q = gsl_cdf_chisq_Q(chi, (double)df);
        cr_expect_gt(q, 1e-4, "case %d: joint chi-square %g on %zu df (Q = %g)", c, chi, df, q);
        double *mo = calloc(g + 1, sizeof *mo), *mp = calloc(g + 1, sizeof *mp);
        for (size_t k = 0; k <= g; k++) {
            for (size_t h = 0; h <= s; h++) mo[k] += ok[k * (s + 1) + h];
            mp[k] = gsl_ran_binomial_pdf((unsigned)k, p, (unsigned)g);
        }
        chi = chi_square(mo, mp, g + 1, (double)N, &df);
        q = gsl_cdf_chisq_Q(chi, (double)df);
        cr_expect_gt(q, 1e-4, "case %d: group count chi-square %g on %zu df (Q = %g)", c, chi, df, q);
        double *so = calloc(s + 1, sizeof *so), *sp = calloc(s + 1, sizeof *sp);
        for (size_t h = 0; h <= s; h++) {
            for (size_t k = 0; k <= g; k++) so[h] += ok[k * (s + 1) + h];
            sp[h] = gsl_ran_binomial_pdf((unsigned)h, p, (unsigned)s);
        }
        chi = chi_square(so, sp, s + 1, (double)N, &df);
        q = gsl_cdf_chisq_Q(chi, (double)df);
        cr_expect_gt(q, 1e-4, "case %d: singleton hits chi-square %g on %zu df (Q = %g)", c, chi, df, q);
        free(mo);
        free(mp);
        free(so);
        free(sp);
        free(ok);
        free(pk);
        gsl_rng_free(r);
        linstab_simulate_free(sim);
        linstab_family_free(f);
    }
}

/* The protocol on the Bernoulli lanes with B = n (every sample included, a
 * deterministic factor): a one-sample coordinate (n = 1) and a group
 * (n = 3 equal samples on one coordinate) follow the growth factor to the
 * step where ||w|| crosses 1000x -- the thresholds of the index path. */
static int lanes_run_outcome(size_t n, double h, double eta, size_t steps)
{
    linstab_family *f = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, 1, 0, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) f->data[i] = h;
    linstab_sim *sim = NULL;
    cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SGD, eta, 0.0, n, LINSTAB_SAMPLING_BERNOULLI, &sim, &err),
                 LINSTAB_OK, "%s", err.msg);
    gsl_rng *r = tu_rng(5);
    double w[1];
    int outcome = 7;
    linstab_map_cell_run(sim, r, 1, steps, 1000.0, 1000.0, w, &outcome);
    gsl_rng_free(r);
    linstab_simulate_free(sim);
    linstab_family_free(f);
    return outcome;
}

Test(simulate, bernoulli_lanes_runs_follow_the_deterministic_growth_factor_with_the_full_batch)
{
    for (size_t n = 1; n <= 3; n += 2) {
        cr_expect_eq(lanes_run_outcome(n, 3.0, 1.0, 100), +1, "n %zu: |1 - 3| = 2 grows", n);
        cr_expect_eq(lanes_run_outcome(n, 0.5, 1.0, 100), -1, "n %zu: |1 - 0.5| shrinks", n);
        cr_expect_eq(lanes_run_outcome(n, 3.0, 1.0, 9), 0, "n %zu: 2^9 < 1000: neither within 9 steps", n);
        cr_expect_eq(lanes_run_outcome(n, 3.0, 1.0, 10), +1, "n %zu: 2^10 >= 1000 at step 10", n);
        cr_expect_eq(lanes_run_outcome(n, 0.5, 1.0, 9), 0, "n %zu: 2^-9 > 1/1000 within 9 steps", n);
        cr_expect_eq(lanes_run_outcome(n, 0.5, 1.0, 10), -1, "n %zu: 2^-10 <= 1/1000 at step 10", n);
        cr_expect_eq(lanes_run_outcome(n, 2.0, 1.0, 1000), 0, "n %zu: |1 - 2| = 1: neither", n);
        cr_expect_eq(lanes_run_outcome(n, 1.0, 1.0, 5), -1, "n %zu: 1 - 1 = 0: exactly zero converges", n);
    }
}

/* The whole protocol on the Bernoulli lanes against the index sampler (the
 * generic step on the same construction stored as a dense family), in law:
 * per cell the counts of diverged / converged / neither runs over 1500 runs
 * each, compared by a chi-square test of homogeneity (2 df), on three
 * cells of Dexter et al.'s construction (n = 12) near the boundary. */
Test(simulate, bernoulli_lanes_runs_have_the_outcome_law_of_the_index_sampler)
{
    size_t n = 12, cells[3][2] = {{6, 2}, {4, 3}, {3, 4}}, runs = 1500, steps = 200;
    for (int c = 0; c < 3; c++) {
        size_t sigma = cells[c][0], B = cells[c][1];
        linstab_family *f = tu_family_004(n, sigma), *g = NULL;
        size_t d = f->d;
        linstab_error err;
        cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &g, &err), LINSTAB_OK);
        memset(g->data, 0, n * d * d * sizeof *g->data);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) g->data[(i * d + j) * d + j] = f->data[i * d + j];
        double cnt[2][3] = {{0}};
        linstab_family *fam[2] = {f, g};
        for (int k = 0; k < 2; k++) {
            linstab_sim *sim = NULL;
            cr_assert_eq(linstab_simulate_alloc(fam[k], LINSTAB_OPT_SGD, 0.8, 0.0, B, LINSTAB_SAMPLING_BERNOULLI, &sim,
                                                &err), LINSTAB_OK, "%s", err.msg);
            double w[64];
            for (size_t r = 0; r < runs; r++) {
                gsl_rng *rng = linstab_rng_stream_mc(31 + (uint64_t)k, (uint64_t)(c * runs + r));
                int outcome;
                linstab_map_cell_run(sim, rng, d, steps, 1000.0, 1000.0, w, &outcome);
                cnt[k][outcome + 1] += 1.0;
                gsl_rng_free(rng);
            }
            linstab_simulate_free(sim);
        }
        double chi = 0.0;
        size_t df = 0;
        for (int o = 0; o < 3; o++) {
            double tot = cnt[0][o] + cnt[1][o];
            if (tot == 0.0) continue;
            df++;
            for (int k = 0; k < 2; k++) {
                double e = tot / 2.0;
                chi += (cnt[k][o] - e) * (cnt[k][o] - e) / e;
            }
        }
        double q = df > 1 ? gsl_cdf_chisq_Q(chi, (double)(df - 1)) : 1.0;
        cr_expect_gt(q, 1e-4, "sigma %zu B %zu: lanes (-1, 0, +1) = (%g, %g, %g), index sampler (%g, %g, %g), Q = %g",
                     sigma, B, cnt[0][0], cnt[0][1], cnt[0][2], cnt[1][0], cnt[1][1], cnt[1][2], q);
        /* a cell near the boundary: both outcomes occur */
        cr_expect(cnt[0][0] > 100 && cnt[0][2] > 100, "sigma %zu B %zu: near the boundary", sigma, B);
        linstab_family_free(f);
        linstab_family_free(g);
    }
}

/* A diagonal family for the lanes with a value per one-sample coordinate:
 * coordinate 0 carries g equal samples (a group), coordinates 1..s one
 * sample each of value 1 + j / 7 (all distinct), then z free coordinates
 * (no sample), so that a lane's factor is told from its neighbours'. */
static linstab_family *lanes_family(size_t g, size_t s, size_t z)
{
    size_t n = g + s, d = 1 + s + z;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, d, 1, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < g; i++) f->data[i * d] = 1.5;
    for (size_t j = 1; j <= s; j++) f->data[(g + j - 1) * d + j] = 1.0 + (double)j / 7.0;
    return f;
}

/* One step of the lanes from w = (1, 1, ...): each one-sample coordinate
 * is exactly 1 or exactly its own factor fl(1 - eta v_j / B) (a lane given
 * a neighbour's factor or bit would show), the free coordinates stay 1,
 * and each coordinate is hit with frequency B/n (binomial, 5 standard
 * deviations) -- on the kernel the CPU selects and on the portable one;
 * 77 and 13 singletons: lanes not a multiple of 8, across a word. */
Test(simulate, each_bernoulli_lane_takes_its_own_factor_with_probability_b_over_n)
{
    size_t shapes[2][3] = {{3, 77, 5}, {2, 13, 0}};
    for (int c = 0; c < 2; c++)
        for (int portable = 0; portable < 2; portable++) {
            size_t g = shapes[c][0], s = shapes[c][1], z = shapes[c][2], n = g + s, d = 1 + s + z, B = 3 + 2 * (size_t)c;
            linstab_family *f = lanes_family(g, s, z);
            linstab_sim *sim = NULL;
            linstab_error err;
            double eta = 0.3;
            cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SGD, eta, 0.0, B, LINSTAB_SAMPLING_BERNOULLI, &sim, &err),
                         LINSTAB_OK, "%s", err.msg);
            linstab_simulate_portable(sim, portable);
            gsl_rng *r = linstab_rng_stream_mc(91, (uint64_t)c);
            size_t N = 20000, bad = 0, *hits = calloc(d, sizeof *hits);
            double *w = malloc(d * sizeof *w);
            for (size_t t = 0; t < N; t++) {
                for (size_t j = 0; j < d; j++) w[j] = 1.0;
                double logn;
                linstab_simulate_diag_run(sim, r, w, 1, 50.0, 50.0, &logn);
                for (size_t j = 1; j <= s; j++) {
                    double h = (1.0 + (double)j / 7.0) * (1.0 / (double)B), fj = 1.0 + -eta * h; /* as the kernel rounds */
                    bad += w[j] != 1.0 && w[j] != fj;
                    hits[j] += w[j] == fj;
                }
                for (size_t j = 1 + s; j < d; j++) bad += w[j] != 1.0;
            }
            cr_expect_eq(bad, 0, "shape %d portable %d: every factor is 1 or the lane's own", c, portable);
            double p = (double)B / (double)n, sd = sqrt((double)N * p * (1.0 - p));
            for (size_t j = 1; j <= s; j++)
                cr_expect_lt(fabs((double)hits[j] - (double)N * p), 5.0 * sd, "shape %d portable %d: coordinate %zu hit %zu of %zu",
                             c, portable, j, hits[j], N);
            free(hits);
            free(w);
            gsl_rng_free(r);
            linstab_simulate_free(sim);
            linstab_family_free(f);
        }
}

/* The lanes kernels the CPU allows (AVX-512, AVX2) and the portable one
 * give the same bits: the iterate, the log-norm and the verdict of whole
 * runs, SGD and SAM 'same', batches from 1 to n, on the heterogeneous
 * family and on Dexter et al.'s construction (level 0: the best kernel,
 * 2: at most AVX2; on a CPU without them both are the portable one). */
Test(simulate, the_avx512_avx2_and_portable_lanes_kernels_give_the_same_bits)
{
    linstab_family *fams[2] = {lanes_family(4, 70, 3), tu_family_004(100, 7)};
    for (int k = 0; k < 2; k++) {
        linstab_family *f = fams[k];
        size_t n = f->n, d = f->d;
        for (size_t B = 1; B <= n; B += 9)
            for (int dyn = 0; dyn < 4; dyn++) {
                linstab_sim *sa = NULL, *sp = NULL;
                linstab_error err;
                linstab_optimizer o = dyn % 2 ? LINSTAB_OPT_SAM_SAME : LINSTAB_OPT_SGD;
                double eta = 0.8 * (double)B / (double)n + 0.05;
                cr_assert_eq(linstab_simulate_alloc(f, o, eta, 0.1, B, LINSTAB_SAMPLING_BERNOULLI, &sa, &err), LINSTAB_OK);
                cr_assert_eq(linstab_simulate_alloc(f, o, eta, 0.1, B, LINSTAB_SAMPLING_BERNOULLI, &sp, &err), LINSTAB_OK);
                linstab_simulate_portable(sa, dyn < 2 ? 0 : 2);
                linstab_simulate_portable(sp, 1);
                double *wa = malloc(d * sizeof *wa), *wp = malloc(d * sizeof *wp);
                for (uint64_t run = 0; run < 6; run++) {
                    gsl_rng *ra = linstab_rng_stream_mc(5, run), *rp = linstab_rng_stream_mc(5, run);
                    for (size_t j = 0; j < d; j++) wa[j] = wp[j] = gsl_ran_gaussian(ra, 1.0) / sqrt((double)d);
                    (void)gsl_ran_gaussian(rp, 1.0);
                    for (size_t j = 1; j < d; j++) (void)gsl_ran_gaussian(rp, 1.0);
                    double la, lp, lg = run % 2 ? 50.0 : log(1000.0);
                    int va = linstab_simulate_diag_run(sa, ra, wa, 400, lg, lg, &la);
                    int vp = linstab_simulate_diag_run(sp, rp, wp, 400, lg, lg, &lp);
                    cr_expect_eq(va, vp, "family %d B %zu dyn %d run %d: verdicts", k, B, dyn, (int)run);
                    cr_expect(memcmp(&la, &lp, sizeof la) == 0, "family %d B %zu dyn %d: log-norms %.17g %.17g", k, B, dyn,
                              la, lp);
                    cr_expect(memcmp(wa, wp, d * sizeof *wa) == 0, "family %d B %zu dyn %d run %d: iterates", k, B, dyn,
                              (int)run);
                    gsl_rng_free(ra);
                    gsl_rng_free(rp);
                }
                free(wa);
                free(wp);
                linstab_simulate_free(sa);
                linstab_simulate_free(sp);
            }
        linstab_family_free(f);
    }
}

/* Each lane's hit frequency is p = B/n also where p's base-256 expansion
 * is short (p = 1/2, 1/64: a lane whose bytes equal p's is not hit) or p
 * is near 1, on the portable kernel and the CPU's: 64 singletons, 40000
 * steps, 5 standard deviations (and the mean over the lanes, 5 sd). */
Test(simulate, bernoulli_lanes_hit_with_probability_b_over_n_for_dyadic_and_near_one_p)
{
    size_t Bs[4] = {32, 1, 63, 21};
    for (int c = 0; c < 4; c++)
        for (int portable = 0; portable < 2; portable++) {
            linstab_family *f = lanes_family(0, 64, 0);
            size_t n = f->n, d = f->d, B = Bs[c], N = 40000, tot = 0, *hits = calloc(d, sizeof *hits);
            linstab_sim *sim = NULL;
            linstab_error err;
            cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SGD, 0.1, 0.0, B, LINSTAB_SAMPLING_BERNOULLI, &sim, &err),
                         LINSTAB_OK);
            linstab_simulate_portable(sim, portable);
            gsl_rng *r = linstab_rng_stream_mc(12, (uint64_t)c);
            double w[65];
            for (size_t t = 0; t < N; t++) {
                for (size_t j = 0; j < d; j++) w[j] = 1.0;
                double logn;
                linstab_simulate_diag_run(sim, r, w, 1, 50.0, 50.0, &logn);
                for (size_t j = 1; j < d; j++) {
                    hits[j] += w[j] != 1.0;
                    tot += w[j] != 1.0;
                }
            }
            double p = (double)B / (double)n, sd = sqrt((double)N * p * (1.0 - p));
            for (size_t j = 1; j < d; j++)
                cr_expect_lt(fabs((double)hits[j] - (double)N * p), 5.0 * sd, "B %zu portable %d: lane %zu hit %zu of %zu",
                             B, portable, j, hits[j], N);
            cr_expect_lt(fabs((double)tot - 64.0 * (double)N * p), 5.0 * 8.0 * sd, "B %zu portable %d: %zu hits in all", B,
                         portable, tot);
            free(hits);
            gsl_rng_free(r);
            linstab_simulate_free(sim);
            linstab_family_free(f);
        }
}

/* Workspaces made from one shared plan (two batch sizes at once) run with
 * the bits of workspaces that scan the family themselves: the lanes, the
 * index sampler of a diagonal family that has no lanes (a sample on two
 * coordinates), and the generic step of a dense family. */
Test(simulate, workspaces_from_a_shared_plan_equal_those_that_scan_the_family)
{
    linstab_family *lanes = tu_family_004(40, 6), *idx = tu_family_004(20, 3), *dense = NULL;
    idx->data[5 * idx->d + 2] = 0.5; /* sample 5 now touches coordinates 3 and 2 */
    linstab_error err;
    size_t dd = 4;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, 6, dd, dd, &dense, &err), LINSTAB_OK);
    for (size_t i = 0; i < 6; i++)
        for (size_t a = 0; a < dd; a++)
            for (size_t b = 0; b < dd; b++) dense->data[(i * dd + a) * dd + b] = a == b ? 1.0 + (double)((i + a) % 3) : 0.1;
    linstab_family *fams[3] = {lanes, idx, dense};
    for (int k = 0; k < 3; k++) {
        linstab_family *f = fams[k];
        size_t n = f->n, d = f->d, Bs[2] = {1, n / 2};
        linstab_sim_plan *pl = NULL;
        cr_assert_eq(linstab_simulate_plan_make(f, &pl, &err), LINSTAB_OK);
        linstab_sim *sp[2], *so[2];
        for (int b = 0; b < 2; b++) {
            cr_assert_eq(linstab_simulate_alloc_plan(pl, LINSTAB_OPT_SGD, 0.7, 0.0, Bs[b], LINSTAB_SAMPLING_BERNOULLI,
                                                     &sp[b], &err), LINSTAB_OK);
            cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SGD, 0.7, 0.0, Bs[b], LINSTAB_SAMPLING_BERNOULLI, &so[b],
                                                &err), LINSTAB_OK);
        }
        double wp[64], wo[64];
        for (int b = 0; b < 2; b++)
            for (uint64_t run = 0; run < 4; run++) {
                gsl_rng *rp = linstab_rng_stream_mc(8, run), *ro = linstab_rng_stream_mc(8, run);
                int vp, vo;
                linstab_map_cell_run(sp[b], rp, d, 300, 1000.0, 1000.0, wp, &vp);
                linstab_map_cell_run(so[b], ro, d, 300, 1000.0, 1000.0, wo, &vo);
                cr_expect_eq(vp, vo, "family %d B %zu run %d: verdicts", k, Bs[b], (int)run);
                cr_expect(memcmp(wp, wo, d * sizeof *wp) == 0, "family %d B %zu run %d: iterates", k, Bs[b], (int)run);
                /* and the streams were consumed alike */
                cr_expect_eq(gsl_rng_get(rp), gsl_rng_get(ro), "family %d: the streams' next numbers", k);
                gsl_rng_free(rp);
                gsl_rng_free(ro);
            }
        for (int b = 0; b < 2; b++) {
            linstab_simulate_free(sp[b]);
            linstab_simulate_free(so[b]);
        }
        /* the workspaces are gone, the plan last */
        linstab_simulate_plan_free(pl);
        linstab_family_free(f);
    }
}

Test(simulate, bernoulli_lanes_count_the_coordinates_no_sample_touches)
{
    /* d = 2, every sample curves coordinate 0 only: with eta h = 1 and the
     * full batch it is zeroed at the first step, and ||w|| is |w_1| from
     * then on -- neither diverged nor converged (a norm that forgot the
     * untouched coordinate would read 0: "converged") */
    for (size_t n = 1; n <= 4; n += 3) {
        linstab_family *f = NULL;
        linstab_error err = {0};
        cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, 2, 0, &f, &err), LINSTAB_OK);
        for (size_t i = 0; i < n; i++) {
            f->data[2 * i] = 1.0;
            f->data[2 * i + 1] = 0.0;
        }
        linstab_sim *sim = NULL;
        cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SGD, 1.0, 0.0, n, LINSTAB_SAMPLING_BERNOULLI, &sim, &err),
                     LINSTAB_OK, "%s", err.msg);
        gsl_rng *r = tu_rng(6);
        double w[2];
        int outcome = 7;
        linstab_map_cell_run(sim, r, 2, 200, 1000.0, 1000.0, w, &outcome);
        cr_expect_eq(outcome, 0, "n %zu: |w| = |w_1| constant, got outcome %d", n, outcome);
        gsl_rng_free(r);
        linstab_simulate_free(sim);
        linstab_family_free(f);
    }
}
