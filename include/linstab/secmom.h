/*
 * secmom.h -- second-moment operators of linearized SGD and SAM
 * (docs/math.md §3, §5): T(X) = E[J X J'] on Sym(R), so that
 * E[w_{t+1} w_{t+1}'] = T(E[w_t w_t']) exactly.  Mean-square stability is
 * radius(T) <= 1.
 *
 * The family given must be range-restricted AND rotated into the
 * eigenbasis of H (linstab_family_restrict with rotate = 1), so that
 * H = diag(l); every operator is then applied matrix-free from the
 * family's own fast paths, and its dense svec matrix can be formed
 * directly (operator.h).
 *
 *   SGD          J = I - eta Hhat
 *                T(X) = X - eta (HX + XH) + eta^2 (a HXH + b M(X))
 *   SAM_INDEP    J = I - eta Hhat1 (I + rho Hhat2), independent batches
 *                (Zhou et al. Eq. 4): Y(X) = X + rho (HX + XH) + rho^2 S(X),
 *                T(X) = X - eta (K'X + XK') + eta^2 S(Y(X)),
 *                S(X) = a HXH + b M(X), K' = H + rho H^2  (not self-adjoint)
 *   SAM_SAME     here only the full batch (a = 1, b = 0 without
 *                replacement at B = n): J = I - eta (H + rho H^2),
 *                deterministic; 'same' at other B is in sam.h
 *   SAM_NORMALIZED  refused (LINSTAB_EINVAL): it is not linear
 * SAM with one batch for ascent and descent ('same') at B = 1 is SGD at
 * B = 1 on the family K_i = H_i + rho H_i^2 (linstab_sam_family):
 * T(X) = X - eta (KX + XK) + eta^2 (1/n) sum K_i X K_i.
 * (a, b) are the sampling coefficients of sampling.h.
 */
#ifndef LINSTAB_SECMOM_H
#define LINSTAB_SECMOM_H

#include <stddef.h>

#include "linstab/bounds.h"
#include "linstab/eigen.h"
#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/optimizer.h"
#include "linstab/operator.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linstab_secmom linstab_secmom;

/*
 * Context of T for the rotated family f (borrowed: must outlive the
 * context) with H = diag(l) (l borrowed, length f->d), n = f->n samples,
 * for the optimizer `method` (SGD, SAM_INDEP, or SAM_SAME at full batch;
 * see above).  Everything an application of T needs (r x r work matrices
 * and the family's sandwich workspace, linstab_family_workspace_alloc) is
 * allocated here once: linstab_secmom_apply and the operator's apply
 * allocate nothing.  OUT *out, free with linstab_secmom_free.  Errors:
 * LINSTAB_EINVAL (SAM_NORMALIZED), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_secmom_alloc(const linstab_family *f, const double *l,
                                                linstab_optimizer method, double eta, double rho,
                                                double a, double b, linstab_secmom **out,
                                                linstab_error *err);
LINSTAB_API void linstab_secmom_free(linstab_secmom *s);

/*
 * The batch's second moment E[Hhat X Hhat] = a H X H + b M(X), with
 * H = diag(l), M(X) = (1/n) sum_i H_i X H_i and (a, b) the sampling
 * coefficients of sampling.h: the noise part of every SGD operator (T
 * here, the critical-eta pencil of critical.c).  f is the rotated family
 * (r = f->d), X and Y r x r row-major, not aliased; Y is overwritten (and
 * holds the a H X H part even on failure).  ws: a workspace of f
 * (linstab_family_workspace_alloc) for calls in a loop, which then
 * allocate nothing, or NULL (one-off scratch).  Errors: those of
 * linstab_family_sandwich_ws / linstab_family_sandwich.
 */
LINSTAB_API linstab_status linstab_secmom_batch_moment(const linstab_family *f, const double *l, double a,
                                                       double b, linstab_family_workspace *ws,
                                                       const double *X, double *Y, linstab_error *err);

/* Y = T(X) on r x r symmetric matrices (X, Y not aliased; Y overwritten).
 * No allocation.  Errors: those of linstab_family_sandwich_ws. */
LINSTAB_API linstab_status linstab_secmom_apply(linstab_secmom *s, const double *X, double *Y,
                                                linstab_error *err);

/* The operator on svec coordinates (borrows s). */
LINSTAB_API linstab_operator linstab_secmom_operator(linstab_secmom *s);

/*
 * The same for a one-off operator: allocates T for (f, l, m, eta, rho, a, b)
 * as linstab_secmom_alloc does, computes its radius and frees it.
 * OUT *radius.  Errors: those of linstab_secmom_alloc and _radius.
 */
LINSTAB_API linstab_status linstab_secmom_radius_at(const linstab_family *f, const double *l,
                                                    linstab_optimizer m, double eta, double rho,
                                                    double a, double b,
                                                    const linstab_eigen_opts *opts,
                                                    double *radius, linstab_error *err);

/* Mean-square spectral radius of T (dense or matrix-free per opts). */
LINSTAB_API linstab_status linstab_secmom_radius(linstab_secmom *s,
                                                 const linstab_eigen_opts *opts, double *radius,
                                                 linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
