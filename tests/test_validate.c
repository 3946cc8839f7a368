/*
 * test_validate.c -- the claims table (validate.h) against brute force:
 * on a one-dimensional family every exact radius is E[J^2] over the
 * batch distribution, enumerated here batch by batch, and every bound a
 * closed form; the random driver against the counts `linstab validate`
 * printed before the logic moved into the library, and its callbacks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/exact.h"
#include "linstab/sgd.h"
#include "linstab/validate.h"
#include "testutil.h"

/* ---- one-dimensional families: H_i = h_i ---- */

enum { N = 4 };
/* two families: H = 1, sigma = 2; and docs/math.md §5's example of a
 * violated s_4 condition on a stable minimum (with n = 4: H = 3/4) */
static const double families[2][N] = {{2.0, 1.0, 0.5, 0.5}, {1.0, 1.0, 1.0, 0.0}};
static const double *hs = families[0];

/* The distribution of the batch mean hhat at (B, sampling): k values with
 * their probabilities, by enumerating every batch. */
typedef struct batch_dist {
    size_t k;
    double p[256], v[256];
} batch_dist;

static batch_dist enumerate(size_t B, linstab_sampling s)
{
    batch_dist d = {0};
    if (s == LINSTAB_SAMPLING_WITH) { /* N^B ordered draws */
        size_t total = 1;
        for (size_t k = 0; k < B; k++) total *= N;
        for (size_t code = 0; code < total; code++) {
            double m = 0.0;
            for (size_t k = 0, c = code; k < B; k++, c /= N) m += hs[c % N] / (double)B;
            d.p[d.k] = 1.0 / (double)total;
            d.v[d.k++] = m;
        }
        return d;
    }
    size_t nsub = 0;
    for (unsigned mask = 0; mask < (1u << N); mask++) nsub += (size_t)__builtin_popcount(mask) == B;
    for (unsigned mask = 0; mask < (1u << N); mask++) {
        size_t size = (size_t)__builtin_popcount(mask);
        double q = (double)B / N;
        double p = s == LINSTAB_SAMPLING_WITHOUT ? (size == B ? 1.0 / (double)nsub : 0.0)
                                                 : pow(q, (double)size) * pow(1.0 - q, (double)(N - size));
        if (p == 0.0) continue;
        double m = 0.0;
        for (size_t i = 0; i < N; i++)
            if (mask >> i & 1) m += hs[i] / (double)B; /* Bernoulli: the sum over B, not over |S| */
        d.p[d.k] = p;
        d.v[d.k++] = m;
    }
    return d;
}

/* E[(1 - eta hhat)^2]: SGD's radius (T is 1 x 1); the sums over up to
 * 256^2 batches in long double, so that their rounding stays far below
 * the tolerance */
static double sgd_radius(const batch_dist *d, double eta)
{
    long double r = 0.0;
    for (size_t k = 0; k < d->k; k++) r += (long double)d->p[k] * (1.0 - eta * d->v[k]) * (1.0 - eta * d->v[k]);
    return (double)r;
}

/* E[(1 - eta hhat1 (1 + rho hhat2))^2], two independent batches */
static double sam_indep_radius(const batch_dist *d, double eta, double rho)
{
    long double r = 0.0;
    for (size_t a = 0; a < d->k; a++)
        for (size_t b = 0; b < d->k; b++) {
            double J = 1.0 - eta * d->v[a] * (1.0 + rho * d->v[b]);
            r += (long double)d->p[a] * d->p[b] * J * J;
        }
    return (double)r;
}

static double mean_pow(int k)
{
    double s = 0.0;
    for (size_t i = 0; i < N; i++) s += pow(hs[i], k) / N;
    return s;
}

static linstab_family *family_1d(void)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, N, 1, 1, &f, &err), LINSTAB_OK);
    for (size_t i = 0; i < N; i++) f->data[i] = hs[i];
    return f;
}

/* The outcome from scratch: a claim that fires and predicts `unstable` is
 * violated by a radius below 1, one predicting `stable` by a radius above. */
static linstab_validate_outcome outcome(int fired, int predicts_stable, double exact)
{
    if (!fired) return LINSTAB_VALIDATE_HOLDS;
    int contradicted = predicts_stable ? exact > 1.0 : exact < 1.0;
    return contradicted ? LINSTAB_VALIDATE_VIOLATED : LINSTAB_VALIDATE_HOLDS;
}

static void expect_rel(double got, double want, double tol, const char *what, const char *ctx)
{
    if (isinf(want)) {
        cr_expect(isinf(got) && got > 0, "%s (%s): %.17g, want +inf", what, ctx, got);
        return;
    }
    cr_expect(fabs(got - want) <= tol * fmax(1.0, fabs(want)), "%s (%s): %.17g, want %.17g", what, ctx, got,
              want);
}

Test(validate, every_claim_matches_enumeration_of_every_batch_in_one_dimension)
{
    static const double etas[2][4] = {{0.3, 0.9, 1.7, 2.6}, {0.1, 0.35, 0.7, 1.9}};
    static const double rhos[2][2] = {{0.0, 0.4}, {0.0, 18.0}};
    static const linstab_sampling samps[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT,
                                              LINSTAB_SAMPLING_WITH};
    const double tol = 1e-12;
    size_t violated = 0, na = 0, fired = 0, s4_violated = 0;
    for (int fam = 0; fam < 2; fam++) {
    hs = families[fam];
    linstab_family *f = family_1d();
    /* sigma = lambda1(S)/max_i h_i with S_ij = sqrt(h_i h_j): sum_i h_i / max_i h_i;
     * A = (1/n) sum h_i H h_i - H^3, so gamma_min = (M2 - H^2) / H^2 */
    double H = mean_pow(1), hmax = 0.0;
    for (size_t i = 0; i < N; i++) hmax = fmax(hmax, hs[i]);
    const double sigma = N * H / hmax, gamma = (mean_pow(2) - H * H) / (H * H), F2 = H * H;
    for (size_t B = 1; B <= N; B++)
        for (int si = 0; si < 3; si++)
            for (int e = 0; e < 4; e++)
                for (int ri = 0; ri < 2; ri++) {
                    double eta = etas[fam][e], rho = rhos[fam][ri];
                    linstab_sampling s = samps[si];
                    char ctx[96];
                    snprintf(ctx, sizeof ctx, "family %d B %zu %s eta %g rho %g", fam, B, linstab_sampling_name(s), eta, rho);
                    linstab_hyper h = {eta, B, rho, s};
                    linstab_validate_case vc;
                    linstab_error err;
                    cr_assert_eq(linstab_validate_family(f, &h, &vc, &err), LINSTAB_OK, "%s: %s", ctx, err.msg);
                    batch_dist ds = enumerate(B, s), db = enumerate(B, LINSTAB_SAMPLING_BERNOULLI);
                    double r_samp = sgd_radius(&ds, eta), r_bern = sgd_radius(&db, eta);
                    double r_indep = sam_indep_radius(&ds, eta, rho);
                    double r_sam1 = 0.0; /* 'same' at B = 1: E_i (1 - eta h_i - eta rho h_i^2)^2 = P */
                    for (size_t i = 0; i < N; i++) {
                        double J = 1.0 - eta * hs[i] - eta * rho * hs[i] * hs[i];
                        r_sam1 += J * J / N;
                    }
                    /* both sides of each condition, by hand */
                    double q = (double)N / (double)B;
                    double thr1 = B < N ? sigma / eta / sqrt(q - 1.0) : INFINITY;
                    double bound[LINSTAB_VALIDATE_CLAIMS] = {H, H, H, r_sam1, H * (1.0 + rho * H),
                                                             mean_pow(2) - H * H, mean_pow(3) - pow(H, 3),
                                                             mean_pow(4) - pow(H, 4), 0, 0};
                    double limit[LINSTAB_VALIDATE_CLAIMS] = {
                        2.0 / eta, fmin(2.0 / eta, thr1), fmin(2.0 / eta, thr1), 1.0, 2.0 / eta,
                        eta > 2.0 * rho ? 1.0 / (eta * (eta - 2.0 * rho)) : INFINITY,
                        rho > 0.0 ? 1.0 / (2.0 * eta * eta * rho) : INFINITY,
                        rho > 0.0 ? 1.0 / (eta * eta * rho * rho) : INFINITY, 0, 0};
                    double beff = s == LINSTAB_SAMPLING_WITH ? (double)B
                                  : B == N                   ? INFINITY
                                  : s == LINSTAB_SAMPLING_WITHOUT ? (double)B * (N - 1.0) / (double)(N - B)
                                                                  : (double)N * (double)B / (double)(N - B);
                    bound[8] = F2 * (1.0 + rho * rho * gamma * F2 / (double)B);
                    limit[8] = (double)B / (eta * eta * gamma);
                    bound[9] = isinf(beff) ? F2 : F2 * (1.0 + rho * rho * gamma * F2 / beff);
                    limit[9] = isinf(beff) ? INFINITY : beff / (eta * eta * gamma);
                    double exact[LINSTAB_VALIDATE_CLAIMS] = {r_samp, r_bern, r_samp, r_sam1, r_sam1,
                                                             r_sam1, r_sam1, r_sam1, r_indep, r_indep};
                    for (int k = 0; k < LINSTAB_VALIDATE_CLAIMS; k++) {
                        const linstab_validate_claim *c = &vc.claims[k];
                        char cctx[128];
                        snprintf(cctx, sizeof cctx, "%s, %s", ctx, linstab_validate_claim_name((linstab_validate_claim_id)k));
                        cr_expect_eq(c->id, (linstab_validate_claim_id)k);
                        cr_expect_str_eq(c->name, linstab_validate_claim_name((linstab_validate_claim_id)k));
                        expect_rel(c->exact, exact[k], tol, "exact radius", cctx);
                        cr_expect(fabs(exact[k] - 1.0) > 1e-6, "%s: a radius at 1 makes the test ambiguous", cctx);
                        int is_na = (k == LINSTAB_VALIDATE_THM1_WITHOUT && s != LINSTAB_SAMPLING_WITHOUT) ||
                                    ((k == LINSTAB_VALIDATE_EQ7_S3 || k == LINSTAB_VALIDATE_EQ7_S4) && rho == 0.0);
                        if (is_na) {
                            cr_expect_eq(c->outcome, LINSTAB_VALIDATE_NA, "%s", cctx);
                            cr_expect(!c->fired && c->reason[0] != '\0', "%s", cctx);
                            na++;
                            continue;
                        }
                        expect_rel(c->bound, bound[k], tol, "bound", cctx);
                        expect_rel(c->limit, limit[k], tol, "limit", cctx);
                        int fires = k == LINSTAB_VALIDATE_THM9 ? bound[k] <= limit[k] : bound[k] > limit[k];
                        cr_expect_eq(c->fired, fires, "%s: bound %.17g limit %.17g", cctx, bound[k], limit[k]);
                        cr_expect_eq(c->outcome, outcome(fires, k == LINSTAB_VALIDATE_THM9, exact[k]), "%s: %s",
                                     cctx, c->reason);
                        violated += c->outcome == LINSTAB_VALIDATE_VIOLATED;
                        s4_violated += k == LINSTAB_VALIDATE_EQ7_S4 && c->outcome == LINSTAB_VALIDATE_VIOLATED;
                        fired += c->fired;
                    }
                    /* where each exact radius was computed */
                    cr_expect(vc.claims[LINSTAB_VALIDATE_GD].batch == B && vc.claims[LINSTAB_VALIDATE_GD].sampling == s);
                    cr_expect_eq(vc.claims[LINSTAB_VALIDATE_THM1_BERN].sampling, LINSTAB_SAMPLING_BERNOULLI);
                    cr_expect(vc.claims[LINSTAB_VALIDATE_THM9].batch == 1 &&
                              vc.claims[LINSTAB_VALIDATE_THM9].sampling == LINSTAB_SAMPLING_WITH &&
                              vc.claims[LINSTAB_VALIDATE_THM9].dynamics == LINSTAB_OPT_SAM_SAME);
                    cr_expect_eq(vc.claims[LINSTAB_VALIDATE_THM41].dynamics, LINSTAB_OPT_SAM_INDEP);
                    /* eta* = 2 H / E[hhat^2] and the tightness ratios */
                    double m2s = 0.0, m2b = 0.0;
                    for (size_t k = 0; k < ds.k; k++) m2s += ds.p[k] * ds.v[k] * ds.v[k];
                    for (size_t k = 0; k < db.k; k++) m2b += db.p[k] * db.v[k] * db.v[k];
                    expect_rel(vc.sgd_critical_eta, 2.0 * H / m2s, tol, "SGD eta*", ctx);
                    if (B < N)
                        expect_rel(vc.thm1_tightness, fmin(thr1, 2.0 / eta) / (H * (2.0 * H / m2b) / eta), tol,
                                   "Thm 1 tightness", ctx);
                    else
                        cr_expect(isnan(vc.thm1_tightness), "%s: Thm 1 has no threshold at B = n", ctx);
                    expect_rel(vc.thm9_tightness, 1.0, tol, "Thm 9 tightness (P = T(I) in one dimension)", ctx);
                }
    /* the grid reaches every branch: claims that fire, that say nothing, and
     * counterexamples (the heuristic s_k conditions, Theorem 1 without
     * replacement) */
    linstab_family_free(f);
    }
    cr_expect_gt(violated, 0);
    cr_expect_gt(s4_violated, 0);
    cr_expect_gt(na, 0);
    cr_expect_gt(fired, 0);
}

/* ---- linstab_sgd_radius: the sampling in use, not another ---- */

Test(validate, sgd_radius_is_the_enumerated_second_moment_for_every_sampling)
{
    hs = families[0];
    linstab_family *f = family_1d();
    linstab_rotated rf = tu_rotate(f);
    linstab_error err;
    for (size_t B = 1; B <= N; B++)
        for (int s = 0; s < 3; s++) {
            batch_dist d = enumerate(B, (linstab_sampling)s);
            double r = NAN;
            cr_assert_eq(linstab_sgd_radius(&rf, 0.9, B, (linstab_sampling)s, NULL, &r, &err), LINSTAB_OK);
            cr_expect(fabs(r - sgd_radius(&d, 0.9)) <= 1e-13, "B %zu sampling %d: %.17g vs %.17g", B, s, r,
                      sgd_radius(&d, 0.9));
        }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ---- the random driver ---- */

typedef struct seen {
    size_t calls, progress, last_done;
    size_t per_claim[LINSTAB_VALIDATE_CLAIMS];
    int fail_at_first;
    size_t first_case;
} seen;

static linstab_status on_cex(const linstab_validate_cex *cex, void *vctx, linstab_error *err)
{
    seen *s = vctx;
    const linstab_validate_claim *c = cex->claim;
    cr_expect_eq(c->outcome, LINSTAB_VALIDATE_VIOLATED);
    cr_expect(c->fired);
    cr_expect(c == &cex->vcase->claims[c->id]);
    /* the family alone (what is saved) reproduces the row */
    linstab_validate_case again;
    linstab_error e2;
    cr_assert_eq(linstab_validate_family(cex->family, &cex->vcase->h, &again, &e2), LINSTAB_OK, "%s", e2.msg);
    cr_expect_eq(again.claims[c->id].outcome, LINSTAB_VALIDATE_VIOLATED);
    cr_expect_eq(again.claims[c->id].exact, c->exact);
    if (s->calls == 0) s->first_case = cex->case_index;
    s->calls++;
    s->per_claim[c->id]++;
    if (s->fail_at_first) return linstab_error_set(err, LINSTAB_EIO, "disk full at case %zu", cex->case_index);
    return LINSTAB_OK;
}

static void on_progress(size_t done, size_t total, void *vctx)
{
    seen *s = vctx;
    cr_expect_eq(done, s->last_done + 1);
    cr_expect_geq(total, done);
    s->last_done = done;
    s->progress++;
}

/* `linstab validate --count 300 --seed 3`, with both callbacks into s */
static linstab_validate_params params_seed3(seen *s)
{
    linstab_validate_params p = linstab_validate_defaults();
    p.count = 300;
    p.seed = 3;
    p.counterexample = on_cex;
    p.progress = on_progress;
    p.ctx = s;
    return p;
}

/* `linstab validate --count 300 --seed 3` before the move to the library */
Test(validate, random_cases_reproduce_the_command_s_counts_and_hand_over_each_counterexample, .timeout = 240)
{
    static const size_t want[LINSTAB_VALIDATE_CLAIMS][4] = {
        {300, 30, 300, 0},  {300, 47, 300, 0},  {101, 11, 101, 0}, {300, 149, 300, 0}, {300, 59, 300, 0},
        {300, 77, 299, 1},  {228, 86, 228, 0},  {228, 67, 228, 0}, {300, 6, 300, 0},   {300, 6, 300, 0}};
    seen s = {0};
    linstab_validate_params p = params_seed3(&s);
    linstab_validate_summary sum;
    linstab_error err;
    cr_assert_eq(linstab_validate_random(&p, &sum, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(sum.count, 300);
    for (int k = 0; k < LINSTAB_VALIDATE_CLAIMS; k++) {
        const linstab_validate_tally *t = &sum.tally[k];
        const char *name = linstab_validate_claim_name((linstab_validate_claim_id)k);
        cr_expect(t->checked == want[k][0] && t->fired == want[k][1] && t->agree == want[k][2] &&
                      t->counterexamples == want[k][3],
                  "%s: %zu %zu %zu %zu", name, t->checked, t->fired, t->agree, t->counterexamples);
        cr_expect_eq(t->agree + t->counterexamples, t->checked, "%s", name);
        cr_expect_eq(s.per_claim[k], t->counterexamples, "%s: one callback per counterexample", name);
    }
    cr_expect_eq(s.progress, 300);
    /* printed with %.4g: 1.001 / 1.173 / 1.968 and 1 / 1.033 / 1.412 */
    cr_expect(fabs(sum.thm1_min - 1.001) < 5e-4 && fabs(sum.thm1_median - 1.173) < 5e-4 &&
                  fabs(sum.thm1_max - 1.968) < 5e-4,
              "%g %g %g", sum.thm1_min, sum.thm1_median, sum.thm1_max);
    cr_expect(fabs(sum.thm9_min - 1.0) < 5e-4 && fabs(sum.thm9_median - 1.033) < 5e-4 &&
                  fabs(sum.thm9_max - 1.412) < 5e-4,
              "%g %g %g", sum.thm9_min, sum.thm9_median, sum.thm9_max);
}

/* `linstab validate --count 60 --seed 3 --json`: tightness to 12 digits (the
 * last bits differ between CPUs' BLAS kernels) */
Test(validate, random_tightness_is_the_command_s_to_the_last_digit)
{
    linstab_validate_params p = linstab_validate_defaults();
    p.count = 60;
    p.seed = 3;
    linstab_validate_summary sum;
    linstab_error err;
    cr_assert_eq(linstab_validate_random(&p, &sum, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(fabs(sum.thm1_min - 1.0166567910955848) <= 1e-12 * 1.0166567910955848, "thm1_min %.17g vs 1.0166567910955848", sum.thm1_min);
    cr_expect(fabs(sum.thm1_median - 1.2181190968338174) <= 1e-12 * 1.2181190968338174, "thm1_median %.17g vs 1.2181190968338174", sum.thm1_median);
    cr_expect(fabs(sum.thm1_max - 1.6705423420970393) <= 1e-12 * 1.6705423420970393, "thm1_max %.17g vs 1.6705423420970393", sum.thm1_max);
    cr_expect(fabs(sum.thm9_min - 1.0000236889379688) <= 1e-12 * 1.0000236889379688, "thm9_min %.17g vs 1.0000236889379688", sum.thm9_min);
    cr_expect(fabs(sum.thm9_median - 1.0392608765604614) <= 1e-12 * 1.0392608765604614, "thm9_median %.17g vs 1.0392608765604614", sum.thm9_median);
    cr_expect(fabs(sum.thm9_max - 1.289747251039976) <= 1e-12 * 1.289747251039976, "thm9_max %.17g vs 1.289747251039976", sum.thm9_max);
    for (int k = 0; k < LINSTAB_VALIDATE_CLAIMS; k++) cr_expect_eq(sum.tally[k].counterexamples, 0);
}

Test(validate, a_failing_callback_stops_the_run_with_its_message, .timeout = 240)
{
    seen s = {0};
    s.fail_at_first = 1;
    linstab_validate_params p = params_seed3(&s);
    linstab_validate_summary sum;
    memset(&sum, 0x5a, sizeof sum);
    linstab_error err;
    cr_expect_eq(linstab_validate_random(&p, &sum, &err), LINSTAB_EIO);
    cr_expect(strstr(err.msg, "disk full") != NULL, "%s", err.msg);
    cr_expect_eq(s.calls, 1);
    /* progress up to the case before the counterexample, not after it */
    cr_expect_eq(s.progress, s.first_case);
}

Test(validate, bad_parameters_are_refused_with_the_value)
{
    linstab_validate_summary sum;
    linstab_error err;
    linstab_validate_params p = linstab_validate_defaults();
    p.count = 0;
    cr_expect_eq(linstab_validate_random(&p, &sum, &err), LINSTAB_EINVAL);
    p = linstab_validate_defaults();
    linstab_gen_kind k[2] = {LINSTAB_GEN_RANK1, LINSTAB_GEN_DEXTER};
    p.kinds = k;
    p.nkinds = 2;
    cr_expect_eq(linstab_validate_random(&p, &sum, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "dexter") != NULL, "%s", err.msg);
    p.nkinds = 0;
    cr_expect_eq(linstab_validate_random(&p, &sum, &err), LINSTAB_EINVAL);
    /* a case whose hyper-parameters are out of range */
    hs = families[0];
    linstab_family *f = family_1d();
    linstab_hyper h = {0.5, N + 1, 0.0, LINSTAB_SAMPLING_WITH};
    linstab_validate_case vc;
    cr_expect_eq(linstab_validate_family(f, &h, &vc, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "batch") != NULL, "%s", err.msg);
    linstab_family_free(f);
    cr_expect_str_eq(linstab_validate_claim_stated_as(LINSTAB_VALIDATE_THM1_BERN), "sufficient (div.)");
    cr_expect_str_eq(linstab_validate_outcome_name(LINSTAB_VALIDATE_NA), "n/a");
}

/* ---- a genuine counterexample to Theorem 1 under sampling without replacement ----
 *
 * `linstab validate --count 300 --seed 6` reports one thm1_without
 * counterexample: three rank-one Hessians u_i u_i' in d = 4 (rank 3), B = 1,
 * eta = 1.03071...  Theorem 1's threshold (sigma/eta)(n/B - 1)^(-1/2) is
 * below lambda1(H) (it predicts divergence) while the exact mean-square
 * radius is 0.9702 < 1.  Dexter et al. (2024) prove Theorem 1 for Bernoulli
 * sampling only; this checks from scratch that the counterexample is real:
 * sigma from the 3 x 3 matrix S_ij = |u_i'u_j| (rank one), the radius from
 * the 9 x 9 matrix (1/n) sum_i (I - eta h_i) (x) (I - eta h_i) with h_i =
 * U'H_iU on range(H) (the flat direction contributes the eigenvalue 1 of a
 * direction the dynamics never leaves), LAPACK dsyev/dgeev. */
#include <lapacke.h>

Test(validate, thm1_without_counterexample_of_seed_6_is_real)
{
    enum { n = 3, d = 4 };
    static const double u[n][d] = {
        {-0.6190150912128092, 0.3175876614772186, 0.8759369616664697, -0.025717892709315602},
        {-0.4530661491342224, 0.6793976170447777, 0.3374487216462733, 0.46393876508216514},
        {-1.348988024453207, 0.6525653270688595, 0.3984531182613648, 0.13741752853253825}};
    const double eta = 1.0307137853495696;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 1, &f, &err), LINSTAB_OK);
    memcpy(f->data, u, sizeof u);
    /* sigma and lambda1(H) by hand */
    double S[n * n], w[d], lmax_i = 0.0, H[d * d] = {0};
    for (int i = 0; i < n; i++) {
        double uu = 0.0;
        for (int j = 0; j < n; j++) {
            double dot = 0.0;
            for (int k = 0; k < d; k++) dot += u[i][k] * u[j][k];
            S[i * n + j] = fabs(dot);
        }
        for (int k = 0; k < d; k++) uu += u[i][k] * u[i][k];
        lmax_i = fmax(lmax_i, uu);
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) H[a * d + b] += u[i][a] * u[i][b] / n;
    }
    double ws[n];
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', n, S, n, ws), 0);
    double sigma = ws[n - 1] / lmax_i;
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', d, H, d, w), 0); /* H now holds the eigenvectors */
    double lambda1 = w[d - 1], thr = sigma / eta / sqrt((double)n / 1.0 - 1.0);
    cr_expect_gt(lambda1, thr, "Theorem 1 fires: lambda1 %.17g vs threshold %.17g", lambda1, thr);
    cr_expect_lt(fabs(w[0]), 1e-12, "rank 3");
    /* the second-moment operator on range(H) (columns 1..3 of the eigenvectors) */
    enum { r = 3, r2 = r * r };
    double T[r2 * r2] = {0};
    for (int i = 0; i < n; i++) {
        double c[r], J[r * r];
        for (int a = 0; a < r; a++) {
            c[a] = 0.0;
            for (int k = 0; k < d; k++) c[a] += H[k * d + a + 1] * u[i][k];
        }
        for (int a = 0; a < r; a++)
            for (int b = 0; b < r; b++) J[a * r + b] = (a == b) - eta * c[a] * c[b];
        for (int a = 0; a < r; a++)
            for (int b = 0; b < r; b++)
                for (int p = 0; p < r; p++)
                    for (int q = 0; q < r; q++) T[(a * r + p) * r2 + b * r + q] += J[a * r + b] * J[p * r + q] / n;
    }
    double wr[r2], wi[r2], rad = 0.0;
    cr_assert_eq(LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', r2, T, r2, wr, wi, NULL, 1, NULL, 1), 0);
    for (int k = 0; k < r2; k++) rad = fmax(rad, hypot(wr[k], wi[k]));
    cr_expect_lt(rad, 0.98, "exact radius %.17g: stable", rad);
    linstab_rotated rf = tu_rotate(f);
    double got = NAN;
    cr_assert_eq(linstab_sgd_radius(&rf, eta, 1, LINSTAB_SAMPLING_WITHOUT, NULL, &got, &err), LINSTAB_OK, "%s",
                 err.msg);
    cr_expect(fabs(got - rad) <= 1e-12, "linstab radius %.17g vs by hand %.17g", got, rad);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}
