/* units.h -- the work-unit progress of linstab_exact_compute's stages
 * (exact.h, progress_units), shared by the stages' files; not exported.
 *
 * A stage counts its units (eigen-solves, radius evaluations, Lyapunov
 * steps) in done and keeps total = done + what is left, recomputed at every
 * tick: exact where the work is known (Lyapunov: runs x steps), an upper
 * bound where a loop has a known cap (critical B's scan), an estimate
 * where it has none (a bisection before its bracket is found). */
#ifndef LINSTAB_UNITS_H
#define LINSTAB_UNITS_H

#include <stddef.h>

typedef struct stab_units {
    void (*fn)(int stage, size_t done, size_t total, void *ctx);
    void *ctx;
    int stage;
    size_t done, total;
} stab_units;

/* One unit done, `left` more to come (u may be NULL: nothing). */
static inline void units_tick(stab_units *u, size_t left)
{
    if (u == NULL) return;
    u->done++;
    u->total = u->done + left;
    if (u->fn) u->fn(u->stage, u->done, u->total, u->ctx);
}

/* Report done of total as they are (the start: done 0; the end: the
 * caller sets total = done). */
static inline void units_report(stab_units *u)
{
    if (u != NULL && u->fn) u->fn(u->stage, u->done, u->total, u->ctx);
}

#include "linstab/critical.h"
#include "linstab/lyapunov.h"
#include "linstab/sam.h"

/* linstab_critical_batch, linstab_critical_param, linstab_sam_eta_star,
 * linstab_sam_critical_rho and linstab_lyapunov_mc with their units
 * counted in u (NULL: the public functions). */
linstab_status critical_batch_units(const linstab_family *f, const double *l, linstab_sampling s, double eta,
                                    const linstab_eigen_opts *opts, size_t *batch, stab_units *u,
                                    linstab_error *err);
linstab_status critical_param_units(linstab_param_fn fn, void *ctx, double x_hint, double rtol, double *x_crit,
                                    int *monotone, stab_units *u, linstab_error *err);
linstab_status sam_eta_star_units(const linstab_rotated *rf, linstab_optimizer variant, double rho, size_t batch,
                                  linstab_sampling sampling, const linstab_eigen_opts *eo, double *eta_star,
                                  stab_units *u, linstab_error *err);
linstab_status sam_critical_rho_units(const linstab_rotated *rf, linstab_optimizer variant, double eta,
                                      size_t batch, linstab_sampling sampling, const linstab_eigen_opts *eo,
                                      double *rho_star, int *monotone, stab_units *u, linstab_error *err);
linstab_status lyapunov_mc_units(const linstab_family *f, linstab_optimizer dyn, double eta, double rho,
                                 size_t batch, linstab_sampling sampling, size_t runs, size_t steps,
                                 uint64_t seed, linstab_lyap *out, stab_units *u, linstab_error *err);

#endif
