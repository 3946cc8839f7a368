/*
 * critical.h -- exact mean-square critical values (docs/math.md §3).
 *
 * For SGD-type operators T(eta) = I - eta A + eta^2 Q with A(X) = HX + XH
 * (positive definite on Sym(R)) and Q(X) = a HXH + b M(X) (PSD),
 * radius(T(eta)) <= 1 iff eta Q <= A iff eta <= eta* = 1/mu_max with
 * mu_max the top eigenvalue of A^{-1/2} Q A^{-1/2} (Mulayoff & Michaeli,
 * COLT 2024).  In the eigenbasis of H, A is diagonal (l_j + l_k), so the
 * generalized problem is a plain symmetric one, dense or matrix-free.
 *
 * The family must be range-restricted and rotated (H = diag(l)).
 */
#ifndef LINSTAB_CRITICAL_H
#define LINSTAB_CRITICAL_H

#include <stddef.h>

#include "linstab/eigen.h"
#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * 1 when every l_j exceeds r eps max|l| (H positive definite on the space,
 * the premise of the generalized eigenproblem), else 0.
 */
LINSTAB_API int linstab_critical_curvature_positive(size_t r, const double *l);

/*
 * eta* for the coefficients (a, b) (OUT *eta_star; +INFINITY if Q = 0;
 * 0 when some l_j <= 0 within rounding -- an indefinite or singular H on
 * the space, where radius(T) >= (1 - eta l_j)^2 >= 1 for every eta > 0).
 */
LINSTAB_API linstab_status linstab_critical_eta(const linstab_family *f, const double *l,
                                                double a, double b,
                                                const linstab_eigen_opts *opts,
                                                double *eta_star, linstab_error *err);

/*
 * Smallest batch size B in [1, n] at which SGD with sampling s is
 * mean-square stable at eta (OUT *batch; 0 when no B <= n is, which
 * includes every family with an l_j <= 0).  Solved by
 * one generalized eigenproblem in the noise coefficient b, then checked
 * against eta*(B) and eta*(B - 1).
 */
LINSTAB_API linstab_status linstab_critical_batch(const linstab_family *f, const double *l,
                                                  linstab_sampling s, double eta,
                                                  const linstab_eigen_opts *opts, size_t *batch,
                                                  linstab_error *err);

/* A scalar function of a parameter, e.g. the radius as a function of rho. */
typedef linstab_status (*linstab_param_fn)(double x, double *value, void *ctx,
                                           linstab_error *err);

/*
 * sup { x in [0, inf) : fn(x) <= 1 } for fn(0) <= 1 by bracketing from
 * x_hint (doubling until fn > 1) and bisection to relative tolerance
 * rtol.  OUT *x_crit (+INFINITY if fn <= 1 up to 2^60 x_hint; NaN if
 * fn(0) > 1); OUT *monotone (may be NULL), on a 9-point grid of the
 * bracket: bit 0 set if fn was non-decreasing, bit 1 set if fn - 1 changed
 * sign at most once (the stable set is then an interval on the grid).
 */
LINSTAB_API linstab_status linstab_critical_param(linstab_param_fn fn, void *ctx, double x_hint,
                                                  double rtol, double *x_crit, int *monotone,
                                                  linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
