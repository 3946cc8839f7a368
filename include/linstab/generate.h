/*
 * generate.h -- synthetic Hessian families (src/family/generate.c).
 *
 * Every generator draws from GSL's MT19937 seeded with `seed` (GSL's own
 * seeding below 2^32, the whole state from splitmix64 above) and Gaussian
 * variates by gsl_ran_gaussian_ziggurat, in the fixed order sample, row,
 * column, so the same seed gives the same family (bit for bit) on every
 * machine.
 *
 *   RANK1    factored (n, d, 1): u_i ~ N(0, I_d / d)            H_i = u_i u_i'
 *   LOWRANK  factored (n, d, k): U_i entries ~ N(0, 1/d)         H_i = U_i U_i'
 *   WISHART  dense (n, d, d):    H_i = G_i G_i' / k, G_i (d x k) entries N(0, 1/d),
 *            summed in a fixed order without BLAS (bitwise reproducible)
 *   ALIGNED  factored (n, d, k): U_i = V + noise * Z_i, V and Z_i entries
 *            ~ N(0, 1/d), V shared by all samples: coherent Hessians
 *            (sigma close to sqrt(n) for small noise)
 *   DEXTER   diagonal (n, d = n - sigma + 1): Dexter et al. (2024), Section 5.1, with
 *            m = 2n/sigma, H_i = m e_1 e_1' for i < sigma (0-based) and
 *            H_i = m e_{i - sigma + 1} e_{i - sigma + 1}' otherwise;
 *            lambda1(H) = 2 and coherence sigma.  Deterministic (no seed).
 */
#ifndef LINSTAB_GENERATE_H
#define LINSTAB_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_gen_kind {
    LINSTAB_GEN_RANK1 = 0,
    LINSTAB_GEN_LOWRANK,
    LINSTAB_GEN_WISHART,
    LINSTAB_GEN_ALIGNED,
    LINSTAB_GEN_DEXTER
} linstab_gen_kind;

typedef struct linstab_gen_params {
    linstab_gen_kind kind;
    size_t n;
    size_t d;        /* ignored by DEXTER (d = n - sigma + 1)               */
    size_t rank;     /* k for LOWRANK / WISHART / ALIGNED; 0 = default
                        (LOWRANK 2, WISHART d, ALIGNED 1)                   */
    size_t sigma;    /* DEXTER only: integer coherence in [1, n]            */
    double noise;    /* ALIGNED only: noise scale (default 0.1 if < 0)     */
    uint64_t seed;
} linstab_gen_params;

/* Parse "rank1", "lowrank", "wishart", "aligned" or "dexter" (name not
 * NULL) into OUT *kind; LINSTAB_EINVAL (param "kind") on other names. */
LINSTAB_API linstab_status linstab_generate_kind_parse(const char *name, linstab_gen_kind *kind,
                                                  linstab_error *err);
/* The name of a kind (static string; "unknown" outside the enum). */
LINSTAB_API const char *linstab_generate_kind_name(linstab_gen_kind kind);

/* Generate the family described by p (read only) into OUT *out (NULL on
 * failure; on success a new family the caller frees with
 * linstab_family_free).  Errors: LINSTAB_EINVAL (param "n", "sigma" or
 * "d") for n = 0, DEXTER's sigma outside [1, n], d = 0 (other kinds), an
 * unknown kind, and sizes whose data would overflow size_t;
 * LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_generate(const linstab_gen_params *p, linstab_family **out,
                                            linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
