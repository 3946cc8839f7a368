/*
 * test_landscape.c -- loss slices and surfaces of tiny MLPs against
 * independent computations: the loss at explicitly built parameter
 * vectors (linstab_mlp_loss), the dense Hessian (the mean of
 * linstab_mlp_sample_hessian, at the checkpoint and at moved points) for
 * the curvature column, for the h -> 0 limit of Zhou et al.'s second
 * difference and for the quadratic model of the surface (with a
 * central-difference gradient of the loss), LAPACK's eigenvectors of the
 * dense Hessian for the eigenvector direction (at an interpolating
 * minimum and at an indefinite point), the row norms of the checkpoint
 * for the filter normalization, linstab_mlp_evaluate of both checkpoints
 * for the ends of a segment.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include "linstab/landscape.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/rng.h"
#include "testutil.h"

#define N 9
#define D0 3
#define K 2

static linstab_mlp *net(linstab_ad_op act, int bias, unsigned long seed, double scale)
{
    size_t sizes[3] = {D0, 4, K};
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, 2, act, bias, &m, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, m->theta, m->p);
    for (size_t j = 0; j < m->p; j++) m->theta[j] *= scale;
    gsl_rng_free(r);
    return m;
}

static linstab_array gauss_array(size_t rows, size_t cols, unsigned long seed)
{
    linstab_array a = {cols > 0 ? 2 : 1, {rows, cols}, malloc(rows * (cols > 0 ? cols : 1) * sizeof(double))};
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, a.data, rows * (cols > 0 ? cols : 1));
    gsl_rng_free(r);
    return a;
}

/* Labels 0..K-1 for cross-entropy. */
static linstab_array labels(size_t rows)
{
    linstab_array a = {1, {rows}, malloc(rows * sizeof(double))};
    for (size_t i = 0; i < rows; i++) a.data[i] = (double)((i * 7 + 3) % K);
    return a;
}

/* The model's own outputs as targets: an interpolating minimum (H PSD). */
static linstab_array own_outputs(const linstab_mlp *m, const linstab_array *X)
{
    linstab_array a = {2, {X->shape[0], K}, malloc(X->shape[0] * K * sizeof(double))};
    linstab_error err;
    cr_assert_eq(linstab_mlp_forward(m, X->data, X->shape[0], a.data, &err), LINSTAB_OK);
    return a;
}

/* The mean loss at theta (p) by linstab_mlp_loss (the tape's sum / n). */
static double loss_at(const linstab_mlp *m, const double *theta, const linstab_landscape_model *lm)
{
    linstab_mlp *c = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(m->sizes, m->nlayers, m->act, m->bias, &c, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_set_output(c, m->out_act, &err), LINSTAB_OK);
    memcpy(c->theta, theta, m->p * sizeof(double));
    double v;
    cr_assert_eq(linstab_mlp_loss(c, lm->X->data, lm->Y->data, lm->X->shape[0], lm->loss, lm->smoothing, NULL, &v,
                                  NULL, NULL, &err),
                 LINSTAB_OK, "%s", err.msg);
    linstab_mlp_free(c);
    return v / (double)lm->X->shape[0];
}

/* OUT H (p x p): the mean of the per-sample Hessians at theta. */
static void dense_hessian(const linstab_mlp *m, const double *theta, const linstab_landscape_model *lm, double *H)
{
    size_t p = m->p, n = lm->X->shape[0];
    linstab_mlp *c = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(m->sizes, m->nlayers, m->act, m->bias, &c, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_set_output(c, m->out_act, &err), LINSTAB_OK);
    memcpy(c->theta, theta, p * sizeof(double));
    double *Hi = malloc(p * p * sizeof *Hi);
    memset(H, 0, p * p * sizeof *H);
    size_t ty = lm->loss == LINSTAB_LOSS_MSE ? K : 1;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(linstab_mlp_sample_hessian(c, lm->X->data + i * D0, lm->Y->data + i * ty, lm->loss, lm->smoothing,
                                                Hi, &err),
                     LINSTAB_OK, "%s", err.msg);
        for (size_t q = 0; q < p * p; q++) H[q] += Hi[q] / (double)n;
    }
    free(Hi);
    linstab_mlp_free(c);
}

static double quad(size_t p, const double *H, const double *u, const double *v)
{
    double s = 0.0;
    for (size_t a = 0; a < p; a++)
        for (size_t b = 0; b < p; b++) s += u[a] * H[a * p + b] * v[b];
    return s;
}

static double dot(size_t p, const double *u, const double *v)
{
    double s = 0.0;
    for (size_t j = 0; j < p; j++) s += u[j] * v[j];
    return s;
}

static double max_abs(size_t len, const double *x)
{
    double s = 0.0;
    for (size_t j = 0; j < len; j++) s = fmax(s, fabs(x[j]));
    return s;
}

static double *gauss_vec(size_t p, unsigned long seed)
{
    double *d = malloc(p * sizeof *d);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, d, p);
    gsl_rng_free(r);
    return d;
}

/* theta + t d, explicitly */
static double *moved(size_t p, const double *theta, double t, const double *d)
{
    double *x = malloc(p * sizeof *x);
    for (size_t j = 0; j < p; j++) x[j] = theta[j] + t * d[j];
    return x;
}

typedef struct fixture {
    linstab_mlp *m;
    linstab_array X, Y;
    linstab_landscape_model lm;
} fixture;

/* A network at a random point with N samples; the fixture is returned by
 * pointer into static storage so that lm's pointers stay valid (one
 * fixture at a time). */
static fixture the_fixture;
static fixture *make_p(linstab_loss loss, int minimum, unsigned long seed)
{
    fixture f;
    f.m = net(LINSTAB_AD_TANH, 1, seed, 0.7);
    f.X = gauss_array(N, D0, seed + 1);
    if (loss == LINSTAB_LOSS_CE)
        f.Y = labels(N);
    else
        f.Y = minimum ? own_outputs(f.m, &f.X) : gauss_array(N, K, seed + 2);
    the_fixture = f;
    the_fixture.lm = (linstab_landscape_model){the_fixture.m, &the_fixture.X, &the_fixture.Y, loss,
                                               loss == LINSTAB_LOSS_CE ? 0.1 : 0.0};
    return &the_fixture;
}
#define make(loss, minimum, seed) (*make_p(loss, minimum, seed))

static void unmake(fixture *f)
{
    linstab_mlp_free(f->m);
    linstab_npy_array_free(&f->X);
    linstab_npy_array_free(&f->Y);
}

Test(landscape, slice_values_are_the_loss_at_explicitly_built_points)
{
    for (int l = 0; l < 2; l++) {
        fixture f = make(l ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE, 0, 10 + l);
        size_t p = f.m->p, np = 7;
        double *d = gauss_vec(p, 20), t[7], L[7];
        linstab_error err;
        cr_assert_eq(linstab_landscape_grid(-1.5, 1.5, np, t, &err), LINSTAB_OK);
        cr_assert_eq(linstab_landscape_slice(&f.lm, d, NULL, np, t, NULL, L, NULL, NULL, &err), LINSTAB_OK, "%s",
                     err.msg);
        for (size_t i = 0; i < np; i++) {
            double *x = moved(p, f.m->theta, t[i], d);
            double ref = loss_at(f.m, x, &f.lm);
            /* two summation orders of n per-sample losses */
            cr_expect(fabs(L[i] - ref) <= 64 * N * 2.2e-16 * fmax(1.0, fabs(ref)), "loss %d t %g: %.17g vs %.17g", l,
                      t[i], L[i], ref);
            free(x);
        }
        free(d);
        unmake(&f);
    }
}

Test(landscape, curvature_is_the_dense_quadratic_form_at_the_checkpoint_and_at_moved_points)
{
    for (int l = 0; l < 2; l++) {
        fixture f = make(l ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE, 0, 30 + l);
        size_t p = f.m->p;
        double *d = gauss_vec(p, 40), *H = malloc(p * p * sizeof *H);
        double t[3] = {0.0, 0.7, -1.3}, L[3], C[3];
        linstab_error err;
        cr_assert_eq(linstab_landscape_slice(&f.lm, d, NULL, 3, t, NULL, L, NULL, C, &err), LINSTAB_OK, "%s", err.msg);
        for (size_t i = 0; i < 3; i++) {
            double *x = moved(p, f.m->theta, t[i], d);
            dense_hessian(f.m, x, &f.lm, H);
            double ref = quad(p, H, d, d);
            /* sums of p^2 products of |H| |d|^2: c p eps ||H|| ||d||^2 */
            double tol = tu_tol(p, 1.0) * p * max_abs(p * p, H) * max_abs(p, d) * max_abs(p, d);
            cr_expect(fabs(C[i] - ref) <= tol, "loss %d t %g: d'Hd %.17g vs dense %.17g (tol %g)", l, t[i], C[i], ref,
                      tol);
            free(x);
        }
        /* the curvature moves with t (t != 0 is a genuinely new point) */
        cr_expect(fabs(C[1] - C[0]) > 1e-3 * fabs(C[0]), "loss %d: curvature did not change with t", l);
        free(d);
        free(H);
        unmake(&f);
    }
}

Test(landscape, zhou_second_difference_tends_to_a_quarter_of_the_curvature_as_h_goes_to_zero)
{
    fixture f = make(LINSTAB_LOSS_MSE, 0, 50);
    size_t p = f.m->p;
    double *d = gauss_vec(p, 51), *H = malloc(p * p * sizeof *H);
    for (int it = 0; it < 2; it++) {
        double t = it == 0 ? 0.0 : 0.45;
        double *x = moved(p, f.m->theta, t, d);
        dense_hessian(f.m, x, &f.lm, H);
        double ref = quad(p, H, d, d); /* L''(t) */
        double e[3], hs[3] = {0.04, 0.02, 0.01};
        for (int k = 0; k < 3; k++) {
            linstab_landscape_opts o = linstab_landscape_defaults();
            o.h = hs[k];
            double L, D2;
            linstab_error err;
            cr_assert_eq(linstab_landscape_slice(&f.lm, d, NULL, 1, &t, &o, &L, &D2, NULL, &err), LINSTAB_OK, "%s",
                         err.msg);
            /* (2h)^2 in the denominator: D2 -> L'' / 4 */
            e[k] = 4.0 * D2 - ref;
        }
        /* O(h^2): halving h quarters the error (L''''/12 h^2 dominates the
         * rounding eps |L| / h^2 ~ 1e-11 by far at these h) */
        for (int k = 1; k < 3; k++)
            cr_expect(fabs(e[k] / e[k - 1] - 0.25) < 0.03, "t %g: error ratio %g at h = %g (errors %g, %g)", t,
                      e[k] / e[k - 1], hs[k], e[k - 1], e[k]);
        cr_expect(fabs(e[2]) < 1e-3 * fabs(ref), "t %g: 4 d2_zhou - d'Hd = %g vs %g", t, e[2], ref);
        free(x);
    }
    /* h = 0.1 by default */
    double t0 = 0.0, L, a, b;
    linstab_landscape_opts o = linstab_landscape_defaults();
    linstab_error err;
    cr_assert_eq(linstab_landscape_slice(&f.lm, d, NULL, 1, &t0, NULL, &L, &a, NULL, &err), LINSTAB_OK);
    o.h = 0.1;
    cr_assert_eq(linstab_landscape_slice(&f.lm, d, NULL, 1, &t0, &o, &L, &b, NULL, &err), LINSTAB_OK);
    cr_expect_eq(a, b);
    /* and the formula itself on three explicitly built points */
    double *xp = moved(p, f.m->theta, 0.1, d), *xm = moved(p, f.m->theta, -0.1, d);
    double lp = loss_at(f.m, xp, &f.lm), lm0 = loss_at(f.m, f.m->theta, &f.lm), lmm = loss_at(f.m, xm, &f.lm);
    double ref = (lp + lmm - 2.0 * lm0) / (0.2 * 0.2);
    cr_expect(fabs(a - ref) <= 1e-12 * fmax(1.0, fabs(lm0)) / 0.04, "d2_zhou %.17g vs %.17g", a, ref);
    free(xp);
    free(xm);
    free(d);
    free(H);
    unmake(&f);
}

/* LAPACK's top eigenpair of the dense mean Hessian; OUT gap lambda1 - lambda2, lmin. */
static void lapack_top(size_t p, const double *H, double *u, double *lam1, double *gap, double *lmin)
{
    double *A = malloc(p * p * sizeof *A), *w = malloc(p * sizeof *w);
    memcpy(A, H, p * p * sizeof *A);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)p, A, (lapack_int)p, w), 0);
    for (size_t j = 0; j < p; j++) u[j] = A[j * p + p - 1];
    *lam1 = w[p - 1];
    *gap = w[p - 1] - w[p - 2];
    *lmin = w[0];
    free(A);
    free(w);
}

Test(landscape, eigenvector_direction_is_lapacks_top_eigenvector_at_a_minimum_and_at_an_indefinite_point)
{
    for (int c = 0; c < 3; c++) {
        /* 0: interpolating minimum (mse, own outputs), 1: indefinite mse, 2: ce */
        fixture f = make(c == 2 ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE, c == 0, 60 + c);
        size_t p = f.m->p;
        double *H = malloc(p * p * sizeof *H), *u = malloc(p * sizeof *u), *v = malloc(p * sizeof *v);
        dense_hessian(f.m, f.m->theta, &f.lm, H);
        double lam1, gap, lmin;
        lapack_top(p, H, u, &lam1, &gap, &lmin);
        double hn = max_abs(p * p, H);
        if (c == 0) cr_assert(lmin > -1e-10 * lam1, "minimum: lambda_min %g", lmin);
        if (c == 1) cr_assert(lmin < -1e-3 * lam1, "not indefinite: lambda_min %g", lmin);
        cr_assert(gap > 1e-3 * lam1, "case %d: lambda1 not simple (gap %g)", c, gap);
        for (int path = 0; path < 3; path++) {
            linstab_eigen_opts eo = linstab_eigen_defaults();
            eo.path = path == 1 ? LINSTAB_EIGEN_DENSE : LINSTAB_EIGEN_ARPACK;
            eo.tol = 1e-12;
            eo.ncv = 12;
            double got;
            linstab_error err;
            cr_assert_eq(linstab_landscape_eigvec(&f.lm, path == 0 ? NULL : &eo, &got, v, &err), LINSTAB_OK, "%s",
                         err.msg);
            cr_expect(fabs(got - lam1) <= tu_tol(p, 1.0) * hn * 10, "case %d path %d: lambda1 %.17g vs %.17g", c, path,
                      got, lam1);
            /* up to sign; Davis-Kahan: angle <= residual / gap */
            double s = dot(p, u, v) < 0 ? -1.0 : 1.0, e = 0.0;
            for (size_t j = 0; j < p; j++) e = fmax(e, fabs(v[j] - s * u[j]));
            cr_expect(e <= 1e-8 * hn / gap, "case %d path %d: eigenvector differs by %g (gap %g)", c, path, e, gap);
            cr_expect(fabs(dot(p, v, v) - 1.0) < 1e-13, "not unit");
            /* the sign: the entry of largest magnitude is positive */
            size_t jm = 0;
            for (size_t j = 1; j < p; j++)
                if (fabs(v[j]) > fabs(v[jm])) jm = j;
            cr_expect(v[jm] > 0.0, "case %d path %d: entry %zu of largest magnitude is %g", c, path, jm, v[jm]);
        }
        /* along it, the curvature at t = 0 is lambda1 (unit d) */
        double t0 = 0.0, L, C;
        linstab_error err;
        cr_assert_eq(linstab_landscape_slice(&f.lm, v, NULL, 1, &t0, NULL, &L, NULL, &C, &err), LINSTAB_OK);
        cr_expect(fabs(C - lam1) <= tu_tol(p, 1.0) * hn * 10, "curvature %.17g vs lambda1 %.17g", C, lam1);
        free(H);
        free(u);
        free(v);
        unmake(&f);
    }
}

Test(landscape, random_direction_is_filter_normalized_with_zero_biases_and_reproducible)
{
    for (int bias = 0; bias <= 1; bias++) {
        linstab_mlp *m = net(LINSTAB_AD_RELU, bias, 70 + bias, 1.3);
        size_t p = m->p;
        /* a zero row of the checkpoint stays zero */
        double *W1 = m->theta + linstab_mlp_w_offset(m, 1);
        for (size_t v = 0; v < D0; v++) W1[2 * D0 + v] = 0.0;
        double *d = malloc(p * sizeof *d), *e = malloc(p * sizeof *e), *g = malloc(p * sizeof *g);
        linstab_error err;
        cr_assert_eq(linstab_landscape_random(m, 5, 1, d, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(linstab_landscape_random(m, 5, 1, e, &err), LINSTAB_OK);
        cr_expect_eq(memcmp(d, e, p * sizeof *d), 0, "same seed, different bytes");
        cr_assert_eq(linstab_landscape_random(m, 5, 2, e, &err), LINSTAB_OK);
        cr_expect_neq(memcmp(d, e, p * sizeof *d), 0, "index 2 gave index 1's direction");
        cr_assert_eq(linstab_landscape_random(m, 6, 1, e, &err), LINSTAB_OK);
        cr_expect_neq(memcmp(d, e, p * sizeof *d), 0, "seed 6 gave seed 5's direction");
        /* the Gaussian stream it documents: each row is parallel to g's row */
        gsl_rng *r = linstab_rng_stream(5, UINT64_C(0x51ce0000) + 1);
        tu_gauss(r, g, p);
        gsl_rng_free(r);
        for (size_t l = 1; l <= m->nlayers; l++) {
            size_t rows = m->sizes[l], cols = m->sizes[l - 1], o = linstab_mlp_w_offset(m, l);
            for (size_t u = 0; u < rows; u++) {
                double nw = 0.0, nd = 0.0, ng = 0.0;
                for (size_t v = 0; v < cols; v++) {
                    nw += m->theta[o + u * cols + v] * m->theta[o + u * cols + v];
                    nd += d[o + u * cols + v] * d[o + u * cols + v];
                    ng += g[o + u * cols + v] * g[o + u * cols + v];
                }
                cr_expect(fabs(sqrt(nd) - sqrt(nw)) <= 8 * cols * 2.2e-16 * sqrt(nw), "layer %zu row %zu: %g vs %g",
                          l, u, sqrt(nd), sqrt(nw));
                for (size_t v = 0; nw > 0 && v < cols; v++)
                    cr_expect(fabs(d[o + u * cols + v] - g[o + u * cols + v] * sqrt(nw / ng)) <= 1e-14 * sqrt(nw),
                              "layer %zu row %zu: not g's row", l, u);
            }
            if (bias)
                for (size_t u = 0; u < rows; u++)
                    cr_expect_eq(d[linstab_mlp_b_offset(m, l) + u], 0.0, "bias %zu of layer %zu not zero", u, l);
        }
        for (size_t v = 0; v < D0; v++) cr_expect_eq(d[linstab_mlp_w_offset(m, 1) + 2 * D0 + v], 0.0);
        /* all weights zero: no direction */
        memset(m->theta, 0, p * sizeof(double));
        cr_expect_eq(linstab_landscape_random(m, 5, 1, d, &err), LINSTAB_EDATA);
        free(d);
        free(e);
        free(g);
        linstab_mlp_free(m);
    }
}

Test(landscape, segment_ends_are_the_two_checkpoints_losses)
{
    fixture f = make(LINSTAB_LOSS_MSE, 0, 80);
    linstab_mlp *b = net(LINSTAB_AD_TANH, 1, 81, 0.5);
    size_t p = f.m->p;
    double *d = malloc(p * sizeof *d);
    linstab_error err;
    cr_assert_eq(linstab_landscape_segment(f.m, b, d, &err), LINSTAB_OK, "%s", err.msg);
    for (size_t j = 0; j < p; j++) cr_assert_eq(d[j], b->theta[j] - f.m->theta[j]);
    double t[41], L[41], D2[41], C[41], LA, LB, acc;
    cr_assert_eq(linstab_landscape_grid(-0.5, 1.5, 41, t, &err), LINSTAB_OK);
    cr_assert_eq(t[10], 0.0);
    cr_assert_eq(t[30], 1.0);
    cr_assert_eq(linstab_landscape_slice(&f.lm, d, b->theta, 41, t, NULL, L, D2, C, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_mlp_evaluate(f.m, &f.X, &f.Y, LINSTAB_LOSS_MSE, 0.0, &LA, &acc, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_evaluate(b, &f.X, &f.Y, LINSTAB_LOSS_MSE, 0.0, &LB, &acc, &err), LINSTAB_OK);
    /* theta(0) and theta(1) are the checkpoints exactly */
    cr_expect_eq(L[10], LA, "t = 0: %.17g vs %.17g", L[10], LA);
    cr_expect_eq(L[30], LB, "t = 1: %.17g vs %.17g", L[30], LB);
    /* the same line as theta + t d (to rounding) */
    double L2[41];
    cr_assert_eq(linstab_landscape_slice(&f.lm, d, NULL, 41, t, NULL, L2, NULL, NULL, &err), LINSTAB_OK);
    for (size_t i = 0; i < 41; i++) cr_expect(fabs(L2[i] - L[i]) <= 1e-12 * fmax(1.0, L[i]), "t %g", t[i]);
    free(d);
    linstab_mlp_free(b);
    unmake(&f);
}

static void expect_segment_error(const linstab_mlp *a, const linstab_mlp *b, const char *what)
{
    double d[64];
    linstab_error err;
    cr_expect_eq(linstab_landscape_segment(a, b, d, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, what) != NULL, "message '%s' lacks '%s'", err.msg, what);
}

Test(landscape, segment_between_different_architectures_names_what_differs)
{
    linstab_mlp *a = net(LINSTAB_AD_TANH, 1, 1, 0.5), *b = NULL;
    size_t s2[3] = {D0, 5, K}, s3[4] = {D0, 4, 4, K};
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(s2, 2, LINSTAB_AD_TANH, 1, &b, &err), LINSTAB_OK);
    expect_segment_error(a, b, "layer sizes differ: 3-4-2 and 3-5-2");
    linstab_mlp_free(b);
    cr_assert_eq(linstab_mlp_alloc(s3, 3, LINSTAB_AD_TANH, 1, &b, &err), LINSTAB_OK);
    expect_segment_error(a, b, "3-4-2 and 3-4-4-2");
    linstab_mlp_free(b);
    b = net(LINSTAB_AD_RELU, 1, 2, 0.5);
    expect_segment_error(a, b, "activations differ: tanh and relu");
    linstab_mlp_free(b);
    b = net(LINSTAB_AD_TANH, 1, 2, 0.5);
    cr_assert_eq(linstab_mlp_set_output(b, LINSTAB_AD_TANH, &err), LINSTAB_OK);
    expect_segment_error(a, b, "output activations differ: none and tanh");
    linstab_mlp_free(b);
    b = net(LINSTAB_AD_TANH, 0, 2, 0.5);
    expect_segment_error(a, b, "with biases and without biases");
    linstab_mlp_free(b);
    expect_segment_error(a, a, "same parameters");
    linstab_mlp_free(a);
}

Test(landscape, surface_row_a_zero_is_the_slice_along_the_second_direction)
{
    fixture f = make(LINSTAB_LOSS_MSE, 0, 90);
    size_t p = f.m->p;
    double *d1 = gauss_vec(p, 91), *d2 = malloc(p * sizeof *d2);
    linstab_error err;
    cr_assert_eq(linstab_landscape_random(f.m, 3, 2, d2, &err), LINSTAB_OK);
    double a[5] = {-1.0, -0.5, 0.0, 0.5, 1.0}, b[4] = {-0.6, -0.2, 0.2, 0.6}, S[20], L[4];
    cr_assert_eq(linstab_landscape_surface(&f.lm, d1, NULL, d2, 5, a, 4, b, NULL, S, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_landscape_slice(&f.lm, d2, NULL, 4, b, NULL, L, NULL, NULL, &err), LINSTAB_OK);
    for (size_t ib = 0; ib < 4; ib++) cr_expect_eq(S[2 * 4 + ib], L[ib], "b %g: %.17g vs %.17g", b[ib], S[8 + ib], L[ib]);
    /* every point against the loss at the explicitly built point */
    for (size_t ia = 0; ia < 5; ia++)
        for (size_t ib = 0; ib < 4; ib++) {
            double *x = moved(p, f.m->theta, a[ia], d1);
            for (size_t j = 0; j < p; j++) x[j] += b[ib] * d2[j];
            double ref = loss_at(f.m, x, &f.lm);
            cr_expect(fabs(S[ia * 4 + ib] - ref) <= 64 * N * 2.2e-16 * fmax(1.0, ref), "(%g, %g)", a[ia], b[ib]);
            free(x);
        }
    /* with the end of a segment: the point (1, 0) is that checkpoint exactly */
    linstab_mlp *B = net(LINSTAB_AD_TANH, 1, 92, 0.6);
    double *seg = malloc(p * sizeof *seg), LB, acc, aa[2] = {0.0, 1.0}, bb[1] = {0.0}, S2[2];
    cr_assert_eq(linstab_landscape_segment(f.m, B, seg, &err), LINSTAB_OK);
    cr_assert_eq(linstab_landscape_surface(&f.lm, seg, B->theta, d2, 2, aa, 1, bb, NULL, S2, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_evaluate(B, &f.X, &f.Y, LINSTAB_LOSS_MSE, 0.0, &LB, &acc, &err), LINSTAB_OK);
    cr_expect_eq(S2[1], LB);
    free(seg);
    linstab_mlp_free(B);
    free(d1);
    free(d2);
    unmake(&f);
}

Test(landscape, small_surface_matches_the_quadratic_model_to_third_order)
{
    fixture f = make(LINSTAB_LOSS_MSE, 0, 100);
    size_t p = f.m->p;
    double *d1 = gauss_vec(p, 101), *d2 = gauss_vec(p, 102), *H = malloc(p * p * sizeof *H), *g = malloc(p * sizeof *g);
    dense_hessian(f.m, f.m->theta, &f.lm, H);
    /* the gradient by central differences of the loss (step 1e-5: error
     * ~ 1e-10 |L'''| + eps |L| / 1e-5) */
    double *x = malloc(p * sizeof *x);
    for (size_t j = 0; j < p; j++) {
        memcpy(x, f.m->theta, p * sizeof *x);
        x[j] += 1e-5;
        double lp = loss_at(f.m, x, &f.lm);
        x[j] -= 2e-5;
        double lm0 = loss_at(f.m, x, &f.lm);
        g[j] = (lp - lm0) / 2e-5;
    }
    double L0 = loss_at(f.m, f.m->theta, &f.lm);
    double g1 = dot(p, g, d1), g2 = dot(p, g, d2), h11 = quad(p, H, d1, d1), h12 = quad(p, H, d1, d2),
           h22 = quad(p, H, d2, d2);
    double emax[2];
    for (int k = 0; k < 2; k++) {
        double s = k == 0 ? 0.02 : 0.01, a[3] = {-s, 0.0, s}, S[9];
        linstab_error err;
        cr_assert_eq(linstab_landscape_surface(&f.lm, d1, NULL, d2, 3, a, 3, a, NULL, S, &err), LINSTAB_OK);
        emax[k] = 0.0;
        for (int ia = 0; ia < 3; ia++)
            for (int ib = 0; ib < 3; ib++) {
                double A = a[ia], B = a[ib];
                double q = L0 + A * g1 + B * g2 + 0.5 * (A * A * h11 + 2 * A * B * h12 + B * B * h22);
                emax[k] = fmax(emax[k], fabs(S[ia * 3 + ib] - q));
            }
    }
    /* O(s^3): halving s divides the worst error by about 8 */
    cr_expect(emax[1] < emax[0] / 6.0 && emax[1] > emax[0] / 10.0, "errors %g (s = 0.02) and %g (s = 0.01)", emax[0],
              emax[1]);
    free(x);
    free(g);
    free(H);
    free(d1);
    free(d2);
    unmake(&f);
}

Test(landscape, results_are_byte_identical_for_any_thread_count)
{
    fixture f = make(LINSTAB_LOSS_CE, 0, 110);
    size_t p = f.m->p;
    double *d = gauss_vec(p, 111), *d2 = gauss_vec(p, 112), t[13];
    linstab_error err;
    cr_assert_eq(linstab_landscape_grid(-1.0, 2.0, 13, t, &err), LINSTAB_OK);
    double L[3][13], D[3][13], C[3][13], S[3][13 * 13];
    size_t th[3] = {1, 2, 5};
    for (int k = 0; k < 3; k++) {
        linstab_landscape_opts o = linstab_landscape_defaults();
        o.threads = th[k];
        cr_assert_eq(linstab_landscape_slice(&f.lm, d, NULL, 13, t, &o, L[k], D[k], C[k], &err), LINSTAB_OK);
        cr_assert_eq(linstab_landscape_surface(&f.lm, d, NULL, d2, 13, t, 13, t, &o, S[k], &err), LINSTAB_OK);
    }
    for (int k = 1; k < 3; k++) {
        cr_expect_eq(memcmp(L[0], L[k], sizeof L[0]), 0, "%zu threads: loss", th[k]);
        cr_expect_eq(memcmp(D[0], D[k], sizeof D[0]), 0, "%zu threads: d2_zhou", th[k]);
        cr_expect_eq(memcmp(C[0], C[k], sizeof C[0]), 0, "%zu threads: curvature", th[k]);
        cr_expect_eq(memcmp(S[0], S[k], sizeof S[0]), 0, "%zu threads: surface", th[k]);
    }
    free(d);
    free(d2);
    unmake(&f);
}

static size_t calls, last_done;
static void count_progress(size_t done, size_t total, void *ctx)
{
    (void)ctx;
    cr_expect(done > last_done && done <= total);
    last_done = done;
    calls++;
}

Test(landscape, progress_reaches_the_total_in_increasing_steps)
{
    fixture f = make(LINSTAB_LOSS_MSE, 0, 120);
    double *d = gauss_vec(f.m->p, 121), t[9], L[9];
    linstab_error err;
    cr_assert_eq(linstab_landscape_grid(0.0, 1.0, 9, t, &err), LINSTAB_OK);
    linstab_landscape_opts o = linstab_landscape_defaults();
    o.threads = 2;
    o.progress = count_progress;
    calls = last_done = 0;
    cr_assert_eq(linstab_landscape_slice(&f.lm, d, NULL, 9, t, &o, L, NULL, NULL, &err), LINSTAB_OK);
    cr_expect_eq(last_done, 9);
    cr_expect(calls >= 2);
    free(d);
    unmake(&f);
}

Test(landscape, grid_has_exact_ends_and_rejects_bad_ranges)
{
    double t[41];
    linstab_error err;
    cr_assert_eq(linstab_landscape_grid(-0.5, 1.5, 41, t, &err), LINSTAB_OK);
    cr_expect_eq(t[0], -0.5);
    cr_expect_eq(t[10], 0.0);
    cr_expect_eq(t[30], 1.0);
    cr_expect_eq(t[40], 1.5);
    for (size_t i = 0; i < 41; i++) cr_expect(fabs(t[i] - (-0.5 + 0.05 * (double)i)) < 1e-15);
    cr_expect_eq(linstab_landscape_grid(0.0, 1.0, 1, t, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.param, "points");
    cr_expect_eq(linstab_landscape_grid(1.0, 1.0, 5, t, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.param, "range");
    cr_expect_eq(linstab_landscape_grid(2.0, 1.0, 5, t, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_landscape_grid(0.0, INFINITY, 5, t, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_landscape_grid(NAN, 1.0, 5, t, &err), LINSTAB_EINVAL);
    /* finite ends whose difference overflows: the points would be NaN */
    cr_expect_eq(linstab_landscape_grid(-1e308, 1e308, 5, t, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.param, "range");
}

Test(landscape, slice_rejects_zero_or_non_finite_directions_and_bad_steps)
{
    fixture f = make(LINSTAB_LOSS_MSE, 0, 130);
    size_t p = f.m->p;
    double *d = calloc(p, sizeof *d), t = 0.0, L, D2;
    linstab_error err;
    cr_expect_eq(linstab_landscape_slice(&f.lm, d, NULL, 1, &t, NULL, &L, NULL, NULL, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "zero") != NULL, "%s", err.msg);
    d[3] = NAN;
    cr_expect_eq(linstab_landscape_slice(&f.lm, d, NULL, 1, &t, NULL, &L, NULL, NULL, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "entry 3") != NULL, "%s", err.msg);
    d[3] = 1.0;
    linstab_landscape_opts o = linstab_landscape_defaults();
    o.h = -0.1;
    cr_expect_eq(linstab_landscape_slice(&f.lm, d, NULL, 1, &t, &o, &L, &D2, NULL, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.param, "h");
    t = INFINITY;
    cr_expect_eq(linstab_landscape_slice(&f.lm, d, NULL, 1, &t, NULL, &L, NULL, NULL, &err), LINSTAB_EINVAL);
    free(d);
    unmake(&f);
}

static char *write_npy(const double *data, size_t ndim, const size_t *shape)
{
    char *path = tu_tmppath(".npy");
    linstab_error err;
    cr_assert_eq(linstab_npy_write(path, data, ndim, shape, &err), LINSTAB_OK, "%s", err.msg);
    return path;
}

Test(landscape, direction_files_give_a_vector_or_a_chosen_row_and_name_the_expected_length)
{
    size_t p = 6;
    double rows[3 * 6], d[6];
    for (size_t q = 0; q < 18; q++) rows[q] = (double)q - 4.0;
    size_t s1[1] = {6}, s2[2] = {3, 6}, sbad[1] = {5}, sbad2[2] = {3, 5};
    char *v = write_npy(rows, 1, s1), *M = write_npy(rows, 2, s2), *b1 = write_npy(rows, 1, sbad),
         *b2 = write_npy(rows, 2, sbad2);
    linstab_error err;
    cr_assert_eq(linstab_landscape_direction_load(v, p, LINSTAB_LANDSCAPE_NO_ROW, d, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(memcmp(d, rows, sizeof d), 0);
    cr_assert_eq(linstab_landscape_direction_load(M, p, 2, d, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(memcmp(d, rows + 12, sizeof d), 0);
    cr_expect_eq(linstab_landscape_direction_load(M, p, LINSTAB_LANDSCAPE_NO_ROW, d, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.param, "row");
    cr_expect(strstr(err.msg, "3 directions") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_landscape_direction_load(M, p, 3, d, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "outside 0..2") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_landscape_direction_load(v, p, 1, d, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_landscape_direction_load(b1, p, LINSTAB_LANDSCAPE_NO_ROW, d, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "5 entries") != NULL && strstr(err.msg, "p = 6") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_landscape_direction_load(b2, p, 0, d, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "p = 6") != NULL, "%s", err.msg);
    /* zero and non-finite vectors */
    double z[6] = {0}, nf[6] = {1, 2, 3, INFINITY, 5, 6};
    char *zp = write_npy(z, 1, s1), *np = write_npy(nf, 1, s1);
    cr_expect_eq(linstab_landscape_direction_load(zp, p, LINSTAB_LANDSCAPE_NO_ROW, d, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "zero") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_landscape_direction_load(np, p, LINSTAB_LANDSCAPE_NO_ROW, d, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "entry 3") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_landscape_direction_load("/nonexistent/x.npy", p, LINSTAB_LANDSCAPE_NO_ROW, d, &err),
                 LINSTAB_EIO);
    char *all[6] = {v, M, b1, b2, zp, np};
    for (int k = 0; k < 6; k++) {
        remove(all[k]);
        free(all[k]);
    }
}
