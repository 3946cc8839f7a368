/* lanczos.h -- the library's reentrant Lanczos (internal, not exported). */
#ifndef LINSTAB_LANCZOS_H
#define LINSTAB_LANCZOS_H

#include <stddef.h>

/* y = op(x) for the operator whose top eigenvalue Lanczos seeks */
typedef void (*lanczos_apply)(const double *x, double *y, const void *ctx);

/*
 * The largest eigenvalue of the symmetric n x n operator `apply` (at most
 * 120 steps, relative residual 1e-14).  Allocates its workspace once per
 * call; reentrant.  Returns 1 with *out set on convergence, 0 otherwise
 * (no convergence, out of memory or a LAPACK failure: the caller falls
 * back to a dense solver).
 */
int linstab_lanczos_top(size_t n, lanczos_apply apply, const void *ctx, double *out);

/*
 * One Lanczos step's full reorthogonalization: w <- w - Q_k (Q_k' w), twice
 * (classical Gram-Schmidt repeated), against the k orthonormal rows of Q
 * (k x n, row-major); h (k) is workspace.  Returns the coefficient on the
 * last row q_k (alpha of the step, with the second pass's correction).
 */
double linstab_lanczos_reorth(size_t n, size_t k, const double *Q, double *w, double *h);

#endif
