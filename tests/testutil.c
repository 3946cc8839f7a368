/* testutil.c -- helpers shared by the Criterion tests. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>

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
