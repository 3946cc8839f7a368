/* testutil.c -- helpers shared by the Criterion tests. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <lapacke.h>

double tu_rel_diff(const double *a, const double *b, size_t len)
{
    double scale = 1.0, diff = 0.0;
    for (size_t i = 0; i < len; i++) {
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
        if (fabs(a[i] - b[i]) > diff || isnan(a[i] - b[i])) diff = fabs(a[i] - b[i]);
    }
    return diff / scale;
}

double tu_rel(double a, double b, double floor)
{
    double s = fabs(b) > floor ? fabs(b) : floor;
    return fabs(a - b) / s;
}

gsl_rng *tu_rng(unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

void tu_gauss(gsl_rng *r, double *x, size_t len)
{
    for (size_t i = 0; i < len; i++) x[i] = gsl_ran_gaussian_ziggurat(r, 1.0);
}

char *tu_tmppath(const char *suffix)
{
    static unsigned counter;
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0') dir = "/tmp";
    size_t len = strlen(dir) + strlen(suffix) + 64;
    char *p = malloc(len);
    snprintf(p, len, "%s/linstab-test-%ld-%u%s", dir, (long)getpid(), counter++, suffix);
    return p;
}

linstab_family *tu_family_dense(size_t n, size_t d, size_t k, unsigned long seed)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    double *G = malloc(d * k * sizeof *G);
    for (size_t i = 0; i < n; i++) {
        tu_gauss(r, G, d * k);
        double *H = f->data + i * d * d;
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                double s = 0.0;
                for (size_t c = 0; c < k; c++) s += G[a * k + c] * G[b * k + c];
                H[a * d + b] = s / (double)k;
            }
    }
    free(G);
    gsl_rng_free(r);
    return f;
}

linstab_family *tu_family_factored(size_t n, size_t d, size_t k, unsigned long seed)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, k, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, f->data, n * d * k);
    for (size_t p = 0; p < n * d * k; p++) f->data[p] /= sqrt((double)k);
    gsl_rng_free(r);
    return f;
}

linstab_family *tu_family_004(size_t n, size_t sigma)
{
    linstab_family *f = NULL;
    linstab_error err;
    size_t d = n - sigma + 1;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, d, 1, &f, &err), LINSTAB_OK);
    double m = 2.0 * (double)n / (double)sigma;
    for (size_t i = 0; i < n; i++) f->data[i * d + (i < sigma ? 0 : i - sigma + 1)] = m;
    return f;
}

linstab_rotated tu_rotate(const linstab_family *f)
{
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, -1.0, 0, &rf, &err), LINSTAB_OK, "%s", err.msg);
    return rf;
}

double tu_lambda1_mean(const linstab_family *f)
{
    size_t d = f->d;
    double *H = malloc(d * d * sizeof *H), *w = malloc(d * sizeof *w);
    linstab_error err;
    cr_assert_eq(linstab_family_mean(f, H, &err), LINSTAB_OK);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)d, H, (lapack_int)d, w), 0);
    double l1 = w[d - 1];
    free(H);
    free(w);
    return l1;
}

double tu_tol(size_t n, double cond)
{
    return 64.0 * (double)(n > 0 ? n : 1) * 2.220446049250313e-16 * cond;
}

double *tu_orthogonal(size_t n, unsigned long seed)
{
    double *Q = malloc(n * n * sizeof *Q), *tau = malloc(n * sizeof *tau);
    gsl_rng *g = tu_rng(seed);
    tu_gauss(g, Q, n * n);
    gsl_rng_free(g);
    cr_assert_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, Q, (lapack_int)n, tau), 0);
    cr_assert_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, (lapack_int)n, Q, (lapack_int)n, tau), 0);
    free(tau);
    return Q;
}

double tu_sym_top(size_t p, double *A)
{
    double *w = malloc(p * sizeof *w);
    cr_assert_not_null(w);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)p, A, (lapack_int)p, w), 0);
    double t = w[p - 1];
    free(w);
    return t;
}

void tu_second_moment_top(size_t n, size_t p, const double *Hs, double *lambda1, double *gap)
{
    double *H = calloc(p * p, sizeof *H), *M = calloc(p * p, sizeof *M);
    cr_assert(H != NULL && M != NULL);
    for (size_t i = 0; i < n; i++) {
        const double *h = Hs + i * p * p;
        for (size_t j = 0; j < p * p; j++) H[j] += h[j] / (double)n;
        for (size_t a = 0; a < p; a++)
            for (size_t b = 0; b < p; b++) {
                double s = 0.0;
                for (size_t t = 0; t < p; t++) s += h[a * p + t] * h[t * p + b];
                M[a * p + b] += s / (double)n;
            }
    }
    for (size_t a = 0; a < p; a++)
        for (size_t b = 0; b < p; b++) {
            double s = 0.0;
            for (size_t t = 0; t < p; t++) s += H[a * p + t] * H[t * p + b];
            M[a * p + b] -= s;
        }
    *lambda1 = tu_sym_top(p, H);
    *gap = tu_sym_top(p, M);
    free(H);
    free(M);
}
