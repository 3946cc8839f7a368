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

#endif
