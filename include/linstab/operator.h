/*
 * operator.h -- the matrix-free linear operator.
 *
 * An operator is a dimension, an apply callback y = A x, an optional
 * adjoint, an optional callback that forms the dense matrix directly (when
 * the structure allows something cheaper than dim applies), and a context
 * pointer.  The eigensolvers (eigen.h) take an operator and never know
 * whether it is formed.  (PETSc's MatShell is the model.)
 * Second-moment operators act on Sym(r) through svec (svec.h).
 */
#ifndef LINSTAB_OPERATOR_H
#define LINSTAB_OPERATOR_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/error.h"
#include "linstab/svec.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * y = A x: x (IN, length dim) and y (OUT, length dim, overwritten) do not
 * alias; ctx is the operator's context.  Returns LINSTAB_OK, or a status
 * with err filled (err may be NULL) when the product cannot be computed:
 * every eigensolver (eigen.h) stops at the first failing apply and returns
 * that status and message unchanged.  An apply called inside an iterative
 * solver's loop should not allocate (keep the workspace in ctx).
 */
typedef linstab_status (*linstab_apply_fn)(const double *x, double *y, void *ctx,
                                           linstab_error *err);
/* Form the dense dim x dim matrix (row-major) into A; return a status. */
typedef linstab_status (*linstab_form_fn)(double *A, void *ctx, linstab_error *err);

typedef struct linstab_operator {
    size_t dim;
    linstab_apply_fn apply;          /* y = A x (x, y of length dim, not aliased) */
    linstab_apply_fn apply_adjoint;  /* y = A' x, or NULL                        */
    linstab_form_fn form_dense;      /* or NULL: formed column by column         */
    int self_adjoint;                /* A = A'                                   */
    void *ctx;
} linstab_operator;

/*
 * Dense matrix of op (dim x dim row-major, overwritten): form_dense when
 * available, else one apply per unit vector.  Errors: LINSTAB_ENOMEM, or
 * the status and message of the first form_dense / apply that fails.
 */
LINSTAB_API linstab_status linstab_operator_dense(const linstab_operator *op, double *A,
                                                  linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
