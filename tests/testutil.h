/* testutil.h -- helpers shared by the Criterion tests. */
#ifndef LINSTAB_TESTUTIL_H
#define LINSTAB_TESTUTIL_H

#include <stddef.h>
#include <gsl/gsl_rng.h>

/* TU_ASAN is defined in an AddressSanitizer build (GCC or Clang): tests
 * that cannot run under it (valgrind, tight memory limits) skip there. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif

/* max_ij |a_ij - b_ij| / max(1, max_ij |b_ij|) over len entries. */
double tu_rel_diff(const double *a, const double *b, size_t len);

/* |a - b| / max(|b|, floor). */
double tu_rel(double a, double b, double floor);

/* A fresh MT19937 generator with a fixed seed (caller frees). */
gsl_rng *tu_rng(unsigned long seed);

/* Fill x (len) with N(0,1) draws. */
void tu_gauss(gsl_rng *r, double *x, size_t len);
/* A random n x n orthogonal matrix (row-major; malloc'd): the Q of a
 * Householder QR of a Gaussian matrix drawn with tu_rng(seed). */
double *tu_orthogonal(size_t n, unsigned long seed);

/* A unique temporary path (in $TMPDIR or /tmp) with the given suffix;
 * caller frees. */
char *tu_tmppath(const char *suffix);

#include "linstab/exact.h"
#include "linstab/family.h"

/* H_i = G_i G_i' / k with G_i d x k standard Gaussian (PSD, rank <= k). */
linstab_family *tu_family_dense(size_t n, size_t d, size_t k, unsigned long seed);

/* H_i = U_i U_i' with U_i d x k Gaussian scaled by 1/sqrt(k). */
linstab_family *tu_family_factored(size_t n, size_t d, size_t k, unsigned long seed);

/* Dexter et al.'s Section 5.1 construction built by hand (docs/math.md §7), diagonal:
 * d = n - sigma + 1, m = 2n/sigma, samples 0..sigma-1 at coordinate 0,
 * sample i >= sigma at coordinate i - sigma + 1. */
linstab_family *tu_family_004(size_t n, size_t sigma);

/* The range-restricted family in H's eigenbasis (asserts success). */
linstab_rotated tu_rotate(const linstab_family *f);

/* lambda1 of the mean Hessian by LAPACK dsyev (independent of the rotation). */
double tu_lambda1_mean(const linstab_family *f);

/* Tolerance for a floating-point result of an algorithm in dimension n
 * with condition estimate cond: c n eps cond, c = 64 (relative to the
 * result's scale; the caller multiplies by that scale). */
double tu_tol(size_t n, double cond);

/* The top eigenvalue of a symmetric p x p matrix by LAPACK dsyev (A is
 * overwritten; asserts success). */
double tu_sym_top(size_t p, double *A);

/* The dense second-moment geometry of n symmetric p x p matrices Hs:
 * OUT *lambda1 = lambda1(H), H = (1/n) sum_i H_i, and OUT *gap =
 * lambda_max(M_2 - H^2), M_2 = (1/n) sum_i H_i^2 (plain loops + dsyev). */
void tu_second_moment_top(size_t n, size_t p, const double *Hs, double *lambda1, double *gap);

#endif
