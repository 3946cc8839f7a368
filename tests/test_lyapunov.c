/*
 * test_lyapunov.c -- almost-sure stability: the top Lyapunov exponent
 * (docs/math.md §3 and §7).
 *
 * The exact exponent of diagonal families against the closed form of
 * docs/math.md §7 for Dexter et al.'s construction (computed here with an
 * independent binomial / hypergeometric pmf), its worked example (n = 100,
 * eta = 0.8, sigma = 5), the Monte Carlo
 * estimate against the exact value, Jensen's inequality
 * exponent <= (1/2) log radius(T) (a.s. stability is implied by mean-square
 * stability), and a family that is mean-square unstable but a.s. stable.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include "linstab/critical.h"
#include "linstab/exact.h"
#include "linstab/family.h"
#include "linstab/lyapunov.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "testutil.h"

static const linstab_sampling all_samplings[3] = {LINSTAB_SAMPLING_BERNOULLI,
                                                  LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};



/* ------------------------------------ an independent exact exponent */

/* C(n, k) as a double (exact for the small n used here). */
static double choose(size_t n, size_t k)
{
    if (k > n) return 0.0;
    double c = 1.0;
    for (size_t j = 1; j <= k; j++) c = c * (double)(n - k + j) / (double)j;
    return c;
}

/* P(K) for the count K of a coordinate's s samples in one batch. */
static double pmf(linstab_sampling smp, size_t n, size_t s, size_t B, size_t K)
{
    double p;
    switch (smp) {
    case LINSTAB_SAMPLING_BERNOULLI: /* K ~ Binom(s, B/n) */
        if (K > s) return 0.0;
        p = (double)B / (double)n;
        return choose(s, K) * pow(p, (double)K) * pow(1.0 - p, (double)(s - K));
    case LINSTAB_SAMPLING_WITH: /* K ~ Binom(B, s/n) */
        if (K > B) return 0.0;
        p = (double)s / (double)n;
        return choose(B, K) * pow(p, (double)K) * pow(1.0 - p, (double)(B - K));
    case LINSTAB_SAMPLING_WITHOUT: /* hypergeometric */
        if (K > s || K > B || B - K > n - s) return 0.0;
        return choose(s, K) * choose(n - s, B - K) / choose(n, B);
    }
    return 0.0;
}

/*
 * E log|J| of one coordinate holding the value c on s of the n samples:
 * h = c K / B, J = 1 - eta h (SGD), 1 - eta (h + rho h^2) (SAM same),
 * 1 - eta h1 (1 + rho h2) with independent counts (SAM independent).
 */
static double coord_exponent(linstab_optimizer dyn, linstab_sampling smp, size_t n, size_t s,
                             double c, size_t B, double eta, double rho)
{
    size_t kmax = n > B ? n : B;
    double e = 0.0, Bd = (double)B;
    for (size_t K = 0; K <= kmax; K++) {
        double p = pmf(smp, n, s, B, K);
        if (p == 0.0) continue;
        double h = c * (double)K / Bd;
        if (dyn == LINSTAB_OPT_SAM_INDEP) {
            for (size_t K2 = 0; K2 <= kmax; K2++) {
                double p2 = pmf(smp, n, s, B, K2);
                if (p2 == 0.0) continue;
                e += p * p2 * log(fabs(1.0 - eta * h * (1.0 + rho * c * (double)K2 / Bd)));
            }
        } else {
            double g = dyn == LINSTAB_OPT_SAM_SAME ? h + rho * h * h : h;
            e += p * log(fabs(1.0 - eta * g));
        }
    }
    return e;
}

/* Exponents of coordinate 1 (sigma samples) and of any other (one sample). */
static void exponents_004(linstab_optimizer dyn, linstab_sampling smp, size_t n, size_t sigma,
                          size_t B, double eta, double rho, double *e1, double *ej)
{
    double m = 2.0 * (double)n / (double)sigma;
    *e1 = coord_exponent(dyn, smp, n, sigma, m, B, eta, rho);
    *ej = sigma < n ? coord_exponent(dyn, smp, n, 1, m, B, eta, rho) : -INFINITY;
}

/* docs/math.md §7, literally (SGD, Bernoulli). */
static double spec_formula_004(size_t n, size_t sigma, size_t B, double eta)
{
    double N = (double)n, S = (double)sigma, Bd = (double)B, p = Bd / N;
    double e1 = 0.0;
    for (size_t K = 0; K <= sigma; K++)
        e1 += choose(sigma, K) * pow(p, (double)K) * pow(1.0 - p, (double)(sigma - K)) *
              log(fabs(1.0 - 2.0 * eta * N * (double)K / (S * Bd)));
    if (sigma == n) return e1; /* d = 1: no other coordinate */
    double ej = p * log(fabs(1.0 - 2.0 * eta * N / (S * Bd)));
    return fmax(e1, ej);
}

static linstab_lyap exact_exponent(const linstab_family *f, linstab_optimizer dyn, double eta,
                                   double rho, size_t B, linstab_sampling s)
{
    linstab_lyap ly;
    memset(&ly, 0, sizeof ly);
    int ok = -1;
    linstab_error err;
    cr_assert_eq(linstab_lyapunov_diag_exact(f, dyn, eta, rho, B, s, &ly, &ok, &err), LINSTAB_OK);
    cr_assert_eq(ok, 1);
    cr_assert_eq(ly.exact, 1);
    cr_assert_eq(ly.stderr_, 0.0);
    return ly;
}

static double sgd_radius(const linstab_family *f, linstab_sampling s, size_t B, double eta)
{
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, -1.0, 0, &rf, &err), LINSTAB_OK, "%s", err.msg);
    double a, b, rad = NAN;
    linstab_sampling_coeffs(s, f->n, B, &a, &b);
    linstab_secmom *sm = NULL;
    cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &sm, &err),
                 LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_secmom_radius(sm, NULL, &rad, &err), LINSTAB_OK, "%s", err.msg);
    linstab_secmom_free(sm);
    linstab_family_rotated_clear(&rf);
    return rad;
}

/* ------------------------------------------- (1) the formula */

Test(lyapunov_exact, of_dexters_construction_is_the_closed_form)
{
    size_t n = 20, sigmas[] = {1, 2, 3, 4, 5, 10, 20}, batches[] = {1, 3, 7, 10, 16, 19, 20};
    double etas[] = {0.05, 0.3, 0.8, 1.7};
    int cells = 0;
    for (size_t si = 0; si < sizeof sigmas / sizeof *sigmas; si++) {
        linstab_family *f = tu_family_004(n, sigmas[si]);
        for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++)
            for (size_t ei = 0; ei < sizeof etas / sizeof *etas; ei++) {
                double want = spec_formula_004(n, sigmas[si], batches[bi], etas[ei]);
                if (!isfinite(want)) continue; /* an exact zero factor: -inf, tested below */
                linstab_lyap ly = exact_exponent(f, LINSTAB_OPT_SGD, etas[ei], 0.0, batches[bi],
                                                 LINSTAB_SAMPLING_BERNOULLI);
                cr_expect(fabs(ly.exponent - want) <= 1e-12 * fmax(1.0, fabs(want)),
                          "sigma = %zu, B = %zu, eta = %g: %.17g, formula %.17g", sigmas[si],
                          batches[bi], etas[ei], ly.exponent, want);
                cells++;
            }
        linstab_family_free(f);
    }
    cr_expect(cells > 150);
}

Test(lyapunov_exact, matches_an_independent_enumeration_for_every_sampling_and_dynamics)
{
    size_t n = 12, sigmas[] = {1, 3, 4}, batches[] = {1, 2, 5, 11, 12};
    linstab_optimizer dyns[] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP};
    double eta = 0.37, rho = 0.13;
    for (size_t si = 0; si < 3; si++) {
        linstab_family *f = tu_family_004(n, sigmas[si]);
        for (int sm = 0; sm < 3; sm++)
            for (int di = 0; di < 3; di++)
                for (size_t bi = 0; bi < 5; bi++) {
                    double e1, ej;
                    exponents_004(dyns[di], all_samplings[sm], n, sigmas[si], batches[bi], eta,
                                  rho, &e1, &ej);
                    double want = fmax(e1, ej);
                    linstab_lyap ly =
                        exact_exponent(f, dyns[di], eta, rho, batches[bi], all_samplings[sm]);
                    if (isinf(want)) {
                        cr_expect(ly.exponent == want, "want %g, got %g", want, ly.exponent);
                        continue;
                    }
                    cr_expect(fabs(ly.exponent - want) <= 1e-12 * fmax(1.0, fabs(want)),
                              "sigma %zu, %s, dyn %d, B %zu: %.17g, want %.17g", sigmas[si],
                              linstab_sampling_name(all_samplings[sm]), (int)dyns[di],
                              batches[bi], ly.exponent, want);
                }
        linstab_family_free(f);
    }
}

Test(lyapunov_exact, of_sam_at_rho_zero_is_that_of_sgd)
{
    linstab_family *f = tu_family_004(15, 3);
    for (int sm = 0; sm < 3; sm++) {
        double e0 = exact_exponent(f, LINSTAB_OPT_SGD, 0.6, 0.0, 4, all_samplings[sm]).exponent;
        double e1 = exact_exponent(f, LINSTAB_OPT_SAM_SAME, 0.6, 0.0, 4, all_samplings[sm]).exponent;
        double e2 = exact_exponent(f, LINSTAB_OPT_SAM_INDEP, 0.6, 0.0, 4, all_samplings[sm]).exponent;
        cr_expect(fabs(e1 - e0) <= 1e-14 * fmax(1.0, fabs(e0)));
        cr_expect(fabs(e2 - e0) <= 1e-14 * fmax(1.0, fabs(e0)));
    }
    linstab_family_free(f);
}

Test(lyapunov_exact, is_minus_infinity_when_every_coordinate_can_be_zeroed)
{
    /* H_i = e_i e_i' (n = d = 4), B = n without replacement: GD with
     * Hhat = I/4 and eta = 4 maps everything to 0 in one step */
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 4, 4, 1, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < 4; i++) f->data[i * 4 + i] = 1.0;
    linstab_lyap ly = exact_exponent(f, LINSTAB_OPT_SGD, 4.0, 0.0, 4, LINSTAB_SAMPLING_WITHOUT);
    cr_expect(isinf(ly.exponent) && ly.exponent < 0.0, "%g", ly.exponent);
    /* the simulation collapses to w = 0 too */
    cr_assert_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, 4.0, 0.0, 4, LINSTAB_SAMPLING_WITHOUT, 4,
                                     100, 1, &ly, &err),
                 LINSTAB_OK);
    cr_expect(isinf(ly.exponent) && ly.exponent < 0.0, "%g", ly.exponent);
    linstab_family_free(f);
}

/* ------------------------------------------- (2) the worked example */

Test(lyapunov_exact, reproduces_the_worked_example_n_100_eta_08_sigma_5)
{
    size_t n = 100, sigma = 5;
    double eta = 0.8;
    linstab_family *f = tu_family_004(n, sigma);
    /* the almost-sure boundary is B = 21 */
    double e20 = exact_exponent(f, LINSTAB_OPT_SGD, eta, 0.0, 20, LINSTAB_SAMPLING_BERNOULLI).exponent;
    double e21 = exact_exponent(f, LINSTAB_OPT_SGD, eta, 0.0, 21, LINSTAB_SAMPLING_BERNOULLI).exponent;
    cr_expect(e20 > 0.0, "B = 20: exponent %g", e20);
    cr_expect(e21 < 0.0, "B = 21: exponent %g", e21);
    cr_expect(fabs(e20 - spec_formula_004(n, sigma, 20, eta)) < 1e-12);
    cr_expect(fabs(e21 - spec_formula_004(n, sigma, 21, eta)) < 1e-12);
    for (size_t B = 1; B <= n; B++) {
        double e = exact_exponent(f, LINSTAB_OPT_SGD, eta, 0.0, B, LINSTAB_SAMPLING_BERNOULLI).exponent;
        cr_expect((B <= 20) == (e > 0.0), "B = %zu: exponent %g", B, e);
    }
    /* the mean-square boundary is B = 45 (Theorem 2's line: 44.4) */
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, -1.0, 0, &rf, &err), LINSTAB_OK);
    size_t Bms = 0;
    cr_assert_eq(linstab_critical_batch(rf.f, rf.l, LINSTAB_SAMPLING_BERNOULLI, eta, NULL, &Bms, &err),
                 LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(Bms, 45);
    double l1 = 2.0, S = (double)sigma, N = (double)n;
    double thm2 = N / (S / eta - S + 1.0); /* l1 = 2 sigma/(eta(sigma + n/B - 1)) */
    cr_expect(fabs(thm2 - 44.444444444444) < 1e-9);
    /* Theorem 1's line l1 = (sigma/eta)(n/B - 1)^(-1/2) */
    double thm1 = N / (1.0 + (S / (eta * l1)) * (S / (eta * l1)));
    cr_expect(thm1 > 9.2 && thm1 < 9.3, "Theorem 1 at B = %g", thm1);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ------------------------------------------- (3) Monte Carlo */

/*
 * For a diagonal family the renormalised run k estimates
 * (log||P_T w0|| - log||P_b w0||)/tau, tau = T - b, b = T/10, and
 * log||P_t w0|| = log|w0_1| + S_1(t) + eps_t, with S_1 the random walk of
 * the top coordinate (drift = the exact exponent) and
 * 0 <= eps_t = (1/2) log(1 + sum_j (w0_j/w0_1)^2 exp(2 (S_j - S_1)(t))).
 * The bias is E(eps_T - eps_b)/tau.  When the top coordinate is unique
 * with a gap >= 0.05 per step, after b = 400 steps the other coordinates
 * are suppressed by exp(-40) or more in expectation, so eps is negligible
 * except on the event that w0_1 is tiny; we allow (1/2) log(d)/tau, the
 * value of eps when all d coordinates had equal weight, which is far above
 * that.  (With several equally top coordinates the estimate instead has
 * an upward bias of order sqrt(var log d / tau), the expected maximum of
 * d i.i.d. random walks, which the standard error does not see: such
 * cases are excluded here on purpose.)
 */
Test(lyapunov_mc, agrees_with_the_exact_exponent_within_four_standard_errors)
{
    struct {
        size_t n, sigma, B;
        double eta, rho;
        linstab_optimizer dyn;
        linstab_sampling s;
    } cs[] = {
        {20, 4, 5, 0.8, 0.0, LINSTAB_OPT_SGD, LINSTAB_SAMPLING_BERNOULLI},
        {20, 2, 8, 0.9, 0.0, LINSTAB_OPT_SGD, LINSTAB_SAMPLING_BERNOULLI},
        {20, 4, 12, 0.8, 0.0, LINSTAB_OPT_SGD, LINSTAB_SAMPLING_WITHOUT},
        {20, 5, 10, 0.9, 0.0, LINSTAB_OPT_SGD, LINSTAB_SAMPLING_WITH},
        {20, 2, 10, 0.7, 0.05, LINSTAB_OPT_SAM_SAME, LINSTAB_SAMPLING_WITHOUT},
        {20, 4, 8, 0.9, 0.05, LINSTAB_OPT_SAM_SAME, LINSTAB_SAMPLING_WITH},
        {20, 4, 5, 0.9, 0.02, LINSTAB_OPT_SAM_INDEP, LINSTAB_SAMPLING_BERNOULLI},
        {20, 4, 10, 0.9, 0.05, LINSTAB_OPT_SAM_INDEP, LINSTAB_SAMPLING_BERNOULLI},
    };
    size_t runs = 16, steps = 4000;
    for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
        double e1, ej;
        exponents_004(cs[c].dyn, cs[c].s, cs[c].n, cs[c].sigma, cs[c].B, cs[c].eta, cs[c].rho, &e1,
                      &ej);
        /* precondition of the bias argument: coordinate 1 is on top by a gap */
        cr_assert(isfinite(e1) && e1 > ej + 0.05, "case %zu: e1 %g, ej %g", c, e1, ej);
        cr_assert(fabs(e1) > 0.01, "case %zu: away from 0", c);
        linstab_family *f = tu_family_004(cs[c].n, cs[c].sigma);
        linstab_lyap ex = exact_exponent(f, cs[c].dyn, cs[c].eta, cs[c].rho, cs[c].B, cs[c].s);
        cr_expect(fabs(ex.exponent - e1) <= 1e-12);
        linstab_lyap mc;
        linstab_error err;
        cr_assert_eq(linstab_lyapunov_mc(f, cs[c].dyn, cs[c].eta, cs[c].rho, cs[c].B, cs[c].s, runs,
                                         steps, 2024 + c, &mc, &err),
                     LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(mc.exact, 0);
        cr_expect_eq(mc.runs, runs);
        cr_expect_eq(mc.steps, steps);
        double tau = (double)(steps - steps / 10);
        double allow = 0.5 * log((double)f->d) / tau;
        cr_expect(mc.stderr_ > 0.0 && mc.stderr_ < 0.01, "case %zu: stderr %g", c, mc.stderr_);
        cr_expect(fabs(mc.exponent - ex.exponent) <= 4.0 * mc.stderr_ + allow,
                  "case %zu: MC %.6f +- %.6f, exact %.6f", c, mc.exponent, mc.stderr_, ex.exponent);
        linstab_family_free(f);
    }
}

Test(lyapunov_mc, is_reproducible_from_its_seed)
{
    linstab_family *f = tu_family_dense(6, 3, 2, 5);
    linstab_lyap a, b, c;
    linstab_error err;
    cr_assert_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, 0.3, 0.0, 2, LINSTAB_SAMPLING_WITHOUT, 4,
                                     500, 77, &a, &err),
                 LINSTAB_OK);
    cr_assert_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, 0.3, 0.0, 2, LINSTAB_SAMPLING_WITHOUT, 4,
                                     500, 77, &b, &err),
                 LINSTAB_OK);
    cr_assert_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, 0.3, 0.0, 2, LINSTAB_SAMPLING_WITHOUT, 4,
                                     500, 78, &c, &err),
                 LINSTAB_OK);
    cr_expect(memcmp(&a.exponent, &b.exponent, sizeof a.exponent) == 0);
    cr_expect(memcmp(&a.stderr_, &b.stderr_, sizeof a.stderr_) == 0);
    cr_expect(a.exponent != c.exponent, "another seed, another estimate");
    linstab_family_free(f);
}

Test(lyapunov_mc, averages_independent_runs_one_stream_each)
{
    /* run k uses stream (seed, k): with 2 runs the estimates are
     * m2 +- se2 (sd over 2 values / sqrt 2 = |e0 - e1| / 2); a third run
     * adds e2 = 3 m3 - 2 m2 and the standard error must be that of the
     * three values */
    linstab_family *f = tu_family_dense(5, 3, 2, 15);
    linstab_lyap two, three;
    linstab_error err;
    cr_assert_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, 0.4, 0.0, 2, LINSTAB_SAMPLING_BERNOULLI, 2,
                                     300, 11, &two, &err),
                 LINSTAB_OK);
    cr_assert_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, 0.4, 0.0, 2, LINSTAB_SAMPLING_BERNOULLI, 3,
                                     300, 11, &three, &err),
                 LINSTAB_OK);
    double e[3] = {two.exponent + two.stderr_, two.exponent - two.stderr_,
                   3.0 * three.exponent - 2.0 * two.exponent};
    double mean = (e[0] + e[1] + e[2]) / 3.0, ss = 0.0;
    for (int k = 0; k < 3; k++) ss += (e[k] - mean) * (e[k] - mean);
    double se = sqrt(ss / 2.0) / sqrt(3.0);
    cr_expect(fabs(three.stderr_ - se) <= 1e-12 * fmax(fabs(se), 1e-3),
              "stderr %.17g, from the runs %.17g", three.stderr_, se);
    cr_expect(two.stderr_ > 0.0);
    linstab_family_free(f);
}

Test(lyapunov_mc, of_gradient_descent_is_log_of_the_top_factor)
{
    /* B = n without replacement: J = I - eta H every step, exponent
     * log max_j |1 - eta l_j|; every run agrees (no noise) */
    linstab_family *f = tu_family_dense(5, 4, 2, 9);
    size_t d = f->d;
    double *H = malloc(d * d * sizeof *H), w[4];
    linstab_error err;
    cr_assert_eq(linstab_family_mean(f, H, &err), LINSTAB_OK);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (int)d, H, (int)d, w), 0);
    double etas[] = {0.5 / w[d - 1], 1.9 / w[d - 1], 2.5 / w[d - 1]};
    for (int e = 0; e < 3; e++) {
        double top = 0.0;
        for (size_t j = 0; j < d; j++) top = fmax(top, fabs(1.0 - etas[e] * w[j]));
        linstab_lyap ly;
        cr_assert_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, etas[e], 0.0, f->n,
                                         LINSTAB_SAMPLING_WITHOUT, 4, 2000, 3, &ly, &err),
                     LINSTAB_OK);
        /* bias eps_b/tau with eps_b <= exp(-2 b gap)-small: the second
         * factor is at least 1% below the top one for these eta */
        cr_expect(fabs(ly.exponent - log(top)) < 1e-9, "eta = %g: MC %.15g, exact %.15g", etas[e],
                  ly.exponent, log(top));
        cr_expect(ly.stderr_ < 1e-9);
    }
    free(H);
    linstab_family_free(f);
}

Test(lyapunov_mc, rejects_too_few_runs_or_steps)
{
    linstab_family *f = tu_family_004(6, 2);
    linstab_lyap ly;
    linstab_error err;
    cr_expect_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, 0.1, 0.0, 2, LINSTAB_SAMPLING_WITH, 1, 100,
                                     1, &ly, &err),
                 LINSTAB_EINVAL);
    cr_expect_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, 0.1, 0.0, 2, LINSTAB_SAMPLING_WITH, 4, 5, 1,
                                     &ly, &err),
                 LINSTAB_EINVAL);
    linstab_family_free(f);
}

/* ------------------------------------------- (4) not enumerable */

Test(lyapunov_exact, declines_families_it_cannot_enumerate)
{
    linstab_lyap ly, sentinel;
    memset(&sentinel, 0x5a, sizeof sentinel);
    int ok = -1;
    linstab_error err;
    /* two distinct nonzero values in column 0 */
    linstab_family *f = NULL;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 3, 2, 1, &f, &err), LINSTAB_OK);
    double data[6] = {1.0, 0.0, 2.0, 1.0, 0.0, 1.0};
    memcpy(f->data, data, sizeof data);
    ly = sentinel;
    cr_assert_eq(linstab_lyapunov_diag_exact(f, LINSTAB_OPT_SGD, 0.1, 0.0, 1,
                                             LINSTAB_SAMPLING_BERNOULLI, &ly, &ok, &err),
                 LINSTAB_OK);
    cr_expect_eq(ok, 0);
    cr_expect(memcmp(&ly, &sentinel, sizeof ly) == 0, "nothing else is written");
    linstab_family_free(f);
    /* a dense family */
    f = tu_family_dense(4, 2, 1, 3);
    ok = -1;
    cr_assert_eq(linstab_lyapunov_diag_exact(f, LINSTAB_OPT_SGD, 0.1, 0.0, 1,
                                             LINSTAB_SAMPLING_BERNOULLI, &ly, &ok, &err),
                 LINSTAB_OK);
    cr_expect_eq(ok, 0);
    linstab_family_free(f);
    /* normalized SAM is not linear */
    f = tu_family_004(6, 2);
    ok = -1;
    cr_assert_eq(linstab_lyapunov_diag_exact(f, LINSTAB_OPT_SAM_NORMALIZED, 0.1, 0.05, 2,
                                             LINSTAB_SAMPLING_BERNOULLI, &ly, &ok, &err),
                 LINSTAB_OK);
    cr_expect_eq(ok, 0);
    linstab_family_free(f);
}

Test(lyapunov_exact, gives_a_flat_coordinate_exponent_zero)
{
    /* coordinate 1 is zero in every sample: J = 1 there */
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 2, 2, 1, &f, &err), LINSTAB_OK);
    f->data[0] = 1.0;
    f->data[2] = 1.0;
    linstab_lyap ly = exact_exponent(f, LINSTAB_OPT_SGD, 0.5, 0.0, 1, LINSTAB_SAMPLING_WITH);
    cr_expect_eq(ly.exponent, 0.0);
    linstab_family_free(f);
}

/* ---------------------- (5) mean-square unstable, almost surely stable */

Test(lyapunov_exact, can_be_negative_while_the_mean_square_radius_exceeds_one)
{
    size_t n = 20, sigma = 5;
    double eta = 0.8;
    linstab_family *f = tu_family_004(n, sigma);
    int found = 0;
    for (size_t B = 1; B <= n; B++) {
        double e = exact_exponent(f, LINSTAB_OPT_SGD, eta, 0.0, B, LINSTAB_SAMPLING_BERNOULLI).exponent;
        double rad = sgd_radius(f, LINSTAB_SAMPLING_BERNOULLI, B, eta);
        /* Jensen: E log|J| <= (1/2) log E J^2, coordinate by coordinate */
        cr_expect(e <= 0.5 * log(rad) + 1e-12, "B = %zu: exponent %g > log(radius)/2 = %g", B, e,
                  0.5 * log(rad));
        if (rad > 1.0 && e < 0.0) {
            found = 1;
            cr_expect(rad > 1.0 + 1e-6 && e < -1e-6, "B = %zu: a clear case, radius %.10g, "
                      "exponent %.10g", B, rad, e);
        }
    }
    cr_expect(found, "no B with radius > 1 and a negative exponent");
    /* The worked example has the whole band 21 <= B <= 44 of them; check one */
    linstab_family_free(f);
    f = tu_family_004(100, 5);
    double e30 = exact_exponent(f, LINSTAB_OPT_SGD, eta, 0.0, 30, LINSTAB_SAMPLING_BERNOULLI).exponent;
    /* coordinate 1's mean-square factor (docs/math.md §7) exceeds 1 at B = 30 */
    double f1 = 1.0 - 4.0 * eta + 4.0 * eta * eta + 4.0 * eta * eta * (100.0 / 30.0 - 1.0) / 5.0;
    cr_expect(e30 < 0.0 && f1 > 1.0, "exponent %g, mean-square factor %g", e30, f1);
    linstab_family_free(f);
}

Test(lyapunov_mc, never_exceeds_half_the_log_radius_on_dense_families)
{
    /* E log||P_t w|| <= (1/2) log E||P_t w||^2 <= (t/2) log radius + const */
    linstab_family *f = tu_family_dense(6, 3, 1, 17);
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, -1.0, 0, &rf, &err), LINSTAB_OK);
    for (int sm = 0; sm < 3; sm++) {
        double a, b;
        linstab_sampling_coeffs(all_samplings[sm], f->n, 2, &a, &b);
        double es = 0.0;
        cr_assert_eq(linstab_critical_eta(rf.f, rf.l, a, b, NULL, &es, &err), LINSTAB_OK);
        double etas[] = {0.5 * es, 1.5 * es, 3.0 * es};
        for (int e = 0; e < 3; e++) {
            double rad = sgd_radius(f, all_samplings[sm], 2, etas[e]);
            linstab_lyap ly;
            cr_assert_eq(linstab_lyapunov_mc(f, LINSTAB_OPT_SGD, etas[e], 0.0, 2, all_samplings[sm],
                                             8, 2000, 5, &ly, &err),
                         LINSTAB_OK);
            /* const/tau with const <= (1/2) log d for a unit start */
            double allow = 0.5 * log((double)f->d) / 1800.0;
            cr_expect(ly.exponent <= 0.5 * log(rad) + 4.0 * ly.stderr_ + allow,
                      "%s, eta = %g: exponent %g, log(radius)/2 = %g",
                      linstab_sampling_name(all_samplings[sm]), etas[e], ly.exponent,
                      0.5 * log(rad));
        }
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ---- one step of the simulated dynamics, by hand (issue 10 additions) ---- */

#include "linstab/simulate.h"

/* y = (1/B) sum_{c} H_{idx[c]} x from the dense samples. */
static void hand_apply(const linstab_family *f, const size_t *idx, size_t count, size_t B, const double *x,
                       double *y)
{
    size_t d = f->d;
    double *H = malloc(d * d * sizeof *H);
    memset(y, 0, d * sizeof *y);
    for (size_t c = 0; c < count; c++) {
        linstab_family_sample_dense(f, idx[c], H);
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) y[a] += H[a * d + b] * x[b] / (double)B;
    }
    free(H);
}

static linstab_family *diag_family(size_t n, size_t d, unsigned long seed)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, d, 1, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    for (size_t j = 0; j < n * d; j++) f->data[j] = (j % 3 == 0) ? 0.0 : 0.2 + 1.5 * gsl_rng_uniform(r);
    gsl_rng_free(r);
    return f;
}

Test(simulated_step, batch_apply_is_the_batch_mean_of_the_samples)
{
    linstab_family *fs[3] = {tu_family_dense(5, 4, 2, 31), tu_family_factored(5, 4, 1, 32), diag_family(5, 4, 33)};
    size_t idx[4] = {3, 0, 3, 4}; /* with a repeat, as with replacement */
    for (int k = 0; k < 3; k++) {
        linstab_sim *s = NULL;
        linstab_error err;
        cr_assert_eq(linstab_simulate_alloc(fs[k], LINSTAB_OPT_SGD, 0.1, 0.0, 4, LINSTAB_SAMPLING_WITH, &s, &err),
                     LINSTAB_OK);
        double x[4] = {0.3, -1.2, 0.7, 2.0}, y[4], want[4];
        for (size_t count = 1; count <= 4; count++) {
            linstab_simulate_batch_apply(s, idx, count, x, y);
            hand_apply(fs[k], idx, count, 4, x, want);
            for (int j = 0; j < 4; j++)
                cr_expect(fabs(y[j] - want[j]) <= 64 * 2.2e-16 * (1.0 + fabs(want[j])),
                          "kind %d count %zu: y[%d] = %.17g, want %.17g", k, count, j, y[j], want[j]);
        }
        linstab_simulate_free(s);
        linstab_family_free(fs[k]);
    }
}

/*
 * At B = n without replacement every batch is the whole sample, Hhat = H:
 *   SGD            w - eta H w
 *   SAM same       w - eta (H w + rho H^2 w)
 *   SAM indep      w - eta H (w + rho H w)
 *   SAM normalized w - eta H (w + rho H w / ||H w||)
 * For B = 1 with n = 1 the same holds.
 */
Test(simulated_step, at_full_batch_is_the_deterministic_update_for_every_dynamics)
{
    linstab_family *fs[3] = {tu_family_dense(4, 3, 3, 41), tu_family_factored(4, 3, 1, 42), diag_family(4, 3, 43)};
    linstab_optimizer dyns[4] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP,
                                LINSTAB_OPT_SAM_NORMALIZED};
    double eta = 0.3, rhos[2] = {0.0, 0.4};
    size_t all[4] = {0, 1, 2, 3};
    for (int k = 0; k < 3; k++)
        for (int q = 0; q < 4; q++)
            for (int ri = 0; ri < 2; ri++) {
                double rho = rhos[ri];
                linstab_sim *s = NULL;
                linstab_error err;
                cr_assert_eq(linstab_simulate_alloc(fs[k], dyns[q], eta, rho, 4, LINSTAB_SAMPLING_WITHOUT, &s, &err),
                             LINSTAB_OK);
                gsl_rng *r = tu_rng(44);
                double w[3] = {0.5, -0.25, 1.0}, g[3], t[3], u[3], want[3];
                for (int step = 0; step < 3; step++) {
                    hand_apply(fs[k], all, 4, 4, w, g); /* g = H w */
                    double gn = sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
                    for (int j = 0; j < 3; j++) {
                        double c = dyns[q] == LINSTAB_OPT_SGD ? 0.0 : dyns[q] == LINSTAB_OPT_SAM_NORMALIZED ? rho / gn : rho;
                        u[j] = w[j] + c * g[j]; /* the ascent point */
                    }
                    hand_apply(fs[k], all, 4, 4, u, t); /* H u */
                    for (int j = 0; j < 3; j++) want[j] = w[j] - eta * t[j];
                    linstab_simulate_step(s, r, w);
                    for (int j = 0; j < 3; j++) {
                        cr_expect(fabs(w[j] - want[j]) <= 64 * 2.2e-16 * (1.0 + fabs(want[j])),
                                  "kind %d dynamics %d rho %g step %d: w[%d] = %.17g, want %.17g", k, (int)dyns[q],
                                  rho, step, j, w[j], want[j]);
                        w[j] = want[j];
                    }
                }
                gsl_rng_free(r);
                linstab_simulate_free(s);
            }
    for (int k = 0; k < 3; k++) linstab_family_free(fs[k]);
}

Test(simulated_step, normalized_sam_moves_the_ascent_point_by_exactly_rho)
{
    /* B = 1, n = 1: Hhat = H_0 = diag(2, 1/2); with w = (1, 1): g = (2, 1/2),
     * ascent point u = w + rho g / ||g||, new w = w - eta H_0 u */
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 1, 2, 1, &f, &err), LINSTAB_OK);
    f->data[0] = 2.0;
    f->data[1] = 0.5;
    double eta = 0.25, rho = 3.0;
    linstab_sim *s = NULL;
    cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SAM_NORMALIZED, eta, rho, 1, LINSTAB_SAMPLING_WITH, &s, &err),
                 LINSTAB_OK);
    gsl_rng *r = tu_rng(1);
    double w[2] = {1.0, 1.0}, gn = sqrt(4.0 + 0.25);
    double u0 = 1.0 + rho * 2.0 / gn, u1 = 1.0 + rho * 0.5 / gn;
    linstab_simulate_step(s, r, w);
    cr_expect(fabs(w[0] - (1.0 - eta * 2.0 * u0)) <= 8 * 2.2e-16 && fabs(w[1] - (1.0 - eta * 0.5 * u1)) <= 8 * 2.2e-16,
              "w = (%.17g, %.17g), want (%.17g, %.17g)", w[0], w[1], 1.0 - eta * 2.0 * u0, 1.0 - eta * 0.5 * u1);
    /* at w = 0 the gradient vanishes: no ascent, w stays 0 */
    w[0] = w[1] = 0.0;
    linstab_simulate_step(s, r, w);
    cr_expect(w[0] == 0.0 && w[1] == 0.0);
    gsl_rng_free(r);
    linstab_simulate_free(s);
    linstab_family_free(f);
}

Test(simulated_step, diagonal_fast_path_equals_the_general_step_batch_for_batch)
{
    /* linstab_simulate_diag_run draws its batches exactly as linstab_simulate_step does
     * (same scheme, same stream), so from the same seed the two give the same
     * iterate: w_j (1 - eta (h_j + rho h_j^2)) per step, the general step as
     * w - eta (Hhat w + rho Hhat^2 w); rounding of a product of 200 factors:
     * 200 * 8 eps relative per coordinate.
     * Coordinate 4 is flat (zero in every sample): no batch touches every
     * coordinate.  A family whose batches cover every coordinate makes the
     * fast path write one element past its `touched` buffer (issue 10,
     * defect 2, being fixed in src/simulate.c by the map/simulate work);
     * once fixed, drop the zeroing below to cover that case too. */
    linstab_family *f = diag_family(6, 5, 61);
    for (size_t i = 0; i < 6; i++) f->data[i * 5 + 4] = 0.0;
    linstab_sampling ss[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};
    linstab_optimizer dyns[2] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME};
    size_t Bs[3] = {1, 3, 6};
    for (int si = 0; si < 3; si++)
        for (int q = 0; q < 2; q++)
            for (int bi = 0; bi < 3; bi++) {
                double rho = dyns[q] == LINSTAB_OPT_SAM_SAME ? 0.35 : 0.0;
                linstab_sim *s1 = NULL, *s2 = NULL;
                linstab_error err;
                cr_assert_eq(linstab_simulate_alloc(f, dyns[q], 0.3, rho, Bs[bi], ss[si], &s1, &err), LINSTAB_OK);
                cr_assert_eq(linstab_simulate_alloc(f, dyns[q], 0.3, rho, Bs[bi], ss[si], &s2, &err), LINSTAB_OK);
                gsl_rng *r1 = tu_rng(62), *r2 = tu_rng(62);
                double w1[5], w2[5], ln;
                for (int j = 0; j < 5; j++) w1[j] = w2[j] = 1.0 / sqrt(5.0);
                int rc = linstab_simulate_diag_run(s1, r1, w1, 200, 100.0, 100.0, &ln);
                cr_assert(rc == 0 || rc == -1, "rc %d", rc);
                for (int t = 0; t < 200; t++) linstab_simulate_step(s2, r2, w2);
                double sq = 0.0;
                for (int j = 0; j < 5; j++) {
                    sq += w2[j] * w2[j];
                    cr_expect(fabs(w1[j] - w2[j]) <= 200 * 8 * 2.2e-16 * fabs(w2[j]) + 1e-300,
                              "%s dyn %d B %zu: w[%d] fast %.17g, general %.17g", linstab_sampling_name(ss[si]),
                              (int)dyns[q], Bs[bi], j, w1[j], w2[j]);
                }
                if (rc == 0) cr_expect(fabs(ln - 0.5 * log(sq)) <= 1e-12 * (1 + fabs(ln)), "log norm %.17g vs %.17g", ln, 0.5 * log(sq));
                gsl_rng_free(r1);
                gsl_rng_free(r2);
                linstab_simulate_free(s1);
                linstab_simulate_free(s2);
            }
    linstab_family_free(f);
}
