/*
 * eigen.h -- extreme eigenvalues of operators, dense or matrix-free.
 *
 * Dense path (dim <= opts.dense_max): the operator's dense matrix and
 * LAPACK (dsyevr for self-adjoint operators, dgeev otherwise).
 * Matrix-free path: arpack-ng's implicitly restarted Lanczos (dsaupd,
 * self-adjoint) or Arnoldi (dnaupd), with a deterministic start vector so
 * that results do not depend on the call order.  No convergence is an
 * error (LINSTAB_ENOCONV), never a silent wrong number.
 * Errors of both solvers: LINSTAB_EINVAL (dimension 0), LINSTAB_ENOMEM,
 * LINSTAB_ELAPACK, LINSTAB_ENOCONV, and the status and message of the
 * operator itself: the first apply or form_dense that fails ends the solve
 * and its error is returned unchanged.
 */
#ifndef LINSTAB_EIGEN_H
#define LINSTAB_EIGEN_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/operator.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_eigen_path {
    LINSTAB_EIGEN_AUTO = 0,
    LINSTAB_EIGEN_DENSE,
    LINSTAB_EIGEN_ARPACK
} linstab_eigen_path;

typedef struct linstab_eigen_opts {
    linstab_eigen_path path;
    size_t dense_max; /* AUTO: dense when dim <= dense_max (0: 2000)          */
    double tol;       /* ARPACK relative tolerance (0: 1e-12)                 */
    int max_iter;     /* ARPACK restarts (0: 3000)                            */
    size_t ncv;       /* ARPACK basis size (0: min(dim, 32))                  */
    const double *start; /* ARPACK start vector (dim) or NULL: deterministic  */
} linstab_eigen_opts;

/* Default options (AUTO). */
LINSTAB_API linstab_eigen_opts linstab_eigen_defaults(void);

/*
 * 1 when linstab_eigen_top / _radius solve an operator of dimension dim
 * with opts (NULL: the defaults) on its dense matrix (form_dense, or one
 * apply per column), 0 when matrix-free (apply inside ARPACK's loop).
 * For callers that size an apply's workspace only when it is needed.
 */
LINSTAB_API int linstab_eigen_is_dense(const linstab_eigen_opts *opts, size_t dim);

/*
 * Largest algebraic eigenvalue of a self-adjoint operator (OUT *lambda);
 * vec (may be NULL): OUT its unit eigenvector (length dim).
 */
LINSTAB_API linstab_status linstab_eigen_top(const linstab_operator *op,
                                             const linstab_eigen_opts *opts, double *lambda,
                                             double *vec, linstab_error *err);

/*
 * The k eigenpairs at the top of a self-adjoint operator: the k largest
 * algebraic eigenvalues (magnitude 0; OUT vals in descending order) or the
 * k of largest |lambda| (magnitude 1, for indefinite operators: OUT vals
 * by descending |lambda|, of equal |lambda| the positive first).  vecs
 * (may be NULL): OUT k x dim row-major, row j the unit eigenvector of
 * vals[j], its sign fixed so that its entry of largest |value| (the first
 * such) is positive -- the same bytes on every run.  (For a repeated
 * eigenvalue only the span of its rows is determined.)
 * Dense path: LAPACK dsyevr by index range (magnitude: every eigenvalue,
 * then the k of largest |lambda|).  Matrix-free: arpack-ng dsaupd/dseupd,
 * which "LA" or "LM", nev = k, ncv = max(opts ncv (0: 32), 2k + 1) capped
 * at dim, the deterministic start vector of linstab_eigen_top; fewer than
 * k converged Ritz values is LINSTAB_ENOCONV.  k >= dim - 1 always takes
 * the dense path (ARPACK needs nev < ncv <= dim).
 * Errors: LINSTAB_EINVAL (k = 0, k > dim, not self-adjoint), and those of
 * linstab_eigen_top.
 */
LINSTAB_API linstab_status linstab_eigen_topk(const linstab_operator *op, const linstab_eigen_opts *opts,
                                              size_t k, int magnitude, double *vals, double *vecs,
                                              linstab_error *err);

/*
 * Spectral radius max |lambda| of any operator (self-adjoint or not).
 * For a positive map it is itself an eigenvalue (Krein-Rutman).
 */
LINSTAB_API linstab_status linstab_eigen_radius(const linstab_operator *op,
                                                const linstab_eigen_opts *opts, double *radius,
                                                linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
