/* testutil.h -- helpers shared by the Criterion tests. */
#ifndef LINSTAB_TESTUTIL_H
#define LINSTAB_TESTUTIL_H

#include <stddef.h>
#include <gsl/gsl_rng.h>

/* max_ij |a_ij - b_ij| / max(1, max_ij |b_ij|) over len entries. */
double tu_rel_diff(const double *a, const double *b, size_t len);

/* |a - b| / max(|b|, floor). */
double tu_rel(double a, double b, double floor);

/* A fresh MT19937 generator with a fixed seed (caller frees). */
gsl_rng *tu_rng(unsigned long seed);

/* Fill x (len) with N(0,1) draws. */
void tu_gauss(gsl_rng *r, double *x, size_t len);

/* A unique temporary path (in $TMPDIR or /tmp) with the given suffix;
 * caller frees. */
char *tu_tmppath(const char *suffix);

#endif
