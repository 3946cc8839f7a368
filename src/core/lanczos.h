/* lanczos.h -- the library's reentrant Lanczos (internal, not exported). */
#ifndef LINSTAB_LANCZOS_H
#define LINSTAB_LANCZOS_H

#include <stddef.h>

/* y = op(x) for the operator whose top eigenvalue Lanczos seeks */
typedef void (*lanczos_apply)(const double *x, double *y, const void *ctx);

/*
 * The largest eigenvalue of the symmetric n x n operator `apply` (at most
 * max(120, n/8) <= 600 steps, relative residual 1e-14).  Allocates its workspace once per
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

/*
 * The same two classical Gram-Schmidt passes over blocks of
 * LINSTAB_REORTH_BLOCK columns of Q, on OpenMP threads (one BLAS thread
 * each): three sweeps over Q instead of four (a block's update of pass 1
 * and its product of pass 2 while it is in cache), the blocks' partial
 * products Q_b w_b added in block order: the same bytes for any thread
 * count, the same numbers as linstab_lanczos_reorth to rounding.  part:
 * workspace of linstab_lanczos_reorth_blocks(n) k doubles.
 */
#define LINSTAB_REORTH_BLOCK 512
size_t linstab_lanczos_reorth_blocks(size_t n);
double linstab_lanczos_reorth_blocked(size_t n, size_t k, const double *Q, double *w, double *h, double *part);

#include "linstab/operator.h"

/*
 * The largest eigenvalue of a symmetric operator whose product returns a
 * status: at most max_steps steps, stopping at the first step whose Ritz
 * residual is <= tol |theta| (ARPACK's test).  1 with *out on convergence,
 * 0 on no convergence (or out of memory, a LAPACK failure: the caller goes
 * to ARPACK), -1 when a product failed (err set).  *steps: products done.
 */
int linstab_lanczos_top_status(size_t n, linstab_apply_fn apply, void *ctx, double tol, size_t max_steps,
                               double *out, size_t *steps, linstab_error *err);

#endif
