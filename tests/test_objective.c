/*
 * test_objective.c -- the objectives of the nonlinear dynamics
 * (include/linstab/objective.h, docs/math.md §6), written against the
 * header alone:
 *   - gradients against central differences of the loss and Hessian-vector
 *     products against central differences of the gradient, at random
 *     points, for every kind (quadratic from a spectrum and from a matrix,
 *     bartlett, tanh2, family: dense, factored, diagonal, on batches);
 *   - loss, gradient and Hessian-vector product against closed forms
 *     derived here by hand (the reference below), and at the special points
 *     of docs/math.md §6 (bartlett at (0, w2), tanh2 at (u, 0) and (0, v));
 *   - bad input and the accessors.
 *
 * Tolerances.  A central difference (f(x+h) - f(x-h))/(2h) errs by
 * (h^2/6) f'''(xi) (truncation) plus about eps |f|_abs / h (rounding of
 * the two evaluations, |f|_abs the magnitude of the terms summed in f).
 * The step is h = 1e-5 max(1, |w|_inf), near the optimum eps^(1/3); the
 * third-derivative scale is measured on the closed-form reference (a
 * difference of its Hessian with a wider step), so the tolerance follows
 * the function's conditioning instead of a guessed constant.  Closed-form
 * comparisons allow c eps times the magnitude of the terms.
 *
 * The differences only show that loss, gradient and H v agree with one
 * another; a consistently wrong objective (a wrong matrix, a batch mean
 * over the wrong samples) is caught by the closed forms.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/error.h"
#include "linstab/family.h"
#include "linstab/objective.h"
#include "testutil.h"

#define DMAX 8
#define NMAX 16

/* ---- the reference: closed forms, independent of the library -------- */

typedef enum { R_QUAD, R_BARTLETT, R_TANH2, R_FAMILY } ref_kind;

typedef struct {
    ref_kind kind;
    size_t d, n;
    double L[DMAX * DMAX];   /* R_QUAD: the matrix (d x d)            */
    double *Hs;              /* R_FAMILY: explicit H_i (n x d x d)    */
} ref_t;

static double inf_norm(const double *x, size_t len)
{
    double m = 0.0;
    for (size_t i = 0; i < len; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* Loss l, gradient g (d) and Hessian H (d x d) of the batch at w, and
 * labs, the magnitude of the terms summed in l (for rounding bounds). */
static void ref_point(const ref_t *r, const double *w, const size_t *idx, size_t count,
                      double *l, double *g, double *H, double *labs)
{
    size_t d = r->d;
    if (r->kind == R_QUAD || r->kind == R_FAMILY) {
        size_t m = r->kind == R_QUAD ? 1 : (idx ? count : r->n);
        double s = 0.0, sa = 0.0;
        memset(g, 0, d * sizeof *g);
        memset(H, 0, d * d * sizeof *H);
        for (size_t q = 0; q < m; q++) {
            const double *A = r->kind == R_QUAD ? r->L : r->Hs + (idx ? idx[q] : q) * d * d;
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j < d; j++) {
                    s += w[i] * A[i * d + j] * w[j] / 2.0;
                    sa += fabs(w[i] * A[i * d + j] * w[j]) / 2.0;
                    g[i] += A[i * d + j] * w[j] / (double)m;
                    H[i * d + j] += A[i * d + j] / (double)m;
                }
        }
        *l = s / (double)m;
        *labs = sa / (double)m;
    } else if (r->kind == R_BARTLETT) {
        /* l = w1^2/s + w2^2/2, s = 1 + w2^2/2 */
        double w1 = w[0], w2 = w[1], s = 1.0 + w2 * w2 / 2.0;
        *l = w1 * w1 / s + w2 * w2 / 2.0;
        *labs = *l;
        g[0] = 2.0 * w1 / s;
        g[1] = w2 - w1 * w1 * w2 / (s * s);
        H[0] = 2.0 / s;
        H[1] = H[2] = -2.0 * w1 * w2 / (s * s);
        H[3] = 1.0 - w1 * w1 * (1.0 / (s * s) - 2.0 * w2 * w2 / (s * s * s));
    } else {
        /* l = T^2/2, T = tanh z, z = v t, t = tanh u;
         * H = l''(z) grad z grad z' + l'(z) hess z */
        double u = w[0], v = w[1], t = tanh(u), a = 1.0 - t * t;
        double z = v * t, T = tanh(z), b = 1.0 - T * T;
        double l1 = T * b, l2 = b * b - 2.0 * T * T * b;
        double zu = v * a, zv = t, zuu = -2.0 * v * t * a, zuv = a;
        *l = T * T / 2.0;
        *labs = *l;
        g[0] = l1 * zu;
        g[1] = l1 * zv;
        H[0] = l2 * zu * zu + l1 * zuu;
        H[1] = H[2] = l2 * zu * zv + l1 * zuv;
        H[3] = l2 * zv * zv;
    }
}

static void matvec(size_t d, const double *H, const double *v, double *y)
{
    for (size_t i = 0; i < d; i++) {
        y[i] = 0.0;
        for (size_t j = 0; j < d; j++) y[i] += H[i * d + j] * v[j];
    }
}

/* max over l of the difference quotient of the reference Hessian along
 * e_l: the scale of the third derivatives near w (zero for quadratics up
 * to rounding). */
static double third_derivative_scale(const ref_t *r, const double *w, const size_t *idx,
                                     size_t count)
{
    size_t d = r->d;
    double h3 = 1e-3, m = 0.0, wp[DMAX], g[DMAX], Hp[DMAX * DMAX], Hm[DMAX * DMAX], l, la;
    for (size_t k = 0; k < d; k++) {
        memcpy(wp, w, d * sizeof *wp);
        wp[k] = w[k] + h3;
        ref_point(r, wp, idx, count, &l, g, Hp, &la);
        wp[k] = w[k] - h3;
        ref_point(r, wp, idx, count, &l, g, Hm, &la);
        for (size_t j = 0; j < d * d; j++) {
            double t = fabs(Hp[j] - Hm[j]) / (2.0 * h3);
            if (t > m) m = t;
        }
    }
    return m;
}

/* ---- the checks ------------------------------------------------------ */

/* The library's gradient against central differences of its loss. */
static void check_gradient_fd(const linstab_objective *o, const ref_t *r, const double *w,
                              const size_t *idx, size_t count)
{
    size_t d = r->d;
    double g[DMAX], wp[DMAX], rg[DMAX], rH[DMAX * DMAX], rl, labs;
    linstab_objective_eval(o, w, idx, count, NULL, g);
    ref_point(r, w, idx, count, &rl, rg, rH, &labs);
    double h = 1e-5 * fmax(1.0, inf_norm(w, d));
    double M3 = third_derivative_scale(r, w, idx, count);
    for (size_t k = 0; k < d; k++) {
        double lp, lm;
        memcpy(wp, w, d * sizeof *wp);
        wp[k] = w[k] + h;
        linstab_objective_eval(o, wp, idx, count, &lp, NULL);
        wp[k] = w[k] - h;
        linstab_objective_eval(o, wp, idx, count, &lm, NULL);
        double fd = (lp - lm) / (2.0 * h);
        /* truncation (h^2/6)|l'''| (twice the measured scale, for the
         * change of l''' over [w-h, w+h]) + rounding of two losses whose
         * terms have magnitude about labs (+ the change over the step). */
        double lscale = labs + inf_norm(rg, d) * h + 1e-300;
        double tol = 2.0 * h * h / 6.0 * M3 + 16.0 * (double)d * DBL_EPSILON * lscale / h;
        cr_expect(fabs(g[k] - fd) <= tol,
                  "gradient %zu at (%g, %g, ...): %.17g, central difference %.17g "
                  "(|diff| %.3g > tol %.3g)",
                  k, w[0], d > 1 ? w[1] : 0.0, g[k], fd, fabs(g[k] - fd), tol);
    }
}

/* The library's Hessian-vector product against central differences of
 * its gradient along v. */
static void check_hvp_fd(const linstab_objective *o, const ref_t *r, const double *w,
                         const double *v, const size_t *idx, size_t count)
{
    size_t d = r->d;
    double hv[DMAX], gp[DMAX], gm[DMAX], wp[DMAX], wm[DMAX];
    linstab_objective_hvp(o, w, idx, count, v, hv);
    double vn = inf_norm(v, d);
    double h = 1e-5 * fmax(1.0, inf_norm(w, d)) / fmax(vn, 1e-300);
    for (size_t k = 0; k < d; k++) {
        wp[k] = w[k] + h * v[k];
        wm[k] = w[k] - h * v[k];
    }
    linstab_objective_eval(o, wp, idx, count, NULL, gp);
    linstab_objective_eval(o, wm, idx, count, NULL, gm);
    /* third derivative of t -> g(w + t v): the second difference of the
     * reference H(w + t v) v with a wider step */
    double h3 = 1e-3 / fmax(vn, 1e-300), rl, la, rg[DMAX], rH[DMAX * DMAX];
    double y0[DMAX], y1[DMAX], y2[DMAX], x[DMAX];
    ref_point(r, w, idx, count, &rl, rg, rH, &la);
    matvec(d, rH, v, y0);
    double Hs = inf_norm(rH, d * d);
    for (size_t k = 0; k < d; k++) x[k] = w[k] + h3 * v[k];
    ref_point(r, x, idx, count, &rl, rg, rH, &la);
    matvec(d, rH, v, y1);
    for (size_t k = 0; k < d; k++) x[k] = w[k] - h3 * v[k];
    ref_point(r, x, idx, count, &rl, rg, rH, &la);
    matvec(d, rH, v, y2);
    double D3 = 0.0;
    for (size_t k = 0; k < d; k++) {
        double t = fabs(y1[k] - 2.0 * y0[k] + y2[k]) / (h3 * h3);
        if (t > D3) D3 = t;
    }
    ref_point(r, w, idx, count, &rl, rg, rH, &la);
    /* magnitude of the terms of a gradient entry near w */
    double gscale = inf_norm(rg, d) + (double)d * Hs * fmax(inf_norm(w, d), h * vn) + 1e-300;
    for (size_t k = 0; k < d; k++) {
        double fd = (gp[k] - gm[k]) / (2.0 * h);
        double tol = 2.0 * h * h / 6.0 * D3 + 16.0 * (double)d * DBL_EPSILON * gscale / h;
        cr_expect(fabs(hv[k] - fd) <= tol,
                  "hvp %zu at (%g, %g, ...): %.17g, central difference %.17g "
                  "(|diff| %.3g > tol %.3g)",
                  k, w[0], d > 1 ? w[1] : 0.0, hv[k], fd, fabs(hv[k] - fd), tol);
    }
}

/* Loss, gradient and H v of the library against the reference's closed
 * forms, to c eps times the magnitude of the terms. */
static void check_closed_form(const linstab_objective *o, const ref_t *r, const double *w,
                              const double *v, const size_t *idx, size_t count)
{
    size_t d = r->d;
    double l, g[DMAX], hv[DMAX], rl, rg[DMAX], rH[DMAX * DMAX], rhv[DMAX], labs;
    linstab_objective_eval(o, w, idx, count, &l, g);
    linstab_objective_hvp(o, w, idx, count, v, hv);
    ref_point(r, w, idx, count, &rl, rg, rH, &labs);
    matvec(d, rH, v, rhv);
    double c = 256.0 * (double)d * DBL_EPSILON;
    double Hs = inf_norm(rH, d * d), wn = inf_norm(w, d), vn = inf_norm(v, d);
    cr_expect(fabs(l - rl) <= c * fmax(labs, DBL_MIN), "loss at (%g, %g, ...): %.17g, closed form %.17g",
              w[0], d > 1 ? w[1] : 0.0, l, rl);
    for (size_t k = 0; k < d; k++) {
        cr_expect(fabs(g[k] - rg[k]) <= c * (fabs(rg[k]) + (double)d * Hs * wn + DBL_MIN),
                  "gradient %zu at (%g, %g, ...): %.17g, closed form %.17g", k, w[0],
                  d > 1 ? w[1] : 0.0, g[k], rg[k]);
        cr_expect(fabs(hv[k] - rhv[k]) <= c * ((double)d * Hs * vn + DBL_MIN),
                  "hvp %zu at (%g, %g, ...): %.17g, closed form %.17g", k, w[0],
                  d > 1 ? w[1] : 0.0, hv[k], rhv[k]);
    }
}

/* All three checks at npts random points w in [-a, a]^d, v Gaussian. */
static void check_random_points(const linstab_objective *o, const ref_t *r, const size_t *idx,
                                size_t count, double a, unsigned long seed, int npts)
{
    gsl_rng *rng = tu_rng(seed);
    for (int p = 0; p < npts; p++) {
        double w[DMAX], v[DMAX];
        for (size_t k = 0; k < r->d; k++) w[k] = a * (2.0 * gsl_rng_uniform(rng) - 1.0);
        tu_gauss(rng, v, r->d);
        check_gradient_fd(o, r, w, idx, count);
        check_hvp_fd(o, r, w, v, idx, count);
        check_closed_form(o, r, w, v, idx, count);
    }
    gsl_rng_free(rng);
}

/* ---- quadratic ------------------------------------------------------- */

Test(objective_quadratic, diagonal_spectrum_with_mixed_signs_matches_differences_and_closed_forms)
{
    const double spec[5] = {2.5, -1.0, 0.5, 0.0, -3.25};
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_quadratic(spec, 5, &o, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_objective_kind_of(o), LINSTAB_OBJECTIVE_QUADRATIC);
    cr_expect_eq(linstab_objective_dim(o), 5);
    cr_expect_eq(linstab_objective_samples(o), 1);
    ref_t r = {.kind = R_QUAD, .d = 5, .n = 1};
    for (size_t i = 0; i < 5; i++) r.L[i * 5 + i] = spec[i];
    check_random_points(o, &r, NULL, 0, 3.0, 11, 6);
    /* a one-sample batch {0} is the full mean */
    check_random_points(o, &r, (const size_t[]){0}, 1, 3.0, 12, 2);

    /* l = sum_i spec_i w_i^2 / 2 exactly at a point of small integers, and
     * H v = L v entry by entry */
    double w[5] = {1, 2, -1, 4, 2}, v[5] = {1, -1, 2, 3, 0.5}, l, g[5], hv[5];
    linstab_objective_eval(o, w, NULL, 0, &l, g);
    linstab_objective_hvp(o, w, NULL, 0, v, hv);
    double want = (2.5 * 1 - 1.0 * 4 + 0.5 * 1 + 0.0 * 16 - 3.25 * 4) / 2.0;
    cr_expect(fabs(l - want) <= 8 * DBL_EPSILON * 20, "loss %.17g, want %.17g", l, want);
    for (size_t i = 0; i < 5; i++) {
        cr_expect(fabs(g[i] - spec[i] * w[i]) <= 4 * DBL_EPSILON * fabs(spec[i] * w[i]),
                  "grad %zu: %.17g, want %.17g", i, g[i], spec[i] * w[i]);
        cr_expect(fabs(hv[i] - spec[i] * v[i]) <= 4 * DBL_EPSILON * fabs(spec[i] * v[i]),
                  "hvp %zu: %.17g, want %.17g", i, hv[i], spec[i] * v[i]);
    }
    linstab_objective_free(o);
}

Test(objective_quadratic, full_symmetric_matrix_matches_differences_and_closed_forms)
{
    size_t d = 4;
    gsl_rng *rng = tu_rng(21);
    double G[16], L[16];
    tu_gauss(rng, G, 16);
    gsl_rng_free(rng);
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) L[i * d + j] = G[i * d + j] + G[j * d + i]; /* indefinite */
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_quadratic_matrix(L, d, &o, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_objective_kind_of(o), LINSTAB_OBJECTIVE_QUADRATIC);
    cr_expect_eq(linstab_objective_dim(o), d);
    cr_expect_eq(linstab_objective_samples(o), 1);
    ref_t r = {.kind = R_QUAD, .d = d, .n = 1};
    memcpy(r.L, L, sizeof L);
    /* the matrix is copied: changing the caller's array changes nothing */
    for (size_t j = 0; j < 16; j++) L[j] = 1e6;
    check_random_points(o, &r, NULL, 0, 2.0, 22, 6);
    linstab_objective_free(o);
}

Test(objective_quadratic, bad_spectra_and_matrices_are_refused)
{
    linstab_objective *o = NULL;
    linstab_error err;
    const double ok[2] = {1.0, 0.5};
    cr_expect_eq(linstab_objective_quadratic(ok, 0, &o, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.param, "spectrum");
    const double nan2[2] = {1.0, NAN}, inf2[2] = {INFINITY, 0.5}, minf2[2] = {1.0, -INFINITY};
    const double *bad[3] = {nan2, inf2, minf2};
    for (int b = 0; b < 3; b++) {
        memset(&err, 0, sizeof err);
        cr_expect_eq(linstab_objective_quadratic(bad[b], 2, &o, &err), LINSTAB_EINVAL, "case %d", b);
        cr_expect_str_eq(err.param, "spectrum", "case %d", b);
        cr_expect_neq(err.msg[0], '\0', "case %d: empty message", b);
    }

    /* matrices: d = 0 and non-finite entries as above, asymmetry is bad data */
    double L[4] = {2.0, 0.5, 0.5, 1.0};
    cr_expect_eq(linstab_objective_quadratic_matrix(L, 0, &o, &err), LINSTAB_EINVAL);
    L[3] = NAN;
    cr_expect_eq(linstab_objective_quadratic_matrix(L, 2, &o, &err), LINSTAB_EINVAL);
    L[3] = INFINITY;
    cr_expect_eq(linstab_objective_quadratic_matrix(L, 2, &o, &err), LINSTAB_EINVAL);
    L[3] = 1.0;
    L[1] = 0.5 + 1e-6; /* asymmetric, far beyond 1e-12 relative */
    cr_expect_eq(linstab_objective_quadratic_matrix(L, 2, &o, &err), LINSTAB_EDATA);
    cr_expect_neq(err.msg[0], '\0');
    L[1] = 0.5 * (1.0 + 1e-15); /* symmetric to rounding: accepted */
    o = NULL;
    cr_expect_eq(linstab_objective_quadratic_matrix(L, 2, &o, &err), LINSTAB_OK, "%s", err.msg);
    linstab_objective_free(o);
    linstab_objective_free(NULL); /* a no-op */
}

/* ---- bartlett -------------------------------------------------------- */

Test(objective_bartlett, gradient_and_hvp_match_differences_and_closed_forms)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_bartlett(&o, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_objective_kind_of(o), LINSTAB_OBJECTIVE_BARTLETT);
    cr_expect_eq(linstab_objective_dim(o), 2);
    cr_expect_eq(linstab_objective_samples(o), 1);
    ref_t r = {.kind = R_BARTLETT, .d = 2, .n = 1};
    check_random_points(o, &r, NULL, 0, 3.0, 31, 10);
    linstab_objective_free(o);
}

Test(objective_bartlett, values_and_hessian_at_known_points)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_bartlett(&o, &err), LINSTAB_OK, "%s", err.msg);
    double l, g[2], hv[2];
    double e = 8 * DBL_EPSILON;

    linstab_objective_eval(o, (const double[]){1.0, 0.0}, NULL, 0, &l, g);
    cr_expect(fabs(l - 1.0) <= e, "l(1, 0) = %.17g, want 1", l);
    cr_expect(fabs(g[0] - 2.0) <= e && fabs(g[1]) <= e, "grad(1, 0) = (%g, %g), want (2, 0)", g[0], g[1]);
    linstab_objective_eval(o, (const double[]){2.0, 2.0}, NULL, 0, &l, g);
    cr_expect(fabs(l - 10.0 / 3.0) <= e * 4, "l(2, 2) = %.17g, want 10/3", l);
    /* grad(2, 2) = (4/3, 2 - 8/9) */
    cr_expect(fabs(g[0] - 4.0 / 3.0) <= e * 2 && fabs(g[1] - 10.0 / 9.0) <= e * 4,
              "grad(2, 2) = (%.17g, %.17g), want (4/3, 10/9)", g[0], g[1]);

    /* at (0, w2): l = w2^2/2 and Hessian diag(2/(1 + w2^2/2), 1) (§6) */
    const double w2s[4] = {0.0, 0.5, -1.5, 3.0};
    for (int i = 0; i < 4; i++) {
        double w[2] = {0.0, w2s[i]}, s = 1.0 + w2s[i] * w2s[i] / 2.0;
        linstab_objective_eval(o, w, NULL, 0, &l, g);
        cr_expect(fabs(l - w2s[i] * w2s[i] / 2.0) <= e * (1 + l), "l(0, %g) = %.17g", w2s[i], l);
        linstab_objective_hvp(o, w, NULL, 0, (const double[]){1.0, 0.0}, hv);
        cr_expect(fabs(hv[0] - 2.0 / s) <= e && fabs(hv[1]) <= e,
                  "H(0, %g) e1 = (%.17g, %.17g), want (%.17g, 0)", w2s[i], hv[0], hv[1], 2.0 / s);
        linstab_objective_hvp(o, w, NULL, 0, (const double[]){0.0, 1.0}, hv);
        cr_expect(fabs(hv[0]) <= e && fabs(hv[1] - 1.0) <= e,
                  "H(0, %g) e2 = (%.17g, %.17g), want (0, 1)", w2s[i], hv[0], hv[1]);
    }
    linstab_objective_free(o);
}

/* ---- tanh2 ----------------------------------------------------------- */

Test(objective_tanh2, gradient_and_hvp_match_differences_and_closed_forms)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_tanh2(&o, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_objective_kind_of(o), LINSTAB_OBJECTIVE_TANH2);
    cr_expect_eq(linstab_objective_dim(o), 2);
    cr_expect_eq(linstab_objective_samples(o), 1);
    ref_t r = {.kind = R_TANH2, .d = 2, .n = 1};
    /* |u| <= 1.5 keeps 1 - tanh^2 u >= 0.18, so that the two ways of
     * computing sech^2 agree to a few eps */
    check_random_points(o, &r, NULL, 0, 1.5, 41, 10);
    linstab_objective_free(o);
}

Test(objective_tanh2, values_and_hessian_at_known_points)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_tanh2(&o, &err), LINSTAB_OK, "%s", err.msg);
    double l, g[2], hv[2], e = 8 * DBL_EPSILON;
    const double us[4] = {0.3, -0.8, 1.2, 2.0};
    for (int i = 0; i < 4; i++) {
        /* the valley v = 0: l = 0, grad 0, Hessian [[0, 0], [0, tanh^2 u]] (§6) */
        double w[2] = {us[i], 0.0}, t2 = tanh(us[i]) * tanh(us[i]);
        linstab_objective_eval(o, w, NULL, 0, &l, g);
        cr_expect(fabs(l) <= DBL_MIN && fabs(g[0]) <= DBL_MIN && fabs(g[1]) <= DBL_MIN,
                  "l, grad at (%g, 0): %g, (%g, %g)", us[i], l, g[0], g[1]);
        linstab_objective_hvp(o, w, NULL, 0, (const double[]){1.0, 0.0}, hv);
        cr_expect(fabs(hv[0]) <= e && fabs(hv[1]) <= e, "H(%g, 0) e1 = (%g, %g), want 0", us[i],
                  hv[0], hv[1]);
        linstab_objective_hvp(o, w, NULL, 0, (const double[]){0.0, 1.0}, hv);
        cr_expect(fabs(hv[0]) <= e && fabs(hv[1] - t2) <= e * t2,
                  "H(%g, 0) e2 = (%.17g, %.17g), want (0, %.17g)", us[i], hv[0], hv[1], t2);
        /* the other valley u = 0: l = 0, Hessian diag(v^2, 0) */
        double v = us[i], w0[2] = {0.0, v};
        linstab_objective_eval(o, w0, NULL, 0, &l, g);
        cr_expect(fabs(l) <= DBL_MIN && fabs(g[0]) <= DBL_MIN && fabs(g[1]) <= DBL_MIN,
                  "l, grad at (0, %g): %g, (%g, %g)", v, l, g[0], g[1]);
        linstab_objective_hvp(o, w0, NULL, 0, (const double[]){1.0, 0.0}, hv);
        cr_expect(fabs(hv[0] - v * v) <= e * v * v && fabs(hv[1]) <= e,
                  "H(0, %g) e1 = (%.17g, %.17g), want (%.17g, 0)", v, hv[0], hv[1], v * v);
        linstab_objective_hvp(o, w0, NULL, 0, (const double[]){0.0, 1.0}, hv);
        cr_expect(fabs(hv[0]) <= e && fabs(hv[1]) <= e, "H(0, %g) e2 = (%g, %g), want 0", v, hv[0],
                  hv[1]);
    }
    /* off the valleys: l = tanh^2(v tanh u)/2 by libm */
    double w[2] = {0.7, -1.3}, want = tanh(-1.3 * tanh(0.7));
    want = want * want / 2.0;
    linstab_objective_eval(o, w, NULL, 0, &l, NULL);
    cr_expect(fabs(l - want) <= e * want, "l(0.7, -1.3) = %.17g, want %.17g", l, want);
    linstab_objective_free(o);
}

/* ---- family ---------------------------------------------------------- */

/* Explicit dense H_i of any family, read from its documented layout. */
static double *explicit_samples(const linstab_family *f)
{
    size_t n = f->n, d = f->d, k = f->k;
    double *H = calloc(n * d * d, sizeof *H);
    cr_assert_not_null(H);
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                double v = 0.0;
                if (f->kind == LINSTAB_FAMILY_DENSE)
                    v = f->data[i * d * d + a * d + b];
                else if (f->kind == LINSTAB_FAMILY_FACTORED)
                    for (size_t q = 0; q < k; q++)
                        v += f->data[i * d * k + a * k + q] * f->data[i * d * k + b * k + q];
                else if (a == b)
                    v = f->data[i * d + a];
                H[i * d * d + a * d + b] = v;
            }
    return H;
}

static linstab_family *diagonal_family(size_t n, size_t d, unsigned long seed)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, d, 1, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    for (size_t j = 0; j < n * d; j++) f->data[j] = 2.0 * gsl_rng_uniform(r);
    gsl_rng_free(r);
    return f;
}

static void check_family(linstab_family *f, unsigned long seed)
{
    size_t n = f->n, d = f->d;
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_objective_kind_of(o), LINSTAB_OBJECTIVE_FAMILY);
    cr_expect_eq(linstab_objective_dim(o), d);
    cr_expect_eq(linstab_objective_samples(o), n);
    ref_t r = {.kind = R_FAMILY, .d = d, .n = n, .Hs = explicit_samples(f)};

    /* the full mean (idx NULL), batches, one sample, a batch with a
     * repeated sample (sampling with replacement counts it twice) */
    check_random_points(o, &r, NULL, 0, 2.0, seed, 4);
    const size_t b3[3] = {3, 0, n - 1}, b1[1] = {2}, brep[4] = {1, 4, 1, 1};
    check_random_points(o, &r, b3, 3, 2.0, seed + 1, 3);
    check_random_points(o, &r, b1, 1, 2.0, seed + 2, 3);
    check_random_points(o, &r, brep, 4, 2.0, seed + 3, 3);
    size_t all[NMAX];
    for (size_t i = 0; i < n; i++) all[i] = i;
    check_random_points(o, &r, all, n, 2.0, seed + 4, 2);

    /* a batch is not the full mean: the batch {2} and the mean differ */
    gsl_rng *rng = tu_rng(seed + 5);
    double w[DMAX], lf, lb, gf[DMAX], gb[DMAX];
    tu_gauss(rng, w, d);
    gsl_rng_free(rng);
    linstab_objective_eval(o, w, NULL, 0, &lf, gf);
    linstab_objective_eval(o, w, b1, 1, &lb, gb);
    cr_expect(fabs(lf - lb) > 1e-6 * fabs(lf), "batch {2} loss %g equals the full mean %g", lb, lf);
    /* loss NULL or grad NULL: the other output as with both */
    double l2, g2[DMAX];
    linstab_objective_eval(o, w, b3, 3, &l2, NULL);
    linstab_objective_eval(o, w, b3, 3, NULL, g2);
    double l3, g3[DMAX];
    linstab_objective_eval(o, w, b3, 3, &l3, g3);
    cr_expect_eq(l2, l3);
    for (size_t k = 0; k < d; k++) cr_expect_eq(g2[k], g3[k]);

    free(r.Hs);
    linstab_objective_free(o);
}

Test(objective_family, dense_family_matches_differences_and_explicit_sums)
{
    linstab_family *f = tu_family_dense(7, 5, 3, 51);
    check_family(f, 52);
    linstab_family_free(f);
}

Test(objective_family, factored_family_matches_differences_and_explicit_sums)
{
    linstab_family *f = tu_family_factored(6, 4, 2, 61);
    check_family(f, 62);
    linstab_family_free(f);
}

Test(objective_family, diagonal_family_matches_differences_and_explicit_sums)
{
    linstab_family *f = diagonal_family(8, 6, 71);
    check_family(f, 72);
    linstab_family_free(f);
}

Test(objective_hessian, the_assembled_hessian_is_the_closed_form_and_the_batch_mean)
{
    linstab_objective *o = NULL;
    linstab_error err;
    cr_assert_eq(linstab_objective_bartlett(&o, &err), LINSTAB_OK);
    const double w[2] = {0.7, -1.3};
    double H[4];
    cr_assert_eq(linstab_objective_hessian(o, w, NULL, 0, H, &err), LINSTAB_OK);
    double q = 1.0 + 0.5 * w[1] * w[1];
    const double want[4] = {2.0 / q, -2.0 * w[0] * w[1] / (q * q), -2.0 * w[0] * w[1] / (q * q),
                            1.0 - w[0] * w[0] * (q - 2.0 * w[1] * w[1]) / (q * q * q)};
    for (size_t k = 0; k < 4; k++) cr_expect(fabs(H[k] - want[k]) <= 1e-15 * fmax(1.0, fabs(want[k])), "entry %zu", k);
    linstab_objective_free(o);
    /* a diagonal family: the batch's Hessian is the mean of its samples' */
    linstab_family *f = diagonal_family(5, 3, 9);
    cr_assert_eq(linstab_objective_family(f, &o, &err), LINSTAB_OK);
    const size_t idx[3] = {4, 0, 4};
    const double x[3] = {1.0, 2.0, 3.0};
    double B[9];
    cr_assert_eq(linstab_objective_hessian(o, x, idx, 3, B, &err), LINSTAB_OK);
    for (size_t r = 0; r < 3; r++)
        for (size_t c = 0; c < 3; c++) {
            double m = r == c ? (2.0 * f->data[4 * 3 + r] + f->data[r]) / 3.0 : 0.0;
            cr_expect(fabs(B[r * 3 + c] - m) <= 1e-15 * fmax(1.0, fabs(m)), "(%zu, %zu)", r, c);
        }
    linstab_objective_free(o);
    linstab_family_free(f);
}
