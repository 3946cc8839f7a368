/*
 * test_map.c -- phase diagrams: axis parsing, Dexter et al.'s classification rule on
 * hand-made trajectories, the simulator's step against the update's
 * definition, and the Monte Carlo verdicts against the almost-sure
 * (Lyapunov) and mean-square criteria on Dexter et al.'s construction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/generate.h"
#include "linstab/map.h"
#include "testutil.h"

Test(map_axis, parses_lists_linear_and_log_ranges_and_integer_ranges)
{
    linstab_axis a;
    linstab_error err;
    cr_assert_eq(linstab_axis_parse("eta=0.1,0.2,0.5", &a, &err), LINSTAB_OK);
    cr_expect_eq(a.kind, LINSTAB_AXIS_ETA);
    cr_expect_eq(a.count, 3);
    cr_expect_eq(a.values[2], 0.5);
    linstab_axis_clear(&a);
    cr_assert_eq(linstab_axis_parse("eta=0.1:0.5:5", &a, &err), LINSTAB_OK);
    cr_expect_eq(a.count, 5);
    cr_expect_lt(fabs(a.values[1] - 0.2), 1e-15);
    linstab_axis_clear(&a);
    cr_assert_eq(linstab_axis_parse("rho=log:0.01:1:3", &a, &err), LINSTAB_OK);
    cr_expect(a.log);
    cr_expect_lt(fabs(a.values[1] - 0.1), 1e-15);
    linstab_axis_clear(&a);
    cr_assert_eq(linstab_axis_parse("batch=1:10:3", &a, &err), LINSTAB_OK);
    cr_expect_eq(a.count, 4);
    cr_expect_eq(a.values[3], 10.0);
    linstab_axis_clear(&a);
    cr_assert_eq(linstab_axis_parse("sigma=1:50", &a, &err), LINSTAB_OK);
    cr_expect_eq(a.count, 50);
    linstab_axis_clear(&a);
}

Test(map_axis, rejects_bad_specifications_with_a_message)
{
    const char *bad[] = {"eta",         "gamma=1:2:3",  "eta=2:1:5",   "eta=0.1:1",
                         "eta=log:0:1:4", "batch=1.5:4", "batch=0:4",   "eta=-1,2",
                         "rho=-0.1,0.2",  "eta=1:2:0",   "eta=a,b",     "batch=5:2",
                         "eta=",          "sigma=2.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        linstab_axis a;
        linstab_error err = {0};
        cr_expect_eq(linstab_axis_parse(bad[i], &a, &err), LINSTAB_EINVAL, "accepted '%s'", bad[i]);
        cr_expect(err.msg[0] != '\0');
    }
}

Test(map_check, rejects_a_repeated_axis_an_inapplicable_axis_and_batches_above_n)
{
    linstab_axis x, y, z, r;
    linstab_error err;
    cr_assert_eq(linstab_axis_parse("eta=0.1:1:4", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_axis_parse("eta=0.2,0.3", &y, &err), LINSTAB_OK);
    cr_assert_eq(linstab_axis_parse("batch=1:200", &z, &err), LINSTAB_OK);
    cr_assert_eq(linstab_axis_parse("rho=0:1:3", &r, &err), LINSTAB_OK);
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
    p.dyn = LINSTAB_DYN_SAM_SAME;
    cr_expect_eq(linstab_map_check(&src, &p, &x, &r, &err), LINSTAB_OK, "%s", err.msg);
    linstab_axis_clear(&x);
    linstab_axis_clear(&y);
    linstab_axis_clear(&z);
    linstab_axis_clear(&r);
}

Test(map_protocol, classification_follows_004_on_hand_made_trajectories)
{
    double up[] = {1.0, 2.0, 50.0, 999.0, 1000.0, 0.0001};
    cr_expect_eq(linstab_mc_classify(up, 6, 1000, 1000), 1); /* growth reached first */
    double down[] = {2.0, 1.0, 0.01, 0.0019, 0.002, 5000.0};
    cr_expect_eq(linstab_mc_classify(down, 6, 1000, 1000), -1); /* 2/1000 reached first */
    double flat[] = {1.0, 3.0, 0.5, 999.0, 0.0011};
    cr_expect_eq(linstab_mc_classify(flat, 5, 1000, 1000), 0); /* neither: not divergent */
    double zero[] = {1.0, 0.0};
    cr_expect_eq(linstab_mc_classify(zero, 2, 1000, 1000), -1);
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
    linstab_dynamics dyns[3] = {LINSTAB_DYN_SGD, LINSTAB_DYN_SAM_SAME, LINSTAB_DYN_SAM_INDEP};
    for (int k = 0; k < 3; k++) {
        linstab_sim *s = NULL;
        cr_assert_eq(linstab_sim_alloc(f, dyns[k], eta, rho, n, LINSTAB_SAMPLING_WITHOUT, &s, &err), LINSTAB_OK);
        double w[3], Hw[3] = {0}, HHw[3] = {0};
        memcpy(w, w0, sizeof w);
        linstab_sim_step(s, g, w);
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) Hw[a] += H[a * d + b] * w0[b];
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) HHw[a] += H[a * d + b] * Hw[b];
        for (size_t a = 0; a < d; a++) {
            /* sgd: w - eta H w; both SAM variants: w - eta (H w + rho H H w) */
            double want = w0[a] - eta * Hw[a] - (k > 0 ? eta * rho * HHw[a] : 0.0);
            cr_expect_lt(fabs(w[a] - want), 1e-14, "dynamics %d, coordinate %zu", k, a);
        }
        linstab_sim_free(s);
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
    linstab_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_axis_parse("sigma=1,3,5,10,20,40", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_axis_parse("batch=1,2,5,10,20,30,50,80", &y, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, 100, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.eta = 0.8;
    p.seed = 11;
    size_t checked = 0;
    for (size_t iy = 0; iy < y.count; iy++)
        for (size_t ix = 0; ix < x.count; ix++) {
            linstab_cell c;
            cr_assert_eq(linstab_map_cell(&src, &p, &x, &y, ix, iy, &c, &err), LINSTAB_OK, "%s", err.msg);
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
    linstab_axis_clear(&x);
    linstab_axis_clear(&y);
}

Test(map_protocol, a_cell_is_reproducible_from_its_seed)
{
    linstab_axis x, y;
    linstab_error err;
    cr_assert_eq(linstab_axis_parse("sigma=5", &x, &err), LINSTAB_OK);
    cr_assert_eq(linstab_axis_parse("batch=21", &y, &err), LINSTAB_OK);
    linstab_map_source src = {NULL, NAN, NAN, 100, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.eta = 0.8;
    p.runs = 9;
    linstab_cell a, b;
    cr_assert_eq(linstab_map_cell(&src, &p, &x, &y, 0, 0, &a, &err), LINSTAB_OK);
    cr_assert_eq(linstab_map_cell(&src, &p, &x, &y, 0, 0, &b, &err), LINSTAB_OK);
    cr_expect_eq(a.frac_div, b.frac_div);
    cr_expect_eq(a.divergent, b.divergent);
    cr_expect_eq(a.radius, b.radius);
    cr_expect_eq(a.lyapunov, b.lyapunov);
    linstab_axis_clear(&x);
    linstab_axis_clear(&y);
}
