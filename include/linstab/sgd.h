/*
 * sgd.h -- the exact mean-square stability of linearized SGD on a rotated
 * family (src/stability/sgd.c), beside sam.h for SAM: the one composition
 * of "SGD's exact radius" that every command uses.  The operator itself is
 * secmom.h's; critical values are critical.h's.
 */
#ifndef LINSTAB_SGD_H
#define LINSTAB_SGD_H

#include <stddef.h>

#include "linstab/eigen.h"
#include "linstab/error.h"
#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/sampling.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Mean-square radius of linearized SGD at (eta, B, sampling) on a rotated
 * family: radius(T) of secmom.h's T with the sampling coefficients (a, b)
 * of sampling.h (docs/math.md §3).  Borrows rf; opts may be NULL (the
 * defaults).  OUT *radius.  Errors: LINSTAB_ENOMEM, LINSTAB_ELAPACK,
 * LINSTAB_ENOCONV (matrix-free path).
 */
LINSTAB_API linstab_status linstab_sgd_radius(const linstab_rotated *rf, double eta, size_t batch,
                                              linstab_sampling sampling,
                                              const linstab_eigen_opts *opts, double *radius,
                                              linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
