/*
 * samsame.h -- SAM with one batch for ascent and descent ('same') at any
 * batch size and sampling: the exact second-moment operator through a
 * moment expansion over set partitions (docs/math.md §5; see samsame.c).
 * Dense only: the operator is formed on the r^2-dimensional vec space, so
 * the rank r of the (restricted) family is limited to LINSTAB_SAMSAME_MAX_R.
 */
#ifndef LINSTAB_SAMSAME_H
#define LINSTAB_SAMSAME_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/sampling.h"
#include "linstab/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LINSTAB_SAMSAME_MAX_R 40

typedef struct linstab_samsame linstab_samsame;

/* Workspace for family f (borrowed; r = f->d <= LINSTAB_SAMSAME_MAX_R). */
LINSTAB_API linstab_status linstab_samsame_alloc(const linstab_family *f, linstab_samsame **out,
                                                 linstab_error *err);
LINSTAB_API void linstab_samsame_free(linstab_samsame *w);

/* T on the full vec space: r^2 x r^2 row-major, vec(A X B) = (A (x) B') vec X. */
LINSTAB_API linstab_status linstab_samsame_full(linstab_samsame *w, double eta, double rho,
                                                size_t batch, linstab_sampling s, double *T,
                                                linstab_error *err);

/* T in svec coordinates (m x m, m = r(r+1)/2). */
LINSTAB_API linstab_status linstab_samsame_svec(linstab_samsame *w, double eta, double rho,
                                                size_t batch, linstab_sampling s, double *Ts,
                                                linstab_error *err);

/* Mean-square spectral radius of T. */
LINSTAB_API linstab_status linstab_samsame_radius(linstab_samsame *w, double eta, double rho,
                                                  size_t batch, linstab_sampling s,
                                                  double *radius, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
