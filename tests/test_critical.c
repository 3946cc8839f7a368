/*
 * test_critical.c -- the exact mean-square critical learning rate and batch
 * size (docs/math.md §3) and the bracketing bisection for critical values
 * without a closed form.
 *
 * eta* is checked as what it claims to be (the radius of T crosses 1 there),
 * against the closed forms of docs/math.md §7 (GD, Dexter et al.'s construction,
 * Theorem 1's tight case), and the dense and ARPACK eigen paths against each
 * other; the critical batch against brute force over every B.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include "linstab/critical.h"
#include "linstab/exact.h"
#include "linstab/family.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "testutil.h"

static const linstab_sampling all_samplings[3] = {LINSTAB_SAMPLING_BERNOULLI,
                                                  LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};

/* ---------------------------------------------------------------- families */






static double eta_star(const linstab_rotated *rf, linstab_sampling s, size_t B,
                       const linstab_eigen_opts *opts)
{
    double a, b, es = NAN;
    linstab_error err;
    linstab_sampling_coeffs(s, rf->f->n, B, &a, &b);
    cr_assert_eq(linstab_critical_eta(rf->f, rf->l, a, b, opts, &es, &err), LINSTAB_OK, "%s",
                 err.msg);
    return es;
}

static double sgd_radius(const linstab_rotated *rf, linstab_sampling s, size_t B, double eta)
{
    double a, b, rad = NAN;
    linstab_error err;
    linstab_sampling_coeffs(s, rf->f->n, B, &a, &b);
    linstab_secmom *sm = NULL;
    cr_assert_eq(linstab_secmom_alloc(rf->f, rf->l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &sm, &err),
                 LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_secmom_radius(sm, NULL, &rad, &err), LINSTAB_OK, "%s", err.msg);
    linstab_secmom_free(sm);
    return rad;
}

/* Smallest B in [1, n] with eta <= es[B] = eta*(B) (0: none), by brute force. */
static size_t brute_batch(const double *es, size_t n, double eta)
{
    for (size_t B = 1; B <= n; B++)
        if (eta <= es[B]) return B;
    return 0;
}

/* --------------------------------------------------- (1) the threshold */

/*
 * At eta*, T(eta*) = I - eta*(A - eta* Q) has top eigenvalue exactly 1 and
 * d radius / d eta = <v, A v> > 0 there, so a relative step of 1e-6 moves
 * the radius by about 1e-6 * eta* * 2 l_min, far above the ~1e-14 error of
 * the eigensolver for these well-conditioned families.
 */
static void check_threshold(const linstab_family *f, const char *what)
{
    linstab_rotated rf = tu_rotate(f);
    size_t n = f->n;
    size_t batches[] = {1, 2, n / 2, n - 1, n};
    for (int si = 0; si < 3; si++)
        for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
            linstab_sampling s = all_samplings[si];
            size_t B = batches[bi];
            double es = eta_star(&rf, s, B, NULL);
            cr_assert(isfinite(es) && es > 0.0, "%s: eta* = %g", what, es);
            double below = sgd_radius(&rf, s, B, es * (1.0 - 1e-6));
            double above = sgd_radius(&rf, s, B, es * (1.0 + 1e-6));
            cr_expect(below <= 1.0, "%s, %s, B = %zu: radius %.17g at eta*(1 - 1e-6)", what,
                      linstab_sampling_name(s), B, below);
            cr_expect(above > 1.0, "%s, %s, B = %zu: radius %.17g at eta*(1 + 1e-6)", what,
                      linstab_sampling_name(s), B, above);
            /* and the crossing is where it should be, not merely bracketed */
            cr_expect(fabs(sgd_radius(&rf, s, B, es) - 1.0) < 1e-9, "%s, %s, B = %zu", what,
                      linstab_sampling_name(s), B);
        }
    linstab_family_rotated_clear(&rf);
}

Test(critical_eta, is_where_the_sgd_radius_crosses_one_on_dense_families)
{
    for (unsigned long seed = 1; seed <= 3; seed++) {
        linstab_family *f = tu_family_dense(7, 4, 1 + seed % 3, seed);
        check_threshold(f, "dense");
        linstab_family_free(f);
    }
}

Test(critical_eta, is_where_the_sgd_radius_crosses_one_on_factored_families)
{
    for (unsigned long seed = 11; seed <= 13; seed++) {
        linstab_family *f = tu_family_factored(8, 5, 2, seed);
        check_threshold(f, "factored");
        linstab_family_free(f);
    }
}

Test(critical_eta, is_where_the_sgd_radius_crosses_one_on_a_rank_deficient_family)
{
    /* d = 6 but rank 4 (n k = 2 * 2): the flat directions must not count */
    linstab_family *f = tu_family_factored(2, 6, 2, 21);
    linstab_rotated rf = tu_rotate(f);
    cr_assert_eq(rf.f->d, 4);
    linstab_family_rotated_clear(&rf);
    check_threshold(f, "rank-deficient factored");
    linstab_family_free(f);
}

/* --------------------------------------------------------------- (2) GD */

Test(critical_eta, of_full_batch_without_replacement_is_two_over_lambda1)
{
    linstab_family *fams[3] = {tu_family_dense(6, 5, 2, 31), tu_family_factored(9, 4, 3, 32),
                               tu_family_004(12, 3)};
    for (int i = 0; i < 3; i++) {
        linstab_rotated rf = tu_rotate(fams[i]);
        double l1 = tu_lambda1_mean(fams[i]);
        size_t n = fams[i]->n;
        double gd = 2.0 / l1;
        /* b = 0 at B = n for both Bernoulli and without replacement */
        cr_expect(tu_rel(eta_star(&rf, LINSTAB_SAMPLING_WITHOUT, n, NULL), gd, 0.0) < 1e-10,
                  "family %d: eta* %.17g vs 2/l1 %.17g", i,
                  eta_star(&rf, LINSTAB_SAMPLING_WITHOUT, n, NULL), gd);
        cr_expect(tu_rel(eta_star(&rf, LINSTAB_SAMPLING_BERNOULLI, n, NULL), gd, 0.0) < 1e-10,
                  "family %d (Bernoulli B = n)", i);
        /* and with noise the threshold can only drop */
        for (int si = 0; si < 3; si++)
            cr_expect(eta_star(&rf, all_samplings[si], 1, NULL) <= gd * (1.0 + 1e-12));
        linstab_family_rotated_clear(&rf);
        linstab_family_free(fams[i]);
    }
}

Test(critical_eta, is_non_decreasing_in_the_batch_size)
{
    linstab_family *f = tu_family_dense(9, 4, 2, 41);
    linstab_rotated rf = tu_rotate(f);
    for (int si = 0; si < 3; si++) {
        double prev = 0.0;
        for (size_t B = 1; B <= f->n; B++) {
            double es = eta_star(&rf, all_samplings[si], B, NULL);
            cr_expect(es >= prev * (1.0 - 1e-12), "%s: eta*(%zu) = %.17g < eta*(%zu) = %.17g",
                      linstab_sampling_name(all_samplings[si]), B, es, B - 1, prev);
            prev = es;
        }
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ------------------------------- (3) Dexter et al.'s construction */

static double eta_ms_004(size_t n, size_t sigma, size_t B)
{
    double N = (double)n, S = (double)sigma, Bd = (double)B;
    return fmin(S / (S + N / Bd - 1.0), S * Bd / N);
}

Test(critical_eta, of_the_004_construction_is_theorem_2s_line_for_n_20)
{
    size_t n = 20, sigmas[] = {1, 2, 3, 4, 5, 7, 10, 19, 20};
    for (size_t si = 0; si < sizeof sigmas / sizeof *sigmas; si++) {
        linstab_family *f = tu_family_004(n, sigmas[si]);
        cr_assert(fabs(tu_lambda1_mean(f) - 2.0) < 1e-14);
        linstab_rotated rf = tu_rotate(f);
        for (size_t B = 1; B <= n; B++) {
            double es = eta_star(&rf, LINSTAB_SAMPLING_BERNOULLI, B, NULL);
            double want = eta_ms_004(n, sigmas[si], B);
            /* eta* = 1/mu, mu the top eigenvalue of a symmetric PSD m x m matrix
             * (||A|| = mu): relative c m eps (tu_tol with cond 1) */
            size_t m = rf.f->d * (rf.f->d + 1) / 2;
            cr_expect(tu_rel(es, want, 0.0) < tu_tol(m, 1.0), "sigma = %zu, B = %zu: eta* %.17g, want %.17g",
                      sigmas[si], B, es, want);
        }
        linstab_family_rotated_clear(&rf);
        linstab_family_free(f);
    }
}

Test(critical_eta, of_the_004_construction_is_theorem_2s_line_for_n_100)
{
    /* svec dimension up to 4656: matrix-free (ARPACK) */
    size_t n = 100, sigmas[] = {5, 25, 50}, batches[] = {10, 45, 90};
    linstab_eigen_opts eo = linstab_eigen_defaults();
    eo.path = LINSTAB_EIGEN_ARPACK;
    for (size_t si = 0; si < 3; si++) {
        linstab_family *f = tu_family_004(n, sigmas[si]);
        linstab_rotated rf = tu_rotate(f);
        for (size_t bi = 0; bi < 3; bi++) {
            double es = eta_star(&rf, LINSTAB_SAMPLING_BERNOULLI, batches[bi], &eo);
            double want = eta_ms_004(n, sigmas[si], batches[bi]);
            /* ARPACK's relative tolerance 1e-12 (times 10) or c m eps */
            size_t m = rf.f->d * (rf.f->d + 1) / 2;
            cr_expect(tu_rel(es, want, 0.0) < fmax(tu_tol(m, 1.0), 1e-11), "sigma = %zu, B = %zu: eta* %.17g, want %.17g",
                      sigmas[si], batches[bi], es, want);
        }
        linstab_family_rotated_clear(&rf);
        linstab_family_free(f);
    }
}

/* ------------------------------------ (4) Theorem 1 is tight (docs/math.md §4) */

/* The value of eta at which lambda1(H) = (sigma/eta)(n/B - 1)^(-1/2). */
static double thm1_equality_eta(double l1, double sigma, size_t n, size_t B)
{
    return sigma / (l1 * sqrt((double)n / (double)B - 1.0));
}

Test(critical_eta, equals_theorem_1s_threshold_for_unit_coordinate_samples)
{
    /* H_i = e_i e_i', n = d = 8, sigma = 1, Bernoulli, B = n/2 */
    size_t n = 8, B = 4;
    linstab_family *fd = NULL, *fdense = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, n, 1, &fd, &err), LINSTAB_OK);
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, n, n, &fdense, &err), LINSTAB_OK);
    for (size_t i = 0; i < n; i++) {
        fd->data[i * n + i] = 1.0;
        fdense->data[i * n * n + i * n + i] = 1.0;
    }
    double l1 = tu_lambda1_mean(fd);
    cr_assert(fabs(l1 - 1.0 / (double)n) < 1e-15);
    double want = thm1_equality_eta(l1, 1.0, n, B); /* = 8 */
    cr_assert(fabs(want - 8.0) < 1e-12);
    /* the dense copy has H = I/8: its rotation is an arbitrary basis of a
     * degenerate eigenspace, and eta* must not depend on that choice */
    linstab_family *fams[2] = {fd, fdense};
    for (int i = 0; i < 2; i++) {
        linstab_rotated rf = tu_rotate(fams[i]);
        double es = eta_star(&rf, LINSTAB_SAMPLING_BERNOULLI, B, NULL);
        cr_expect(tu_rel(es, want, 0.0) < tu_tol(n * (n + 1) / 2, 1.0), "%s: eta* %.17g, Theorem 1 equality at %.17g",
                  linstab_family_kind_name(fams[i]->kind), es, want);
        linstab_family_rotated_clear(&rf);
    }
    linstab_family_free(fd);
    linstab_family_free(fdense);
}

/* ----------------------------------------------- (5) critical batch */

/*
 * For each sampling: eta below eta*(1) (B = 1 stable), each geometric
 * midpoint between consecutive distinct eta*(B - 1) < eta*(B) (answer B),
 * above eta*(n) (no stable B: 0) and exactly at eta*(B); compared with
 * brute force.
 */
static void check_batch(const linstab_family *f, const char *what)
{
    linstab_rotated rf = tu_rotate(f);
    size_t n = f->n;
    double *es = malloc((n + 1) * sizeof *es);
    linstab_error err;
    for (int si = 0; si < 3; si++) {
        linstab_sampling s = all_samplings[si];
        for (size_t B = 1; B <= n; B++) es[B] = eta_star(&rf, s, B, NULL);
        double etas[80];
        size_t ne = 0;
        etas[ne++] = 0.5 * es[1];
        etas[ne++] = es[1] * (1.0 - 1e-9);
        for (size_t B = 2; B <= n && ne < 62; B++)
            if (es[B] > es[B - 1] * (1.0 + 1e-8)) etas[ne++] = sqrt(es[B - 1] * es[B]);
        etas[ne++] = 1.5 * es[n];
        /* exact ties eta = eta*(B): the boundary belongs to the stable side */
        for (size_t B = 1; B <= n && ne < 80; B += 3) etas[ne++] = es[B];
        int saw_none = 0, saw_one = 0;
        for (size_t e = 0; e < ne; e++) {
            size_t got = 12345;
            cr_assert_eq(linstab_critical_batch(rf.f, rf.l, s, etas[e], NULL, &got, &err),
                         LINSTAB_OK, "%s", err.msg);
            size_t want = brute_batch(es, n, etas[e]);
            saw_none |= want == 0;
            saw_one |= want == 1;
            cr_expect_eq(got, want, "%s, %s, eta = %.17g: critical batch %zu, brute force %zu",
                         what, linstab_sampling_name(s), etas[e], got, want);
        }
        cr_expect(saw_none && saw_one, "%s: the grid must hit both ends", what);
    }
    free(es);
    linstab_family_rotated_clear(&rf);
}

Test(critical_batch, is_the_smallest_stable_batch_on_a_dense_family)
{
    linstab_family *f = tu_family_dense(10, 3, 1, 51);
    check_batch(f, "dense");
    linstab_family_free(f);
}

Test(critical_batch, is_the_smallest_stable_batch_on_a_factored_family)
{
    linstab_family *f = tu_family_factored(12, 4, 2, 52);
    check_batch(f, "factored");
    linstab_family_free(f);
}

Test(critical_batch, is_the_smallest_stable_batch_on_the_004_construction)
{
    linstab_family *f = tu_family_004(20, 5);
    check_batch(f, "Dexter (20, 5)");
    linstab_family_free(f);
    f = tu_family_004(16, 1);
    check_batch(f, "Dexter (16, 1)");
    linstab_family_free(f);
}

Test(critical_batch, is_ceil_of_the_closed_form_on_the_004_construction)
{
    /* Bernoulli: B >= n eta / sigma and B >= n / (sigma/eta - sigma + 1) */
    size_t n = 20, sigma = 4;
    linstab_family *f = tu_family_004(n, sigma);
    linstab_rotated rf = tu_rotate(f);
    double etas[] = {0.1, 0.3, 0.55, 0.7, 0.9};
    for (size_t e = 0; e < sizeof etas / sizeof *etas; e++) {
        double eta = etas[e], S = (double)sigma, N = (double)n;
        double b1 = N * eta / S, b2 = N / (S / eta - S + 1.0);
        size_t want = (size_t)ceil(fmax(fmax(b1, b2), 1.0));
        if (want > n) want = 0;
        size_t got = 9999;
        linstab_error err;
        cr_assert_eq(linstab_critical_batch(rf.f, rf.l, LINSTAB_SAMPLING_BERNOULLI, eta, NULL, &got,
                                            &err),
                     LINSTAB_OK);
        cr_expect_eq(got, want, "eta = %g: got %zu, want %zu", eta, got, want);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* -------------------------------------------- (6) dense vs ARPACK */

Test(critical_eta, dense_and_arpack_paths_agree_at_rank_12)
{
    linstab_family *f = tu_family_dense(15, 12, 2, 61);
    linstab_rotated rf = tu_rotate(f);
    cr_assert_eq(rf.f->d, 12); /* svec dimension 78 */
    linstab_eigen_opts dense = linstab_eigen_defaults(), arp = linstab_eigen_defaults();
    dense.path = LINSTAB_EIGEN_DENSE;
    arp.path = LINSTAB_EIGEN_ARPACK;
    size_t batches[] = {1, 4, 14, 15};
    for (int si = 0; si < 3; si++)
        for (size_t bi = 0; bi < 4; bi++) {
            double e1 = eta_star(&rf, all_samplings[si], batches[bi], &dense);
            double e2 = eta_star(&rf, all_samplings[si], batches[bi], &arp);
            cr_expect(tu_rel(e2, e1, 0.0) < 1e-9, "%s, B = %zu: dense %.17g, ARPACK %.17g",
                      linstab_sampling_name(all_samplings[si]), batches[bi], e1, e2);
        }
    /* the critical batch through the second eigenproblem, too */
    for (int si = 0; si < 3; si++) {
        double eta = 0.5 * (eta_star(&rf, all_samplings[si], 3, &dense) +
                            eta_star(&rf, all_samplings[si], 4, &dense));
        size_t b1 = 0, b2 = 0;
        linstab_error err;
        cr_assert_eq(linstab_critical_batch(rf.f, rf.l, all_samplings[si], eta, &dense, &b1, &err),
                     LINSTAB_OK);
        cr_assert_eq(linstab_critical_batch(rf.f, rf.l, all_samplings[si], eta, &arp, &b2, &err),
                     LINSTAB_OK);
        cr_expect_eq(b1, b2);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(critical_eta, is_infinite_without_noise_and_zero_when_some_curvature_is_negative)
{
    linstab_family *f = tu_family_dense(5, 3, 2, 71);
    linstab_rotated rf = tu_rotate(f);
    double es = 0.0;
    linstab_error err;
    cr_assert_eq(linstab_critical_eta(rf.f, rf.l, 0.0, 0.0, NULL, &es, &err), LINSTAB_OK);
    cr_expect(isinf(es) && es > 0.0, "Q = 0: eta* = %g", es);
    double l[3] = {rf.l[0], rf.l[1], -0.1};
    cr_assert_eq(linstab_critical_eta(rf.f, l, 1.0, 0.2, NULL, &es, &err), LINSTAB_OK);
    cr_expect(es == 0.0, "l_3 < 0: (1 - eta l_3)^2 > 1 for every eta > 0, eta* = %g", es);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ---------------------------------------------- (7) critical_param */

static linstab_status quarter_square(double x, double *v, void *ctx, linstab_error *err)
{
    (void)err;
    if (ctx) (*(int *)ctx)++;
    *v = x * x / 4.0;
    return LINSTAB_OK;
}

static linstab_status shifted_cube(double x, double *v, void *ctx, linstab_error *err)
{
    (void)ctx;
    (void)err;
    *v = 1.0 + (x - 3.0) * (x - 3.0) * (x - 3.0);
    return LINSTAB_OK;
}

static linstab_status dip(double x, double *v, void *ctx, linstab_error *err)
{
    (void)ctx;
    (void)err;
    *v = 0.95 * (x - 1.0) * (x - 1.0);
    return LINSTAB_OK;
}

static linstab_status two_windows(double x, double *v, void *ctx, linstab_error *err)
{
    (void)ctx;
    (void)err;
    *v = (x < 1.0 || (x >= 2.0 && x < 3.0)) ? 0.5 : 2.0;
    return LINSTAB_OK;
}

static linstab_status constant_half(double x, double *v, void *ctx, linstab_error *err)
{
    (void)x;
    (void)ctx;
    (void)err;
    *v = 0.5;
    return LINSTAB_OK;
}

static linstab_status unstable_at_zero(double x, double *v, void *ctx, linstab_error *err)
{
    (void)ctx;
    (void)err;
    *v = 1.5 + x;
    return LINSTAB_OK;
}

static linstab_status fails_above_one(double x, double *v, void *ctx, linstab_error *err)
{
    (void)ctx;
    if (x > 1.0) return linstab_error_set(err, LINSTAB_ENOCONV, "test failure at %g", x);
    *v = 0.1;
    return LINSTAB_OK;
}

Test(critical_param, finds_two_for_a_quarter_square)
{
    double hints[] = {1e-3, 0.7, 2.0, 5.0, 1e3};
    for (size_t h = 0; h < sizeof hints / sizeof *hints; h++) {
        double x = NAN;
        int mono = -1, calls = 0;
        linstab_error err;
        cr_assert_eq(linstab_critical_param(quarter_square, &calls, hints[h], 1e-12, &x, &mono, &err),
                     LINSTAB_OK);
        /* the returned point is on the stable side, within rtol of the edge */
        cr_expect(x <= 2.0 && 2.0 - x <= 4e-12, "hint %g: x = %.17g", hints[h], x);
        cr_expect_eq(mono, 3, "hint %g: monotone flags %d", hints[h], mono); /* both bits */
        cr_expect(calls < 200, "hint %g: %d evaluations", hints[h], calls);
    }
}

Test(critical_param, finds_three_for_a_shifted_cube)
{
    /* 1 + (x - 3)^3 rounds to exactly 1 for |x - 3| < cbrt(DBL_EPSILON / 2)
     * ~ 4.8e-6: the computed stable set extends that far beyond 3 */
    double flat = cbrt(DBL_EPSILON / 2.0) * 1.01;
    double x = NAN;
    int mono = -1;
    linstab_error err;
    cr_assert_eq(linstab_critical_param(shifted_cube, NULL, 1.0, 1e-12, &x, &mono, &err), LINSTAB_OK);
    cr_expect(x >= 3.0 - 6e-12 && x <= 3.0 + flat, "x = %.17g", x);
    cr_expect_eq(mono, 3);
    /* monotone may be NULL */
    cr_assert_eq(linstab_critical_param(shifted_cube, NULL, 1.0, 1e-12, &x, NULL, &err), LINSTAB_OK);
    cr_expect(x >= 3.0 - 6e-12 && x <= 3.0 + flat, "x = %.17g", x);
}

Test(critical_param, reports_a_non_monotone_function)
{
    /* 0.95 (x - 1)^2: decreasing then increasing, one crossing of 1 */
    double x = NAN;
    int mono = -1;
    linstab_error err;
    cr_assert_eq(linstab_critical_param(dip, NULL, 1.0, 1e-12, &x, &mono, &err), LINSTAB_OK);
    double edge = 1.0 + sqrt(1.0 / 0.95);
    cr_expect(fabs(x - edge) <= 1e-11, "x = %.17g, edge %.17g", x, edge);
    cr_expect_eq(mono, 2, "flags %d: not non-decreasing, one crossing", mono);
}

Test(critical_param, reports_a_stable_set_that_is_not_an_interval)
{
    /* <= 1 on [0, 1) and [2, 3), > 1 elsewhere; hint 4 brackets all of it */
    double x = NAN;
    int mono = -1;
    linstab_error err;
    cr_assert_eq(linstab_critical_param(two_windows, NULL, 4.0, 1e-12, &x, &mono, &err), LINSTAB_OK);
    cr_expect_eq(mono, 0, "flags %d", mono);
    cr_expect(x >= 1.0 - 1e-11 && x < 3.0 + 1e-11, "x = %.17g", x);
}

Test(critical_param, gives_infinity_when_never_unstable_and_nan_when_unstable_at_zero)
{
    double x = 0.0;
    int mono = -1;
    linstab_error err;
    cr_assert_eq(linstab_critical_param(constant_half, NULL, 1.0, 1e-10, &x, &mono, &err),
                 LINSTAB_OK);
    cr_expect(isinf(x) && x > 0.0);
    cr_assert_eq(linstab_critical_param(unstable_at_zero, NULL, 1.0, 1e-10, &x, &mono, &err),
                 LINSTAB_OK);
    cr_expect(isnan(x));
}

static linstab_status stable_below_1p5_times_2_to_59(double x, double *v, void *ctx,
                                                     linstab_error *err)
{
    (void)ctx;
    (void)err;
    *v = x <= 1.5 * ldexp(1.0, 59) ? 0.5 : 2.0;
    return LINSTAB_OK;
}

Test(critical_param, brackets_up_to_two_to_the_sixty_times_the_hint)
{
    /* critical.h: +INFINITY only "if fn <= 1 up to 2^60 x_hint"; here fn
     * becomes > 1 at 1.5 * 2^59 < 2^60 (hint 1), so the edge is finite */
    double x = 0.0;
    linstab_error err;
    cr_assert_eq(linstab_critical_param(stable_below_1p5_times_2_to_59, NULL, 1.0, 1e-12, &x, NULL,
                                        &err),
                 LINSTAB_OK);
    double edge = 1.5 * ldexp(1.0, 59);
    cr_expect(isfinite(x) && fabs(x - edge) <= 1e-11 * edge, "x = %g, edge %g", x, edge);
}

Test(critical_param, passes_on_the_callbacks_error)
{
    double x = 0.0;
    linstab_error err;
    linstab_error_clear(&err);
    cr_expect_eq(linstab_critical_param(fails_above_one, NULL, 0.75, 1e-10, &x, NULL, &err),
                 LINSTAB_ENOCONV);
    cr_expect_eq(err.code, LINSTAB_ENOCONV);
}

Test(curvature_positive, needs_every_eigenvalue_above_r_eps_max)
{
    double a[3] = {2.0, 1.0, 0.5}, b[3] = {2.0, 1.0, 0.0}, c[3] = {2.0, -1e-3, 0.5}, e[3] = {2.0, 1.0, 1e-16};
    cr_expect_eq(linstab_critical_curvature_positive(3, a), 1);
    cr_expect_eq(linstab_critical_curvature_positive(3, b), 0);
    cr_expect_eq(linstab_critical_curvature_positive(3, c), 0);
    cr_expect_eq(linstab_critical_curvature_positive(3, e), 0, "1e-16 <= 3 eps 2: rounding, not curvature");
}

/* The matrix-free eta* (Lanczos tested at every step, ARPACK behind it) on
 * a rank-one family with H's spectrum clustered near 0 (n ~ d), svec
 * dimension 465, against LAPACK on the dense scaled operator, for the
 * three samplings at B = 1, 5 and n - 1. */
Test(critical_eta, matrix_free_equals_dense_on_a_rank_one_family)
{
    size_t n = 40, d = 30;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 1, &f, &err), LINSTAB_OK);
    gsl_rng *g = tu_rng(91);
    tu_gauss(g, f->data, n * d);
    gsl_rng_free(g);
    linstab_rotated rf = tu_rotate(f);
    linstab_eigen_opts dense = linstab_eigen_defaults(), mf = dense;
    dense.path = LINSTAB_EIGEN_DENSE;
    mf.path = LINSTAB_EIGEN_ARPACK;
    size_t batches[3] = {1, 5, n - 1};
    for (int si = 0; si < 3; si++)
        for (int bi = 0; bi < 3; bi++) {
            double e1 = eta_star(&rf, all_samplings[si], batches[bi], &dense);
            double e2 = eta_star(&rf, all_samplings[si], batches[bi], &mf);
            cr_expect_lt(tu_rel(e2, e1, 0.0), 1e-11, "%s, B = %zu: %.17g vs %.17g",
                         linstab_sampling_name(all_samplings[si]), batches[bi], e2, e1);
        }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(critical_eta, matrix_free_with_partial_reorthogonalization_equals_dense)
{
    /* svec dimension 4278 >= 4096: the matrix-free Lanczos keeps only
     * semi-orthogonality (Simon's estimates, full passes when they exceed
     * sqrt(eps)); the dense path diagonalizes the 4278 x 4278 matrix */
    linstab_family *f = tu_family_factored(120, 92, 1, 93);
    linstab_rotated rf = tu_rotate(f);
    cr_assert_geq(rf.f->d * (rf.f->d + 1) / 2, 4096);
    linstab_eigen_opts dense = linstab_eigen_defaults(), mf = dense;
    dense.path = LINSTAB_EIGEN_DENSE;
    mf.path = LINSTAB_EIGEN_ARPACK;
    size_t batches[2] = {1, 10};
    for (int bi = 0; bi < 2; bi++) {
        double e1 = eta_star(&rf, LINSTAB_SAMPLING_WITHOUT, batches[bi], &dense);
        double e2 = eta_star(&rf, LINSTAB_SAMPLING_WITHOUT, batches[bi], &mf);
        cr_expect_lt(tu_rel(e2, e1, 0.0), 1e-11, "B = %zu: %.17g vs %.17g", batches[bi], e2, e1);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}
