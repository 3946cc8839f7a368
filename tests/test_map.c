/*
 * test_map.c -- phase diagrams: axis parsing, Dexter et al.'s classification rule on
 * hand-made trajectories, the simulator's step against the update's
 * definition, and the Monte Carlo verdicts against the almost-sure
 * (Lyapunov) and mean-square criteria on Dexter et al.'s construction;
 * the grid driver (chunks, a stop and a resume, a partition over workers
 * and their failures) against single cells, and the cells' Theorem 1/2
 * margins against linstab_bounds_compute.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/bounds.h"
#include "linstab/checkpoint.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/map.h"
#include "testutil.h"

Test(map_axis, parses_lists_linear_and_log_ranges_and_integer_ranges)
{
    linstab_map_axis a;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("eta=0.1,0.2,0.5", &a, &err), LINSTAB_OK);
    cr_expect_eq(a.kind, LINSTAB_MAP_AXIS_ETA);
    cr_expect_eq(a.count, 3);
    cr_expect_eq(a.values[2], 0.5);
    linstab_map_axis_clear(&a);
    cr_assert_eq(linstab_map_axis_parse("eta=0.1:0.5:5", &a, &err), LINSTAB_OK);
    cr_expect_eq(a.count, 5);
    cr_expect_lt(fabs(a.values[1] - 0.2), 1e-15);
    linstab_map_axis_clear(&a);
    cr_assert_eq(linstab_map_axis_parse("rho=log:0.01:1:3", &a, &err), LINSTAB_OK);
    cr_expect(a.log);
    cr_expect_lt(fabs(a.values[1] - 0.1), 1e-15);
    linstab_map_axis_clear(&a);
    cr_assert_eq(linstab_map_axis_parse("batch=1:10:3", &a, &err), LINSTAB_OK);
    cr_expect_eq(a.count, 4);
    cr_expect_eq(a.values[3], 10.0);
    linstab_map_axis_clear(&a);
    cr_assert_eq(linstab_map_axis_parse("sigma=1:50", &a, &err), LINSTAB_OK);
    cr_expect_eq(a.count, 50);
    linstab_map_axis_clear(&a);
}

Test(map_axis, rejects_bad_specifications_with_a_message)
{
    const char *bad[] = {"eta",         "gamma=1:2:3",  "eta=2:1:5",   "eta=0.1:1",
                         "eta=log:0:1:4", "batch=1.5:4", "batch=0:4",   "eta=-1,2",
                         "rho=-0.1,0.2",  "eta=1:2:0",   "eta=a,b",     "batch=5:2",
                         "eta=",          "sigma=2.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        linstab_map_axis a;
        linstab_error err = {0};
        cr_expect_eq(linstab_map_axis_parse(bad[i], &a, &err), LINSTAB_EINVAL, "accepted '%s'", bad[i]);
        cr_expect(err.msg[0] != '\0');
    }
}

Test(map_check, rejects_a_repeated_axis_an_inapplicable_axis_and_batches_above_n)
{
    linstab_map_axis x, y, z, r;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("eta=0.1:1:4", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("eta=0.2,0.3", &y, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=1:200", &z, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("rho=0:1:3", &r, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, 100, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.sigma = 5;
    p.batch = 10;
    cr_expect_eq(linstab_map_check(&src, &p, &x, &y, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "twice") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_map_check(&src, &p, &x, &z, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "exceeds n") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_map_check(&src, &p, &x, &r, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "rho") != NULL, "%s", err.msg);
    p.dyn = LINSTAB_OPT_SAM_SAME;
    cr_expect_eq(linstab_map_check(&src, &p, &x, &r, &err), LINSTAB_OK, "%s", err.msg);
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
    linstab_map_axis_clear(&z);
    linstab_map_axis_clear(&r);
}

Test(map_protocol, classification_follows_004_on_hand_made_trajectories)
{
    double up[] = {1.0, 2.0, 50.0, 999.0, 1000.0, 0.0001};
    cr_expect_eq(linstab_map_cell_classify(up, 6, 1000, 1000), 1); /* growth reached first */
    double down[] = {2.0, 1.0, 0.01, 0.0019, 0.002, 5000.0};
    cr_expect_eq(linstab_map_cell_classify(down, 6, 1000, 1000), -1); /* 2/1000 reached first */
    double flat[] = {1.0, 3.0, 0.5, 999.0, 0.0011};
    cr_expect_eq(linstab_map_cell_classify(flat, 5, 1000, 1000), 0); /* neither: not divergent */
    double zero[] = {1.0, 0.0};
    cr_expect_eq(linstab_map_cell_classify(zero, 2, 1000, 1000), -1);
}

/* The step of each dynamics equals its definition with a full batch
 * (B = n without replacement: Hhat = H, deterministic). */
Test(map_protocol, the_simulator_step_equals_the_update_definition)
{
    size_t n = 4, d = 3;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 2, &f, &err), LINSTAB_OK);
    gsl_rng *g = tu_rng(9);
    tu_gauss(g, f->data, n * d * 2);
    double H[9], w0[3] = {0.3, -0.7, 1.1};
    cr_assert_eq(linstab_family_mean(f, H, &err), LINSTAB_OK);
    double eta = 0.2, rho = 0.3;
    linstab_optimizer dyns[3] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_SAME, LINSTAB_OPT_SAM_INDEP};
    for (int k = 0; k < 3; k++) {
        linstab_sim *s = NULL;
        cr_assert_eq(linstab_simulate_alloc(f, dyns[k], eta, rho, n, LINSTAB_SAMPLING_WITHOUT, &s, &err), LINSTAB_OK);
        double w[3], Hw[3] = {0}, HHw[3] = {0};
        memcpy(w, w0, sizeof w);
        linstab_simulate_step(s, g, w);
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) Hw[a] += H[a * d + b] * w0[b];
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) HHw[a] += H[a * d + b] * Hw[b];
        for (size_t a = 0; a < d; a++) {
            /* sgd: w - eta H w; both SAM variants: w - eta (H w + rho H H w) */
            double want = w0[a] - eta * Hw[a] - (k > 0 ? eta * rho * HHw[a] : 0.0);
            cr_expect_lt(fabs(w[a] - want), 1e-14, "dynamics %d, coordinate %zu", k, a);
        }
        linstab_simulate_free(s);
    }
    gsl_rng_free(g);
    linstab_family_free(f);
}

/* On Dexter et al.'s construction (n = 100, eta = 0.8): cells clearly on one side of
 * the almost-sure boundary follow its sign, and mean-square-stable cells
 * converge.  Margins: the per-step log-multiplier has a standard deviation
 * of order 0.5 here, so over 1000 steps a single run's log-growth has sd
 * ~ 15; at |exponent| > 0.04 (mean 40 vs the threshold log 1000 = 6.9 plus
 * the start's projection) the majority of 5 runs is reliable, and at
 * |exponent| > 0.15 every run is. */
Test(map_protocol, monte_carlo_follows_the_lyapunov_sign_away_from_its_boundary)
{
    linstab_map_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("sigma=1,3,5,10,20,40", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=1,2,5,10,20,30,50,80", &y, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, 100, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.eta = 0.8;
    p.seed = 11;
    p.sampling = LINSTAB_SAMPLING_BERNOULLI; /* Dexter et al.'s setting (map's default until it became without) */
    size_t checked = 0;
    for (size_t iy = 0; iy < y.count; iy++)
        for (size_t ix = 0; ix < x.count; ix++) {
            linstab_map_cell c;
            cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
            if (c.radius <= 1.0) cr_expect_eq(c.frac_div, 0.0, "ms-stable cell diverged");
            if (fabs(c.lyapunov) > 0.04) {
                cr_expect_eq(c.divergent, c.lyapunov > 0, "sigma %g B %g", x.values[ix], y.values[iy]);
                checked++;
            }
            if (fabs(c.lyapunov) > 0.15)
                cr_expect_eq(c.frac_div, c.lyapunov > 0 ? 1.0 : 0.0, "sigma %g B %g", x.values[ix],
                             y.values[iy]);
            /* Theorem 1 predicts divergence only where the exact operator is unstable */
            if (c.thm1_margin > 0) cr_expect_gt(c.radius, 1.0);
        }
    cr_expect_gt(checked, 20);
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
}

Test(map_protocol, a_cell_is_reproducible_from_its_seed)
{
    linstab_map_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("sigma=5", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=21", &y, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, 100, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.eta = 0.8;
    p.runs = 9;
    linstab_map_cell a, b;
    cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, 0, 0, &a, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, 0, 0, &b, &err), LINSTAB_OK);
    cr_expect_eq(a.frac_div, b.frac_div);
    cr_expect_eq(a.divergent, b.divergent);
    cr_expect_eq(a.radius, b.radius);
    cr_expect_eq(a.lyapunov, b.lyapunov);
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
}

/* ---- the margin columns against their closed forms -------------------- */

/* Dexter et al. (2024) Theorem 1 (Bernoulli): divergence when lambda1(H) > 2/eta or
 * lambda1(H) > (sigma/eta)(n/B - 1)^(-1/2) (no second condition at B = n);
 * Theorem 2: threshold 2 sigma / (eta (sigma + n/B - 1)).  On their
 * construction lambda1(H) = 2 and the coherence is sigma. */
Test(map_margins, theorem_1_and_2_margins_equal_their_closed_forms_on_the_construction)
{
    linstab_map_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("sigma=1,3,7,20", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=1,4,9,20,37,40", &y, &err), LINSTAB_OK);
    size_t n = 40;
    linstab_map_source src = {NULL, NAN, NAN, n, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.sampling = LINSTAB_SAMPLING_BERNOULLI; /* the sampling of Dexter et al.'s theorems */
    p.runs = 1;
    p.steps = 5;
    p.exact = 0;
    double etas[] = {0.05, 0.8, 1.7};
    for (size_t e = 0; e < 3; e++) {
        p.eta = etas[e];
        for (size_t iy = 0; iy < y.count; iy++)
            for (size_t ix = 0; ix < x.count; ix++) {
                linstab_map_cell c;
                cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
                double s = x.values[ix], B = y.values[iy], eta = etas[e], q = (double)n / B;
                double t1 = 2.0 / eta;
                if (B < (double)n) t1 = fmin(t1, s / eta / sqrt(q - 1.0));
                double want1 = 2.0 - t1, want2 = 2.0 - 2.0 * s / (eta * (s + q - 1.0));
                /* a few roundings of quantities of size <= 2/eta */
                double tol = 8 * 2.2e-16 * (2.0 + 2.0 / eta + s / eta);
                cr_expect_lt(fabs(c.thm1_margin - want1), tol, "Theorem 1, sigma %g B %g eta %g: %.17g vs %.17g", s,
                             B, eta, c.thm1_margin, want1);
                cr_expect_lt(fabs(c.thm2_margin - want2), tol, "Theorem 2, sigma %g B %g eta %g: %.17g vs %.17g", s,
                             B, eta, c.thm2_margin, want2);
                cr_expect(isnan(c.thm9_margin), "Theorem 9 is for SAM only");
            }
    }
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
}

/* A fixed family's margins use its own sharpness and coherence. */
Test(map_margins, theorem_1_and_2_margins_use_the_sharpness_and_coherence_of_a_fixed_family)
{
    linstab_family *f = tu_family_factored(10, 3, 2, 5);
    linstab_rotated rf = tu_rotate(f);
    linstab_error err;
    double l1 = tu_lambda1_mean(f), sig;
    cr_assert_eq(linstab_geometry_coherence(rf.f, NULL, &sig, &err), LINSTAB_OK);
    linstab_map_source src = {&rf, l1, sig, 0, NULL, NULL};
    linstab_map_axis x, y;
    cr_assert_eq(linstab_map_axis_parse("eta=0.1,0.6", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=2,10", &y, &err), LINSTAB_OK);
    linstab_map_params p = linstab_map_defaults();
    p.runs = 1;
    p.steps = 5;
    p.exact = 0;
    for (size_t iy = 0; iy < 2; iy++)
        for (size_t ix = 0; ix < 2; ix++) {
            linstab_map_cell c;
            cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
            double eta = x.values[ix], B = y.values[iy], q = 10.0 / B;
            double t1 = B < 10 ? fmin(2.0 / eta, sig / eta / sqrt(q - 1.0)) : 2.0 / eta;
            double tol = 8 * 2.2e-16 * (l1 + 2.0 / eta + sig / eta);
            cr_expect_lt(fabs(c.thm1_margin - (l1 - t1)), tol, "Theorem 1, eta %g B %g", eta, B);
            cr_expect_lt(fabs(c.thm2_margin - (l1 - 2.0 * sig / (eta * (sig + q - 1.0)))), tol, "Theorem 2");
        }
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* Cyclic Jacobi eigenvalues of a small symmetric matrix (row-major, d x d,
 * destroyed): the largest one. Independent of LAPACK. */
static double jacobi_lambda_max(size_t d, double *A)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0;
        for (size_t p = 0; p < d; p++)
            for (size_t q = p + 1; q < d; q++) off += A[p * d + q] * A[p * d + q];
        if (off < 1e-300) break;
        for (size_t p = 0; p < d; p++)
            for (size_t q = p + 1; q < d; q++) {
                double apq = A[p * d + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (A[q * d + q] - A[p * d + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (size_t k = 0; k < d; k++) { /* columns p, q */
                    double akp = A[k * d + p], akq = A[k * d + q];
                    A[k * d + p] = c * akp - s * akq;
                    A[k * d + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < d; k++) { /* rows p, q */
                    double apk = A[p * d + k], aqk = A[q * d + k];
                    A[p * d + k] = c * apk - s * aqk;
                    A[q * d + k] = s * apk + c * aqk;
                }
            }
    }
    double m = -INFINITY;
    for (size_t k = 0; k < d; k++) m = fmax(m, A[k * d + k]);
    return m;
}

/* Shin et al. Theorem 9: lambda_max(P) with P = (1/n) sum_i J_i^2,
 * J_i = I - eta H_i - eta rho H_i^2, computed densely from the samples in
 * the original coordinates (the family has full rank, so the map's
 * rotated, range-restricted P has the same spectrum). */
Test(map_margins, theorem_9_margin_is_lambda_max_of_the_mean_squared_step_minus_one)
{
    size_t n = 7, d = 4;
    linstab_family *f = tu_family_factored(n, d, 2, 21);
    linstab_rotated rf = tu_rotate(f);
    cr_assert_eq(rf.f->d, d, "full rank");
    linstab_error err;
    linstab_moments *m = NULL;
    cr_assert_eq(linstab_moments_compute(rf.f, &m, &err), LINSTAB_OK, "%s", err.msg);
    double sig;
    cr_assert_eq(linstab_geometry_coherence(rf.f, NULL, &sig, &err), LINSTAB_OK);
    linstab_map_source src = {&rf, tu_lambda1_mean(f), sig, 0, m, NULL};
    linstab_map_axis x, y;
    cr_assert_eq(linstab_map_axis_parse("eta=0.05,0.4,1.3", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("rho=0,0.3,2", &y, &err), LINSTAB_OK);
    linstab_map_params p = linstab_map_defaults();
    p.dyn = LINSTAB_OPT_SAM_SAME;
    p.batch = 1;
    p.runs = 1;
    p.steps = 5;
    p.exact = 0;
    double Hs[7][16], J[16], P[16];
    for (size_t i = 0; i < n; i++) linstab_family_sample_dense(f, i, Hs[i]);
    for (size_t iy = 0; iy < y.count; iy++)
        for (size_t ix = 0; ix < x.count; ix++) {
            double eta = x.values[ix], rho = y.values[iy], scale = 0.0;
            memset(P, 0, sizeof P);
            for (size_t i = 0; i < n; i++) {
                for (size_t a = 0; a < d; a++)
                    for (size_t b = 0; b < d; b++) {
                        double h2 = 0.0;
                        for (size_t k = 0; k < d; k++) h2 += Hs[i][a * d + k] * Hs[i][k * d + b];
                        J[a * d + b] = (a == b) - eta * Hs[i][a * d + b] - eta * rho * h2;
                    }
                for (size_t a = 0; a < d; a++)
                    for (size_t b = 0; b < d; b++) {
                        double s = 0.0;
                        for (size_t k = 0; k < d; k++) s += J[a * d + k] * J[k * d + b];
                        P[a * d + b] += s / (double)n;
                    }
                for (size_t a = 0; a < d * d; a++) scale = fmax(scale, fabs(J[a]));
            }
            double want = jacobi_lambda_max(d, P) - 1.0;
            linstab_map_cell c;
            cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
            /* P's entries are sums of products of J entries: rounding of order
             * d n eps max|J|^2, and the eigenvalue is well conditioned (symmetric) */
            double tol = 64.0 * (double)(d * n) * 2.2e-16 * (1.0 + scale * scale);
            cr_expect_lt(fabs(c.thm9_margin - want), tol, "eta %g rho %g: %.17g vs %.17g", eta, rho, c.thm9_margin,
                         want);
        }
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* On the construction (diagonal) P is diagonal: P_jj = (1/n) sum_i
 * (1 - eta h_ij - eta rho h_ij^2)^2, so lambda_max(P) = max_j P_jj (the
 * dexter source computes the moments per cell). */
Test(map_margins, theorem_9_margin_on_the_construction_is_the_largest_diagonal_entry)
{
    size_t n = 12;
    linstab_map_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("sigma=1,4,12", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("rho=0,0.1,0.5", &y, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, n, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.dyn = LINSTAB_OPT_SAM_SAME;
    p.eta = 0.3;
    p.batch = 1;
    p.runs = 1;
    p.steps = 5;
    p.exact = 0;
    for (size_t iy = 0; iy < y.count; iy++)
        for (size_t ix = 0; ix < x.count; ix++) {
            size_t sg = (size_t)x.values[ix];
            linstab_family *f = tu_family_004(n, sg);
            double rho = y.values[iy], best = -INFINITY;
            for (size_t j = 0; j < f->d; j++) {
                double s = 0.0;
                for (size_t i = 0; i < n; i++) {
                    double h = f->data[i * f->d + j], jj = 1.0 - p.eta * h - p.eta * rho * h * h;
                    s += jj * jj / (double)n;
                }
                best = fmax(best, s);
            }
            linstab_map_cell c;
            cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
            cr_expect_lt(fabs(c.thm9_margin - (best - 1.0)), 1e-12 * (1.0 + best), "sigma %zu rho %g: %.17g vs %.17g",
                         sg, rho, c.thm9_margin, best - 1.0);
            linstab_family_free(f);
        }
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
}

/* ---- the parallel driver and the memory estimate ------------------------ */

/* linstab_map_grid_cells gives each cell the bits of linstab_map_cell_compute, for one
 * pass or two interleaved strides (MPI ranks), and reports the failing
 * cell with the smallest index whatever the schedule. */
Test(map_cells, cells_computed_in_parallel_equal_single_cells_and_the_first_failure_is_reported)
{
    linstab_map_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("sigma=1,2,5,8", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=1,3,8", &y, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, 8, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.eta = 0.8;
    p.steps = 100;
    size_t nc = 12, failed;
    unsigned char done[12] = {0}, done2[12] = {0};
    double vals[12 * LINSTAB_MAP_FIELDS], vals2[12 * LINSTAB_MAP_FIELDS], one[LINSTAB_MAP_FIELDS];
    cr_assert_eq(linstab_map_grid_cells(&src, &p, &x, &y, 0, nc, 1, 0, done, vals, &failed, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(failed, SIZE_MAX);
    cr_assert_eq(linstab_map_grid_cells(&src, &p, &x, &y, 0, nc, 2, 1, done2, vals2, &failed, &err), LINSTAB_OK);
    for (size_t c = 0; c < nc; c++) cr_expect_eq(done2[c], c % 2, "stride 2, offset 1: cell %zu", c);
    cr_assert_eq(linstab_map_grid_cells(&src, &p, &x, &y, 0, nc, 2, 0, done2, vals2, &failed, &err), LINSTAB_OK);
    for (size_t c = 0; c < nc; c++) {
        linstab_map_cell cell;
        cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, c % 4, c / 4, &cell, &err), LINSTAB_OK);
        linstab_map_cell_pack(&cell, one);
        cr_expect(done[c] && done2[c]);
        cr_expect_eq(memcmp(one, vals + c * LINSTAB_MAP_FIELDS, sizeof one), 0, "cell %zu", c);
        cr_expect_eq(memcmp(one, vals2 + c * LINSTAB_MAP_FIELDS, sizeof one), 0, "cell %zu (strides)", c);
    }
    /* sigma 9 and 12 exceed n = 8: cells 2, 3, 6, 7, 10, 11 fail; cell 2 is reported */
    linstab_map_axis bad;
    cr_assert_eq(linstab_map_axis_parse("sigma=1,2,9,12", &bad, &err), LINSTAB_OK);
    for (int rep = 0; rep < 5; rep++) {
        unsigned char d3[12] = {0};
        double v3[12 * LINSTAB_MAP_FIELDS];
        linstab_error e3 = {0};
        cr_expect_neq(linstab_map_grid_cells(&src, &p, &bad, &y, 0, nc, 1, 0, d3, v3, &failed, &e3), LINSTAB_OK);
        cr_expect_eq(failed, 2, "repetition %d: cell %zu reported", rep, failed);
        cr_expect(strncmp(e3.msg, "cell 2 (sigma 9, batch 1)", 25) == 0, "%s", e3.msg);
        cr_expect(d3[0] && d3[1], "the cells below the failure are computed");
    }
    linstab_map_axis_clear(&bad);
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
}

Test(map_memory, the_cell_count_overflow_is_refused_and_the_estimate_covers_the_arrays)
{
    linstab_map_source src = {NULL, NAN, NAN, 100, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.eta = 0.8;
    double v[1] = {5};
    linstab_map_axis x = {LINSTAB_MAP_AXIS_SIGMA, (size_t)1 << 40, v, 0}, y = {LINSTAB_MAP_AXIS_BATCH, (size_t)1 << 30, v, 0};
    size_t cells;
    double bytes;
    linstab_error err;
    cr_expect_eq(linstab_map_memory(&src, &p, &x, &y, 1, &cells, &bytes, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "overflows") != NULL, "%s", err.msg);
    /* 1 x 2^40 fits size_t: a valid count, and terabytes of memory (the
     * estimate reads the values of the sigma axis only: x has its one) */
    x.count = 1;
    y.count = (size_t)1 << 40;
    cr_assert_eq(linstab_map_memory(&src, &p, &x, &y, 1, &cells, &bytes, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(cells, (size_t)1 << 40);
    cr_expect_geq(bytes, (double)cells * (1 + 8 * LINSTAB_MAP_FIELDS), "at least the done flags and values");
    double b2;
    cr_assert_eq(linstab_map_memory(&src, &p, &x, &y, 2, &cells, &b2, &err), LINSTAB_OK);
    /* one more thread: at least one more simulator (n = 100 samples, d = 96 coordinates) */
    cr_expect_geq(b2 - bytes, 8.0 * (3 * 100 + 3 * 96));
}

/* ------------------------------------------ helpers of the map driver */

#include <cblas.h>

#include "linstab/geometry.h"
#include "linstab/simulate.h"

Test(map_helpers, axis_names_are_the_spec_keys)
{
    cr_expect_str_eq(linstab_map_axis_name(LINSTAB_MAP_AXIS_ETA), "eta");
    cr_expect_str_eq(linstab_map_axis_name(LINSTAB_MAP_AXIS_BATCH), "batch");
    cr_expect_str_eq(linstab_map_axis_name(LINSTAB_MAP_AXIS_RHO), "rho");
    cr_expect_str_eq(linstab_map_axis_name(LINSTAB_MAP_AXIS_SIGMA), "sigma");
    cr_expect_str_eq(linstab_map_axis_name((linstab_map_axis_kind)9), "?");
}

Test(map_helpers, the_dexter_source_has_its_closed_form_spectrum_and_coherence)
{
    /* n = 12, sigma = 3: d = 10, m = 2n/sigma = 8; H = diag(sigma m / n, m / n, ...) = diag(2, 2/3, ...) */
    linstab_rotated rf;
    linstab_error err = {0};
    cr_assert_eq(linstab_map_dexter(12, 3, &rf, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(rf.f->n, 12);
    cr_assert_eq(rf.f->d, 10);
    cr_expect(fabs(rf.l[0] - 2.0) <= 4 * 2.22e-16);
    for (size_t j = 1; j < 10; j++) cr_expect(fabs(rf.l[j] - 2.0 / 3.0) <= 4 * 2.22e-16, "l[%zu] = %.17g", j, rf.l[j]);
    double l1S, sigma;
    cr_assert_eq(linstab_geometry_coherence(rf.f, &l1S, &sigma, &err), LINSTAB_OK);
    cr_expect(fabs(sigma - 3.0) <= 64 * 2.22e-16 * 3.0, "sigma %.17g", sigma);
    linstab_map_source src = {&rf, 2.0, 3.0, 0, NULL, NULL};
    cr_expect_eq(linstab_map_source_n(&src), 12);
    linstab_map_source dx = {NULL, 2.0, 0.0, 40, NULL, NULL};
    cr_expect_eq(linstab_map_source_n(&dx), 40);
    linstab_family_rotated_clear(&rf);
}

/* One sample, one coordinate: the run is deterministic, |w_t| = |1 - eta h|^t. */
static int one_run(double eta, double h, size_t steps)
{
    linstab_family *f = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 1, 1, 0, &f, &err), LINSTAB_OK);
    f->data[0] = h;
    linstab_sim *sim = NULL;
    cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SGD, eta, 0.0, 1, LINSTAB_SAMPLING_WITHOUT, &sim, &err), LINSTAB_OK,
                 "%s", err.msg);
    gsl_rng *r = tu_rng(5);
    double w[1];
    int outcome = 7;
    linstab_map_cell_run(sim, r, 1, steps, 1000.0, 1000.0, w, &outcome);
    gsl_rng_free(r);
    linstab_simulate_free(sim);
    linstab_family_free(f);
    return outcome;
}

Test(map_helpers, a_monte_carlo_run_follows_the_deterministic_growth_factor)
{
    /* factor 2: 1000x after 10 steps; factor 0.5: 1000x smaller after 10 */
    cr_expect_eq(one_run(3.0, 1.0, 100), +1, "|1 - 3| = 2 grows");
    cr_expect_eq(one_run(0.5, 1.0, 100), -1, "|1 - 0.5| shrinks");
    cr_expect_eq(one_run(3.0, 1.0, 9), 0, "2^9 < 1000: neither within 9 steps");
    cr_expect_eq(one_run(3.0, 1.0, 10), +1, "2^10 >= 1000 at step 10");
    cr_expect_eq(one_run(2.0, 1.0, 1000), 0, "|1 - 2| = 1: neither");
}

Test(map_helpers, the_blas_serial_section_sets_one_thread_and_restores_it)
{
    int before = openblas_get_num_threads();
    int prev = linstab_map_blas_serial();
    cr_expect_eq(openblas_get_num_threads(), 1);
    cr_expect_eq(prev, before);
    linstab_map_blas_restore(prev);
    cr_expect_eq(openblas_get_num_threads(), before);
}

/* ---- the grid driver (linstab_map_grid_run) ----------------------------- */

/* The grid of these tests: Dexter et al.'s construction with n = 8, 4 x 3 cells. */
typedef struct grid_case {
    linstab_map_axis x, y;
    linstab_map_source src;
    linstab_map_params p;
} grid_case;

static grid_case grid_case_make(void)
{
    grid_case g;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("sigma=1,2,5,8", &g.x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=1,3,8", &g.y, &err), LINSTAB_OK);
    g.src = (linstab_map_source){NULL, NAN, NAN, 8, NULL, NULL};
    g.p = linstab_map_defaults();
    g.p.eta = 0.8;
    g.p.steps = 100;
    return g;
}

static void grid_case_clear(grid_case *g)
{
    linstab_map_axis_clear(&g->x);
    linstab_map_axis_clear(&g->y);
}

/* The progress callback of the tests: records the done counts, stops at call `stop_at` (0: never). */
typedef struct progress_log {
    size_t calls, done[16], total;
    size_t stop_at;
} progress_log;

static int log_progress(void *ctx, size_t done, size_t total, double seconds)
{
    progress_log *l = ctx;
    cr_expect(seconds >= 0.0);
    if (l->calls < 16) l->done[l->calls] = done;
    l->total = total;
    l->calls++;
    return l->stop_at != 0 && l->calls == l->stop_at;
}

static size_t count_done(const linstab_map_grid *g)
{
    size_t k = 0;
    for (size_t c = 0; c < g->ncells; c++) k += g->done[c];
    return k;
}

/* Every cell of a grid run has the bits of linstab_map_cell_compute. */
Test(map_grid, a_grid_run_gives_every_cell_the_bits_of_the_single_cell)
{
    grid_case gc = grid_case_make();
    linstab_map_grid g;
    linstab_error err;
    cr_assert_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, NULL, &g, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(g.nx, 4);
    cr_expect_eq(g.ny, 3);
    cr_assert_eq(g.ncells, 12);
    cr_expect_eq(g.failure, LINSTAB_MAP_GRID_OK);
    cr_expect_eq(g.failed_cell, SIZE_MAX);
    cr_expect(!g.stopped);
    double one[LINSTAB_MAP_FIELDS];
    for (size_t c = 0; c < 12; c++) {
        linstab_map_cell cell;
        cr_assert_eq(linstab_map_cell_compute(&gc.src, &gc.p, &gc.x, &gc.y, c % 4, c / 4, &cell, &err), LINSTAB_OK);
        linstab_map_cell_pack(&cell, one);
        cr_expect(g.done[c], "cell %zu", c);
        cr_expect_eq(memcmp(one, g.vals + c * LINSTAB_MAP_FIELDS, sizeof one), 0, "cell %zu", c);
    }
    linstab_map_grid_clear(&g);
    cr_expect(g.done == NULL && g.vals == NULL);
    grid_case_clear(&gc);
}

/* A grid of 400 Dexter cells (n = 20) with the default chunks, which grow
 * after the first (64 cells) with the measured rate: fewer than the 7
 * chunks of fixed 64-cell chunks (the progress calls), every cell with the
 * bits of linstab_map_cell_compute (the plans of the grid, a workspace
 * scanning its family per cell), on 2 threads. */
Test(map_grid, growing_default_chunks_give_every_cell_the_bits_of_the_single_cell)
{
    linstab_map_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_map_axis_parse("sigma=1:20", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=1:20", &y, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, 20, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.eta = 0.8;
    p.steps = 60;
    p.runs = 3;
    p.exact = 0;
    p.sampling = LINSTAB_SAMPLING_BERNOULLI;
    progress_log pl = {0};
    linstab_map_grid_opts o = linstab_map_grid_defaults();
    o.threads = 2;
    o.progress = log_progress;
    o.progress_ctx = &pl;
    linstab_map_grid g;
    cr_assert_eq(linstab_map_grid_run(&src, &p, &x, &y, &o, &g, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(g.ncells, 400);
    cr_expect(pl.calls >= 2 && pl.calls < 7, "%zu chunks", pl.calls);
    cr_expect_eq(pl.done[0], 64, "the first chunk is the fixed one");
    double one[LINSTAB_MAP_FIELDS];
    size_t bad = 0;
    for (size_t c = 0; c < 400; c++) {
        linstab_map_cell cell;
        cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, c % 20, c / 20, &cell, &err), LINSTAB_OK);
        linstab_map_cell_pack(&cell, one);
        bad += !g.done[c] || memcmp(one, g.vals + c * LINSTAB_MAP_FIELDS, sizeof one) != 0;
    }
    cr_expect_eq(bad, 0, "cells differing from their single computation");
    linstab_map_grid_clear(&g);
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
}

/* Chunks of 5 cells, stopped after the first (checkpointed), resumed from
 * the checkpoint: the resumed run starts with those 5 cells and ends with
 * the bits of a single run; another run's checkpoint is refused. */
Test(map_grid, a_chunked_run_stopped_and_resumed_equals_a_single_run)
{
    grid_case gc = grid_case_make();
    linstab_error err;
    linstab_map_grid whole, part, resumed;
    cr_assert_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, NULL, &whole, &err), LINSTAB_OK, "%s", err.msg);

    char *ck = tu_tmppath(".checkpoint");
    linstab_checkpoint_ident id;
    linstab_checkpoint_ident_init(&id);
    cr_assert_eq(linstab_checkpoint_ident_addf(&id, "the test grid", &err, "%s", "dexter 8"), LINSTAB_OK);
    progress_log lg = {0};
    lg.stop_at = 1;
    linstab_map_grid_opts o = linstab_map_grid_defaults();
    o.chunk = 5;
    o.checkpoint = ck;
    o.ident = &id;
    o.progress = log_progress;
    o.progress_ctx = &lg;
    cr_assert_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &part, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(part.stopped);
    cr_expect_eq(lg.calls, 1);
    cr_expect_eq(lg.done[0], 5);
    cr_expect_eq(lg.total, 12);
    cr_expect_eq(count_done(&part), 5, "a stop after the first chunk of 5");
    for (size_t c = 0; c < 5; c++) cr_expect(part.done[c], "cell %zu", c);

    progress_log lr = {0};
    o.resume = 1;
    o.progress_ctx = &lr;
    cr_assert_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &resumed, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(!resumed.stopped);
    cr_expect_eq(lr.calls, 3);
    cr_expect(lr.done[0] == 5 && lr.done[1] == 10 && lr.done[2] == 12);
    cr_expect_eq(memcmp(resumed.done, whole.done, 12), 0);
    cr_expect_eq(memcmp(resumed.vals, whole.vals, 12 * LINSTAB_MAP_FIELDS * sizeof(double)), 0,
                 "the resumed run has the bits of a single run");
    linstab_map_grid_clear(&resumed);

    /* the cells come from the checkpoint: resumed from the complete one with
     * other steps (the identity is the caller's: here it does not say so),
     * nothing is computed */
    progress_log l2 = {0};
    o.progress_ctx = &l2;
    gc.p.steps = 1;
    cr_assert_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &resumed, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(l2.done[0], 12, "every cell was in the checkpoint");
    cr_expect_eq(memcmp(resumed.vals, whole.vals, 12 * LINSTAB_MAP_FIELDS * sizeof(double)), 0);
    gc.p.steps = 100;

    /* another run's checkpoint */
    linstab_checkpoint_ident other;
    linstab_checkpoint_ident_init(&other);
    cr_assert_eq(linstab_checkpoint_ident_addf(&other, "the test grid", &err, "%s", "dexter 9"), LINSTAB_OK);
    o.ident = &other;
    linstab_map_grid refused;
    cr_expect_neq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &refused, &err), LINSTAB_OK);
    cr_expect_eq(refused.failure, LINSTAB_MAP_GRID_FAILED_RESUME);
    cr_expect(strncmp(err.msg, "cannot resume from ", 19) == 0, "%s", err.msg);
    cr_expect(strstr(err.msg, "the test grid differs") != NULL, "%s", err.msg);

    linstab_map_grid_clear(&refused);
    linstab_checkpoint_ident_clear(&other);
    linstab_map_grid_clear(&whole);
    linstab_map_grid_clear(&part);
    linstab_map_grid_clear(&resumed);
    linstab_checkpoint_ident_clear(&id);
    remove(ck);
    free(ck);
    grid_case_clear(&gc);
}

/* A partition callback that records its calls and, standing in for the
 * other workers, copies their cells from a reference grid. */
typedef struct fake_workers {
    const linstab_map_grid *ref; /* the cells of the other workers (NULL: none) */
    size_t parts, part;
    size_t calls, merges, chunk;
    size_t fail_at_call;         /* report another worker's failure at this call (0: never) */
    size_t fail_cell;            /* ... of this cell (SIZE_MAX: outside a cell) */
} fake_workers;

static linstab_status fake_sync(void *ctx, linstab_map_sync *s, linstab_error *err)
{
    fake_workers *w = ctx;
    w->calls++;
    w->chunk = s->chunk;
    if (w->calls == 1) cr_expect(s->c0 == 0 && s->c1 == 0, "the first call is the setup's");
    if (s->c1 > s->c0) {
        w->merges++;
        for (size_t c = s->c0; c < s->c1; c++) {
            cr_expect_eq(s->done[c], c % w->parts == w->part, "cell %zu before the merge", c);
            if (w->ref != NULL && c % w->parts != w->part) {
                s->done[c] = 1;
                memcpy(s->vals + c * LINSTAB_MAP_FIELDS, w->ref->vals + c * LINSTAB_MAP_FIELDS,
                       LINSTAB_MAP_FIELDS * sizeof(double));
            }
        }
    }
    if (w->calls == w->fail_at_call) {
        if (w->fail_cell == SIZE_MAX) s->failed = 1;
        else s->first_failed = w->fail_cell;
    }
    return LINSTAB_OK;
}

/* Worker 1 of 3 computes exactly the cells c % 3 == 1, with the bits of a
 * single run; with the other workers' cells merged it holds the whole grid. */
Test(map_grid, a_partition_computes_its_own_cells_with_the_bits_of_a_single_run)
{
    grid_case gc = grid_case_make();
    linstab_error err;
    linstab_map_grid whole, alone, merged;
    cr_assert_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, NULL, &whole, &err), LINSTAB_OK, "%s", err.msg);

    fake_workers w = {NULL, 3, 1, 0, 0, 0, 0, SIZE_MAX};
    linstab_map_partition pt = {3, 1, 0, fake_sync, &w};
    linstab_map_grid_opts o = linstab_map_grid_defaults();
    o.chunk = 5;
    o.partition = &pt;
    cr_assert_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &alone, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(w.merges, 3, "chunks [0,5) [5,10) [10,12)");
    cr_expect_eq(w.calls, 1 + 2 * 3, "the setup, then a merge and an agreement per chunk");
    for (size_t c = 0; c < 12; c++) {
        cr_expect_eq(alone.done[c], c % 3 == 1, "cell %zu", c);
        if (c % 3 == 1)
            cr_expect_eq(memcmp(alone.vals + c * LINSTAB_MAP_FIELDS, whole.vals + c * LINSTAB_MAP_FIELDS,
                                LINSTAB_MAP_FIELDS * sizeof(double)), 0, "cell %zu", c);
    }

    fake_workers w2 = {&whole, 3, 1, 0, 0, 0, 0, SIZE_MAX};
    pt.ctx = &w2;
    o.chunk = 0; /* the default: max(ncells / 20, 64) cells times the parts */
    cr_assert_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &merged, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(w2.chunk, 64 * 3);
    cr_expect_eq(w2.merges, 1);
    cr_expect_eq(memcmp(merged.done, whole.done, 12), 0);
    cr_expect_eq(memcmp(merged.vals, whole.vals, 12 * LINSTAB_MAP_FIELDS * sizeof(double)), 0);

    linstab_map_grid_clear(&whole);
    linstab_map_grid_clear(&alone);
    linstab_map_grid_clear(&merged);
    grid_case_clear(&gc);
}

/* Another worker's failure, at the setup or in a cell, stops this one at
 * the same point with FAILED_ELSEWHERE (that worker reports it). */
Test(map_grid, another_workers_failure_stops_the_run_at_the_same_point)
{
    grid_case gc = grid_case_make();
    linstab_error err;
    linstab_map_grid g;
    fake_workers w = {NULL, 2, 0, 0, 0, 0, 1, SIZE_MAX};
    linstab_map_partition pt = {2, 0, 1, fake_sync, &w};
    linstab_map_grid_opts o = linstab_map_grid_defaults();
    o.chunk = 4;
    o.partition = &pt;
    cr_expect_neq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &g, &err), LINSTAB_OK);
    cr_expect_eq(g.failure, LINSTAB_MAP_GRID_FAILED_ELSEWHERE);
    cr_expect_eq(w.merges, 0, "no chunk after a failed setup");
    linstab_map_grid_clear(&g);

    fake_workers w2 = {NULL, 2, 0, 0, 0, 0, 4, 5}; /* call 4: the merge of chunk [4, 8) */
    pt.ctx = &w2;
    cr_expect_neq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &g, &err), LINSTAB_OK);
    cr_expect_eq(g.failure, LINSTAB_MAP_GRID_FAILED_ELSEWHERE);
    cr_expect_eq(g.failed_cell, SIZE_MAX, "not this worker's cell");
    cr_expect_eq(w2.merges, 2, "stopped after the second chunk");
    cr_expect_eq(w2.calls, 5, "the agreement after the checkpoint is still made");
    linstab_map_grid_clear(&g);
    grid_case_clear(&gc);
}

/* A grid the map refuses (linstab_map_check) fails before any work. */
Test(map_grid, a_grid_the_map_refuses_fails_at_the_setup)
{
    grid_case gc = grid_case_make();
    linstab_error err;
    linstab_map_grid g;
    gc.p.runs = 0;
    cr_expect_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, NULL, &g, &err), LINSTAB_EINVAL);
    cr_expect_eq(g.failure, LINSTAB_MAP_GRID_FAILED_SETUP);
    linstab_map_grid_clear(&g);
    gc.p.runs = 5;
    linstab_map_grid_opts o = linstab_map_grid_defaults();
    o.resume = 1; /* without a checkpoint */
    cr_expect_eq(linstab_map_grid_run(&gc.src, &gc.p, &gc.x, &gc.y, &o, &g, &err), LINSTAB_EINVAL);
    linstab_map_grid_clear(&g);
    grid_case_clear(&gc);
}

/* The map's Theorem 1 and 2 margins are lambda1(H) minus the thresholds of
 * linstab_bounds_compute, to the bit, on a fixed family. */
Test(map_margins, theorem_1_and_2_margins_are_those_of_linstab_bounds_compute)
{
    linstab_family *f = tu_family_factored(12, 4, 2, 9);
    linstab_rotated rf = tu_rotate(f);
    linstab_error err;
    linstab_moments *m = NULL;
    linstab_geometry geo;
    cr_assert_eq(linstab_moments_compute(rf.f, &m, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_geometry_compute(rf.f, m, f->d, &geo, &err), LINSTAB_OK, "%s", err.msg);
    linstab_map_source src = {&rf, geo.sharpness, geo.sigma, 0, NULL, NULL};
    linstab_map_axis x, y;
    cr_assert_eq(linstab_map_axis_parse("eta=0.05,0.3,1.7", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("batch=1,3,5,12", &y, &err), LINSTAB_OK);
    linstab_map_params p = linstab_map_defaults();
    p.runs = 1;
    p.steps = 2;
    p.exact = 0;
    for (size_t iy = 0; iy < y.count; iy++)
        for (size_t ix = 0; ix < x.count; ix++) {
            linstab_map_cell c;
            cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
            linstab_hyper h = {x.values[ix], (size_t)y.values[iy], 0.0, LINSTAB_SAMPLING_BERNOULLI};
            linstab_bounds b;
            cr_assert_eq(linstab_bounds_compute(&geo, m, &h, &b, &err), LINSTAB_OK, "%s", err.msg);
            cr_expect_eq(c.thm1_margin, geo.sharpness - fmin(b.gd_threshold, b.thm1_threshold),
                         "Theorem 1, eta %g B %zu", h.eta, h.batch);
            cr_expect_eq(c.thm2_margin, geo.sharpness - b.thm2_threshold, "Theorem 2, eta %g B %zu", h.eta, h.batch);
            double t1, t2;
            t1 = linstab_bounds_thm1_threshold(geo.sigma, h.eta, geo.n, h.batch);
            t2 = linstab_bounds_thm2_threshold(geo.sigma, h.eta, geo.n, h.batch);
            cr_expect_eq(t1, b.thm1_threshold);
            cr_expect_eq(t2, b.thm2_threshold);
        }
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* A fixed family's source: its sharpness, its coherence, moments for SAM only. */
Test(map_source, a_prepared_fixed_family_has_its_sharpness_coherence_and_sam_moments)
{
    linstab_family *f = tu_family_factored(10, 3, 2, 5);
    linstab_error err;
    linstab_rotated rf;
    linstab_moments *m;
    linstab_map_source src;
    cr_assert_eq(linstab_map_source_prepare(f, 0.0, 0, LINSTAB_OPT_SGD, &rf, &m, &src, &err), LINSTAB_OK, "%s",
                 err.msg);
    cr_expect(m == NULL && src.moments == NULL, "no moments for SGD");
    cr_expect(src.rf == &rf);
    cr_expect_eq(src.dexter_n, 0);
    double sig;
    cr_assert_eq(linstab_geometry_coherence(rf.f, NULL, &sig, &err), LINSTAB_OK);
    cr_expect_eq(src.sigma, sig);
    cr_expect_lt(fabs(src.sharpness - tu_lambda1_mean(f)), 1e-12 * tu_lambda1_mean(f));
    linstab_family_rotated_clear(&rf);
    cr_assert_eq(linstab_map_source_prepare(f, 0.0, 0, LINSTAB_OPT_SAM_SAME, &rf, &m, &src, &err), LINSTAB_OK);
    cr_expect(m != NULL && src.moments == m, "moments for SAM");
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ---- normalized SAM (docs/math.md §6) ------------------------------------ */

/* A deterministic quadratic: one sample, H = diag(1, 0.5) (lambda1 = 1),
 * B = 1, so every batch is the full one.  Normalized SAM is
 * w <- (I - eta H) w - eta rho H^2 w / ||H w||: bounded for every
 * eta < 2/lambda1 whatever rho (the linear part contracts, the ascent term
 * has norm at most eta rho lambda1), divergent beyond. */
static linstab_family *nsam_quadratic(void)
{
    linstab_family *f = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 1, 2, 0, &f, &err), LINSTAB_OK);
    f->data[0] = 1.0;
    f->data[1] = 0.5;
    return f;
}

static void nsam_cells(const char *xs, const char *ys, double *frac, int *div, size_t max)
{
    linstab_family *f = nsam_quadratic();
    linstab_rotated rf;
    linstab_moments *m = NULL;
    linstab_map_source src;
    linstab_error err = {0};
    cr_assert_eq(linstab_map_source_prepare(f, 0.0, 0, LINSTAB_OPT_SAM_NORMALIZED, &rf, &m, &src, &err),
                 LINSTAB_OK, "%s", err.msg);
    cr_assert(fabs(src.sharpness - 1.0) < 1e-15);
    linstab_map_axis x, y;
    cr_assert_eq(linstab_map_axis_parse(xs, &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse(ys, &y, &err), LINSTAB_OK);
    cr_assert_leq(x.count * y.count, max);
    linstab_map_params p = linstab_map_defaults();
    p.dyn = LINSTAB_OPT_SAM_NORMALIZED;
    p.sampling = LINSTAB_SAMPLING_WITHOUT;
    p.batch = 1;
    p.seed = 3;
    p.exact = 0;
    for (size_t iy = 0; iy < y.count; iy++)
        for (size_t ix = 0; ix < x.count; ix++) {
            linstab_map_cell c;
            cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
            frac[iy * x.count + ix] = c.frac_div;
            div[iy * x.count + ix] = c.divergent;
        }
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(map_normalized, every_cell_below_two_over_lambda1_is_non_divergent_whatever_rho)
{
    /* eta = 0.05 ... 1.99 (the old rescaled runs flagged eta >= 1.05 at rho = 1) */
    double frac[40 * 4];
    int div[40 * 4];
    nsam_cells("eta=0.05:1.99:40", "rho=0.1,1,3,20", frac, div, 160);
    for (size_t c = 0; c < 160; c++) {
        cr_expect_eq(frac[c], 0.0, "cell %zu (eta %g): a bounded run counted divergent", c,
                     0.05 + (double)(c % 40) * (1.94 / 39));
        cr_expect_eq(div[c], 0, "cell %zu", c);
    }
}

Test(map_normalized, a_cell_above_two_over_lambda1_diverges)
{
    double frac[3];
    int div[3];
    nsam_cells("eta=2.2,2.5,3", "rho=1", frac, div, 3);
    for (size_t c = 0; c < 3; c++) {
        cr_expect_eq(frac[c], 1.0, "cell %zu", c);
        cr_expect_eq(div[c], 1, "cell %zu", c);
    }
}

/* Bartlett et al. (2023) Theorem 2 (their Figure 1: lambda = (1, 1/2),
 * eta = 1/5, rho = 1, w_0 = (2, 2)): the iterates converge to the 2-cycle
 * +/- (eta rho l1 / (2 - eta l1)) e_1.  The step itself, no rescaling. */
Test(map_normalized, the_step_converges_to_the_two_cycle_of_bartlett_theorem_2)
{
    linstab_family *f = nsam_quadratic();
    double etas[3] = {0.2, 0.1, 0.45}, rhos[3] = {1.0, 0.3, 2.0};
    for (int k = 0; k < 3; k++) {
        double eta = etas[k], rho = rhos[k], amp = eta * rho * 1.0 / (2.0 - eta * 1.0);
        linstab_sim *s = NULL;
        linstab_error err = {0};
        cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SAM_NORMALIZED, eta, rho, 1, LINSTAB_SAMPLING_WITHOUT,
                                            &s, &err), LINSTAB_OK, "%s", err.msg);
        gsl_rng *g = tu_rng(1);
        double w[2] = {2.0, 2.0};
        for (int t = 0; t < 4000; t++) linstab_simulate_step(s, g, w);
        double prev = w[0];
        cr_expect_lt(fabs(fabs(w[0]) - amp), 1e-8, "eta %g rho %g: |w1| = %.17g, predicted %.17g", eta, rho, w[0], amp);
        cr_expect_lt(fabs(w[1]), 1e-8, "eta %g rho %g: w2 = %g", eta, rho, w[1]);
        linstab_simulate_step(s, g, w);
        cr_expect_lt(fabs(w[0] + prev), 1e-8, "period 2: the sign alternates");
        gsl_rng_free(g);
        linstab_simulate_free(s);
    }
    linstab_family_free(f);
}

/* A run on the 2-cycle is bounded (outcome 0), neither divergent nor
 * "converged" (the old rescaled runs called it converged), and stays
 * within linstab_map_normalized_bound; the cell counts it as bounded. */
Test(map_normalized, a_cycling_run_is_bounded_not_converged_and_stays_within_the_bound)
{
    linstab_family *f = nsam_quadratic();
    linstab_error err = {0};
    double eta = 0.2, rho = 1.0, amp = eta * rho / (2.0 - eta);
    double bound = linstab_map_normalized_bound(eta, rho, 1.0, 2);
    cr_expect_lt(fabs(bound - sqrt(3.0)), 1e-15, "eta l1 <= 1: r = rho");
    cr_expect_lt(fabs(linstab_map_normalized_bound(1.5, 2.0, 1.0, 2) - sqrt(1.0 + 2 * 36.0)), 1e-13,
                 "eta l1 = 1.5: r = rho * 1.5 / 0.5");
    cr_expect_gt(linstab_map_normalized_bound(2.0 - 1e-12, 1.0, 1.0, 2), 1e11, "unbounded as eta l1 -> 2");
    cr_expect_lt(fabs(linstab_map_normalized_bound(2.2, 1.0, 1.0, 2) - sqrt(3.0)), 1e-15, "past 2/l1: r = rho");
    linstab_sim *s = NULL;
    cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SAM_NORMALIZED, eta, rho, 1, LINSTAB_SAMPLING_WITHOUT, &s,
                                        &err), LINSTAB_OK, "%s", err.msg);
    for (unsigned long seed = 1; seed <= 5; seed++) {
        gsl_rng *g = tu_rng(seed);
        double w[2];
        int outcome = 7;
        linstab_map_cell_run_normalized(s, g, 2, 1000, 1000.0, 1000.0, 1.0, w, &outcome);
        cr_expect_eq(outcome, 0, "seed %lu: a run on the 2-cycle is bounded", seed);
        /* the last iterate is the true one, on the cycle (not a unit direction) */
        cr_expect_lt(fabs(fabs(w[0]) - amp), 1e-8, "seed %lu: |w1| = %.17g", seed, w[0]);
        gsl_rng_free(g);
        g = tu_rng(seed);
        outcome = 7;
        linstab_map_cell_run(s, g, 2, 1000, 1000.0, 1000.0, w, &outcome);
        cr_expect_eq(outcome, 0, "seed %lu: the generic run does not rescale normalized SAM", seed);
        gsl_rng_free(g);
        /* every iterate within the bound, from unit starts */
        g = tu_rng(seed);
        w[0] = cos((double)seed);
        w[1] = sin((double)seed);
        for (double e = 0.1; e < 2.0; e += 0.1) {
            linstab_sim *s2 = NULL;
            cr_assert_eq(linstab_simulate_alloc(f, LINSTAB_OPT_SAM_NORMALIZED, e, 3.0, 1, LINSTAB_SAMPLING_WITHOUT,
                                                &s2, &err), LINSTAB_OK);
            double b = linstab_map_normalized_bound(e, 3.0, 1.0, 2), v[2] = {w[0], w[1]}, top = 0.0;
            for (int t = 0; t < 3000; t++) {
                linstab_simulate_step(s2, g, v);
                top = fmax(top, hypot(v[0], v[1]));
            }
            cr_expect_leq(top, b * (1 + 1e-12), "eta %g: max ||w|| %g above the bound %g", e, top, b);
            linstab_simulate_free(s2);
        }
        gsl_rng_free(g);
    }
    linstab_simulate_free(s);

    /* the cell: every run bounded, none divergent */
    linstab_rotated rf;
    linstab_moments *m = NULL;
    linstab_map_source src;
    cr_assert_eq(linstab_map_source_prepare(f, 0.0, 0, LINSTAB_OPT_SAM_NORMALIZED, &rf, &m, &src, &err), LINSTAB_OK);
    linstab_map_axis x, y;
    cr_assert_eq(linstab_map_axis_parse("eta=0.2", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_axis_parse("rho=1", &y, &err), LINSTAB_OK);
    linstab_map_params p = linstab_map_defaults();
    p.dyn = LINSTAB_OPT_SAM_NORMALIZED;
    p.sampling = LINSTAB_SAMPLING_WITHOUT;
    p.batch = 1;
    linstab_map_cell c;
    cr_assert_eq(linstab_map_cell_compute(&src, &p, &x, &y, 0, 0, &c, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(c.frac_div, 0.0);
    cr_expect_eq(c.divergent, 0);
    cr_expect_eq(c.frac_bounded, 1.0, "cycling runs are bounded, not converged");
    cr_expect(isnan(c.radius) && isnan(c.lyapunov), "no exact columns for normalized SAM");
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}
