/*
 * check.h -- everything `linstab check` reports about a Hessian family at
 * (eta, B, rho, sampling), in one call (src/stability/check.c): range
 * restriction (and the rotation into H's eigenbasis that the exact
 * operators need), the moments, the geometry, every published bound and,
 * optionally, the exact section.  A C program gets the same numbers as the
 * command.
 */
#ifndef LINSTAB_CHECK_H
#define LINSTAB_CHECK_H

#include <stddef.h>

#include "linstab/bounds.h"
#include "linstab/error.h"
#include "linstab/exact.h"
#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/geometry.h"
#include "linstab/moments.h"
#include "linstab/optimizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linstab_check_opts {
    double rank_rtol;      /* rank tolerance of the restriction (<= 0: the default) */
    int indefinite;        /* the family has negative curvature: restrict to range(M_2) */
    int exact;             /* also the exact section (linstab_exact_compute) */
    int lambda_min;        /* also lambda_min(H) when H is definite on its range */
    linstab_optimizer sam_variant; /* SAM_SAME or SAM_INDEP, for the exact section */
    linstab_exact_opts exact_opts; /* seed, eigensolver, Lyapunov runs, progress */
    /* called after each stage ("restrict", "moments", "geometry", "bounds",
     * "exact") with its name, or NULL */
    void (*stage)(const char *name, void *ctx);
    void *stage_ctx;
} linstab_check_opts;

/* Defaults: rank_rtol 0, PSD, exact section on, SAM 'same',
 * linstab_exact_defaults(), no stage callback. */
LINSTAB_API linstab_check_opts linstab_check_defaults(void);

typedef struct linstab_check_result {
    linstab_family_kind kind; /* the representation of the family given */
    size_t d_ambient;         /* its ambient dimension */
    linstab_geometry geometry;
    linstab_bounds bounds;
    int have_exact;           /* 1: exact holds the exact section */
    linstab_exact exact;
    linstab_moments *moments; /* owned; freed by linstab_check_result_clear */
} linstab_check_result;

/*
 * The report of `linstab check` on f at h: f is taken over (restricted in
 * place when the exact section is off, so that a large family is not
 * copied; freed in every case, also on failure).  f must have passed
 * linstab_family_validate.  OUT *out (clear with linstab_check_result_clear,
 * also after a failure).  Errors: LINSTAB_EINVAL (hyper-parameters outside
 * their range, see linstab_bounds_hyper_check), LINSTAB_EDATA (no range),
 * and those of the stages (LINSTAB_ENOMEM, LINSTAB_ELAPACK,
 * LINSTAB_ENOCONV).
 */
LINSTAB_API linstab_status linstab_check_take(linstab_family *f, const linstab_hyper *h,
                                              const linstab_check_opts *opts,
                                              linstab_check_result *out, linstab_error *err);

/* Free what *r owns and zero it (accepts a zeroed result). */
LINSTAB_API void linstab_check_result_clear(linstab_check_result *r);

/*
 * A rough upper bound on the peak memory, in bytes, of linstab_check_take
 * on f (the family itself included): what a caller compares with the
 * memory it may use before starting.
 */
LINSTAB_API double linstab_check_memory(const linstab_family *f);

#ifdef __cplusplus
}
#endif
#endif
