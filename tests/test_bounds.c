/*
 * test_bounds.c -- the published bounds: Theorem 9's P = (1/n) sum J_i^2
 * (Shin et al., Appendix E), the worked examples of docs/math.md, Dexter et
 * al.'s Theorem 1/2 formulas, Zhou et al.'s Theorem 4.1 as stated and
 * corrected, and the sampling coefficients
 * (a, b) against enumeration of every batch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/bounds.h"
#include "linstab/exact.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "testutil.h"

typedef struct setup {
    linstab_family *f, *fr;
    linstab_moments *m;
    linstab_geometry g;
} setup;

static setup make(linstab_family *f)
{
    setup s = {f, NULL, NULL, {0}};
    linstab_error err;
    size_t rank;
    cr_assert_eq(linstab_family_restrict(f, 0.0, 0, 0, &s.fr, &rank, NULL, &err), LINSTAB_OK);
    cr_assert_eq(linstab_moments_compute(s.fr, &s.m, &err), LINSTAB_OK);
    cr_assert_eq(linstab_geometry_compute(s.fr, s.m, f->d, &s.g, &err), LINSTAB_OK);
    return s;
}

static void clear(setup *s)
{
    linstab_moments_free(s->m);
    linstab_family_free(s->fr);
    linstab_family_free(s->f);
}


Test(shin_thm9, P_equals_the_mean_of_the_squared_per_sample_jacobians)
{
    size_t n = 5, d = 3;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(2);
    double G[9];
    for (size_t i = 0; i < n; i++) {
        tu_gauss(r, G, 9);
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++) {
                double s = 0.0;
                for (size_t q = 0; q < 3; q++) s += G[a * 3 + q] * G[b * 3 + q];
                f->data[i * 9 + a * 3 + b] = s / 3.0;
            }
    }
    gsl_rng_free(r);
    setup s = make(f);
    double eta = 0.3, rho = 0.7, P[9], want[9] = {0};
    linstab_shin_P(s.m, eta, rho, P);
    for (size_t i = 0; i < n; i++) { /* J_i = I - eta H_i - eta rho H_i^2 */
        const double *H = s.fr->data + i * 9;
        double H2[9], J[9];
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++) {
                double v = 0.0;
                for (size_t q = 0; q < 3; q++) v += H[a * 3 + q] * H[q * 3 + b];
                H2[a * 3 + b] = v;
            }
        for (size_t j = 0; j < 9; j++) J[j] = -eta * H[j] - eta * rho * H2[j];
        for (size_t a = 0; a < 3; a++) J[a * 3 + a] += 1.0;
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++) {
                double v = 0.0;
                for (size_t q = 0; q < 3; q++) v += J[a * 3 + q] * J[q * 3 + b];
                want[a * 3 + b] += v / (double)n;
            }
    }
    cr_expect_lt(tu_rel_diff(P, want, 9), 1e-13);
    clear(&s);
}

Test(shin_eq7, the_s4_condition_fails_on_spec_s_stable_example)
{
    /* d = 1, H_i = 1,1,1,0,0, eta = 0.1, rho = 18: exact radius 0.886 (docs/math.md §5),
     * yet s4^4 = M4 - H^4 = 0.6 - 0.1296 = 0.4704 > 1/(eta rho)^2 = 0.3086 */
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 5, 1, 1, &f, &err), LINSTAB_OK);
    f->data[0] = f->data[1] = f->data[2] = 1.0;
    setup s = make(f);
    linstab_hyper h = {0.1, 1, 18.0, LINSTAB_SAMPLING_WITH};
    linstab_bounds b;
    cr_assert_eq(linstab_bounds_compute(&s.g, s.m, &h, &b, &err), LINSTAB_OK);
    cr_expect_lt(fabs(b.eq7[3].lhs - 0.4704), 1e-14);
    cr_expect_lt(fabs(b.eq7[3].rhs - 1.0 / (0.1 * 0.1 * 18 * 18)), 1e-14);
    cr_expect(!b.eq7[3].holds);
    /* s2's condition is vacuous when eta <= 2 rho */
    cr_expect(isinf(b.eq7[1].rhs) && b.eq7[1].holds);
    /* Theorem 9 at B = 1: lambda_max(P) = E (1 - eta h - eta rho h^2)^2 = 0.6 * 0.81^2... */
    double j1 = 1.0 - 0.1 - 0.1 * 18.0;
    cr_expect_lt(fabs(b.thm9_lambda_max - (0.6 * j1 * j1 + 0.4)), 1e-14);
    clear(&s);
}

Test(dexter_theorems, thresholds_match_spec_s_worked_example)
{
    /* n = 100, eta = 0.8, sigma = 5: Theorem 1 predicts divergence for B < 9.3 */
    setup s = make(tu_family_004(100, 5));
    linstab_error err;
    for (size_t B = 1; B <= 100; B++) {
        linstab_hyper h = {0.8, B, 0.0, LINSTAB_SAMPLING_BERNOULLI};
        linstab_bounds b;
        cr_assert_eq(linstab_bounds_compute(&s.g, s.m, &h, &b, &err), LINSTAB_OK);
        double nb = 100.0 / (double)B;
        if (B < 100)
            cr_expect_lt(fabs(b.thm1_threshold - 5.0 / 0.8 / sqrt(nb - 1.0)), 1e-12);
        else
            cr_expect(isinf(b.thm1_threshold));
        cr_expect_eq(b.thm1_diverges, B <= 9, "B = %zu", B);
        cr_expect_lt(fabs(b.thm2_threshold - 2.0 * 5.0 / (0.8 * (5.0 + nb - 1.0))), 1e-12);
        /* Theorem 2's line crosses lambda1 = 2 at B = 44.4 */
        cr_expect_eq(b.thm2_threshold > 2.0, B >= 45, "B = %zu", B);
        cr_expect(b.thm1_proved);
    }
    clear(&s);
}

Test(sam_late_thm41, the_corrected_form_never_flags_full_batch_gd)
{
    /* H_i = n e_i e_i' (n = d = 10): H = I, ||H||_F^2 = n, A = (n-1) I, so
     * gamma = (n-1)/n and the stated condition at B = n reads
     * n <= n^2 / (eta^2 (n-1)): violated for eta = 1.5, while full-batch GD
     * is stable for eta <= 2/lambda1 = 2 */
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 10, 10, 1, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < 10; i++) f->data[i * 10 + i] = 10.0;
    setup s = make(f);
    cr_expect_lt(fabs(s.g.gamma_min - 0.9), 1e-14);
    linstab_hyper h = {1.5, 10, 0.0, LINSTAB_SAMPLING_WITHOUT};
    linstab_bounds b;
    cr_assert_eq(linstab_bounds_compute(&s.g, s.m, &h, &b, &err), LINSTAB_OK);
    cr_expect(isinf(b.batch_eff));
    cr_expect(isinf(b.thm41_corrected.rhs));
    cr_expect(b.thm41_corrected.holds);
    /* as stated it calls this stable full-batch GD unstable */
    cr_expect(!b.thm41.holds, "lhs %g rhs %g", b.thm41.lhs, b.thm41.rhs);
    cr_expect(!b.gd_diverges);
    /* with replacement the correction is the identity */
    h.sampling = LINSTAB_SAMPLING_WITH;
    h.batch = 7;
    cr_assert_eq(linstab_bounds_compute(&s.g, s.m, &h, &b, &err), LINSTAB_OK);
    cr_expect_eq(b.batch_eff, 7.0);
    cr_expect_eq(b.thm41.lhs, b.thm41_corrected.lhs);
    cr_expect_eq(b.thm41.rhs, b.thm41_corrected.rhs);
    clear(&s);
}

Test(sampling, batch_eff_inverts_the_noise_coefficient)
{
    for (size_t B = 1; B < 10; B++) {
        linstab_sampling s[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};
        for (int k = 0; k < 3; k++) {
            double a, b;
            linstab_sampling_coeffs(s[k], 10, B, &a, &b);
            cr_expect_lt(fabs(linstab_sampling_batch_eff(s[k], 10, B) * b - 1.0), 1e-14);
        }
    }
    cr_expect(isinf(linstab_sampling_batch_eff(LINSTAB_SAMPLING_WITHOUT, 10, 10)));
}

/* E[Hhat X Hhat] = a HXH + b M(X), by enumerating every batch (n = 4, 2 x 2). */
Test(sampling, coefficients_match_enumeration_of_every_batch)
{
    enum { N = 4 };
    double Hs[N][4], X[4] = {0.3, -0.2, -0.2, 1.1};
    gsl_rng *r = tu_rng(6);
    for (int i = 0; i < N; i++) {
        double g[4];
        tu_gauss(r, g, 4);
        Hs[i][0] = g[0] * g[0] + g[1] * g[1];
        Hs[i][1] = Hs[i][2] = g[0] * g[2] + g[1] * g[3];
        Hs[i][3] = g[2] * g[2] + g[3] * g[3];
    }
    gsl_rng_free(r);
#define MUL(A, B, C)                                                                                \
    do {                                                                                            \
        double t_[4] = {A[0] * B[0] + A[1] * B[2], A[0] * B[1] + A[1] * B[3],                     \
                        A[2] * B[0] + A[3] * B[2], A[2] * B[1] + A[3] * B[3]};                    \
        memcpy(C, t_, sizeof t_);                                                                   \
    } while (0)
    double H[4] = {0}, HXH[4], MX[4] = {0}, T[4];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 4; j++) H[j] += Hs[i][j] / N;
    MUL(H, X, T);
    MUL(T, H, HXH);
    for (int i = 0; i < N; i++) {
        MUL(Hs[i], X, T);
        MUL(T, Hs[i], T);
        for (int j = 0; j < 4; j++) MX[j] += T[j] / N;
    }
    for (int B = 1; B <= N; B++)
        for (int sc = 0; sc < 3; sc++) {
            double E[4] = {0};
            if (sc == 2) { /* with replacement: N^B sequences */
                int total = 1;
                for (int k = 0; k < B; k++) total *= N;
                for (int code = 0; code < total; code++) {
                    double Hh[4] = {0};
                    for (int k = 0, c = code; k < B; k++, c /= N)
                        for (int j = 0; j < 4; j++) Hh[j] += Hs[c % N][j] / B;
                    MUL(Hh, X, T);
                    MUL(T, Hh, T);
                    for (int j = 0; j < 4; j++) E[j] += T[j] / total;
                }
            } else {
                int nsub = 0;
                for (int mask = 0; mask < (1 << N); mask++) nsub += __builtin_popcount((unsigned)mask) == B;
                for (int mask = 0; mask < (1 << N); mask++) {
                    int size = __builtin_popcount((unsigned)mask);
                    double p = sc == 1 ? (size == B ? 1.0 / nsub : 0.0)
                                       : pow((double)B / N, size) * pow(1.0 - (double)B / N, N - size);
                    if (p == 0.0) continue;
                    double Hh[4] = {0};
                    for (int i = 0; i < N; i++)
                        if (mask >> i & 1)
                            for (int j = 0; j < 4; j++) Hh[j] += Hs[i][j] / B;
                    MUL(Hh, X, T);
                    MUL(T, Hh, T);
                    for (int j = 0; j < 4; j++) E[j] += p * T[j];
                }
            }
            linstab_sampling s = sc == 0 ? LINSTAB_SAMPLING_BERNOULLI : sc == 1 ? LINSTAB_SAMPLING_WITHOUT : LINSTAB_SAMPLING_WITH;
            double a, b, want[4];
            linstab_sampling_coeffs(s, N, (size_t)B, &a, &b);
            for (int j = 0; j < 4; j++) want[j] = a * HXH[j] + b * MX[j];
            cr_expect_lt(tu_rel_diff(E, want, 4), 1e-13, "scheme %d B %d", sc, B);
        }
#undef MUL
}

Test(hyper, bad_hyperparameters_are_rejected)
{
    linstab_error err;
    linstab_hyper h = {0.0, 1, 0.0, LINSTAB_SAMPLING_WITH};
    cr_expect_eq(linstab_bounds_hyper_check(&h, 5, &err), LINSTAB_EINVAL);
    h.eta = 0.1;
    h.rho = -1.0;
    cr_expect_eq(linstab_bounds_hyper_check(&h, 5, &err), LINSTAB_EINVAL);
    h.rho = 0.0;
    h.batch = 0;
    cr_expect_eq(linstab_bounds_hyper_check(&h, 5, &err), LINSTAB_EINVAL);
    h.batch = 6;
    cr_expect_eq(linstab_bounds_hyper_check(&h, 5, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "[1, 5]") != NULL, "%s", err.msg);
    h.batch = 5;
    cr_expect_eq(linstab_bounds_hyper_check(&h, 5, &err), LINSTAB_OK);
}

/* docs/math.md §5: P = T(I) and T is positive, so T(I) <= lambda_max(P) I gives
 * radius(T) <= lambda_max(P): Theorem 9 is never below the exact radius. */
Test(shin_thm9, lambda_max_of_P_is_never_below_the_exact_sam_radius)
{
    gsl_rng *r = tu_rng(21);
    for (int t = 0; t < 40; t++) {
        size_t n = 3 + gsl_rng_uniform_int(r, 6), d = 2 + gsl_rng_uniform_int(r, 3);
        linstab_family *f = NULL;
        linstab_error err;
        cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 1 + t % 2, &f, &err), LINSTAB_OK);
        tu_gauss(r, f->data, linstab_family_data_len(f));
        setup s = make(f);
        double eta = (0.1 + 1.5 * gsl_rng_uniform(r)) / s.g.sharpness;
        double rho = gsl_rng_uniform(r) / s.g.sharpness;
        linstab_hyper h = {eta, 1, rho, LINSTAB_SAMPLING_WITH};
        linstab_bounds b;
        cr_assert_eq(linstab_bounds_compute(&s.g, s.m, &h, &b, &err), LINSTAB_OK);
        linstab_rotated rf;
        cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK);
        linstab_eigen_opts eo = linstab_eigen_defaults();
        double radius;
        cr_assert_eq(linstab_sam_radius(&rf, LINSTAB_OPT_SAM_SAME, eta, rho, 1, LINSTAB_SAMPLING_WITH, &eo,
                                        &radius, &err),
                     LINSTAB_OK);
        cr_expect_leq(radius, b.thm9_lambda_max * (1.0 + 1e-12), "case %d: radius %.17g, P %.17g", t,
                      radius, b.thm9_lambda_max);
        linstab_family_rotated_clear(&rf);
        clear(&s);
    }
    gsl_rng_free(r);
}

/* ---- issue 10 additions ---- */

Test(sam_late_thm41, is_its_closed_form_with_the_edge_cases)
{
    /* lhs = ||H||_F^2 (1 + rho^2 gamma ||H||_F^2 / B), rhs = B / (eta^2 gamma) */
    double F = 1.7, gamma = 0.3, eta = 0.2, rho = 0.5, B = 4.0;
    linstab_condition c = linstab_bounds_thm41(F, gamma, eta, rho, B);
    double lhs = F * F * (1.0 + rho * rho * gamma * F * F / B), rhs = B / (eta * eta * gamma);
    cr_expect(fabs(c.lhs - lhs) <= 4 * 2.2e-16 * lhs && fabs(c.rhs - rhs) <= 4 * 2.2e-16 * rhs, "%.17g %.17g", c.lhs,
              c.rhs);
    cr_expect_eq(c.holds, lhs <= rhs);
    /* a violated case: large eta */
    c = linstab_bounds_thm41(F, gamma, 5.0, rho, B);
    cr_expect(!c.holds && fabs(c.rhs - B / (25.0 * gamma)) <= 4 * 2.2e-16 * c.rhs);
    /* rho = 0: lhs = ||H||_F^2 */
    c = linstab_bounds_thm41(F, gamma, eta, 0.0, B);
    cr_expect_eq(c.lhs, F * F);
    /* B = 1 */
    c = linstab_bounds_thm41(F, gamma, eta, rho, 1.0);
    cr_expect(fabs(c.lhs - F * F * (1.0 + rho * rho * gamma * F * F)) <= 4 * 2.2e-16 * c.lhs);
    cr_expect(fabs(c.rhs - 1.0 / (eta * eta * gamma)) <= 4 * 2.2e-16 * c.rhs);
    /* no noise (B_eff infinite, B = n without replacement): no condition */
    c = linstab_bounds_thm41(F, gamma, eta, rho, INFINITY);
    cr_expect(c.lhs == F * F && isinf(c.rhs) && c.holds);
    /* gamma = 0 (the samples agree): rhs infinite */
    c = linstab_bounds_thm41(F, 0.0, eta, rho, B);
    cr_expect(isinf(c.rhs) && c.holds && c.lhs == F * F);
}

Test(hyper_check_scale, refuses_eta_or_rho_times_the_curvature_beyond_1e60)
{
    linstab_error err;
    linstab_hyper h = {1e-3, 1, 0.0, LINSTAB_SAMPLING_WITHOUT};
    cr_expect_eq(linstab_bounds_hyper_check_scale(&h, 1e62, &err), LINSTAB_OK, "eta k = 1e59");
    cr_expect_eq(linstab_bounds_hyper_check_scale(&h, 1e64, &err), LINSTAB_EINVAL, "eta k = 1e61");
    h.rho = 1e-2;
    cr_expect_eq(linstab_bounds_hyper_check_scale(&h, 1e61, &err), LINSTAB_OK, "rho k = 1e59");
    h.rho = 1.0;
    cr_expect_eq(linstab_bounds_hyper_check_scale(&h, 1e61, &err), LINSTAB_EINVAL, "rho k = 1e61");
    h = (linstab_hyper){0.5, 1, 0.5, LINSTAB_SAMPLING_WITHOUT};
    cr_expect_eq(linstab_bounds_hyper_check_scale(&h, 2.0, &err), LINSTAB_OK);
}

/* GD's radius max_j (1 - eta l_j)^2 on Dexter et al.'s construction
 * (n = 20, sigma = 2: l = 2 and 1): NaN (not computed, below 1) for
 * eta l1 < 2, where the smallest eigenvalue would decide its value, else
 * (1 - 2 eta)^2 with its verdict. */
Test(bounds, gd_radius_is_the_largest_factor_or_not_claimed)
{
    linstab_family *f = tu_family_004(20, 2);
    linstab_rotated rf = tu_rotate(f);
    linstab_error err;
    linstab_moments *m = NULL;
    cr_assert_eq(linstab_moments_compute(rf.f, &m, &err), LINSTAB_OK);
    linstab_geometry g;
    cr_assert_eq(linstab_geometry_compute(rf.f, m, rf.d_full, &g, &err), LINSTAB_OK);
    cr_assert(g.definite);
    static const double etas[4] = {0.3, 0.6, 1.0, 1.5};
    static const linstab_verdict want[4] = {LINSTAB_VERDICT_STABLE, LINSTAB_VERDICT_STABLE, LINSTAB_VERDICT_MARGINAL,
                                            LINSTAB_VERDICT_UNSTABLE};
    for (int t = 0; t < 4; t++) {
        linstab_hyper h = {etas[t], 4, 0.0, LINSTAB_SAMPLING_WITHOUT};
        linstab_bounds b;
        cr_assert_eq(linstab_bounds_compute(&g, m, &h, &b, &err), LINSTAB_OK, "%s", err.msg);
        /* eta = 0.6: (1 - 1.2)^2 = 0.04 but (1 - 0.6)^2 = 0.16 is larger: not claimed */
        if (etas[t] * 2.0 < 2.0)
            cr_expect(isnan(b.gd_radius), "eta %g: radius %g claimed", etas[t], b.gd_radius);
        else
            cr_expect(fabs(b.gd_radius - (1 - 2 * etas[t]) * (1 - 2 * etas[t])) <= 4 * 2.22e-16 * b.gd_radius,
                      "eta %g: %.17g", etas[t], b.gd_radius);
        cr_expect_eq(b.gd_verdict, want[t], "eta %g", etas[t]);
        cr_expect_eq(b.gd_diverges, want[t] == LINSTAB_VERDICT_UNSTABLE);
    }
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ---- issue 11: each theorem has one home (bounds.c); these check it
 * against closed forms and against the exact operator where the papers
 * say the bound is tight ---- */

#include "linstab/critical.h"
#include "linstab/sym.h"

Test(dexter_thm1, threshold_and_eta_are_the_closed_form_solved_for_either_factor)
{
    const double eps = 2.22e-16;
    static const size_t ns[3] = {2, 10, 100};
    static const double sigmas[3] = {1.0, 2.5, 7.0}, etas[3] = {0.05, 0.8, 3.0};
    for (int a = 0; a < 3; a++)
        for (size_t B = 1; B <= ns[a]; B++)
            for (int s = 0; s < 3; s++)
                for (int e = 0; e < 3; e++) {
                    size_t n = ns[a];
                    double sigma = sigmas[s], x = etas[e];
                    double thr = linstab_bounds_thm1_threshold(sigma, x, n, B);
                    double teta = linstab_bounds_thm1_eta(sigma, x, n, B);
                    if (B == n) {
                        cr_expect(isinf(thr) && thr > 0, "n %zu: no second condition at B = n, got %g", n, thr);
                        cr_expect_eq(teta, 2.0 / x, "at B = n only GD's 2/lambda1 is left");
                        continue;
                    }
                    /* (sigma/eta) (n/B - 1)^(-1/2), with n/B - 1 = (n - B)/B exact in integers;
                     * the library forms n/B - 1, whose rounding is amplified by
                     * (n/B)/(n/B - 1) (100 at n = 100, B = 99), halved by the root */
                    double want = sigma / x * pow((double)(n - B) / (double)B, -0.5);
                    double q = (double)n / (double)B, tol = 8 * eps * (1.0 + q / (q - 1.0));
                    cr_expect(fabs(thr - want) <= tol * want, "n %zu B %zu: %.17g vs %.17g", n, B, thr, want);
                    double want_eta = fmin(2.0 / x, want);
                    cr_expect(fabs(teta - want_eta) <= tol * want_eta, "n %zu B %zu: eta %.17g vs %.17g", n, B,
                              teta, want_eta);
                    /* the same theorem: at eta = its eta threshold, lambda1 = x sits on the curvature threshold */
                    if (want < 2.0 / x) {
                        double back = linstab_bounds_thm1_threshold(sigma, teta, n, B);
                        cr_expect(fabs(back - x) <= 8 * eps * x, "n %zu B %zu: %.17g vs %.17g", n, B, back, x);
                    }
                }
}

/* docs/math.md §4: for H_i = e_i e_i' with n = d (sigma = 1) at B = n/2
 * Theorem 1's learning rate is the exact mean-square critical eta (both n,
 * Bernoulli sampling: T multiplies X_jj by 1 - 2 eta/n + eta^2/(n B)). */
Test(dexter_thm1, is_tight_on_orthogonal_rank_one_samples_at_half_batch)
{
    enum { N = 8 };
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, N, N, 1, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < N; i++) f->data[i * N + i] = 1.0;
    linstab_rotated rf = tu_rotate(f);
    double l1S, sigma;
    cr_assert_eq(linstab_geometry_coherence(rf.f, &l1S, &sigma, &err), LINSTAB_OK);
    cr_expect(fabs(sigma - 1.0) <= 1e-14, "sigma %.17g", sigma);
    double a, b, eta_star;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_BERNOULLI, N, N / 2, &a, &b);
    cr_assert_eq(linstab_critical_eta(rf.f, rf.l, a, b, NULL, &eta_star, &err), LINSTAB_OK, "%s", err.msg);
    double eta1 = linstab_bounds_thm1_eta(sigma, 1.0 / N, N, N / 2);
    cr_expect(fabs(eta1 - N) <= 1e-13 * N, "Theorem 1's eta %.17g, want n = %d", eta1, N);
    cr_expect(fabs(eta1 - eta_star) <= 1e-12 * eta_star, "Theorem 1 %.17g vs exact %.17g", eta1, eta_star);
    /* at any other B it is a strict bound (it fires above the exact eta*) */
    for (size_t B = 1; B < N; B++) {
        linstab_sampling_coeffs(LINSTAB_SAMPLING_BERNOULLI, N, B, &a, &b);
        cr_assert_eq(linstab_critical_eta(rf.f, rf.l, a, b, NULL, &eta_star, &err), LINSTAB_OK);
        cr_expect_geq(linstab_bounds_thm1_eta(sigma, 1.0 / N, N, B), eta_star * (1.0 - 1e-12), "B %zu", B);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* docs/math.md §7: on Dexter et al.'s construction (lambda1(H) = 2,
 * coherence sigma) Theorem 2's line is exactly the mean-square boundary
 * under Bernoulli sampling, at every B; the line is symmetric in eta and
 * lambda1 (their product is what it bounds). */
Test(dexter_thm2, is_the_exact_boundary_on_the_construction)
{
    enum { N = 20, SIGMA = 4 };
    linstab_family *f = tu_family_004(N, SIGMA);
    linstab_rotated rf = tu_rotate(f);
    linstab_error err;
    for (size_t B = 1; B <= N; B++) {
        double a, b, eta_star;
        linstab_sampling_coeffs(LINSTAB_SAMPLING_BERNOULLI, N, B, &a, &b);
        cr_assert_eq(linstab_critical_eta(rf.f, rf.l, a, b, NULL, &eta_star, &err), LINSTAB_OK, "%s", err.msg);
        double line = linstab_bounds_thm2_threshold(SIGMA, 2.0, N, B);
        double want = 2.0 * SIGMA / (2.0 * (SIGMA + (double)N / (double)B - 1.0));
        cr_expect(fabs(line - want) <= 4 * 2.22e-16 * want, "B %zu: %.17g vs %.17g", B, line, want);
        cr_expect(fabs(line - eta_star) <= 1e-12 * eta_star, "B %zu: Theorem 2 %.17g, exact eta* %.17g", B, line,
                  eta_star);
        /* at eta = eta*, the curvature threshold is lambda1 = 2 */
        double thr = linstab_bounds_thm2_threshold(SIGMA, eta_star, N, B);
        cr_expect(fabs(thr - 2.0) <= 1e-12, "B %zu: %.17g", B, thr);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* Theorem 9's lambda_max(P), P = (1/n) sum_i J_i^2, J_i = I - eta H_i -
 * eta rho H_i^2: on a diagonal family P is diagonal (its top is the
 * largest mean of squares), here at d = 130 where the shift-invert
 * eigensolver runs; on a dense family against the eigenvalues of the
 * per-sample sum formed by hand. */
Test(shin_thm9, lambda_max_is_the_top_of_the_mean_squared_jacobian)
{
    enum { N = 7, D = 130 };
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, N, D, 1, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(11);
    for (size_t j = 0; j < N * D; j++) f->data[j] = 0.05 + gsl_rng_uniform(r);
    gsl_rng_free(r);
    setup s = make(f);
    double eta = 0.3, rho = 0.5, want = 0.0, lm = NAN;
    for (size_t j = 0; j < D; j++) {
        double p = 0.0;
        for (size_t i = 0; i < N; i++) {
            double h = f->data[i * D + j], J = 1.0 - eta * h - eta * rho * h * h;
            p += J * J / N;
        }
        want = fmax(want, p);
    }
    cr_assert_eq(linstab_bounds_thm9_lambda_max(s.m, eta, rho, &lm, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(fabs(lm - want) <= 1e-12, "diagonal d = %d: %.17g vs %.17g", D, lm, want);
    clear(&s);

    enum { n = 5, d = 4 };
    s = make(tu_family_dense(n, d, 2, 4));
    double P[d * d] = {0}, w[d];
    eta = 0.4;
    rho = 0.2;
    for (size_t i = 0; i < n; i++) {
        const double *H = s.fr->data + i * d * d;
        double J[d * d];
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                double h2 = 0.0;
                for (size_t q = 0; q < d; q++) h2 += H[a * d + q] * H[q * d + b];
                J[a * d + b] = (a == b) - eta * H[a * d + b] - eta * rho * h2;
            }
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++)
                for (size_t q = 0; q < d; q++) P[a * d + b] += J[a * d + q] * J[q * d + b] / n;
    }
    cr_assert_eq(linstab_sym_eig(s.fr->d, P, w, NULL, &err), LINSTAB_OK);
    cr_assert_eq(linstab_bounds_thm9_lambda_max(s.m, eta, rho, &lm, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(fabs(lm - w[s.fr->d - 1]) <= 1e-13, "dense: %.17g vs %.17g", lm, w[s.fr->d - 1]);
    clear(&s);
}

/* The corrected Theorem 4.1 is the stated one at B_eff: B (n-1)/(n-B)
 * without replacement, n B/(n-B) Bernoulli, B with replacement, infinite
 * (no condition) at B = n without replacement or Bernoulli. */
Test(sam_late_thm41, corrected_is_the_stated_form_at_the_effective_batch)
{
    double F = 1.3, gamma = 0.4, eta = 0.25, rho = 0.6, eps = 2.22e-16;
    size_t n = 9;
    for (size_t B = 1; B <= n; B++) {
        double N = (double)n, Bd = (double)B;
        double beff[3] = {B < n ? N * Bd / (N - Bd) : INFINITY, B < n ? Bd * (N - 1.0) / (N - Bd) : INFINITY, Bd};
        linstab_sampling s[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};
        for (int k = 0; k < 3; k++) {
            linstab_condition c = linstab_bounds_thm41_corrected(F, gamma, eta, rho, s[k], n, B);
            double f2 = F * F;
            if (isinf(beff[k])) {
                cr_expect(isinf(c.rhs) && c.holds && c.lhs == f2, "B %zu scheme %d", B, k);
                continue;
            }
            double lhs = f2 * (1.0 + rho * rho * gamma * f2 / beff[k]), rhs = beff[k] / (eta * eta * gamma);
            cr_expect(fabs(c.lhs - lhs) <= 8 * eps * lhs && fabs(c.rhs - rhs) <= 8 * eps * rhs,
                      "B %zu scheme %d: %.17g %.17g vs %.17g %.17g", B, k, c.lhs, c.rhs, lhs, rhs);
            cr_expect_eq(c.holds, c.lhs <= c.rhs);
        }
    }
}
