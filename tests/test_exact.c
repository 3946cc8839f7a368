/*
 * test_exact.c -- the orchestration of exact stability (exact.h): that
 * linstab_exact_compute reports what the direct calls compute, which SAM
 * cases have an exact operator, and the closed forms of docs/math.md §5 and
 * §7 (rho = 0 is SGD; full-batch SAM eta* = 2/(l1 (1 + rho l1)); Dexter et
 * al.'s construction; their Lemma 4.1 on a diagonal family).
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
#include "linstab/lyapunov.h"
#include "linstab/sam.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "testutil.h"

static const linstab_sampling all_samplings[3] = {LINSTAB_SAMPLING_BERNOULLI,
                                                  LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};
static const linstab_optimizer both_variants[2] = {LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP};





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

static double sgd_eta_star(const linstab_rotated *rf, linstab_sampling s, size_t B)
{
    double a, b, es = NAN;
    linstab_error err;
    linstab_sampling_coeffs(s, rf->f->n, B, &a, &b);
    cr_assert_eq(linstab_critical_eta(rf->f, rf->l, a, b, NULL, &es, &err), LINSTAB_OK);
    return es;
}

static double sam_radius(const linstab_rotated *rf, linstab_optimizer v, double eta, double rho,
                         size_t B, linstab_sampling s)
{
    double rad = NAN;
    linstab_error err;
    cr_assert_eq(linstab_sam_radius(rf, v, eta, rho, B, s, NULL, &rad, &err), LINSTAB_OK, "%s",
                 err.msg);
    return rad;
}

static double sam_eta_star(const linstab_rotated *rf, linstab_optimizer v, double rho, size_t B,
                           linstab_sampling s)
{
    double es = NAN;
    linstab_error err;
    cr_assert_eq(linstab_sam_eta_star(rf, v, rho, B, s, NULL, &es, &err), LINSTAB_OK, "%s",
                 err.msg);
    return es;
}

static linstab_exact compute(const linstab_rotated *rf, double eta, size_t B, double rho,
                             linstab_sampling s, linstab_optimizer v, int skip_lyap)
{
    linstab_hyper h = {eta, B, rho, s};
    linstab_exact_opts o = linstab_exact_defaults();
    o.skip_lyapunov = skip_lyap;
    o.seed = 99;
    linstab_exact ex;
    linstab_error err;
    cr_assert_eq(linstab_exact_compute(rf, &h, v, &o, &ex, &err), LINSTAB_OK, "%s", err.msg);
    return ex;
}

/* ----------------------------------------------- rotated families */

Test(rotated, holds_the_eigenvalues_of_h_in_decreasing_order)
{
    /* exact.h: l = "eigenvalues of H, decreasing" for every representation;
     * the diagonal family below has H = diag(0.5, 0, 4) */
    linstab_family *fd = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 2, 3, 1, &fd, &err), LINSTAB_OK);
    double data[6] = {1.0, 0.0, 3.0, 0.0, 0.0, 5.0};
    memcpy(fd->data, data, sizeof data);
    linstab_family *fams[3] = {tu_family_dense(6, 4, 1, 71), fd, tu_family_004(8, 2)};
    for (int i = 0; i < 3; i++) {
        linstab_rotated rf = tu_rotate(fams[i]);
        size_t r = rf.f->d;
        cr_expect_eq(rf.d_full, fams[i]->d);
        cr_expect(tu_rel(rf.l[0], tu_lambda1_mean(fams[i]), 0.0) < 1e-12, "%s: l[0] = %g, lambda1 %g",
                  linstab_family_kind_name(fams[i]->kind), rf.l[0], tu_lambda1_mean(fams[i]));
        for (size_t j = 1; j < r; j++)
            cr_expect(rf.l[j] <= rf.l[j - 1], "%s: l[%zu] = %g > l[%zu] = %g",
                      linstab_family_kind_name(fams[i]->kind), j, rf.l[j], j - 1, rf.l[j - 1]);
        /* and H = diag(l) in the rotated basis */
        double *H = malloc(r * r * sizeof *H);
        cr_assert_eq(linstab_family_mean(rf.f, H, &err), LINSTAB_OK);
        for (size_t j = 0; j < r; j++)
            for (size_t k = 0; k < r; k++)
                cr_expect(fabs(H[j * r + k] - (j == k ? rf.l[j] : 0.0)) < 1e-12 * rf.l[0]);
        free(H);
        linstab_family_rotated_clear(&rf);
        linstab_family_free(fams[i]);
    }
}

/* ------------------------------------ Dexter et al. Lemma 4.1, dense */

/* Y = X - eta (HX + XH) + eta^2 (HXH + b (1/n) sum H_i X H_i), unrotated. */
static void dense_T(const linstab_family *f, const double *H, double eta, double b, const double *X,
                    double *Y)
{
    size_t d = f->d;
    double *HX = malloc(d * d * sizeof *HX), *S = calloc(d * d, sizeof *S);
    double *T = malloc(d * d * sizeof *T);
    for (size_t i = 0; i < f->n; i++) {
        const double *Hi = f->data + i * d * d;
        for (size_t p = 0; p < d; p++)
            for (size_t q = 0; q < d; q++) {
                double s = 0.0;
                for (size_t k = 0; k < d; k++) s += Hi[p * d + k] * X[k * d + q];
                T[p * d + q] = s;
            }
        for (size_t p = 0; p < d; p++)
            for (size_t q = 0; q < d; q++) {
                double s = 0.0;
                for (size_t k = 0; k < d; k++) s += T[p * d + k] * Hi[k * d + q];
                S[p * d + q] += s / (double)f->n;
            }
    }
    for (size_t p = 0; p < d; p++)
        for (size_t q = 0; q < d; q++) {
            double s = 0.0;
            for (size_t k = 0; k < d; k++) s += H[p * d + k] * X[k * d + q];
            HX[p * d + q] = s;
        }
    for (size_t p = 0; p < d; p++)
        for (size_t q = 0; q < d; q++) {
            double hxh = 0.0;
            for (size_t k = 0; k < d; k++) hxh += HX[p * d + k] * H[k * d + q];
            Y[p * d + q] = X[p * d + q] - eta * (HX[p * d + q] + HX[q * d + p]) +
                           eta * eta * (hxh + b * S[p * d + q]);
        }
    free(HX);
    free(S);
    free(T);
}

Test(lemma41, matches_repeated_application_on_a_dense_family)
{
    /* full rank (no flat directions), so traces on the range are traces */
    linstab_family *f = tu_family_dense(6, 3, 2, 81);
    linstab_rotated rf = tu_rotate(f);
    cr_assert_eq(rf.f->d, 3);
    size_t n = f->n, d = f->d, B = 2, K = 6;
    double eta = 0.3, a, b, N = (double)n;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_BERNOULLI, n, B, &a, &b);
    double c = eta * eta / (N * (double)B) - eta * eta / (N * N);
    double trace[6], lower[6];
    linstab_error err;
    cr_assert_eq(linstab_exact_lemma41(&rf, eta, B, K, trace, lower, &err), LINSTAB_OK);
    double *H = malloc(d * d * sizeof *H), *X = calloc(d * d, sizeof *X), *Y = malloc(d * d * sizeof *Y);
    double *Z = calloc(d * d, sizeof *Z), *W = malloc(d * d * sizeof *W);
    cr_assert_eq(linstab_family_mean(f, H, &err), LINSTAB_OK);
    for (size_t j = 0; j < d; j++) X[j * d + j] = Z[j * d + j] = 1.0;
    double ck = 1.0;
    for (size_t k = 0; k < K; k++) {
        dense_T(f, H, eta, b, X, Y);
        /* N(Z) = sum_i H_i Z H_i = n * the family's sandwich */
        cr_assert_eq(linstab_family_sandwich(f, Z, W, &err), LINSTAB_OK);
        for (size_t j = 0; j < d * d; j++) W[j] *= N;
        double tt = 0.0, tl = 0.0;
        for (size_t j = 0; j < d; j++) {
            tt += Y[j * d + j];
            tl += W[j * d + j];
        }
        ck *= c;
        cr_expect(tu_rel(trace[k], tt, 0.0) < 1e-12, "k = %zu: %.17g vs %.17g", k + 1, trace[k], tt);
        cr_expect(tu_rel(lower[k], ck * tl, 0.0) < 1e-12, "k = %zu: %.17g vs %.17g", k + 1, lower[k],
                  ck * tl);
        memcpy(X, Y, d * d * sizeof *X);
        memcpy(Z, W, d * d * sizeof *Z);
    }
    free(H);
    free(X);
    free(Y);
    free(Z);
    free(W);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* -------------------------------- exact_compute vs the direct calls */

static void check_against_direct_calls(const linstab_family *f, const char *what)
{
    linstab_rotated rf = tu_rotate(f);
    size_t n = f->n;
    size_t batches[] = {1, 2, n - 1, n};
    for (int si = 0; si < 3; si++)
        for (size_t bi = 0; bi < 4; bi++) {
            linstab_sampling s = all_samplings[si];
            size_t B = batches[bi];
            double es = sgd_eta_star(&rf, s, B);
            double etas[] = {0.6 * es, 1.3 * es};
            for (int e = 0; e < 2; e++) {
                linstab_exact ex = compute(&rf, etas[e], B, 0.0, s, LINSTAB_OPT_SAM_SAME, 1);
                double rad = sgd_radius(&rf, s, B, etas[e]);
                cr_expect(tu_rel(ex.sgd_radius, rad, 0.0) < 1e-13, "%s %s B %zu: radius %.17g vs %.17g",
                          what, linstab_sampling_name(s), B, ex.sgd_radius, rad);
                cr_expect_eq(ex.sgd_stable, rad <= 1.0);
                cr_expect_eq(ex.sgd_stable, e == 0, "%s: eta* is the threshold", what);
                cr_expect(tu_rel(ex.sgd_eta_star, es, 0.0) < 1e-13);
                size_t Bc = 0;
                linstab_error err;
                cr_assert_eq(linstab_critical_batch(rf.f, rf.l, s, etas[e], NULL, &Bc, &err),
                             LINSTAB_OK);
                cr_expect_eq(ex.sgd_critical_batch, Bc, "%s %s B %zu eta %g", what,
                             linstab_sampling_name(s), B, etas[e]);
                /* and at this B: stable iff the critical batch is <= B */
                cr_expect_eq(ex.sgd_stable, Bc != 0 && Bc <= B);
                cr_expect_eq(ex.lyap_done, 0);
            }
        }
    linstab_family_rotated_clear(&rf);
}

Test(exact_compute, agrees_with_the_direct_calls_on_a_dense_family)
{
    linstab_family *f = tu_family_dense(7, 4, 2, 3);
    check_against_direct_calls(f, "dense");
    linstab_family_free(f);
}

Test(exact_compute, agrees_with_the_direct_calls_on_the_004_construction)
{
    linstab_family *f = tu_family_004(12, 3);
    check_against_direct_calls(f, "Dexter");
    linstab_family_free(f);
}

Test(exact_compute, reproduces_the_004_closed_forms_and_its_exact_exponent)
{
    size_t n = 20, sigma = 5;
    linstab_family *f = tu_family_004(n, sigma);
    linstab_rotated rf = tu_rotate(f);
    double eta = 0.8, S = (double)sigma, N = (double)n;
    for (size_t B = 1; B <= n; B += 3) {
        linstab_exact ex = compute(&rf, eta, B, 0.0, LINSTAB_SAMPLING_BERNOULLI, LINSTAB_OPT_SAM_SAME, 0);
        double want = fmin(S / (S + N / (double)B - 1.0), S * (double)B / N);
        cr_expect(tu_rel(ex.sgd_eta_star, want, 0.0) < 1e-10, "B = %zu", B);
        /* ceil(max(n eta / sigma, n / (sigma/eta - sigma + 1))) = ceil(8.9) */
        cr_expect_eq(ex.sgd_critical_batch, 9);
        cr_expect_eq(ex.lyap_done, 1);
        cr_expect_eq(ex.lyap.exact, 1, "a diagonal family of Dexter et al.'s kind is enumerated");
        linstab_lyap ly;
        int ok = 0;
        linstab_error err;
        cr_assert_eq(linstab_lyapunov_diag_exact(rf.f, LINSTAB_OPT_SGD, eta, 0.0, B,
                                                 LINSTAB_SAMPLING_BERNOULLI, &ly, &ok, &err),
                     LINSTAB_OK);
        cr_assert_eq(ok, 1);
        cr_expect_eq(ex.lyap.exponent, ly.exponent);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(exact_compute, runs_the_monte_carlo_exponent_of_the_dynamics_in_use)
{
    linstab_family *f = tu_family_dense(6, 3, 1, 8);
    linstab_rotated rf = tu_rotate(f);
    struct {
        double rho;
        linstab_optimizer v;
        linstab_optimizer dyn;
    } cs[] = {{0.0, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SGD},
              {0.0, LINSTAB_OPT_SAM_INDEP, LINSTAB_OPT_SGD},
              {0.3, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_SAME},
              {0.3, LINSTAB_OPT_SAM_INDEP, LINSTAB_OPT_SAM_INDEP}};
    for (int c = 0; c < 4; c++) {
        linstab_exact ex = compute(&rf, 0.4, 2, cs[c].rho, LINSTAB_SAMPLING_WITH, cs[c].v, 0);
        linstab_lyap ly;
        linstab_error err;
        cr_assert_eq(linstab_lyapunov_mc(rf.f, cs[c].dyn, 0.4, cs[c].rho, 2, LINSTAB_SAMPLING_WITH,
                                         8, 2000, 99, &ly, &err),
                     LINSTAB_OK);
        cr_expect_eq(ex.lyap_done, 1);
        cr_expect_eq(ex.lyap.exact, 0);
        cr_expect_eq(ex.lyap.exponent, ly.exponent, "case %d", c);
        cr_expect_eq(ex.lyap.stderr_, ly.stderr_);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(exact_compute, rejects_bad_hyper_parameters)
{
    linstab_family *f = tu_family_004(6, 2);
    linstab_rotated rf = tu_rotate(f);
    linstab_exact_opts o = linstab_exact_defaults();
    linstab_exact ex;
    linstab_error err;
    linstab_hyper bad[] = {{0.0, 2, 0.0, LINSTAB_SAMPLING_WITH},
                           {0.1, 0, 0.0, LINSTAB_SAMPLING_WITH},
                           {0.1, 7, 0.0, LINSTAB_SAMPLING_WITH},
                           {0.1, 2, -1.0, LINSTAB_SAMPLING_WITH},
                           {NAN, 2, 0.0, LINSTAB_SAMPLING_WITH}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(linstab_exact_compute(&rf, &bad[i], LINSTAB_OPT_SAM_SAME, &o, &ex, &err),
                     LINSTAB_EINVAL, "case %zu", i);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ------------------------------------------------- SAM availability */

Test(sam_available, same_needs_a_cheap_route_or_a_small_rank)
{
    size_t n = 10, big = LINSTAB_SAM_SAME_MAX_R + 1;
    for (int si = 0; si < 3; si++)
        for (size_t B = 1; B <= n; B++) {
            linstab_sampling s = all_samplings[si];
            /* 'same': B = 1 with or without replacement (SGD on K_i) and full
             * batch without replacement, at any rank */
            int special = (B == 1 && s != LINSTAB_SAMPLING_BERNOULLI) ||
                          (B == n && s == LINSTAB_SAMPLING_WITHOUT);
            cr_expect_eq(linstab_sam_available_rank(LINSTAB_OPT_SAM_SAME, n, big, B, s), special,
                         "same, %s, B = %zu, rank %zu", linstab_sampling_name(s), B, big);
            cr_expect_eq(linstab_sam_available_rank(LINSTAB_OPT_SAM_SAME, n, 1000, B, s), special);
            /* every case through the set-partition expansion at small rank */
            cr_expect_eq(linstab_sam_available_rank(LINSTAB_OPT_SAM_SAME, n, LINSTAB_SAM_SAME_MAX_R, B, s),
                         1);
            cr_expect_eq(linstab_sam_available_rank(LINSTAB_OPT_SAM_SAME, n, 3, B, s), 1);
            /* 'independent': always */
            cr_expect_eq(linstab_sam_available_rank(LINSTAB_OPT_SAM_INDEP, n, big, B, s), 1);
            cr_expect_eq(linstab_sam_available_rank(LINSTAB_OPT_SAM_INDEP, n, 3, B, s), 1);
            /* "for some rank" */
            cr_expect_eq(linstab_sam_available(LINSTAB_OPT_SAM_SAME, n, B, s), 1);
            cr_expect_eq(linstab_sam_available(LINSTAB_OPT_SAM_INDEP, n, B, s), 1);
        }
}

Test(sam_available, is_what_exact_compute_reports)
{
    /* rank 4: everything available and filled in */
    linstab_family *f = tu_family_dense(5, 4, 2, 12);
    linstab_rotated rf = tu_rotate(f);
    for (int si = 0; si < 3; si++)
        for (int vi = 0; vi < 2; vi++) {
            linstab_exact ex = compute(&rf, 0.2, 2, 0.1, all_samplings[si], both_variants[vi], 1);
            cr_expect_eq(ex.sam_available, 1);
            cr_expect_eq(ex.sam_variant, both_variants[vi]);
            cr_expect(ex.sam_radius > 0.0 && isfinite(ex.sam_eta_star));
            cr_expect_eq(ex.sam_stable, ex.sam_radius <= 1.0);
        }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    /* rank 41 (Dexter's family with n = 42, sigma = 2): 'same' at B = 5 has no exact
     * operator; 'independent' does */
    f = tu_family_004(42, 2);
    rf = tu_rotate(f);
    cr_assert_eq(rf.f->d, LINSTAB_SAM_SAME_MAX_R + 1);
    linstab_exact ex = compute(&rf, 0.2, 5, 0.1, LINSTAB_SAMPLING_BERNOULLI, LINSTAB_OPT_SAM_SAME, 1);
    cr_expect_eq(ex.sam_available, 0);
    cr_expect(ex.sgd_radius > 0.0, "the SGD part is still computed");
    double es;
    linstab_error err;
    cr_expect_eq(linstab_sam_eta_star(&rf, LINSTAB_OPT_SAM_SAME, 0.1, 5, LINSTAB_SAMPLING_BERNOULLI,
                                      NULL, &es, &err),
                 LINSTAB_EINVAL);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ------------------------------------------------- rho = 0 is SGD */

Test(sam, at_rho_zero_is_sgd_for_every_variant_sampling_and_batch)
{
    linstab_family *f = tu_family_dense(6, 3, 2, 21);
    linstab_rotated rf = tu_rotate(f);
    size_t n = f->n, batches[] = {1, 2, n - 1, n};
    for (int si = 0; si < 3; si++)
        for (size_t bi = 0; bi < 4; bi++)
            for (int vi = 0; vi < 2; vi++) {
                linstab_sampling s = all_samplings[si];
                size_t B = batches[bi];
                linstab_optimizer v = both_variants[vi];
                double es = sgd_eta_star(&rf, s, B);
                double eta = 0.8 * es;
                double r_sgd = sgd_radius(&rf, s, B, eta);
                double r_sam = sam_radius(&rf, v, eta, 0.0, B, s);
                cr_expect(tu_rel(r_sam, r_sgd, 0.0) < 1e-12, "%s %s B %zu: SAM %.17g, SGD %.17g",
                          linstab_sam_variant_name(v), linstab_sampling_name(s), B, r_sam, r_sgd);
                /* bisection (rtol 1e-10) for the non-closed-form cases */
                double se = sam_eta_star(&rf, v, 0.0, B, s);
                cr_expect(tu_rel(se, es, 0.0) < 1e-9, "%s %s B %zu: SAM eta* %.17g, SGD %.17g",
                          linstab_sam_variant_name(v), linstab_sampling_name(s), B, se, es);
                linstab_exact ex = compute(&rf, eta, B, 0.0, s, v, 1);
                cr_expect(tu_rel(ex.sam_radius, ex.sgd_radius, 0.0) < 1e-12);
                cr_expect(tu_rel(ex.sam_eta_star, ex.sgd_eta_star, 0.0) < 1e-9);
            }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ----------------------------------------------- full-batch SAM */

Test(sam, full_batch_eta_star_is_two_over_l1_times_one_plus_rho_l1)
{
    linstab_family *f = tu_family_dense(5, 4, 2, 31);
    linstab_rotated rf = tu_rotate(f);
    size_t n = f->n;
    double l1 = tu_lambda1_mean(f);
    double rhos[] = {0.0, 0.1, 1.0, 5.0};
    for (size_t ri = 0; ri < 4; ri++) {
        double rho = rhos[ri], want = 2.0 / (l1 * (1.0 + rho * l1));
        /* 'same' without replacement: closed form in the code */
        double es = sam_eta_star(&rf, LINSTAB_OPT_SAM_SAME, rho, n, LINSTAB_SAMPLING_WITHOUT);
        cr_expect(tu_rel(es, want, 0.0) < 1e-12, "rho %g: %.17g vs %.17g", rho, es, want);
        /* the same deterministic step through other routes (bisection):
         * independent batches at B = n without replacement, and Bernoulli at
         * B = n (every sample w.p. 1) through the set-partition expansion */
        es = sam_eta_star(&rf, LINSTAB_OPT_SAM_INDEP, rho, n, LINSTAB_SAMPLING_WITHOUT);
        cr_expect(tu_rel(es, want, 0.0) < 1e-9, "independent, rho %g: %.17g vs %.17g", rho, es, want);
        es = sam_eta_star(&rf, LINSTAB_OPT_SAM_SAME, rho, n, LINSTAB_SAMPLING_BERNOULLI);
        cr_expect(tu_rel(es, want, 0.0) < 1e-9, "Bernoulli B = n, rho %g: %.17g vs %.17g", rho, es,
                  want);
        /* the radius is max_j (1 - eta (l_j + rho l_j^2))^2 and crosses 1 there */
        double lo = sam_radius(&rf, LINSTAB_OPT_SAM_SAME, want * (1.0 - 1e-6), rho, n,
                               LINSTAB_SAMPLING_WITHOUT);
        double hi = sam_radius(&rf, LINSTAB_OPT_SAM_SAME, want * (1.0 + 1e-6), rho, n,
                               LINSTAB_SAMPLING_WITHOUT);
        cr_expect(lo <= 1.0 && hi > 1.0, "rho %g: %.17g, %.17g", rho, lo, hi);
        double eta = 0.5 * want, rad = 0.0;
        for (size_t j = 0; j < rf.f->d; j++) {
            double g = 1.0 - eta * (rf.l[j] + rho * rf.l[j] * rf.l[j]);
            rad = fmax(rad, g * g);
        }
        cr_expect(tu_rel(sam_radius(&rf, LINSTAB_OPT_SAM_SAME, eta, rho, n, LINSTAB_SAMPLING_WITHOUT),
                         rad, 0.0) < 1e-12);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* -------------------------------------------------- SAM eta* */

Test(sam, eta_star_is_where_the_sam_radius_crosses_one)
{
    linstab_family *f = tu_family_dense(5, 3, 2, 41);
    linstab_rotated rf = tu_rotate(f);
    size_t n = f->n;
    struct {
        linstab_optimizer v;
        size_t B;
        linstab_sampling s;
    } cs[] = {{LINSTAB_OPT_SAM_SAME, 1, LINSTAB_SAMPLING_WITH},
              {LINSTAB_OPT_SAM_SAME, 1, LINSTAB_SAMPLING_WITHOUT},
              {LINSTAB_OPT_SAM_SAME, 2, LINSTAB_SAMPLING_BERNOULLI},
              {LINSTAB_OPT_SAM_SAME, 3, LINSTAB_SAMPLING_WITH},
              {LINSTAB_OPT_SAM_INDEP, 1, LINSTAB_SAMPLING_WITH},
              {LINSTAB_OPT_SAM_INDEP, 2, LINSTAB_SAMPLING_WITHOUT},
              {LINSTAB_OPT_SAM_INDEP, 4, LINSTAB_SAMPLING_BERNOULLI}};
    (void)n;
    for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
        double rho = 0.4;
        double es = sam_eta_star(&rf, cs[c].v, rho, cs[c].B, cs[c].s);
        double lo = sam_radius(&rf, cs[c].v, es * (1.0 - 1e-6), rho, cs[c].B, cs[c].s);
        double hi = sam_radius(&rf, cs[c].v, es * (1.0 + 1e-6), rho, cs[c].B, cs[c].s);
        cr_expect(lo <= 1.0 && hi > 1.0, "case %zu (%s, B %zu, %s): eta* %.17g, radius %.17g, %.17g",
                  c, linstab_sam_variant_name(cs[c].v), cs[c].B, linstab_sampling_name(cs[c].s), es,
                  lo, hi);
        /* SAM at rho > 0 is less stable than SGD: eta* can only drop */
        cr_expect(es <= sgd_eta_star(&rf, cs[c].s, cs[c].B) * (1.0 + 1e-9));
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ------------------------------------------------- SAM critical rho */

Test(sam, critical_rho_is_where_the_sam_radius_crosses_one)
{
    linstab_family *f = tu_family_dense(5, 3, 2, 51);
    linstab_rotated rf = tu_rotate(f);
    size_t n = f->n;
    struct {
        linstab_optimizer v;
        size_t B;
        linstab_sampling s;
    } cs[] = {{LINSTAB_OPT_SAM_SAME, 1, LINSTAB_SAMPLING_WITH},
              {LINSTAB_OPT_SAM_SAME, n, LINSTAB_SAMPLING_WITHOUT},
              {LINSTAB_OPT_SAM_SAME, 3, LINSTAB_SAMPLING_BERNOULLI},
              {LINSTAB_OPT_SAM_INDEP, 2, LINSTAB_SAMPLING_WITHOUT},
              {LINSTAB_OPT_SAM_INDEP, 1, LINSTAB_SAMPLING_WITH}};
    for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
        double eta = 0.7 * sgd_eta_star(&rf, cs[c].s, cs[c].B);
        linstab_exact ex = compute(&rf, eta, cs[c].B, 0.2, cs[c].s, cs[c].v, 1);
        cr_assert_eq(ex.sam_available, 1);
        double rc = ex.sam_critical_rho;
        cr_assert(isfinite(rc) && rc > 0.0, "case %zu: rho_crit %g", c, rc);
        double lo = sam_radius(&rf, cs[c].v, eta, rc * (1.0 - 1e-6), cs[c].B, cs[c].s);
        double hi = sam_radius(&rf, cs[c].v, eta, rc * (1.0 + 1e-6), cs[c].B, cs[c].s);
        cr_expect(lo <= 1.0 && hi > 1.0, "case %zu (%s, B %zu, %s): rho_crit %.17g, radius %.17g, %.17g",
                  c, linstab_sam_variant_name(cs[c].v), cs[c].B, linstab_sampling_name(cs[c].s), rc,
                  lo, hi);
        /* the radius need not be monotone in rho (a small l_j's factor
         * 1 - eta (l_j + rho l_j^2) first shrinks), but the stable set is an
         * interval here: bit 1 */
        cr_expect(ex.sam_rho_monotone & 2, "case %zu: flags %d", c, ex.sam_rho_monotone);
        /* consistent with the SAM radius reported at rho = 0.2 */
        cr_expect_eq(ex.sam_stable, 0.2 <= rc);
    }
    /* full batch: eta = 2/(l1 (1 + rho l1)) solved for rho */
    double l1 = tu_lambda1_mean(f), eta = 1.0 / l1;
    linstab_exact ex = compute(&rf, eta, n, 0.0, LINSTAB_SAMPLING_WITHOUT, LINSTAB_OPT_SAM_SAME, 1);
    double want = (2.0 / eta - l1) / (l1 * l1);
    cr_expect(tu_rel(ex.sam_critical_rho, want, 0.0) < 1e-9, "%.17g vs %.17g", ex.sam_critical_rho,
              want);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(sam, critical_rho_is_nan_when_sgd_is_unstable_at_eta)
{
    linstab_family *f = tu_family_dense(5, 3, 2, 61);
    linstab_rotated rf = tu_rotate(f);
    for (int si = 0; si < 3; si++)
        for (int vi = 0; vi < 2; vi++) {
            double eta = 1.2 * sgd_eta_star(&rf, all_samplings[si], 2);
            linstab_exact ex = compute(&rf, eta, 2, 0.05, all_samplings[si], both_variants[vi], 1);
            cr_expect_eq(ex.sgd_stable, 0);
            cr_expect(isnan(ex.sam_critical_rho), "%s %s: %g", linstab_sampling_name(all_samplings[si]),
                      linstab_sam_variant_name(both_variants[vi]), ex.sam_critical_rho);
            cr_expect_eq(ex.sam_stable, 0);
        }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ------------------------------------------ Dexter et al. Lemma 4.1 */

Test(lemma41, has_closed_forms_on_the_004_construction)
{
    /* diagonal: T^k(I) = diag(f_j^k) with docs/math.md §7's mean-square factors,
     * N^k(I) = diag((sum_i h_ij^2)^k): sigma m^2 on coordinate 1, m^2 else */
    size_t n = 20, sigma = 4, d = n - sigma + 1;
    linstab_family *f = tu_family_004(n, sigma);
    linstab_rotated rf = tu_rotate(f);
    double eta = 0.3, N = (double)n, S = (double)sigma, m = 2.0 * N / S;
    size_t batches[] = {3, 10, 20};
    for (size_t bi = 0; bi < 3; bi++) {
        size_t B = batches[bi];
        double Bd = (double)B;
        linstab_exact ex = compute(&rf, eta, B, 0.0, LINSTAB_SAMPLING_BERNOULLI, LINSTAB_OPT_SAM_SAME, 1);
        cr_assert_eq(ex.lemma_k, 10);
        double f1 = 1.0 - 4.0 * eta + 4.0 * eta * eta + 4.0 * eta * eta * (N / Bd - 1.0) / S;
        double fj = 1.0 - 4.0 * eta / S + 4.0 * eta * eta * N / (S * S * Bd);
        double c = eta * eta / (N * Bd) - eta * eta / (N * N);
        for (size_t k = 1; k <= ex.lemma_k; k++) {
            double K = (double)k;
            double tr = pow(f1, K) + (double)(d - 1) * pow(fj, K);
            double lw = pow(c, K) * (pow(S * m * m, K) + (double)(d - 1) * pow(m * m, K));
            cr_expect(tu_rel(ex.lemma_trace[k - 1], tr, 0.0) < 1e-12, "B %zu, k %zu: %.17g vs %.17g",
                      B, k, ex.lemma_trace[k - 1], tr);
            cr_expect(fabs(ex.lemma_lower[k - 1] - lw) <= 1e-12 * fmax(fabs(lw), DBL_MIN),
                      "B %zu, k %zu: %.17g vs %.17g", B, k, ex.lemma_lower[k - 1], lw);
        }
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ------------------------------------------------- the marginal rule */

/* At eta = eta* the exact radius is 1: SGD and SAM at rho = 0 (the same
 * dynamics) must both say "marginal", and a step of 1e-6 relative either
 * side must leave the band (the band is rounding, not a fudge). */
static void marginal_at_eta_star(const linstab_family *f, const char *what)
{
    linstab_rotated rf = tu_rotate(f);
    int full = 1; /* exact_compute once: its verdicts are the rule's */
    for (int t = 0; t < 3; t++)
        for (size_t B = 1; B < f->n; B += (f->n > 6 ? f->n / 3 : 1)) {
            double es = sgd_eta_star(&rf, all_samplings[t], B);
            cr_assert(isfinite(es) && es > 0.0);
            double tol = linstab_exact_radius_tol(&rf, es, 0.0, NULL);
            double r = sgd_radius(&rf, all_samplings[t], B, es);
            cr_expect_eq(linstab_verdict_classify(r, tol), LINSTAB_VERDICT_MARGINAL,
                         "%s %s B = %zu: SGD radius - 1 = %g, tol %g", what, linstab_sampling_name(all_samplings[t]),
                         B, r - 1.0, tol);
            if (linstab_sam_available_rank(LINSTAB_OPT_SAM_SAME, f->n, rf.f->d, B, all_samplings[t])) {
                double rs = sam_radius(&rf, LINSTAB_OPT_SAM_SAME, es, 0.0, B, all_samplings[t]);
                cr_expect_eq(linstab_verdict_classify(rs, tol), LINSTAB_VERDICT_MARGINAL,
                             "%s %s B = %zu: SAM rho = 0 radius - 1 = %g", what,
                             linstab_sampling_name(all_samplings[t]), B, rs - 1.0);
            }
            if (full) {
                linstab_exact ex = compute(&rf, es, B, 0.0, all_samplings[t], LINSTAB_OPT_SAM_SAME, 1);
                cr_expect_eq(ex.sgd_verdict, LINSTAB_VERDICT_MARGINAL, "%s: exact_compute", what);
                cr_expect(ex.sgd_stable && ex.sam_stable);
                cr_expect_eq(ex.sam_verdict, ex.sgd_verdict);
                cr_expect_eq(ex.radius_tol, tol);
                full = 0;
            }
            r = sgd_radius(&rf, all_samplings[t], B, es * (1.0 + 1e-6));
            cr_expect_eq(linstab_verdict_classify(r, tol), LINSTAB_VERDICT_UNSTABLE, "%s: above eta*", what);
            r = sgd_radius(&rf, all_samplings[t], B, es * (1.0 - 1e-6));
            cr_expect_eq(linstab_verdict_classify(r, tol), LINSTAB_VERDICT_STABLE, "%s: below eta*", what);
        }
    linstab_family_rotated_clear(&rf);
}

Test(verdict, the_radius_at_eta_star_is_marginal_for_sgd_and_for_sam_at_rho_zero)
{
    linstab_family *f = tu_family_dense(12, 5, 2, 301);
    marginal_at_eta_star(f, "dense");
    linstab_family_free(f);
    f = tu_family_factored(9, 7, 1, 302);
    marginal_at_eta_star(f, "rank one, rank-deficient");
    linstab_family_free(f);
    f = tu_family_004(12, 3);
    marginal_at_eta_star(f, "Dexter et al.'s construction");
    linstab_family_free(f);
}

Test(verdict, rule_has_three_sides_and_na)
{
    double tol = linstab_verdict_radius_tol(10, 4.0, 0.0);
    cr_expect(fabs(tol - 16.0 * 10 * DBL_EPSILON * 4.0) <= DBL_EPSILON * tol);
    cr_expect_eq(linstab_verdict_radius_tol(10, 1.0, 1e-12), 1e-12, "the matrix-free tolerance dominates");
    cr_expect_eq(linstab_verdict_classify(1.0 + 0.5 * tol, tol), LINSTAB_VERDICT_MARGINAL);
    cr_expect_eq(linstab_verdict_classify(1.0 - 0.5 * tol, tol), LINSTAB_VERDICT_MARGINAL);
    cr_expect_eq(linstab_verdict_classify(1.0 + 2.0 * tol, tol), LINSTAB_VERDICT_UNSTABLE);
    cr_expect_eq(linstab_verdict_classify(1.0 - 2.0 * tol, tol), LINSTAB_VERDICT_STABLE);
    cr_expect_eq(linstab_verdict_classify(NAN, tol), LINSTAB_VERDICT_NA);
    cr_expect(linstab_verdict_bounded(LINSTAB_VERDICT_MARGINAL) && !linstab_verdict_bounded(LINSTAB_VERDICT_UNSTABLE));
    cr_expect_str_eq(linstab_verdict_name(LINSTAB_VERDICT_MARGINAL), "marginal");
}

/* The one optimizer enum: its names round-trip, and the modules refuse the
 * optimizers they have no exact operator for instead of treating them as
 * another one (SGD or normalized SAM given to SAM's radius, normalized SAM
 * given to the second-moment operator). */
Test(optimizer, names_round_trip_and_exact_operators_refuse_what_they_do_not_cover)
{
    const linstab_optimizer all[4] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP,
                                      LINSTAB_OPT_SAM_NORMALIZED};
    linstab_error err = {0};
    for (int i = 0; i < 4; i++) {
        linstab_optimizer o = LINSTAB_OPT_SGD;
        cr_expect_eq(linstab_optimizer_parse(linstab_optimizer_name(all[i]), &o, &err), LINSTAB_OK);
        cr_expect_eq(o, all[i]);
        cr_expect_eq(linstab_optimizer_is_sam(all[i]), all[i] != LINSTAB_OPT_SGD);
    }
    linstab_optimizer o = LINSTAB_OPT_SAM_SAME;
    cr_expect_eq(linstab_optimizer_parse("adam", &o, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.param, "optimizer");
    cr_expect_eq(o, LINSTAB_OPT_SAM_SAME);

    linstab_family *f = tu_family_dense(6, 3, 2, 91);
    linstab_rotated rf = tu_rotate(f);
    double rad = -1.0;
    for (int i = 0; i < 4; i++) {
        linstab_status st = linstab_sam_radius(&rf, all[i], 0.3, 0.1, 2, LINSTAB_SAMPLING_WITHOUT, NULL,
                                               &rad, &err);
        int exact = all[i] == LINSTAB_OPT_SAM_SAME || all[i] == LINSTAB_OPT_SAM_INDEP;
        cr_expect_eq(st, exact ? LINSTAB_OK : LINSTAB_EINVAL, "%s: %s", linstab_optimizer_name(all[i]),
                     err.msg);
        cr_expect_eq(linstab_sam_available(all[i], 6, 2, LINSTAB_SAMPLING_WITHOUT), exact);
        cr_expect_eq(linstab_sam_available_rank(all[i], 6, rf.f->d, 2, LINSTAB_SAMPLING_WITHOUT), exact);
    }
    linstab_secmom *sm = NULL;
    cr_expect_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SAM_NORMALIZED, 0.3, 0.1, 1.0, 0.0, &sm, &err),
                 LINSTAB_EINVAL);
    cr_expect_null(sm);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ----------------------------------------------- progress units */

typedef struct unit_log {
    size_t count[LINSTAB_EXACT_STAGES];    /* reports per stage */
    size_t first_total[LINSTAB_EXACT_STAGES], last_done[LINSTAB_EXACT_STAGES], last_total[LINSTAB_EXACT_STAGES];
    size_t max_total[LINSTAB_EXACT_STAGES];
    size_t min_total_after[LINSTAB_EXACT_STAGES]; /* smallest total from the 13th report on */
    int bad[LINSTAB_EXACT_STAGES];         /* a report with done > total, done going back, or
                                            * a first report with done != 0 */
    int order;                             /* stages in increasing order */
    int last_stage;
} unit_log;

static void log_units(int stage, size_t done, size_t total, void *ctx)
{
    unit_log *g = ctx;
    cr_assert(stage >= 0 && stage < LINSTAB_EXACT_STAGES);
    if (stage < g->last_stage) g->order = 0;
    g->last_stage = stage;
    size_t k = g->count[stage]++;
    if (k == 0) {
        g->first_total[stage] = total;
        g->min_total_after[stage] = SIZE_MAX;
        if (done != 0) g->bad[stage] = 1;
    } else if (done < g->last_done[stage] || (done > total && total != 0)) {
        g->bad[stage] = 1;
    }
    if (k >= 12 && total < g->min_total_after[stage]) g->min_total_after[stage] = total;
    g->last_done[stage] = done;
    g->last_total[stage] = total;
    if (total > g->max_total[stage]) g->max_total[stage] = total;
}

/* Every stage starts at done 0 and ends at done = total >= 1, done never
 * goes back nor beyond total; the Lemma counts its lemma_k terms from the
 * start, Monte Carlo Lyapunov runs x steps, critical rho's bisection at
 * least 1 + 1 + 8 + 33 radii (v(0), the bracket, the monotonicity grid,
 * halvings of [h, 2h] to 1e-10 2h) with a total that, once the bisection
 * has a lower end lo > 0, never falls below the radii it takes (an upper
 * bound; on this family the hint is already unstable, lo = 0 until the
 * first halving, the 12th radius: the 13th report on), and
 * critical B's first total (1 + 4 + min(n, 13) solves) bounds what it
 * takes. */
Test(exact_compute, reports_the_units_of_every_stage_from_zero_to_its_total)
{
    linstab_family *f = tu_family_dense(12, 4, 1, 8);
    linstab_rotated rf = tu_rotate(f);
    double l1 = rf.l[0];
    double etas[2] = {0.5 / l1, 1.5 / l1};
    for (int c = 0; c < 2; c++) {
        linstab_hyper h = {etas[c], 3, 0.05 / l1, LINSTAB_SAMPLING_WITH};
        linstab_exact_opts o = linstab_exact_defaults();
        o.lyap_runs = 3;
        o.lyap_steps = 320;
        o.lemma_k = 7;
        unit_log g = {.order = 1};
        o.progress_units = log_units;
        o.progress_ctx = &g;
        linstab_exact ex;
        linstab_error err;
        cr_assert_eq(linstab_exact_compute(&rf, &h, LINSTAB_OPT_SAM_INDEP, &o, &ex, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert(ex.sam_available && ex.lyap_done && !ex.lyap.exact);
        cr_expect(g.order, "stages in order");
        for (int s = 0; s < LINSTAB_EXACT_STAGES; s++) {
            cr_expect_geq(g.count[s], 2, "eta %g stage %d: a start and an end", etas[c], s);
            cr_expect(!g.bad[s], "eta %g stage %d", etas[c], s);
            cr_expect(g.last_done[s] == g.last_total[s] && g.last_done[s] >= 1, "eta %g stage %d: %zu/%zu",
                      etas[c], s, g.last_done[s], g.last_total[s]);
        }
        /* K = 7 terms from T^j(I) and M^j(I), j <= 4: 8 products */
        cr_expect(g.first_total[6] == 8 && g.max_total[6] == 8, "Lemma 4.1: 8 products throughout");
        cr_expect_eq(g.count[6], 1 + 8 + 1, "a start, 8 products, the end");
        cr_expect_eq(g.last_total[7], 3 * 320);
        cr_expect_eq(g.count[7], 2 + 3 * 16 + 1, "start, MC start, 16 per run, the end");
        if (isnan(ex.sam_critical_rho)) {
            cr_expect_eq(g.last_done[5], 1, "unstable at rho = 0: one radius");
        } else {
            cr_expect_geq(g.last_done[5], 43, "critical rho: %zu radii", g.last_done[5]);
            cr_expect_geq(g.min_total_after[5], g.last_done[5], "critical rho's total fell below its radii");
        }
        cr_expect_eq(g.first_total[2], 1 + 4 + 12);
        cr_expect_leq(g.last_done[2], g.first_total[2], "critical B: %zu solves", g.last_done[2]);
        cr_expect_eq(g.last_done[0], 1);
        cr_expect_eq(g.last_done[1], 1);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}
