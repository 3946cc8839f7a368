/*
 * test_train_monitor.c -- train's stability monitor and schedules: eta_star
 * is the mean-square critical learning rate by brute force (the exact
 * second-moment radius just below and just above it, secmom.h) on a tiny
 * family built by another route (the Jacobian factors, not the NTK Gram
 * matrix); its sharpness is lambda1 of the explicit Gauss-Newton mean;
 * the SAM -> SGD switch equals SAM then a resumed SGD run, bitwise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/critical.h"
#include "linstab/sam.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "linstab/train.h"
#include "testutil.h"

static linstab_array X, Y;

static void data(void)
{
    size_t n = 40;
    X.ndim = Y.ndim = 2;
    X.shape[0] = Y.shape[0] = n;
    X.shape[1] = 2;
    Y.shape[1] = 1;
    X.data = malloc(n * 2 * sizeof(double));
    Y.data = malloc(n * sizeof(double));
    gsl_rng *r = tu_rng(31);
    tu_gauss(r, X.data, n * 2);
    for (size_t i = 0; i < n; i++) Y.data[i] = tanh(X.data[2 * i] - 0.7 * X.data[2 * i + 1]);
    gsl_rng_free(r);
}

static void cleanup(void)
{
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
}

TestSuite(train_monitor, .init = data, .fini = cleanup);

static linstab_mlp *net(uint64_t seed)
{
    size_t sizes[3] = {2, 3, 1};
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, 2, LINSTAB_AD_TANH, 1, &m, &err), LINSTAB_OK);
    linstab_mlp_init(m, seed);
    return m;
}

/* The first M rows of X and Y. */
static void head(size_t M, linstab_array *Xs, linstab_array *Ys)
{
    *Xs = X;
    *Ys = Y;
    Xs->shape[0] = Ys->shape[0] = M;
}

/* The radius of SGD (or independent SAM) at eta on the Jacobian-factor
 * family of the M samples. */
static double radius(const linstab_rotated *rf, linstab_optimizer op, double eta, double rho, size_t M, size_t B)
{
    double a, b, rad = NAN;
    linstab_error err;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_WITHOUT, M, B, &a, &b);
    linstab_eigen_opts eo = linstab_eigen_defaults();
    cr_assert_eq(linstab_secmom_radius_at(rf->f, rf->l, op, eta, rho, a, b, &eo, &rad, &err), LINSTAB_OK, "%s",
                 err.msg);
    return rad;
}

Test(train_monitor, eta_star_is_where_the_exact_second_moment_radius_crosses_one_on_two_and_three_samples)
{
    for (size_t M = 2; M <= 3; M++) {
        linstab_mlp *m = net(3 + M);
        linstab_array Xs, Ys;
        head(M, &Xs, &Ys);
        linstab_error err;
        /* the other route: Jacobian factors U_i = J_i', restricted and
         * rotated by linstab_family_rotated_make */
        linstab_family *f = NULL;
        cr_assert_eq(linstab_mlp_family(m, &Xs, &Ys, LINSTAB_LOSS_MSE, 0.0, 1, 0, &f, &err), LINSTAB_OK, "%s",
                     err.msg);
        linstab_rotated rf = {0};
        cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK, "%s", err.msg);
        for (size_t B = 1; B <= M; B++) {
            /* the monitor caps the training batch at M: B = 5 is M's */
            size_t Btrain = B == M ? 5 : B;
            linstab_train_monitor mon;
            cr_assert_eq(linstab_train_monitor_at(m, &Xs, Btrain, LINSTAB_OPT_SGD, 0.0, &mon, &err), LINSTAB_OK,
                         "%s", err.msg);
            cr_expect_eq(mon.batch, B);
            cr_expect_eq(mon.rank, rf.f->d);
            cr_expect(fabs(mon.sharpness - rf.l[0]) <= 1e-12 * rf.l[0], "sharpness %.17g vs %.17g", mon.sharpness,
                      rf.l[0]);
            double es = mon.eta_star_sgd;
            cr_assert(isfinite(es) && es > 0.0, "eta* %g (M %zu, B %zu)", es, M, B);
            cr_expect_eq(mon.eta_star, es);
            /* at B = M (full batch) eta* = 2 / lambda1 */
            if (B == M) cr_expect(fabs(es * rf.l[0] - 2.0) <= 1e-10, "full batch: eta* lambda1 = %.17g", es * rf.l[0]);
            double below = radius(&rf, LINSTAB_OPT_SGD, es * (1 - 1e-4), 0.0, M, B);
            double above = radius(&rf, LINSTAB_OPT_SGD, es * (1 + 1e-4), 0.0, M, B);
            cr_expect(below < 1.0, "M %zu B %zu: radius %.17g at eta* (1 - 1e-4)", M, B, below);
            cr_expect(above > 1.0, "M %zu B %zu: radius %.17g at eta* (1 + 1e-4)", M, B, above);
            /* SAM with independent ascent batches at rho */
            double rho = 0.3;
            cr_assert_eq(linstab_train_monitor_at(m, &Xs, Btrain, LINSTAB_OPT_SAM_INDEP, rho, &mon, &err),
                         LINSTAB_OK, "%s", err.msg);
            double ez = mon.eta_star;
            cr_assert(isfinite(ez) && ez > 0.0, "SAM eta* %g", ez);
            cr_expect(ez < es, "SAM's eta* %g is not below SGD's %g", ez, es);
            below = radius(&rf, LINSTAB_OPT_SAM_INDEP, ez * (1 - 1e-4), rho, M, B);
            above = radius(&rf, LINSTAB_OPT_SAM_INDEP, ez * (1 + 1e-4), rho, M, B);
            cr_expect(below < 1.0, "SAM M %zu B %zu: radius %.17g below", M, B, below);
            cr_expect(above > 1.0, "SAM M %zu B %zu: radius %.17g above", M, B, above);
            /* normalized SAM has no exact linear operator: no eta_star */
            cr_assert_eq(linstab_train_monitor_at(m, &Xs, Btrain, LINSTAB_OPT_SAM_NORMALIZED, rho, &mon, &err),
                         LINSTAB_OK);
            cr_expect(isnan(mon.eta_star));
            cr_expect_eq(mon.eta_star_sgd, es);
        }
        linstab_family_rotated_clear(&rf);
        linstab_family_free(f);
        linstab_mlp_free(m);
    }
}

Test(train_monitor, the_subsample_is_fixed_by_the_seed_distinct_and_increasing)
{
    size_t a[10], b[10], c[10];
    linstab_train_monitor_indices(40, 10, 7, a);
    linstab_train_monitor_indices(40, 10, 7, b);
    linstab_train_monitor_indices(40, 10, 8, c);
    cr_expect(memcmp(a, b, sizeof a) == 0);
    cr_expect(memcmp(a, c, sizeof a) != 0);
    for (size_t j = 1; j < 10; j++) cr_expect(a[j] > a[j - 1] && a[j] < 40);
    size_t all[5];
    linstab_train_monitor_indices(5, 5, 7, all);
    for (size_t j = 0; j < 5; j++) cr_expect_eq(all[j], j);
}

/* The log of a run from a model, and its parameters. */
static char *run_log(linstab_mlp *m, linstab_train_opts o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *log = open_memstream(&buf, &len);
    linstab_error err;
    linstab_train_result res;
    cr_assert_eq(linstab_train_run(m, &X, &Y, &o, log, &res, &err), LINSTAB_OK, "%s", err.msg);
    fclose(log);
    return buf;
}

Test(train_monitor, sam_then_sgd_is_sam_for_s_steps_then_a_resumed_sgd_run_bitwise)
{
    linstab_train_opts o = linstab_train_defaults();
    o.eta = 0.05;
    o.batch = 8;
    o.steps = 30;
    o.sam = LINSTAB_OPT_SAM_SAME;
    o.rho = 0.1;
    o.seed = 4;
    o.log_every = 5;
    linstab_train_opts whole = o, first = o, rest = o, sgd = o;
    whole.sgd_from = 12;
    first.steps = 12;
    rest.sam = LINSTAB_OPT_SGD;
    rest.start_step = 12;
    sgd.sam = LINSTAB_OPT_SGD;
    linstab_mlp *a = net(9), *b = net(9), *c = net(9);
    char *la = run_log(a, whole), *l1 = run_log(b, first), *l2 = run_log(b, rest), *lc = run_log(c, sgd);
    cr_expect(memcmp(a->theta, b->theta, a->p * sizeof *a->theta) == 0, "the switched run differs");
    cr_expect(memcmp(a->theta, c->theta, a->p * sizeof *a->theta) != 0, "SAM made no difference");
    /* the logs agree from step 15 on */
    cr_expect(strstr(la, strstr(l2, "\n15,") + 1) != NULL, "logs\n%s\nvs\n%s", la, l2);
    free(la);
    free(l1);
    free(l2);
    free(lc);
    linstab_mlp_free(a);
    linstab_mlp_free(b);
    linstab_mlp_free(c);
    /* independent ascent batches: the resumed run replays the skipped SAM
     * steps' ascent draws too (the same schedule given) */
    whole.independent_ascent = first.independent_ascent = 1;
    rest = whole;
    rest.start_step = 12;
    a = net(9);
    b = net(9);
    la = run_log(a, whole);
    l1 = run_log(b, first);
    l2 = run_log(b, rest);
    cr_expect(memcmp(a->theta, b->theta, a->p * sizeof *a->theta) == 0, "the switched run differs (independent)");
    free(la);
    free(l1);
    free(l2);
    linstab_mlp_free(a);
    linstab_mlp_free(b);
}

Test(train_monitor, inconsistent_schedules_are_refused)
{
    linstab_mlp *m = net(1);
    linstab_train_opts o = linstab_train_defaults();
    o.batch = 8;
    o.steps = 10;
    o.sam = LINSTAB_OPT_SAM_SAME;
    o.rho = 0.1;
    linstab_error err;
    linstab_train_opts t = o;
    t.sgd_from = 11;
    cr_expect_eq(linstab_train_run(m, &X, &Y, &t, NULL, NULL, &err), LINSTAB_EINVAL);
    t = o;
    t.sam_from = 5;
    t.sgd_from = 5;
    cr_expect_eq(linstab_train_run(m, &X, &Y, &t, NULL, NULL, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "sgd_from must exceed sam_from") != NULL, "%s", err.msg);
    t = o;
    t.start_step = 11;
    cr_expect_eq(linstab_train_run(m, &X, &Y, &t, NULL, NULL, &err), LINSTAB_EINVAL);
    t = o;
    t.test_X = &X;
    cr_expect_eq(linstab_train_run(m, &X, &Y, &t, NULL, NULL, &err), LINSTAB_EINVAL);
    /* a monitor with cross-entropy is no longer refused: it uses the
     * generalized Gauss-Newton (test_mlp_ggn.c) */
    linstab_mlp_free(m);
}
