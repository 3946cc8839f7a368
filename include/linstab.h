/*
 * linstab.h -- the whole public API of linstab, the library behind the
 * `linstab` command: linear stability and dynamics of SGD and SAM near
 * minima of neural-network losses (see README.md and docs/math.md).
 *
 * Two abstractions carry everything:
 *   - the Hessian family (family.h): n symmetric d x d matrices H_i behind
 *     one interface -- dense, factored H_i = U_i U_i', diagonal -- each
 *     answering H_i x, means, moments, sandwiches and Gram entries with its
 *     own fast path; range restriction returns the family on range(H);
 *   - the matrix-free operator (operator.h): a dimension and an apply
 *     callback, solved by eigen.h with LAPACK when small and arpack-ng when
 *     large.
 * Data flow: source (npy.h files, generate.h, or an MLP via mlp.h) ->
 * family -> { geometry.h -> bounds.h ; secmom.h / samsame.h -> eigen.h ->
 * critical.h, exact.h ; simulate.h -> lyapunov.h, map.h -> plot.h } ->
 * report.h.  Training and per-sample Hessians of MLPs: ad.h (autograd with
 * forward-over-reverse Hessian-vector products), mlp.h, train.h.
 *
 * Conventions: functions return a linstab_status and fill a caller-owned
 * linstab_error (status.h); the library never prints or exits; outputs are
 * caller-owned and every _alloc has its _free (which accepts NULL).
 */
#ifndef LINSTAB_H
#define LINSTAB_H

#include "linstab/ad.h"
#include "linstab/bounds.h"
#include "linstab/critical.h"
#include "linstab/data.h"
#include "linstab/eigen.h"
#include "linstab/exact.h"
#include "linstab/family.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/sym.h"
#include "linstab/lyapunov.h"
#include "linstab/map.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/operator.h"
#include "linstab/plot.h"
#include "linstab/report.h"
#include "linstab/sam.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "linstab/simulate.h"
#include "linstab/error.h"
#include "linstab/train.h"
#include "linstab/validate.h"
#include "linstab/verdict.h"

#endif
