/*
 * test_trajectory_rate.c -- the predicted escape rate of objectives with
 * several samples (linstab_trajectory_predicted_rate through the
 * linearization's second-moment operator) against brute force: for a
 * diagonal family the operator is diagonal on the entries X_jk, with
 * eigenvalue E[m_j m_k] for the per-coordinate step multipliers m_j, and
 * the expectation is a finite sum over every batch (every B-subset, every
 * B-tuple, every Bernoulli subset; pairs of them for independent SAM).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/family.h"
#include "linstab/objective.h"
#include "linstab/trajectory.h"

#define N 5
#define D 3
#define MAXB 256 /* batches enumerated: at most 2^N = 32, N^B = 125 */

typedef struct {
    size_t count;
    double wt[MAXB];
    double c[MAXB][N]; /* Hhat = sum_i c_i H_i */
} batches;

static void enumerate(size_t n, size_t B, linstab_sampling s, batches *out)
{
    out->count = 0;
    if (s == LINSTAB_SAMPLING_WITH) {
        size_t total = 1;
        for (size_t k = 0; k < B; k++) total *= n;
        for (size_t code = 0; code < total; code++) {
            double *c = out->c[out->count];
            memset(c, 0, sizeof out->c[0]);
            for (size_t k = 0, x = code; k < B; k++, x /= n) c[x % n] += 1.0 / (double)B;
            out->wt[out->count++] = 1.0 / (double)total;
        }
        return;
    }
    size_t subsets = 0;
    for (size_t mask = 0; mask < ((size_t)1 << n); mask++) {
        size_t size = (size_t)__builtin_popcountl(mask);
        if (s == LINSTAB_SAMPLING_WITHOUT && size != B) continue;
        double *c = out->c[out->count];
        double p = (double)B / (double)n, wt = 1.0;
        for (size_t i = 0; i < n; i++) {
            int in = (mask >> i) & 1;
            c[i] = in ? 1.0 / (double)B : 0.0;
            wt *= in ? p : 1.0 - p;
        }
        out->wt[out->count++] = wt;
        subsets++;
    }
    if (s == LINSTAB_SAMPLING_WITHOUT)
        for (size_t k = 0; k < out->count; k++) out->wt[k] = 1.0 / (double)subsets;
}

/* hat h_j of a batch */
static double hhat(const double *h, const double *c, size_t n, size_t j)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += c[i] * h[i * D + j];
    return s;
}

/* max over the coordinates j, k of the range of |E[m_j m_k]| */
static double brute_radius(const double *h, size_t n, linstab_optimizer opt, double eta, double rho,
                           size_t B, linstab_sampling s)
{
    static batches b;
    if (opt == LINSTAB_OPT_GD) {
        B = n;
        s = LINSTAB_SAMPLING_WITHOUT;
    }
    enumerate(n, B, s, &b);
    int in_range[D];
    for (size_t j = 0; j < D; j++) {
        in_range[j] = 0;
        for (size_t i = 0; i < n; i++) in_range[j] |= h[i * D + j] != 0.0;
    }
    double worst = 0.0;
    for (size_t j = 0; j < D; j++)
        for (size_t k = j; k < D; k++) {
            if (!in_range[j] || !in_range[k]) continue;
            double e = 0.0;
            size_t second = opt == LINSTAB_OPT_SAM_INDEP ? b.count : 1;
            for (size_t u = 0; u < b.count; u++)
                for (size_t v = 0; v < second; v++) {
                    double aj = hhat(h, b.c[u], n, j), ak = hhat(h, b.c[u], n, k), mj, mk, wt = b.wt[u];
                    if (opt == LINSTAB_OPT_SAM_INDEP) {
                        double bj = hhat(h, b.c[v], n, j), bk = hhat(h, b.c[v], n, k);
                        mj = 1.0 - eta * aj * (1.0 + rho * bj);
                        mk = 1.0 - eta * ak * (1.0 + rho * bk);
                        wt *= b.wt[v];
                    } else if (opt == LINSTAB_OPT_SAM_SAME) {
                        mj = 1.0 - eta * aj - eta * rho * aj * aj;
                        mk = 1.0 - eta * ak - eta * rho * ak * ak;
                    } else {
                        mj = 1.0 - eta * aj;
                        mk = 1.0 - eta * ak;
                    }
                    e += wt * mj * mk;
                }
            worst = fmax(worst, fabs(e));
        }
    return worst;
}

static linstab_family *diagonal(const double *h, size_t n)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, D, 1, &f, &err), LINSTAB_OK, "%s", err.msg);
    memcpy(f->data, h, n * D * sizeof *h);
    return f;
}

static void check_all(const double *h, double eta, double rho, const char *what)
{
    linstab_family *f = diagonal(h, N);
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK, "%s", err.msg);
    const double w[D] = {0.3, -0.7, 1.1}; /* any point: the family is quadratic */
    const linstab_optimizer opts[4] = {LINSTAB_OPT_GD, LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP};
    const linstab_sampling ss[3] = {LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH, LINSTAB_SAMPLING_BERNOULLI};
    for (size_t a = 0; a < 4; a++)
        for (size_t si = 0; si < 3; si++)
            for (size_t B = 1; B <= N; B++) {
                if (ss[si] == LINSTAB_SAMPLING_WITH && B > 3) continue; /* N^B tuples */
                double got = NAN, want = brute_radius(h, N, opts[a], eta, rho, B, ss[si]);
                cr_assert(linstab_trajectory_predicted_rate(o, w, opts[a], eta, rho, B, ss[si], &got),
                          "%s: no prediction (optimizer %d, B %zu, sampling %d)", what, (int)opts[a], B, (int)ss[si]);
                /* the radius of an r(r+1)/2 operator with entries of order 1:
                 * a few hundred roundings */
                cr_expect(fabs(got - want) <= 1e-12 * fmax(1.0, want), "%s: optimizer %d B %zu sampling %d: %.17g vs %.17g",
                          what, (int)opts[a], B, (int)ss[si], got, want);
            }
    linstab_objective_free(o);
    linstab_family_free(f);
}

Test(trajectory_rate, the_radius_of_a_diagonal_family_is_the_enumerated_expectation)
{
    const double h[N * D] = {2.0, 0.5, 0.1, 0.3, 1.2, 0.05, 1.1, 0.0, 0.4, 0.7, 0.9, 0.2, 1.6, 0.1, 0.3};
    check_all(h, 0.8, 0.3, "positive semidefinite");
}

Test(trajectory_rate, a_rank_deficient_family_is_decided_on_its_range)
{
    /* the third coordinate has no curvature in any sample: its multiplier
     * is 1 and does not enter the loss; the radius is that of the rest */
    const double h[N * D] = {2.0, 0.5, 0.0, 0.3, 1.2, 0.0, 1.1, 0.0, 0.0, 0.7, 0.9, 0.0, 1.6, 0.1, 0.0};
    check_all(h, 0.5, 0.2, "rank deficient");
}

Test(trajectory_rate, an_indefinite_family_a_non_minimum_is_predicted_too)
{
    const double h[N * D] = {2.0, -0.5, 0.1, -0.3, 1.2, 0.05, 1.1, 0.4, -0.4, 0.7, -0.9, 0.2, 1.6, 0.1, 0.3};
    check_all(h, 0.6, 0.1, "indefinite");
}

Test(trajectory_rate, identical_samples_have_no_batch_noise)
{
    /* every batch Hessian is H: the radius is max_j (1 - eta h_j - eta rho h_j^2)^2 */
    const double row[D] = {1.5, 0.25, 0.75};
    double h[N * D];
    for (size_t i = 0; i < N; i++) memcpy(h + i * D, row, sizeof row);
    linstab_family *f = diagonal(h, N);
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK, "%s", err.msg);
    const double w[D] = {0};
    double eta = 1.1, rho = 0.4, got = NAN;
    for (size_t B = 1; B <= N; B++) {
        cr_assert(linstab_trajectory_predicted_rate(o, w, LINSTAB_OPT_SAM_SAME, eta, rho, B,
                                                    LINSTAB_SAMPLING_WITHOUT, &got));
        double want = 0.0;
        for (size_t j = 0; j < D; j++) {
            double m = 1.0 - eta * row[j] - eta * rho * row[j] * row[j];
            want = fmax(want, m * m);
        }
        cr_expect(fabs(got - want) <= 1e-12 * want, "B %zu: %.17g vs %.17g", B, got, want);
    }
    /* normalized SAM is not linear: no prediction */
    cr_expect_not(linstab_trajectory_predicted_rate(o, w, LINSTAB_OPT_SAM_NORMALIZED, eta, rho, 1,
                                                    LINSTAB_SAMPLING_WITHOUT, &got));
    linstab_objective_free(o);
    linstab_family_free(f);
}

Test(trajectory_rate, the_linearization_holds_each_sample_hessian)
{
    const double h[N * D] = {2.0, 0.5, 0.1, 0.3, 1.2, 0.05, 1.1, 0.0, 0.4, 0.7, 0.9, 0.2, 1.6, 0.1, 0.3};
    linstab_family *f = diagonal(h, N), *lin = NULL;
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK, "%s", err.msg);
    const double w[D] = {1.0, 2.0, 3.0};
    cr_assert_eq(linstab_trajectory_linearization(o, w, &lin, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(lin->n, (size_t)N);
    cr_assert_eq(lin->d, (size_t)D);
    for (size_t i = 0; i < N; i++)
        for (size_t r = 0; r < D; r++)
            for (size_t c = 0; c < D; c++)
                cr_expect_eq(lin->data[(i * D + r) * D + c], r == c ? h[i * D + r] : 0.0);
    linstab_family_free(lin);
    const double bad[D] = {1.0, NAN, 0.0};
    cr_expect_eq(linstab_trajectory_linearization(o, bad, &lin, &err), LINSTAB_EINVAL);
    cr_expect_null(lin);
    linstab_objective_free(o);
    linstab_family_free(f);
}

/* max_j E log|m_j|: the coordinates of a diagonal family evolve apart */
static double brute_lyapunov(const double *h, size_t n, linstab_optimizer opt, double eta, double rho,
                             size_t B, linstab_sampling s)
{
    static batches b;
    enumerate(n, B, s, &b);
    double best = -INFINITY;
    for (size_t j = 0; j < D; j++) {
        int touched = 0;
        for (size_t i = 0; i < n; i++) touched |= h[i * D + j] != 0.0;
        if (!touched) continue;
        double e = 0.0;
        size_t second = opt == LINSTAB_OPT_SAM_INDEP ? b.count : 1;
        for (size_t u = 0; u < b.count; u++)
            for (size_t v = 0; v < second; v++) {
                double a = hhat(h, b.c[u], n, j), m = 1.0 - eta * a, wt = b.wt[u];
                if (opt == LINSTAB_OPT_SAM_SAME) m -= eta * rho * a * a;
                if (opt == LINSTAB_OPT_SAM_INDEP) {
                    m = 1.0 - eta * a * (1.0 + rho * hhat(h, b.c[v], n, j));
                    wt *= b.wt[v];
                }
                e += wt * log(fabs(m));
            }
        best = fmax(best, e);
    }
    return best;
}

Test(trajectory_rate, a_single_run_grows_at_the_enumerated_lyapunov_rate)
{
    const double h[N * D] = {2.0, 0.5, 0.0, 0.3, 1.2, 0.0, 1.1, 0.0, 0.0, 0.7, 0.9, 0.0, 1.6, 0.1, 0.0};
    linstab_family *f = diagonal(h, N);
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK, "%s", err.msg);
    const double w[D] = {0};
    const struct {
        linstab_optimizer opt;
        size_t B;
        linstab_sampling s;
    } cases[] = {{LINSTAB_OPT_SGD, 1, LINSTAB_SAMPLING_WITH},
                 {LINSTAB_OPT_SGD, 2, LINSTAB_SAMPLING_WITHOUT},
                 {LINSTAB_OPT_SGD, 3, LINSTAB_SAMPLING_BERNOULLI},
                 {LINSTAB_OPT_SAM_SAME, 2, LINSTAB_SAMPLING_WITHOUT},
                 {LINSTAB_OPT_SAM_INDEP, 1, LINSTAB_SAMPLING_WITHOUT}};
    double eta = 1.4, rho = 0.2;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double rate = NAN, se = NAN, ms = NAN;
        cr_assert(linstab_trajectory_predicted_lyapunov(o, w, cases[c].opt, eta, rho, cases[c].B, cases[c].s, 7,
                                                        &rate, &se));
        double want = exp(2.0 * brute_lyapunov(h, N, cases[c].opt, eta, rho, cases[c].B, cases[c].s));
        /* Monte Carlo: five standard errors, and the burn-in's bias */
        cr_expect(fabs(rate - want) <= 5.0 * se + 1e-3 * want, "case %zu: %.6g +- %.2g vs %.6g", c, rate, se, want);
        cr_expect(se > 0.0, "case %zu: a stochastic step has a Monte Carlo error", c);
        /* Jensen: the almost-sure rate never exceeds the mean-square one */
        cr_assert(linstab_trajectory_predicted_rate(o, w, cases[c].opt, eta, rho, cases[c].B, cases[c].s, &ms));
        cr_expect(rate <= ms * (1.0 + 1e-12), "case %zu: %.6g > %.6g", c, rate, ms);
    }
    /* deterministic steps: the two rates coincide */
    double rate = NAN, se = NAN, ms = NAN;
    cr_assert(linstab_trajectory_predicted_lyapunov(o, w, LINSTAB_OPT_GD, eta, rho, 1, LINSTAB_SAMPLING_WITH, 7, &rate, &se));
    cr_assert(linstab_trajectory_predicted_rate(o, w, LINSTAB_OPT_GD, eta, rho, 1, LINSTAB_SAMPLING_WITH, &ms));
    cr_expect_eq(rate, ms);
    cr_expect_eq(se, 0.0);
    linstab_objective_free(o);
    linstab_family_free(f);
}

Test(trajectory_rate, both_rates_at_once_are_each_rate_alone)
{
    const double h[N * D] = {2.0, 0.5, 0.0, 0.3, 1.2, 0.0, 1.1, 0.0, 0.0, 0.7, 0.9, 0.0, 1.6, 0.1, 0.0};
    linstab_family *f = diagonal(h, N);
    linstab_objective *o = NULL, *t2 = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_objective_tanh2(&t2, &err), LINSTAB_OK);
    const double w[D] = {0}, u[2] = {1.4, 1e-3};
    const linstab_optimizer opts[4] = {LINSTAB_OPT_GD, LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP};
    for (size_t k = 0; k < 2; k++)
        for (size_t a = 0; a < 4; a++) {
            const linstab_objective *ob = k == 0 ? o : t2;
            const double *at = k == 0 ? w : u;
            double ms = NAN, as = NAN, se = NAN, ms1 = NAN, as1 = NAN, se1 = NAN;
            int got = linstab_trajectory_predicted_escape(ob, at, opts[a], 1.4, 0.2, 2, LINSTAB_SAMPLING_WITH, 7, &ms,
                                                          &as, &se);
            cr_assert_eq(got, 3, "objective %zu optimizer %zu", k, a);
            cr_assert(linstab_trajectory_predicted_rate(ob, at, opts[a], 1.4, 0.2, 2, LINSTAB_SAMPLING_WITH, &ms1));
            cr_assert(linstab_trajectory_predicted_lyapunov(ob, at, opts[a], 1.4, 0.2, 2, LINSTAB_SAMPLING_WITH, 7,
                                                            &as1, &se1));
            cr_expect_eq(ms, ms1);
            cr_expect_eq(as, as1);
            cr_expect_eq(se, se1);
            /* a deterministic step (gradient descent, one sample) grows at one rate */
            if (k == 1 || a == 0) cr_expect(as == ms && se == 0.0, "objective %zu optimizer %zu", k, a);
        }
    double ms, as, se;
    cr_expect_eq(linstab_trajectory_predicted_escape(o, w, LINSTAB_OPT_SAM_NORMALIZED, 1.4, 0.2, 2,
                                                     LINSTAB_SAMPLING_WITH, 7, &ms, &as, &se),
                 0);
    linstab_objective_free(t2);
    linstab_objective_free(o);
    linstab_family_free(f);
}
