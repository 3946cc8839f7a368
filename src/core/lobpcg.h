/* lobpcg.h -- the library's preconditioned eigensolver for the smallest
 * eigenvalue of a symmetric operator (internal, not exported). */
#ifndef LINSTAB_LOBPCG_H
#define LINSTAB_LOBPCG_H

#include <stddef.h>

#include "linstab/error.h"

/* y = A x; anything but LINSTAB_OK stops the solver */
typedef linstab_status (*lobpcg_apply)(const double *x, double *y, void *ctx, linstab_error *err);

typedef struct lobpcg_result {
    double theta;    /* the Rayleigh quotient x'Ax of the returned x (>= lambda_min) */
    double resnorm;  /* ||A x - theta x||, recomputed from a fresh product at the end */
    size_t products; /* applications of A */
    int iters;
} lobpcg_result;

/*
 * The smallest eigenvalue of the symmetric n x n operator A by Knyazev's
 * locally optimal block preconditioned conjugate gradient with block size
 * one (Knyazev, "Toward the optimal preconditioned eigensolver: LOBPCG",
 * SIAM J. Sci. Comput. 2001): Rayleigh-Ritz on span{x, T r, p} each step,
 * one product per step, with the preconditioner T = diag(prec) (positive
 * entries, an approximation of A's inverse) and the start x0.  It stops
 * when ||A x - theta x|| <= tol; then theta - lambda_min <= ||r||^2 / gap
 * (the Rayleigh quotient never undershoots).  Returns 1 on convergence,
 * 0 on no convergence within max_iter steps, out of memory, a failed
 * product (err set) or a LAPACK failure.  x (n, may be NULL) receives the
 * eigenvector.  Reentrant; allocates its workspace once.
 */
int linstab_lobpcg_min(size_t n, lobpcg_apply apply, void *ctx, const double *prec, const double *x0,
                       double tol, int max_iter, double *x, lobpcg_result *res, linstab_error *err);

#endif
